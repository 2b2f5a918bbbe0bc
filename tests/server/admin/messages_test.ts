import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { encodeProperties } from "../../../core/model/properties.ts";
import { createOffsetMessageId } from "../../../core/model/message_id.ts";
import { UniqueKeyGenerator } from "../../../client/_unique_key.ts";
import { type AdminFixture, startAdminFixture } from "./_admin_fixture.ts";

let f: AdminFixture;

beforeEach(async () => {
  f = await startAdminFixture();
  await f.call("POST", "/api/topics", { topic: "orders", queueNums: 2 });
});

afterEach(async () => {
  await f.close();
});

async function send(body: Record<string, unknown>, topic = "orders") {
  const r = await f.call("POST", `/api/topics/${topic}/messages`, body);
  expect(r.status).toBe(201);
  return r.json as { msgId: string; queueId: number; queueOffset: number };
}

describe("admin messages", () => {
  test("POST /api/topics/:topic/messages stores a message with tags and keys", async () => {
    const sent = await send({ body: "hello", tags: "created", keys: ["k1", "k2"], properties: { color: "red" }, queueId: 1 });
    expect(sent).toMatchObject({ queueId: 1, queueOffset: 0 });
    expect(sent.msgId).toMatch(/^[0-9A-F]{32}$/);
    const r = await f.call("GET", `/api/messages/${sent.msgId}`);
    expect(r.status).toBe(200);
    expect(r.json.message).toMatchObject({
      msgId: sent.msgId,
      topic: "orders",
      queueId: 1,
      queueOffset: 0,
      tags: "created",
      keys: ["k1", "k2"],
      body: "hello",
      bodyEncoding: "utf8",
      bodyTruncated: false,
    });
    expect(r.json.message.properties.color).toBe("red");
    // Lower-case ids are accepted too.
    expect((await f.call("GET", `/api/messages/${sent.msgId.toLowerCase()}`)).json.message.msgId).toBe(sent.msgId);
  });

  test("POST /api/topics/:topic/messages rejects bad input", async () => {
    const bad: Array<[string, unknown, number]> = [
      ["orders", { body: "" }, 400],
      ["orders", {}, 400],
      ["orders", { body: "x", tags: "a|b" }, 400],
      ["orders", { body: "x", keys: ["has space"] }, 400],
      ["orders", { body: "x", queueId: 7 }, 400],
      ["orders", { body: "x", properties: { a: 1 } }, 400],
      ["bad%20topic", { body: "x" }, 400],
      ["TBW102", { body: "x" }, 403],
    ];
    for (const [topic, body, status] of bad) {
      const r = await f.call("POST", `/api/topics/${topic}/messages`, body);
      expect({ topic, body, status: r.status }).toEqual({ topic, body, status });
      expect(typeof r.json.error.message).toBe("string");
    }
  });

  test("sending to an unknown topic is a 404 when auto-creation is off", async () => {
    const g = await startAdminFixture({ autoCreateTopicEnable: false });
    try {
      const r = await g.call("POST", "/api/topics/ghost/messages", { body: "x" });
      expect(r.status).toBe(404);
      expect(r.json.error.message).toContain('Topic "ghost" does not exist');
    } finally {
      await g.close();
    }
  });

  test("GET /api/messages/:msgId answers 400 for a malformed id and 404 for an unknown one", async () => {
    expect((await f.call("GET", "/api/messages/xyz")).status).toBe(400);
    const ctx = f.system.broker.context;
    const nowhere = createOffsetMessageId(ctx.storeHost, 999_999);
    const r = await f.call("GET", `/api/messages/${nowhere}`);
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe("NOT_FOUND");
    const elsewhere = createOffsetMessageId({ address: "10.1.2.3", port: 10911 }, 0);
    const other = await f.call("GET", `/api/messages/${elsewhere}`);
    expect(other.status).toBe(404);
    expect(other.json.error.message).toContain("10.1.2.3:10911");
  });

  test("GET /api/messages/:id finds a message by its unique key (what RocketMQ clients show) through the key index", async () => {
    // A unique key decodes as an offset id of some host with an offset beyond 2^53.
    const uniqueKey = new UniqueKeyGenerator({ prefix: new Uint8Array([10, 1, 2, 3, 0x4e, 0x5f]) }).next();
    await send({ body: "before" });
    const sent = await send({ body: "wanted", properties: { UNIQ_KEY: uniqueKey } });
    await send({ body: "other", properties: { UNIQ_KEY: "0A0102034E5F00000192A3B4C5D6FFFF" } }, "orders");
    const r = await f.call("GET", `/api/messages/${uniqueKey.toLowerCase()}`);
    expect(r.status).toBe(200);
    expect(r.json.message).toMatchObject({ body: "wanted", msgId: sent.msgId, uniqueKey });
    expect(r.json.lookup).toEqual({ by: "uniqueKey", matches: 1, complete: true });
    // The offset id is looked up directly.
    const direct = await f.call("GET", `/api/messages/${sent.msgId}`);
    expect(direct.json.lookup).toEqual({ by: "offsetId" });
    // Narrowed to a topic; and a key nobody sent is "not found", never "beyond 2^53".
    expect((await f.call("GET", `/api/messages/${uniqueKey}?topic=orders`)).json.message.body).toBe("wanted");
    expect((await f.call("GET", `/api/messages/${uniqueKey}?topic=ghost`)).status).toBe(404);
    const missing = await f.call("GET", "/api/messages/0A0102034E5F00000192A3B4C5D60000");
    expect(missing.status).toBe(404);
    expect(missing.json.error.message).toStartWith('No message "0A0102034E5F00000192A3B4C5D60000" on broker "broker-a"');
    expect(missing.json.error.message).toContain("no message of any topic has that unique key");
    expect(missing.json.error.message).not.toContain("2^53");
  });

  test("a unique key is found at any age: the oldest of 20,000 messages, which a scan of the newest missed", async () => {
    const store = f.system.broker.context.store;
    const input = (i: number) => ({
      topic: "orders",
      queueId: 0,
      flag: 0,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      bornHost: { address: "10.0.0.1", port: 5000 },
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body: new TextEncoder().encode(`m${i}`),
      properties: encodeProperties({ UNIQ_KEY: `0A0102034E5F00000192A3B4${i.toString(16).toUpperCase().padStart(8, "0")}`, KEYS: `order-${i % 7}` }),
    });
    for (let i = 0; i < 20_000; i += 500) await store.putMessages(Array.from({ length: 500 }, (_, k) => input(i + k)));
    const old = await f.call("GET", "/api/messages/0A0102034E5F00000192A3B400000000?topic=orders");
    expect(old.status).toBe(200);
    expect(old.json.message.body).toBe("m0");
    const anywhere = await f.call("GET", `/api/messages/0A0102034E5F00000192A3B4${(12_345).toString(16).toUpperCase().padStart(8, "0")}`);
    expect(anywhere.json.message.body).toBe("m12345");
    // A key of 2,858 messages: the page is the newest, and the answer says it is not all.
    const page = await f.call("GET", "/api/messages?topic=orders&key=order-3&limit=5");
    expect(page.json.messages.map((m: { body: string }) => m.body)).toEqual(["m19995", "m19988", "m19981", "m19974", "m19967"]);
    expect(page.json).toMatchObject({ matched: 5, complete: false, note: "Not every match is shown: more than 5 messages match" });
  });

  test("key lookups answer 503 when the key index is off, while offset ids still work", async () => {
    const g = await startAdminFixture({ messageIndexEnable: false });
    try {
      await g.call("POST", "/api/topics", { topic: "orders", queueNums: 1 });
      const sent = (await g.call("POST", "/api/topics/orders/messages", { body: "x", keys: ["k"] })).json as { msgId: string };
      const byKey = await g.call("GET", "/api/messages?topic=orders&key=k");
      expect(byKey.status).toBe(503);
      expect(byKey.json.error.message).toBe('Cannot look up key "k" on broker "broker-a": its key index is off (messageIndexEnable: false)');
      expect((await g.call("GET", "/api/messages/0A0102034E5F00000192A3B4C5D60000")).status).toBe(503);
      expect((await g.call("GET", `/api/messages/${sent.msgId}`)).json.message.body).toBe("x");
    } finally {
      await g.close();
    }
  });

  test("GET /api/topics/:topic/queues/:queueId/messages pages through a queue", async () => {
    for (let i = 0; i < 5; i++) await send({ body: `m${i}`, queueId: 0 });
    const first = await f.call("GET", "/api/topics/orders/queues/0/messages?offset=0&limit=2");
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ offset: 0, nextOffset: 2, minOffset: 0, maxOffset: 5 });
    expect(first.json.messages.map((m: { body: string }) => m.body)).toEqual(["m0", "m1"]);
    const second = await f.call("GET", `/api/topics/orders/queues/0/messages?offset=${first.json.nextOffset}&limit=2`);
    expect(second.json.messages.map((m: { body: string }) => m.body)).toEqual(["m2", "m3"]);
    const last = await f.call("GET", "/api/topics/orders/queues/0/messages?offset=4&limit=10");
    expect(last.json.messages.map((m: { body: string }) => m.body)).toEqual(["m4"]);
    expect(last.json.nextOffset).toBe(5);
    const past = await f.call("GET", "/api/topics/orders/queues/0/messages?offset=9");
    expect(past.json.messages).toEqual([]);
    const defaults = await f.call("GET", "/api/topics/orders/queues/0/messages");
    expect(defaults.json.messages).toHaveLength(5);

    for (const query of ["limit=0", "limit=101", "offset=-1", "offset=abc", "limit=2.5"]) {
      const r = await f.call("GET", `/api/topics/orders/queues/0/messages?${query}`);
      expect({ query, status: r.status }).toEqual({ query, status: 400 });
    }
    expect((await f.call("GET", "/api/topics/orders/queues/9/messages")).status).toBe(404);
    expect((await f.call("GET", "/api/topics/orders/queues/x/messages")).status).toBe(400);
  });

  test("binary bodies come back as base64", async () => {
    const ctx = f.system.broker.context;
    const result = await ctx.store.putMessage({
      topic: "orders",
      queueId: 0,
      flag: 0,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      bornHost: { address: "127.0.0.1", port: 1 },
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body: new Uint8Array([0xff, 0xfe, 0x00, 0x01]),
      properties: "",
    });
    const r = await f.call("GET", `/api/messages/${result.msgId}`);
    expect(r.json.message).toMatchObject({ body: "//4AAQ==", bodyEncoding: "base64", bodySize: 4 });
  });

  test("GET /api/messages?topic=&key= finds messages by key or unique key, newest first, and says when that is all", async () => {
    await send({ body: "a", keys: "order-1" });
    await send({ body: "b", keys: "order-2 order-1" });
    await send({ body: "c", keys: "order-3", properties: { UNIQ_KEY: "U1" } });
    const r = await f.call("GET", "/api/messages?topic=orders&key=order-1");
    expect(r.status).toBe(200);
    expect(r.json.messages.map((m: { body: string }) => m.body)).toEqual(["b", "a"]);
    expect(r.json).toMatchObject({ matched: 2, complete: true, note: "Every stored message of the topic with this key (or unique key) in the time range" });
    const stored = r.json.messages[1].storeTimestamp as number;
    expect((await f.call("GET", `/api/messages?topic=orders&key=order-1&end=${stored - 1}`)).json).toMatchObject({ matched: 0, complete: true });
    expect((await f.call("GET", `/api/messages?topic=orders&key=order-1&begin=${stored}&end=${stored}`)).json.messages.map((m: { body: string }) => m.body)).toContain("a");
    expect((await f.call("GET", "/api/messages?topic=orders&key=order-1&begin=5&end=4")).status).toBe(400);
    const unique = await f.call("GET", "/api/messages?topic=orders&key=U1");
    expect(unique.json.messages.map((m: { body: string }) => m.body)).toEqual(["c"]);
    expect((await f.call("GET", "/api/messages?topic=orders")).status).toBe(400);
    expect((await f.call("GET", "/api/messages?key=x")).status).toBe(400);
    expect((await f.call("GET", "/api/messages?topic=ghost&key=x")).status).toBe(404);
  });

  test("POST /api/dlq/:group/resend puts a dead letter back on its original topic", async () => {
    const ctx = f.system.broker.context;
    const dead = await ctx.store.putMessage({
      topic: "%DLQ%billing",
      queueId: 0,
      flag: 3,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      bornHost: { address: "127.0.0.1", port: 1 },
      reconsumeTimes: 16,
      preparedTransactionOffset: 0,
      body: new TextEncoder().encode("poison"),
      properties: encodeProperties({ RETRY_TOPIC: "orders", KEYS: "order-9", ORIGIN_MESSAGE_ID: "ORIGINAL", DELAY: "3" }),
    });
    expect(dead.status).toBe("PUT_OK");
    const r = await f.call("POST", "/api/dlq/billing/resend", { msgId: dead.msgId });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ group: "billing", deadLetterId: dead.msgId, topic: "orders" });
    const resent = (await f.call("GET", `/api/messages/${r.json.msgId}`)).json.message;
    expect(resent).toMatchObject({ topic: "orders", body: "poison", keys: ["order-9"], flag: 3, reconsumeTimes: 0 });
    expect(resent.properties.ORIGIN_MESSAGE_ID).toBe("ORIGINAL");
    expect(resent.properties.RETRY_TOPIC).toBeUndefined();
    expect(resent.properties.DELAY).toBeUndefined();

    // A message outside the group's DLQ, a DLQ message without RETRY_TOPIC, bad input.
    const normal = await send({ body: "x" });
    const wrongTopic = await f.call("POST", "/api/dlq/billing/resend", { msgId: normal.msgId });
    expect(wrongTopic.status).toBe(400);
    expect(wrongTopic.json.error.message).toContain("%DLQ%billing");
    const orphan = await ctx.store.putMessage({
      topic: "%DLQ%billing",
      queueId: 0,
      flag: 0,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      bornHost: { address: "127.0.0.1", port: 1 },
      reconsumeTimes: 16,
      preparedTransactionOffset: 0,
      body: new TextEncoder().encode("?"),
      properties: "",
    });
    const unknown = await f.call("POST", "/api/dlq/billing/resend", { msgId: orphan.msgId });
    expect(unknown.status).toBe(422);
    expect(unknown.json.error.code).toBe("UNPROCESSABLE");
    expect((await f.call("POST", "/api/dlq/billing/resend", {})).status).toBe(400);
    expect((await f.call("POST", "/api/dlq/bad%20group/resend", { msgId: dead.msgId })).status).toBe(400);
  });
});
