/**
 * Message trace end to end against a real `rmq standalone --trace` process: a message sent,
 * failing twice and dead-lettered shows every step in order in `rmq trace --json`, its table and
 * the admin API; transactions show their commit or rollback; clients without enableTrace write no
 * trace records; a producer whose trace buffer is full drops and counts records and every send
 * still succeeds.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { Producer } from "../../client/producer.ts";
import { PushConsumer } from "../../client/push_consumer.ts";
import { TRACE_TOPIC } from "../../core/model/trace.ts";
import type { TraceAnswer } from "../../server/admin/trace.ts";
import { type StandaloneProcess, startStandaloneProcess } from "../_helpers/standalone_process.ts";
import { until } from "../_helpers/wait.ts";
import { rmq } from "./_cli.ts";

let dir: string;
let server: StandaloneProcess;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-trace-"));
  server = await startStandaloneProcess(dir, { flags: ["--trace", "--message-delay-level", "100ms 100ms 100ms 100ms 100ms 100ms"] });
  await server.createTopic("orders", 2);
  await server.createTopic("quiet", 1);
  await server.createTopic("payments", 1);
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function trace(id: string, topic: string): Promise<TraceAnswer> {
  return server.admin<TraceAnswer>("GET", `/api/messages/${encodeURIComponent(id)}/trace?topic=${encodeURIComponent(topic)}`);
}

async function traceMessages(): Promise<number> {
  const status = await server.admin<{ queues: { maxOffset: number }[] }>("GET", `/api/topics/${TRACE_TOPIC}/status`);
  return status.queues.reduce((sum, q) => sum + q.maxOffset, 0);
}

describe("rmq trace", () => {
  test("clients without enableTrace write no trace records", async () => {
    const before = await traceMessages();
    const producer = new Producer({ nameServer: server.nameServer, dial });
    const consumer = new PushConsumer({ nameServer: server.nameServer, dial, group: "quiet_group", consumeFromWhere: "FIRST_OFFSET" });
    let consumed = 0;
    consumer.subscribe("quiet", "*");
    consumer.onMessage(() => {
      consumed++;
      return "SUCCESS";
    });
    await producer.start();
    await consumer.start();
    const sent = await producer.send({ topic: "quiet", body: "untraced", keys: ["plain-1"] });
    await until(() => consumed === 1, 20_000, "the untraced message to be consumed");
    expect(producer.traceStats).toBeUndefined();
    expect(consumer.traceStats).toBeUndefined();
    await consumer.shutdown();
    await producer.shutdown();
    expect(await traceMessages()).toBe(before);
    const answer = await trace(sent.uniqueKey, "quiet");
    expect(answer.messages.map((m) => m.msgId)).toEqual([sent.uniqueKey]);
    expect(answer.events).toEqual([]);
  });

  test("a message sent, failing twice and dead-lettered shows every step in order", async () => {
    const producer = new Producer({ nameServer: server.nameServer, dial, group: "order_producer", enableTrace: true });
    const consumer = new PushConsumer({
      nameServer: server.nameServer,
      dial,
      group: "billing",
      consumeFromWhere: "FIRST_OFFSET",
      maxReconsumeTimes: 1,
      enableTrace: true,
    });
    let deliveries = 0;
    consumer.subscribe("orders", "*");
    consumer.onMessage(() => {
      deliveries++;
      return "RECONSUME_LATER";
    });
    await producer.start();
    await consumer.start();
    const sent = await producer.send({ topic: "orders", body: "order 7", keys: ["order-7"], tags: "created" });
    let answer: TraceAnswer | undefined;
    await until(async () => {
      answer = await trace("order-7", "orders");
      return answer.events.length >= 6;
    }, 30_000, "six trace steps of order-7");
    expect(deliveries).toBe(2);

    const expected = [
      { step: "sent", group: "order_producer", clientId: producer.clientId, attempt: null, storeHost: server.broker },
      { step: "delivered", group: "billing", clientId: consumer.clientId, attempt: 1 },
      { step: "consume failed", group: "billing", clientId: consumer.clientId, attempt: 1 },
      { step: "delivered", group: "billing", clientId: consumer.clientId, attempt: 2 },
      { step: "consume failed", group: "billing", clientId: consumer.clientId, attempt: 2 },
      { step: "dead-lettered", group: "billing", clientId: null, attempt: 2, detail: expect.stringContaining("to %DLQ%billing as ") },
    ];
    expect(answer!.messages).toEqual([expect.objectContaining({ msgId: sent.uniqueKey, source: "stored", offsetMsgId: sent.msgId, keys: ["order-7"], tags: "created" })]);
    expect(answer!.events).toEqual(expected.map((e) => expect.objectContaining({ ...e, msgId: sent.uniqueKey, topic: "orders" })));
    const times = answer!.events.map((e) => e.time);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Each delivery's outcome pairs with it.
    expect(answer!.events[1]!.requestId).toBe(answer!.events[2]!.requestId!);
    expect(answer!.events[3]!.requestId).not.toBe(answer!.events[1]!.requestId);

    // The same by unique key and by offset id, through the CLI as JSON and as a table.
    const json = await rmq(["trace", sent.uniqueKey, "--topic", "orders", "--server", server.adminUrl, "--json"]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).events.map((e: { step: string }) => e.step)).toEqual(expected.map((e) => e.step));
    expect((await trace(sent.msgId, "orders")).events.map((e): string => e.step)).toEqual(expected.map((e) => e.step));
    const table = await rmq(["trace", "order-7", "-t", "orders", "--server", server.adminUrl]);
    expect(table.code).toBe(0);
    const rows = table.stdout.split("\n").filter((l) => /^\d{4}-\d\d-\d\d /.test(l));
    expect(rows.map((l) => l.split(/\s{2,}/)[1])).toEqual(expected.map((e) => e.step));
    expect(table.stdout).toContain(`Message ${sent.uniqueKey} of "orders", keys order-7, tag created`);

    // Another topic's trace does not show this message; an unknown key exits 1.
    const other = await rmq(["trace", "order-7", "--topic", "quiet", "--server", server.adminUrl]);
    expect(other.code).toBe(1);
    expect(other.stdout).toContain(`No message of topic "quiet" has the id or key "order-7"`);
    expect(consumer.traceStats).toMatchObject({ dropped: 0, failed: 0, sent: 4 });
    await consumer.shutdown();
    await producer.shutdown();
  });

  test("the broker records transactions it commits and rolls back", async () => {
    const producer = new Producer({
      nameServer: server.nameServer,
      dial,
      group: "pay_tx",
      enableTrace: true,
      transactionListener: {
        executeLocalTransaction: (message) => (message.keys?.includes("pay-ok") ? "COMMIT" : "ROLLBACK"),
        checkLocalTransaction: () => "ROLLBACK",
      },
    });
    await producer.start();
    await producer.sendMessageInTransaction({ topic: "payments", body: "ok", keys: ["pay-ok"] });
    await producer.sendMessageInTransaction({ topic: "payments", body: "no", keys: ["pay-no"] });
    await producer.shutdown();
    let ok: TraceAnswer | undefined;
    await until(async () => (ok = await trace("pay-ok", "payments")).events.length >= 2, 10_000, "the commit's trace");
    expect(ok!.events.map((e) => [e.step, e.group])).toEqual([["sent", "pay_tx"], ["committed", "pay_tx"]]);
    expect(ok!.events[0]!.record).toMatchObject({ type: "Pub", msgType: 1 });
    expect(ok!.events[1]!.detail).toBe("resolved by its producer");
    let no: TraceAnswer | undefined;
    // A rolled-back message is never stored in its topic: its send record names it.
    await until(async () => (no = await trace("pay-no", "payments")).events.length >= 2, 10_000, "the rollback's trace");
    expect(no!.messages).toEqual([expect.objectContaining({ source: "traced", keys: ["pay-no"] })]);
    expect(no!.events.map((e) => e.step)).toEqual(["sent", "rolled back"]);
  });

  test("a full trace buffer drops and counts records; every send still succeeds", async () => {
    const producer = new Producer({ nameServer: server.nameServer, dial, group: "burst", enableTrace: true, traceMaxBuffered: 1 });
    await producer.start();
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => producer.send({ topic: "quiet", body: `b${i}` })));
    expect(results.every((r) => r.status === "SEND_OK")).toBe(true);
    const stats = producer.traceStats!;
    expect(stats.recorded + stats.dropped).toBe(200);
    expect(stats.dropped).toBeGreaterThan(0);
    await producer.shutdown();
    expect(producer.traceStats).toMatchObject({ recorded: stats.recorded, sent: stats.recorded, failed: 0, buffered: 0 });
  });
});
