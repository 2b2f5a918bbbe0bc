import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import * as v from "valibot";
import { BatchResult, ErrorBody, ProduceResult } from "../../../../server/admin/gateway/_schemas.ts";
import { type AdminFixture, startAdminFixture } from "../_admin_fixture.ts";

let f: AdminFixture;

beforeEach(async () => {
  f = await startAdminFixture();
  expect((await f.call("POST", "/api/topics", { topic: "orders", queueNums: 2 })).status).toBe(201);
});

afterEach(async () => {
  await f.close();
});

function raw(path: string, body: BodyInit, headers: Record<string, string> = {}) {
  return f.app.request(path, { method: "POST", body, headers: { "content-type": "application/octet-stream", ...headers } });
}

/** The stored message at a place, through the admin browse API. */
async function stored(queueId: number, offset: number) {
  const r = await f.call("GET", `/api/topics/orders/queues/${queueId}/messages?offset=${offset}&limit=1`);
  expect(r.status).toBe(200);
  return r.json.messages[0];
}

function maxOffsets(): number {
  const store = f.system.broker.context.store;
  return store.getMaxOffset("orders", 0) + store.getMaxOffset("orders", 1);
}

describe("HTTP gateway produce", () => {
  test("a JSON message is stored with its tags, keys, properties and message group, and answered with its place", async () => {
    const r = await f.call("POST", "/api/gateway/topics/orders/messages", {
      body: "hello",
      tags: "created",
      keys: ["k1", "k2"],
      properties: { color: "red" },
      messageGroup: "order-7",
    });
    expect(r.status).toBe(201);
    const sent = v.parse(ProduceResult, r.json);
    expect(sent).toMatchObject({ topic: "orders", queueOffset: 0, duplicate: false });
    const m = await stored(sent.queueId, sent.queueOffset);
    expect(m).toMatchObject({ msgId: sent.msgId, body: "hello", tags: "created", keys: ["k1", "k2"] });
    expect(m.properties).toMatchObject({ color: "red", __SHARDINGKEY: "order-7" });
    // One message group stays on one queue.
    for (let i = 0; i < 4; i++) {
      const again = await f.call("POST", "/api/gateway/topics/orders/messages", { body: `m${i}`, messageGroup: "order-7" });
      expect(again.json.queueId).toBe(sent.queueId);
    }
  });

  test("a raw body is stored byte for byte, with its settings from the query and the X-Rmq-* headers", async () => {
    const bytes = new Uint8Array([0, 255, 1, 254, 10, 13]);
    const response = await raw("/api/gateway/topics/orders/messages?tags=bin&keys=a%20b", bytes, { "x-rmq-properties": '{"origin":"curl"}' });
    expect(response.status).toBe(201);
    const sent = v.parse(ProduceResult, await response.json());
    const m = await stored(sent.queueId, sent.queueOffset);
    expect(m.bodyEncoding).toBe("base64");
    expect(Uint8Array.from(atob(m.body), (ch) => ch.charCodeAt(0))).toEqual(bytes);
    expect(m).toMatchObject({ tags: "bin", keys: ["a", "b"] });
    expect(m.properties.origin).toBe("curl");

    const viaHeaders = await raw("/api/gateway/topics/orders/messages", "text body", { "x-rmq-tags": "hdr", "x-rmq-keys": "k9" });
    expect(viaHeaders.status).toBe(201);
    const second = await viaHeaders.json() as { queueId: number; queueOffset: number };
    expect(await stored(second.queueId, second.queueOffset)).toMatchObject({ body: "text body", tags: "hdr", keys: ["k9"] });
  });

  test("a batch of plain messages is stored in one queue with consecutive offsets, base64 bodies decoded", async () => {
    const r = await f.call("POST", "/api/gateway/topics/orders/messages/batch", {
      messages: [{ body: "one", tags: "t" }, { body: btoa("two"), encoding: "base64" }, { body: "three", keys: "k3" }],
    });
    expect(r.status).toBe(201);
    const { results } = v.parse(BatchResult, r.json);
    expect(results).toHaveLength(3);
    expect(new Set(results.map((x) => x.queueId)).size).toBe(1);
    expect(results.map((x) => x.queueOffset)).toEqual([0, 1, 2]);
    const bodies = [];
    for (const x of results) bodies.push((await stored(x.queueId, x.queueOffset)).body);
    expect(bodies).toEqual(["one", "two", "three"]);
  });

  test("an idempotency key is stored once: a repeat answers 200 with the first send's place and duplicate true", async () => {
    const first = await raw("/api/gateway/topics/orders/messages", "pay 10", { "idempotency-key": "payment-42" });
    expect(first.status).toBe(201);
    const one = v.parse(ProduceResult, await first.json());
    expect(one.duplicate).toBe(false);
    const repeat = await raw("/api/gateway/topics/orders/messages", "pay 10", { "idempotency-key": "payment-42" });
    expect(repeat.status).toBe(200);
    const two = v.parse(ProduceResult, await repeat.json());
    expect(two).toEqual({ ...one, duplicate: true });
    // The JSON form and the query name the same key.
    const json = await f.call("POST", "/api/gateway/topics/orders/messages", { body: "pay 10", idempotencyKey: "payment-42" });
    expect(json.status).toBe(200);
    expect(json.json.msgId).toBe(one.msgId);
    expect(maxOffsets()).toBe(1);

    // A batch with keys: each stored once, repeats answered with the first places.
    const batch = { messages: [{ body: "a", idempotencyKey: "b-1" }, { body: "b", idempotencyKey: "b-2" }] };
    const b1 = v.parse(BatchResult, (await f.call("POST", "/api/gateway/topics/orders/messages/batch", batch)).json);
    const b2 = v.parse(BatchResult, (await f.call("POST", "/api/gateway/topics/orders/messages/batch", batch)).json);
    expect(b1.results.map((x) => x.duplicate)).toEqual([false, false]);
    expect(b2.results).toEqual(b1.results.map((x) => ({ ...x, duplicate: true })));
    expect(maxOffsets()).toBe(3);
  });

  test("a delayed message is a timer message with a recall handle, not visible before its time", async () => {
    const r = await f.call("POST", "/api/gateway/topics/orders/messages", { body: "later", delayMs: 60_000 });
    expect(r.status).toBe(201);
    expect(v.parse(ProduceResult, r.json).recallHandle).toBeString();
    expect(maxOffsets()).toBe(0);
    const at = await raw(`/api/gateway/topics/orders/messages?deliverAt=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`, "x");
    expect(at.status).toBe(201);
    expect(maxOffsets()).toBe(0);
  });

  test("bad input is refused with 400 and the error shape, naming what is wrong; nothing is stored", async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ["/api/gateway/topics/orders/messages", {}, /body/],
      ["/api/gateway/topics/orders/messages", { body: "" }, /body/],
      ["/api/gateway/topics/orders/messages", { body: "x", tags: "a|b" }, /tags/],
      ["/api/gateway/topics/orders/messages", { body: "x", delayMs: -1 }, /delayMs/],
      ["/api/gateway/topics/orders/messages", { body: "x", delayMs: 5, deliverAt: 9 }, /delayMs or deliverAt/],
      ["/api/gateway/topics/orders/messages", { body: "x", deliverAt: "not a time" }, /deliverAt/],
      ["/api/gateway/topics/orders/messages", { body: "x", idempotencyKey: "has space" }, /Dedup id/],
      ["/api/gateway/topics/orders/messages", { body: "%%%", encoding: "base64" }, /base64/],
      ["/api/gateway/topics/orders/messages", { body: "x", properties: { a: 1 } }, /properties/],
      ["/api/gateway/topics/orders/messages", "{not json", /not JSON/],
      ["/api/gateway/topics/bad%20topic/messages", { body: "x" }, /path field "topic"/],
      ["/api/gateway/topics/orders/messages/batch", { messages: [] }, /messages/],
      ["/api/gateway/topics/orders/messages/batch", { messages: [{ body: "ok" }, { body: 5 }] }, /messages\.1\.body/],
      ["/api/gateway/topics/orders/messages/batch", { messages: Array.from({ length: 1025 }, () => ({ body: "x" })) }, /at most 1024/],
    ];
    for (const [path, body, message] of cases) {
      const r = await f.call("POST", path, body);
      expect({ path, body: JSON.stringify(body).slice(0, 80), status: r.status }).toEqual({ path, body: JSON.stringify(body).slice(0, 80), status: 400 });
      const error = v.parse(ErrorBody, r.json).error;
      expect(error.code).toBe("BAD_REQUEST");
      expect(error.message).toMatch(message);
    }
    const rawCases: Array<[string, Record<string, string>, RegExp]> = [
      ["/api/gateway/topics/orders/messages?delayMs=soon", {}, /delayMs/],
      ["/api/gateway/topics/orders/messages?tags=a", { "x-rmq-tags": "b" }, /disagree/],
      ["/api/gateway/topics/orders/messages", { "x-rmq-properties": "[1]" }, /x-rmq-properties/],
      ["/api/gateway/topics/orders/messages", { "idempotency-key": "bad key!" }, /Dedup id/],
    ];
    for (const [path, headers, message] of rawCases) {
      const r = await raw(path, "x", headers);
      expect({ path, status: r.status }).toEqual({ path, status: 400 });
      expect(v.parse(ErrorBody, await r.json()).error.message).toMatch(message);
    }
    const empty = await raw("/api/gateway/topics/orders/messages", new Uint8Array(0));
    expect(empty.status).toBe(400);
    expect(maxOffsets()).toBe(0);
  });

  test("a form content type is refused with 415, a body past the limit with 413, a reserved topic with 403", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]) {
      const r = await raw("/api/gateway/topics/orders/messages", "x", { "content-type": type });
      expect(r.status).toBe(415);
      expect(v.parse(ErrorBody, await r.json()).error.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    }
    const limit = f.system.broker.context.maxMessageSize;
    const big = await raw("/api/gateway/topics/orders/messages", new Uint8Array(limit + 1));
    expect(big.status).toBe(413);
    expect(v.parse(ErrorBody, await big.json()).error.code).toBe("PAYLOAD_TOO_LARGE");
    // Announced or not: a streamed body is cut once it passes the limit.
    const chunks = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i <= limit / 65536; i++) controller.enqueue(new Uint8Array(65536));
        controller.close();
      },
    });
    const streamed = await raw("/api/gateway/topics/orders/messages", chunks);
    expect(streamed.status).toBe(413);
    const reserved = await f.call("POST", "/api/gateway/topics/TBW102/messages", { body: "x" });
    expect(reserved.status).toBe(403);
    expect(maxOffsets()).toBe(0);
  });

  test("an idempotency key is refused with 422 where the broker keeps no dedup window", async () => {
    const off = await startAdminFixture({ dedupWindowMs: 0 });
    try {
      const r = await off.call("POST", "/api/gateway/topics/orders/messages", { body: "x", idempotencyKey: "k-1" });
      expect(r.status).toBe(422);
      expect(r.json.error.message).toMatch(/dedupWindowMs/);
    } finally {
      await off.close();
    }
  });
});
