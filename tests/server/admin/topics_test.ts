import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { until } from "../../_helpers/wait.ts";
import { type AdminFixture, startAdminFixture } from "./_admin_fixture.ts";

let f: AdminFixture;

beforeEach(async () => {
  f = await startAdminFixture();
});

afterEach(async () => {
  await f.close();
});

describe("admin topics", () => {
  test("POST /api/topics creates a topic, a second POST updates it", async () => {
    const created = await f.call("POST", "/api/topics", { topic: "orders", queueNums: 3, perm: "rw" });
    expect(created.status).toBe(201);
    expect(created.json.created).toBe(true);
    expect(created.json.topic).toMatchObject({ topic: "orders", readQueueNums: 3, writeQueueNums: 3, perm: "rw", queues: 3, messages: 0 });
    expect(f.system.broker.context.topics.get("orders")?.writeQueueNums).toBe(3);

    const updated = await f.call("POST", "/api/topics", { topic: "orders", writeQueueNums: 2, perm: "r" });
    expect(updated.status).toBe(200);
    expect(updated.json.created).toBe(false);
    expect(updated.json.topic).toMatchObject({ readQueueNums: 3, writeQueueNums: 2, perm: "r-" });
  });

  test("POST /api/topics rejects bad input with 400 and a message naming the field", async () => {
    const cases: Array<[unknown, string]> = [
      [{ topic: "bad topic" }, "topic"],
      [{ topic: "" }, "topic"],
      [{ topic: "a".repeat(128) }, "topic"],
      [{ topic: "ok", queueNums: 0 }, "queueNums"],
      [{ topic: "ok", queueNums: 1.5 }, "queueNums"],
      [{ topic: "ok", readQueueNums: 2000 }, "readQueueNums"],
      [{ topic: "ok", perm: "x" }, "perm"],
      [{ topic: "ok", order: "yes" }, "order"],
      [{}, "topic"],
    ];
    for (const [body, field] of cases) {
      const r = await f.call("POST", "/api/topics", body);
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe("BAD_REQUEST");
      expect(r.json.error.message).toContain(field);
    }
    const notJson = await f.call("POST", "/api/topics", "{not json");
    expect(notJson.status).toBe(400);
    expect(notJson.json.error.message).toContain("not JSON");
    const template = await f.call("POST", "/api/topics", { topic: "TBW102" });
    expect(template.status).toBe(403);
    expect(template.json.error.code).toBe("FORBIDDEN");
  });

  test("GET /api/topics lists topics with their message counts", async () => {
    await f.call("POST", "/api/topics", { topic: "orders", queueNums: 2 });
    for (let i = 0; i < 3; i++) expect((await f.call("POST", "/api/topics/orders/messages", { body: `m${i}`, queueId: i % 2 })).status).toBe(201);
    const r = await f.call("GET", "/api/topics");
    expect(r.status).toBe(200);
    const orders = r.json.topics.find((t: { topic: string }) => t.topic === "orders");
    expect(orders).toMatchObject({ kind: "normal", queues: 2, messages: 3, maxOffset: 3, brokers: ["broker-a"] });
    expect(r.json.topics.find((t: { topic: string }) => t.topic === "TBW102").kind).toBe("system");
  });

  test("GET /api/topics/:topic/status gives per-queue offsets and last store time", async () => {
    await f.call("POST", "/api/topics", { topic: "orders", queueNums: 2 });
    const before = Date.now();
    await f.call("POST", "/api/topics/orders/messages", { body: "a", queueId: 1 });
    await f.call("POST", "/api/topics/orders/messages", { body: "b", queueId: 1 });
    const r = await f.call("GET", "/api/topics/orders/status");
    expect(r.status).toBe(200);
    expect(r.json.messages).toBe(2);
    expect(r.json.queues[0]).toMatchObject({ queueId: 0, minOffset: 0, maxOffset: 0, messages: 0, lastStoreTime: null });
    expect(r.json.queues[1]).toMatchObject({ queueId: 1, minOffset: 0, maxOffset: 2, messages: 2 });
    expect(r.json.queues[1].lastStoreTime).toBeGreaterThanOrEqual(before);
    expect(r.json.lastStoreTime).toBe(r.json.queues[1].lastStoreTime);

    const missing = await f.call("GET", "/api/topics/nope/status");
    expect(missing.status).toBe(404);
    expect(missing.json.error).toEqual({ code: "NOT_FOUND", message: 'Topic "nope" does not exist on broker "broker-a"' });
    expect((await f.call("GET", "/api/topics/bad%20name/status")).status).toBe(400);
  });

  test("GET /api/topics/:topic/route answers from the NameServer once registered", async () => {
    await f.call("POST", "/api/topics", { topic: "orders", queueNums: 2 });
    let r = await f.call("GET", "/api/topics/orders/route");
    for (let i = 0; i < 100 && r.json.source !== "nameserver"; i++) {
      await Bun.sleep(10);
      r = await f.call("GET", "/api/topics/orders/route");
    }
    expect(r.status).toBe(200);
    expect(r.json.source).toBe("nameserver");
    expect(r.json.queueDatas).toEqual([{ brokerName: "broker-a", readQueueNums: 2, writeQueueNums: 2, perm: 6 }]);
    expect(r.json.brokerDatas[0].brokerAddrs["0"]).toBe(f.system.broker.address);
    expect((await f.call("GET", "/api/topics/unknown/route")).status).toBe(404);
  });

  test("DELETE /api/topics/:topic removes the topic, its queues and its route", async () => {
    await f.call("POST", "/api/topics", { topic: "orders", queueNums: 1 });
    await f.call("POST", "/api/topics/orders/messages", { body: "x" });
    const r = await f.call("DELETE", "/api/topics/orders");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ deleted: "orders", broker: "broker-a" });
    expect(f.system.broker.context.topics.get("orders")).toBeUndefined();
    expect(f.system.nameServer.routeTable.getRoute("orders")).toBeUndefined();
    expect((await f.call("GET", "/api/topics/orders/status")).status).toBe(404);
    const again = await f.call("DELETE", "/api/topics/orders");
    expect(again.status).toBe(404);
    expect(again.json.error.code).toBe("NOT_FOUND");
  });

  test("a refused DELETE changes nothing: system topics (TBW102's route included) and other topics' offsets stay", async () => {
    // The auto-create template is routed once the broker has registered.
    const nameServer = f.system.nameServer;
    await until(() => nameServer.routeTable.getRoute("TBW102") !== undefined, 5000, "the route of TBW102");
    for (const topic of ["TBW102", "SCHEDULE_TOPIC_XXXX", "RMQ_SYS_TRANS_HALF_TOPIC"]) {
      const r = await f.call("DELETE", `/api/topics/${topic}`);
      expect(nameServer.routeTable.getRoute("TBW102")).toBeDefined();
      expect(r.status).toBe(403);
      expect(r.json.error.message).toBe(`Topic "${topic}" is reserved for the broker`);
    }
    expect(f.system.broker.context.topics.get("TBW102")).toBeDefined();
    // An unknown topic: 404, and another topic's route and offsets stay.
    await f.call("POST", "/api/topics", { topic: "kept", queueNums: 1 });
    f.system.broker.context.offsets.commit("g", "kept", 0, 5);
    const missing = await f.call("DELETE", "/api/topics/missing");
    expect(missing.status).toBe(404);
    expect(f.system.broker.context.offsets.entries().some(([topic]) => topic === "kept")).toBe(true);
  });

  test("a DELETE whose topic table cannot be saved fails and leaves the topic, its queues and its route", async () => {
    await f.call("POST", "/api/topics", { topic: "orders", queueNums: 1 });
    await f.call("POST", "/api/topics/orders/messages", { body: "x" });
    const nameServer = f.system.nameServer;
    await until(() => nameServer.routeTable.getRoute("orders") !== undefined, 5000, "the route of orders");
    // Make the table's file unwritable: its directory becomes a file.
    rmSync(join(f.dir, "config"), { recursive: true, force: true });
    writeFileSync(join(f.dir, "config"), "not a directory");
    const r = await f.call("DELETE", "/api/topics/orders");
    expect(r.status).toBe(500);
    expect(f.system.broker.context.topics.get("orders")).toBeDefined();
    expect(f.system.broker.context.store.getMaxOffset("orders", 0)).toBe(1);
    expect(nameServer.routeTable.getRoute("orders")).toBeDefined();
    rmSync(join(f.dir, "config"));
  });

  test("unknown routes answer a JSON 404", async () => {
    const r = await f.call("GET", "/api/nothing");
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe("NOT_FOUND");
  });
});
