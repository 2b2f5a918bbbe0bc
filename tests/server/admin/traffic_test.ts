import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { AclRules } from "../../../server/acl/acl_rules.ts";
import { createAdminApp } from "../../../server/admin/app.ts";
import { type AdminFixture, startAdminFixture } from "./_admin_fixture.ts";

let f: AdminFixture;

const sum = (values: number[]) => values.reduce((n, x) => n + x, 0);

/** Waits until the broker's history holds `count` messages of the topic in whole seconds. */
async function historyHolds(path: string, count: number): Promise<{ fine: { in: number[] }; coarse: unknown }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await f.call("GET", path);
    expect(r.status).toBe(200);
    if (sum(r.json.fine.in) === count || Date.now() > deadline) return r.json;
    await Bun.sleep(100);
  }
}

beforeEach(async () => {
  f = await startAdminFixture();
  await f.call("POST", "/api/topics", { topic: "orders", queueNums: 2 });
  await f.call("POST", "/api/topics", { topic: "quiet", queueNums: 1 });
});

afterEach(async () => {
  await f.close();
});

describe("admin TPS history", () => {
  test("GET /api/traffic/topics/:topic answers the broker's per-second and ten-second points, and a new app sees the same", async () => {
    for (let i = 0; i < 5; i++) expect((await f.call("POST", "/api/topics/orders/messages", { body: `m${i}` })).status).toBe(201);
    // One-second points are messages per second: over whole seconds they add up to the messages sent.
    const orders = await historyHolds("/api/traffic/topics/orders", 5);
    expect(sum(orders.fine.in)).toBe(5);
    expect(orders).toMatchObject({ brokerName: "broker-a", topic: "orders", fine: { intervalMs: 1000 }, coarse: { intervalMs: 10_000 } });
    const whole = await historyHolds("/api/traffic", 5);
    expect(whole).toMatchObject({ topic: null });
    // The history is the broker's, not the page's or the app's: another app (a reload, another tab) reads it too.
    const other = createAdminApp({ broker: f.system.broker, version: "9.9.9" });
    const again = await (await other.request("/api/traffic/topics/orders")).json() as { fine: { in: number[] } };
    expect(sum(again.fine.in)).toBe(5);
    // A topic without traffic reads as zeros over the same span.
    const quiet = (await f.call("GET", "/api/traffic/topics/quiet")).json;
    expect(quiet.fine.in.length).toBe(orders.fine.in.length);
    expect(sum(quiet.fine.in)).toBe(0);
  });

  test("unknown topics answer 404 and bad names 400", async () => {
    const ghost = await f.call("GET", "/api/traffic/topics/ghost");
    expect(ghost.status).toBe(404);
    expect(ghost.json.error.message).toBe('Topic "ghost" does not exist on broker "broker-a"');
    expect((await f.call("GET", "/api/traffic/topics/bad%20name")).status).toBe(400);
  });
});

describe("admin TPS history with ACL on", () => {
  test("any account may read it, like the topic list's rates; without credentials it is refused", async () => {
    await f.close();
    const rules = AclRules.parse({ accounts: [{ accessKey: "reader", secretKey: "reader-secret-1", topicPerms: ["other=SUB"] }] });
    f = await startAdminFixture({ acl: () => rules });
    await f.system.broker.context.topics.ensure("orders", 1, 6);
    const anonymous = await f.call("GET", "/api/traffic/topics/orders");
    expect(anonymous.status).toBe(401);
    expect((await f.call("GET", "/api/traffic")).status).toBe(401);
    const reader = { authorization: `Basic ${btoa("reader:reader-secret-1")}` };
    expect((await f.call("GET", "/api/traffic/topics/orders", undefined, reader)).status).toBe(200);
    expect((await f.call("GET", "/api/traffic", undefined, reader)).status).toBe(200);
  });
});
