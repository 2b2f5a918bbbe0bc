import { afterEach, describe, expect, test } from "bun:test";
import { PushConsumer } from "../../../client/push_consumer.ts";
import type { MessageExt } from "../../../core/model/message.ts";
import { encodeProperties } from "../../../core/model/properties.ts";
import { AclRules } from "../../../server/acl/acl_rules.ts";
import { type AdminFixture, startAdminFixture } from "./_admin_fixture.ts";

let f: AdminFixture;

afterEach(async () => {
  await f.close();
});

async function send(topic: string, body: string, extra: Record<string, unknown> = {}, headers?: Record<string, string>) {
  const r = await f.call("POST", `/api/topics/${topic}/messages`, { body, ...extra }, headers);
  expect(r.status).toBe(201);
  return r.json as { msgId: string; queueId: number; queueOffset: number };
}

function storeDirect(topic: string, body: string, properties: Record<string, string>) {
  return f.system.broker.context.store.putMessage({
    topic,
    queueId: 0,
    flag: 0,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    bornHost: { address: "127.0.0.1", port: 1 },
    reconsumeTimes: 16,
    preparedTransactionOffset: 0,
    body: new TextEncoder().encode(body),
    properties: encodeProperties(properties),
  });
}

describe("POST /api/groups/:group/resend", () => {
  test("only the named group's consumer gets the message again, as a message of its topic; other groups do not", async () => {
    f = await startAdminFixture();
    await f.call("POST", "/api/topics", { topic: "orders", queueNums: 1 });
    const got: Record<string, MessageExt[]> = { billing: [], audit: [] };
    const consumers = ["billing", "audit"].map((group) => {
      const consumer = new PushConsumer({ nameServer: f.system.nameServerAddress, dial: f.net.dial, group, consumeFromWhere: "FIRST_OFFSET", log: () => {} });
      consumer.subscribe("orders", "*");
      consumer.onMessage((message) => {
        got[group]!.push(message);
        return "SUCCESS";
      });
      return consumer;
    });
    await Promise.all(consumers.map((c) => c.start()));
    try {
      const sent = await send("orders", "order #1", { tags: "created", keys: "order-1" });
      const both = Date.now() + 10_000;
      while ((got.billing!.length < 1 || got.audit!.length < 1) && Date.now() < both) await Bun.sleep(20);
      expect([got.billing!.length, got.audit!.length]).toEqual([1, 1]);

      const r = await f.call("POST", "/api/groups/billing/resend", { msgId: sent.msgId });
      expect(r.status).toBe(201);
      expect(r.json).toMatchObject({ group: "billing", sourceId: sent.msgId, originalTopic: "orders", topic: "%RETRY%billing", queueId: 0 });
      const again = Date.now() + 10_000;
      while (got.billing!.length < 2 && Date.now() < again) await Bun.sleep(20);
      expect(got.billing!.map((m) => [m.topic, new TextDecoder().decode(m.body), m.tags, m.keys])).toEqual([
        ["orders", "order #1", "created", ["order-1"]],
        ["orders", "order #1", "created", ["order-1"]],
      ]);
      expect(got.billing![1]!.properties.ORIGIN_MESSAGE_ID).toBe(sent.msgId);
      // The unique key stays, so the consumer sees the same message id.
      expect(got.billing![1]!.uniqueKey).toBe(got.billing![0]!.uniqueKey);
      // The other group's queue did not grow: it had nothing more to get.
      const orders = (await f.call("GET", "/api/topics/orders/status")).json;
      expect(orders.messages).toBe(1);
      expect(got.audit!.length).toBe(1);
    } finally {
      await Promise.all(consumers.map((c) => c.shutdown()));
    }
  });

  test("a retry or dead letter of the group goes back as a message of its original topic", async () => {
    f = await startAdminFixture();
    await f.call("POST", "/api/topics", { topic: "orders", queueNums: 1 });
    f.system.broker.context.offsets.commit("billing", "orders", 0, 0);
    const dead = await storeDirect("%DLQ%billing", "poison", { RETRY_TOPIC: "orders", DELAY: "3", KEYS: "order-9" });
    const r = await f.call("POST", "/api/groups/billing/resend", { msgId: dead.msgId });
    expect(r.status).toBe(201);
    expect(r.json.originalTopic).toBe("orders");
    const copy = (await f.call("GET", `/api/messages/${r.json.msgId}`)).json.message;
    expect(copy).toMatchObject({ topic: "%RETRY%billing", queueId: 0, body: "poison", keys: ["order-9"], reconsumeTimes: 0 });
    expect(copy.properties).toMatchObject({ RETRY_TOPIC: "orders", ORIGIN_MESSAGE_ID: dead.msgId });
    expect(copy.properties.DELAY).toBeUndefined();
  });

  test("refuses groups that do not consume the topic, other groups' retries, broker topics, unknown ids and bad input", async () => {
    f = await startAdminFixture();
    await f.call("POST", "/api/topics", { topic: "orders", queueNums: 1 });
    f.system.broker.context.offsets.commit("billing", "orders", 0, 0);
    const sent = await send("orders", "x");
    const stranger = await f.call("POST", "/api/groups/nobody/resend", { msgId: sent.msgId });
    expect(stranger.status).toBe(409);
    expect(stranger.json.error.message).toBe('Consumer group "nobody" does not consume topic "orders": no member subscribes to it and the group has no offsets on it');
    const foreign = await storeDirect("%DLQ%audit", "y", { RETRY_TOPIC: "orders" });
    const other = await f.call("POST", "/api/groups/billing/resend", { msgId: foreign.msgId });
    expect(other.status).toBe(400);
    expect(other.json.error.message).toContain('"%DLQ%audit", a retry or dead-letter topic of another group than "billing"');
    const orphan = await storeDirect("%DLQ%billing", "z", {});
    expect((await f.call("POST", "/api/groups/billing/resend", { msgId: orphan.msgId })).status).toBe(422);
    const system = await storeDirect("SCHEDULE_TOPIC_XXXX", "s", { REAL_TOPIC: "orders" });
    expect((await f.call("POST", "/api/groups/billing/resend", { msgId: system.msgId })).status).toBe(400);
    const missing = sent.msgId.slice(0, -4) + "FFFF";
    expect((await f.call("POST", "/api/groups/billing/resend", { msgId: missing })).status).toBe(404);
    expect((await f.call("POST", "/api/groups/billing/resend", {})).status).toBe(400);
    expect((await f.call("POST", "/api/groups/billing/resend", { msgId: "not-an-id" })).status).toBe(400);
    expect((await f.call("POST", "/api/groups/bad%20group/resend", { msgId: sent.msgId })).status).toBe(400);
    // Nothing was written by the refusals.
    expect(f.system.broker.context.store.queueIds("%RETRY%billing")).toEqual([]);
  });

  // PUB on the retry topic is checked too, but ACL rules grant it with the group's right.
  test("with ACL on it needs the group's right and SUB on the message's topic", async () => {
    const accounts = [
      { accessKey: "admin-ak", secretKey: "admin-secret-1", admin: true },
      { accessKey: "billing-svc", secretKey: "billing-secret-1", topicPerms: ["orders=SUB"], groupPerms: ["billing=SUB"] },
      { accessKey: "blind", secretKey: "blind-secret-1", topicPerms: ["orders=PUB"], groupPerms: ["billing=SUB"] },
      { accessKey: "outsider", secretKey: "outsider-secret-1", topicPerms: ["orders=PUB|SUB"] },
    ];
    const rules = AclRules.parse({ accounts });
    f = await startAdminFixture({ acl: () => rules });
    const as = (key: string) => ({ authorization: `Basic ${btoa(`${key}:${accounts.find((a) => a.accessKey === key)!.secretKey}`)}` });
    expect((await f.call("POST", "/api/topics", { topic: "orders", queueNums: 1 }, as("admin-ak"))).status).toBe(201);
    f.system.broker.context.offsets.commit("billing", "orders", 0, 0);
    const sent = await send("orders", "x", {}, as("admin-ak"));

    expect((await f.call("POST", "/api/groups/billing/resend", { msgId: sent.msgId })).status).toBe(401);
    const outsider = await f.call("POST", "/api/groups/billing/resend", { msgId: sent.msgId }, as("outsider"));
    expect(outsider.status).toBe(403);
    expect(outsider.json.error.message).toBe('Account "outsider" may not use consumer group "billing"');
    const blind = await f.call("POST", "/api/groups/billing/resend", { msgId: sent.msgId }, as("blind"));
    expect(blind.status).toBe(403);
    expect(blind.json.error.message).toBe('Account "blind" may not subscribe to topic "orders"');
    expect(f.system.broker.context.store.queueIds("%RETRY%billing")).toEqual([]);
    const allowed = await f.call("POST", "/api/groups/billing/resend", { msgId: sent.msgId }, as("billing-svc"));
    expect(allowed.status).toBe(201);
    expect(allowed.json.topic).toBe("%RETRY%billing");
  });
});
