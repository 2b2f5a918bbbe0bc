import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileOffsetStore } from "../../client/node/file_offset_store.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-offsets-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const Q0 = { topic: "T", brokerName: "b", queueId: 0 };
const Q1 = { topic: "T", brokerName: "b", queueId: 1 };

describe("FileOffsetStore", () => {
  test("persisted offsets survive a new store on the same file", async () => {
    const path = join(dir, "nested", "offsets.json");
    const first = new FileOffsetStore(path);
    expect(await first.read(Q0)).toBe(-1);
    first.update(Q0, 12);
    first.update(Q1, 3);
    await first.persist([Q0]);
    expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ "T@b@0": 12 });
    const second = new FileOffsetStore(path);
    expect(await second.read(Q0)).toBe(12);
    expect(second.get(Q0)).toBe(12);
    expect(await second.read(Q1)).toBe(-1);
  });

  test("a file that is not a JSON object is an error, not silently reset", async () => {
    const path = join(dir, "bad.json");
    writeFileSync(path, "[1, 2]");
    await expect(new FileOffsetStore(path).read(Q0)).rejects.toThrow("is not a JSON object");
  });
});
