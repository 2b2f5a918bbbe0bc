import { afterEach, describe, expect, test } from "bun:test";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { AclRules } from "../../../server/acl/acl_rules.ts";
import { type AdminFixture, startAdminFixture } from "./_admin_fixture.ts";

let f: AdminFixture;

afterEach(async () => {
  await f.close();
});

/** Registers a producer of `producerGroups`, or (as our clients send them) a consumer of `group`. */
async function heartbeat(client: Connection, clientId: string, producerGroups: string[], group?: string, sql?: string) {
  const reply = await client.request(RequestCode.HEART_BEAT, {
    clientId,
    runtime: "bun test",
    producerGroups: group === undefined ? producerGroups : [],
    consumers: group === undefined ? [] : [{
      group,
      consumeType: "PUSH",
      messageModel: "CLUSTERING",
      subscriptions: [sql === undefined ? { topic: "orders", expression: "*" } : { topic: "orders", expression: sql, expressionType: "SQL92" }],
    }],
  });
  expect(reply.code).toBe(ResponseCode.SUCCESS);
}

describe("admin connections", () => {
  test("GET /api/connections lists producers and consumer group members from their heartbeats, and forgets closed ones", async () => {
    f = await startAdminFixture();
    await f.system.broker.context.topics.ensure("orders", 2, 6);
    const a = await f.client();
    const b = await f.client();
    await heartbeat(a, "producer-a", ["pg-orders"]);
    await heartbeat(a, "client-a", [], "billing");
    await heartbeat(b, "producer-b", []);
    await heartbeat(b, "client-b", [], "audit", "region = 'eu'");
    const r = await f.call("GET", "/api/connections");
    expect(r.status).toBe(200);
    expect(r.json.connections).toBe(2);
    expect(r.json.producers).toEqual([
      { clientId: "producer-a", groups: ["pg-orders"], runtime: "bun test", remoteAddress: expect.any(String), lastHeartbeat: expect.any(Number) },
      { clientId: "producer-b", groups: [], runtime: "bun test", remoteAddress: expect.any(String), lastHeartbeat: expect.any(Number) },
    ]);
    expect(r.json.consumers.map((c: { group: string; clientId: string }) => [c.group, c.clientId])).toEqual([["audit", "client-b"], ["billing", "client-a"]]);
    expect(r.json.consumers[0]).toMatchObject({
      consumeType: "PUSH",
      messageModel: "CLUSTERING",
      runtime: "bun test",
      subscriptions: [expect.objectContaining({ topic: "orders", expression: "region = 'eu'", expressionType: "SQL92" })],
    });
    a.close();
    const deadline = Date.now() + 5000;
    let after = await f.call("GET", "/api/connections");
    while (after.json.consumers.length !== 1 && Date.now() < deadline) {
      await Bun.sleep(20);
      after = await f.call("GET", "/api/connections");
    }
    expect(after.json.consumers.map((c: { clientId: string }) => c.clientId)).toEqual(["client-b"]);
    expect(after.json.producers.map((p: { clientId: string }) => p.clientId)).toEqual(["producer-b"]);
  });

  test("with ACL on an account sees the members of groups it may use and producers all of whose groups it may use", async () => {
    const rules = AclRules.parse({
      accounts: [
        { accessKey: "admin-ak", secretKey: "admin-secret-1", admin: true },
        { accessKey: "billing-svc", secretKey: "billing-secret-1", groupPerms: ["billing=SUB", "pg-orders=SUB"] },
      ],
    });
    f = await startAdminFixture({ acl: () => rules });
    await f.system.broker.context.topics.ensure("orders", 2, 6);
    await heartbeat(await f.client(), "client-a", [], "billing");
    await heartbeat(await f.client(), "client-b", [], "audit");
    await heartbeat(await f.client(), "producer-a", ["pg-orders"]);
    await heartbeat(await f.client(), "producer-b", ["pg-audit", "pg-orders"]);
    await heartbeat(await f.client(), "producer-c", []);
    const as = (key: string, secret: string) => ({ authorization: `Basic ${btoa(`${key}:${secret}`)}` });
    const billing = await f.call("GET", "/api/connections", undefined, as("billing-svc", "billing-secret-1"));
    expect(billing.status).toBe(200);
    expect(billing.json.consumers.map((c: { clientId: string }) => c.clientId)).toEqual(["client-a"]);
    expect(billing.json.producers.map((p: { clientId: string }) => p.clientId)).toEqual(["producer-a"]);
    const admin = await f.call("GET", "/api/connections", undefined, as("admin-ak", "admin-secret-1"));
    expect(admin.json.consumers.map((c: { clientId: string }) => c.clientId)).toEqual(["client-b", "client-a"]);
    expect(admin.json.producers.map((p: { clientId: string }) => p.clientId)).toEqual(["producer-a", "producer-b", "producer-c"]);
    expect((await f.call("GET", "/api/connections")).status).toBe(401);
    expect((await f.call("GET", "/api/connections", undefined, as("billing-svc", "wrong-secret"))).status).toBe(401);
  });
});
