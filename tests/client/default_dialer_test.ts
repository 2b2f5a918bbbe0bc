import { expect, test } from "bun:test";
import { dial as bunDial } from "../../client/bun/connect.ts";
import { defaultDialer } from "../../client/default_dialer.ts";

test("defaultDialer() picks the Bun adapter under Bun", async () => {
  expect(await defaultDialer()).toBe(bunDial);
});
