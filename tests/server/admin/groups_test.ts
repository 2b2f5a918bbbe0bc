import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { decodeRecords } from "../../../core/model/record.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { type AdminFixture, startAdminFixture } from "./_admin_fixture.ts";

let f: AdminFixture;

beforeEach(async () => {
  f = await startAdminFixture();
  await f.call("POST", "/api/topics", { topic: "orders", queueNums: 2 });
  for (let i = 0; i < 6; i++) await f.call("POST", "/api/topics/orders/messages", { body: `m${i}`, queueId: i % 2 });
});

afterEach(async () => {
  await f.close();
});

describe("admin consumer groups", () => {
  test("GET /api/groups and /api/groups/:group show offsets and lag from the offset manager", async () => {
    const ctx = f.system.broker.context;
    ctx.offsets.commit("billing", "orders", 0, 1);
    const list = await f.call("GET", "/api/groups");
    expect(list.status).toBe(200);
    expect(list.json.groups).toEqual([
      { group: "billing", members: 0, consumeType: null, messageModel: null, topics: ["orders"], totalLag: 5, inconsistent: false, deadLetters: 0 },
    ]);
    const detail = await f.call("GET", "/api/groups/billing");
    expect(detail.status).toBe(200);
    expect(detail.json.totalLag).toBe(5);
    expect(detail.json.members).toEqual([]);
    expect(detail.json.queues).toEqual([
      { brokerName: "broker-a", topic: "orders", queueId: 0, brokerOffset: 3, consumerOffset: 1, lag: 2 },
      { brokerName: "broker-a", topic: "orders", queueId: 1, brokerOffset: 3, consumerOffset: -1, lag: 3 },
    ]);
    expect((await f.call("GET", "/api/groups/nobody")).status).toBe(404);
    expect((await f.call("GET", "/api/groups/bad%20name")).status).toBe(400);
  });

  test("online members and their subscriptions appear once they send heartbeats", async () => {
    const client = await f.client();
    const reply = await client.request(RequestCode.HEART_BEAT, {
      clientId: "c1",
      runtime: "bun test",
      consumers: [{ group: "billing", consumeType: "PUSH", messageModel: "CLUSTERING", subscriptions: [{ topic: "orders", expression: "*" }] }],
    });
    expect(reply.code).toBe(ResponseCode.SUCCESS);
    const detail = await f.call("GET", "/api/groups/billing");
    expect(detail.status).toBe(200);
    expect(detail.json).toMatchObject({ consumeType: "PUSH", messageModel: "CLUSTERING", totalLag: 6 });
    expect(detail.json.members.map((m: { clientId: string }) => m.clientId)).toEqual(["c1"]);
    expect(detail.json.subscriptions).toEqual([{ topic: "orders", expression: "*", expressionType: "TAG", version: 0 }]);
    const list = await f.call("GET", "/api/groups");
    expect(list.json.groups[0]).toMatchObject({ group: "billing", members: 1, totalLag: 6 });

    // Resetting under live members needs force: they would write their own offsets back.
    const refused = await f.call("POST", "/api/groups/billing/reset-offset", { topic: "orders", to: "latest" });
    expect(refused.status).toBe(409);
    expect(refused.json.error.code).toBe("CONFLICT");
    const forced = await f.call("POST", "/api/groups/billing/reset-offset", { topic: "orders", to: "latest", force: true });
    expect(forced.status).toBe(200);
    expect((await f.call("GET", "/api/groups/billing")).json.totalLag).toBe(0);
  });

  test("dead letters are counted per group and original topic, in /api/groups and /metrics", async () => {
    const client = await f.client();
    await client.request(RequestCode.HEART_BEAT, {
      clientId: "c1",
      runtime: "bun test",
      consumers: [{ group: "billing", consumeType: "PUSH", messageModel: "CLUSTERING", subscriptions: [{ topic: "orders", expression: "*" }] }],
    });
    // A consumer's own retry past its limit, as a consumer sends it when send-back fails.
    const enc = new TextEncoder();
    for (const [topic, n] of [["orders", 2], ["invoices", 1]] as const) {
      for (let i = 0; i < n; i++) {
        const sent = await client.request(RequestCode.SEND_MESSAGE, {
          topic: "%RETRY%billing",
          queueId: 0,
          bornTimestamp: Date.now(),
          properties: { RETRY_TOPIC: topic },
          reconsumeTimes: 17,
          maxReconsumeTimes: 16,
        }, enc.encode("dead"));
        expect(sent.code).toBe(ResponseCode.SUCCESS);
      }
    }
    // Through CONSUMER_SEND_MSG_BACK with delay level -1.
    const pulled = await client.request(RequestCode.PULL_MESSAGE, { consumerGroup: "billing", topic: "orders", queueId: 0, queueOffset: 0, maxMsgNums: 1 });
    const back = await client.request(RequestCode.CONSUMER_SEND_MSG_BACK, {
      consumerGroup: "billing",
      offset: decodeRecords(pulled.body!)[0]!.commitLogOffset,
      delayLevel: -1,
    });
    expect(back.header.topic).toBe("%DLQ%billing");
    const detail = await f.call("GET", "/api/groups/billing");
    expect(detail.json.deadLetters).toEqual({ total: 4, byTopic: { invoices: 1, orders: 3 } });
    expect((await f.call("GET", "/api/groups")).json.groups.find((g: { group: string }) => g.group === "billing").deadLetters).toBe(4);
    const metrics = await (await f.app.request("/metrics")).text();
    expect(metrics).toContain('# TYPE rocketmq_dead_letters_total counter');
    expect(metrics).toContain('rocketmq_dead_letters_total{broker="broker-a",broker_id="0",group="billing",topic="invoices"} 1\n');
    expect(metrics).toContain('rocketmq_dead_letters_total{broker="broker-a",broker_id="0",group="billing",topic="orders"} 3\n');
  });

  test("POST /api/groups/:group/reset-offset moves offsets to earliest, latest or a time", async () => {
    const ctx = f.system.broker.context;
    const latest = await f.call("POST", "/api/groups/billing/reset-offset", { topic: "orders", to: "latest" });
    expect(latest.status).toBe(200);
    expect(latest.json.queues).toEqual([{ queueId: 0, previous: -1, offset: 3 }, { queueId: 1, previous: -1, offset: 3 }]);
    expect(ctx.offsets.query("billing", "orders", 0)).toBe(3);

    const earliest = await f.call("POST", "/api/groups/billing/reset-offset", { topic: "orders", to: "earliest" });
    expect(earliest.json.queues).toEqual([{ queueId: 0, previous: 3, offset: 0 }, { queueId: 1, previous: 3, offset: 0 }]);
    expect((await f.call("GET", "/api/groups/billing")).json.totalLag).toBe(6);

    const future = await f.call("POST", "/api/groups/billing/reset-offset", { topic: "orders", to: Date.now() + 60_000 });
    expect(future.json.queues.map((q: { offset: number }) => q.offset)).toEqual([3, 3]);
    const past = await f.call("POST", "/api/groups/billing/reset-offset", { topic: "orders", to: new Date(0).toISOString() });
    expect(past.json.queues.map((q: { offset: number }) => q.offset)).toEqual([0, 0]);

    for (const body of [{ topic: "orders", to: "yesterday" }, { topic: "orders" }, { to: "latest" }, { topic: "orders", to: -5 }]) {
      const r = await f.call("POST", "/api/groups/billing/reset-offset", body);
      expect({ body, status: r.status }).toEqual({ body, status: 400 });
    }
    expect((await f.call("POST", "/api/groups/billing/reset-offset", { topic: "ghost", to: "latest" })).status).toBe(404);
  });
});
