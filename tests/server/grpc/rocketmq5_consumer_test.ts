/**
 * Apache's RocketMQ 5 Node.js client (rocketmq-client-nodejs from npm, unchanged), in separate Node
 * processes, consumes from a real broker's gRPC port through the broker's POP service:
 * SimpleConsumer receive and ack, redelivery after the invisible time, changeInvisibleDuration;
 * PushConsumer with a retry after FAILURE, and FIFO order per message group with a dead letter
 * forwarded by the client; messages crossing protocols both ways.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dial } from "../../../client/bun/connect.ts";
import { Producer } from "../../../client/producer.ts";
import { PushConsumer } from "../../../client/push_consumer.ts";
import type { MessageExt } from "../../../core/model/message.ts";
import { dlqTopic } from "../../../core/model/system_topics.ts";
import type { Standalone } from "../../../server/standalone.ts";
import { until } from "../../_helpers/wait.ts";
import { runNodeScript } from "./_node_script.ts";
import { type GrpcStandalone, startGrpcStandalone } from "./_standalone.ts";

const decoder = new TextDecoder();

let server: GrpcStandalone;
let standalone: Standalone;
let producer: Producer;
let endpoint: string;

const consume = (topic: string, group: string, scenario: string, count = 1) => runNodeScript("consumer.cjs", [endpoint, topic, group, scenario, String(count)]);

beforeAll(async () => {
  server = await startGrpcStandalone("rmq-grpc-pop");
  standalone = server.standalone;
  endpoint = server.endpoint;
  producer = new Producer({ nameServer: standalone.nameServerAddress, dial, log: () => {} });
  await producer.start();
});

afterAll(async () => {
  await producer?.shutdown();
  await server?.close();
});

describe("the RocketMQ 5 SimpleConsumer over gRPC", () => {
  test("receives what our Producer sent, with tag and attempt 1, and its acks settle every message", async () => {
    for (let i = 0; i < 5; i++) await producer.send({ topic: "rmq5-simple", tags: "TagS", body: `simple ${i}` });
    const lines = await consume("rmq5-simple", "rmq5-simple-group", "simple", 5);
    expect(lines.map((l) => l.body).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `simple ${i}`));
    expect(lines.every((l) => l.tag === "TagS" && l.attempt === 1 && l.topic === "rmq5-simple")).toBe(true);
    // Acked (not merely received): the group's committed offsets cover all five messages.
    const ctx = standalone.broker.context;
    const committed = () => {
      let total = 0;
      for (let q = 0; q < ctx.topics.get("rmq5-simple")!.readQueueNums; q++) total += Math.max(0, ctx.offsets.query("rmq5-simple-group", "rmq5-simple", q));
      return total;
    };
    await until(() => committed() === 5, 5000, "the acks to commit the offsets");
    expect(ctx.pop.groupStats().get("rmq5-simple-group")?.inflight).toBe(0);
  }, 60_000);

  test("a message not acked within its invisible time is delivered again with attempt 2", async () => {
    await producer.send({ topic: "rmq5-expire", body: "expire me" });
    const [first, again] = await consume("rmq5-expire", "rmq5-expire-group", "expire");
    expect(first!.body).toBe("expire me");
    expect(first!.attempt).toBe(1);
    expect(again!.messageId).toBe(first!.messageId);
    expect(again!.attempt).toBe(2);
    // Redelivered from the group's retry topic, it still names the topic it was sent to.
    expect(again!.topic).toBe("rmq5-expire");
  }, 60_000);

  test("changeInvisibleDuration refreshes the receipt handle and its new time decides the redelivery", async () => {
    await producer.send({ topic: "rmq5-change", body: "change me" });
    const started = Date.now();
    const [changed, again] = await consume("rmq5-change", "rmq5-change-group", "change");
    expect(changed!.refreshed).toBe(true);
    expect(again!.messageId).toBe(changed!.messageId);
    expect(again!.attempt).toBe(2);
    // Received first invisible for 60 s: only the shortened time brings it back this soon.
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);

  test("a FIFO group hands out one message of each message group until it is settled", async () => {
    await standalone.broker.context.groups.update("rmq5-fifo-simple-group", { consumeMessageOrderly: true });
    for (const body of ["A0", "A1", "B0", "B1"]) await producer.send({ topic: "rmq5-fifo-simple", messageGroup: `group-${body[0]}`, body });
    const lines = await consume("rmq5-fifo-simple", "rmq5-fifo-simple-group", "first");
    expect(lines.map((l) => l.body).sort()).toEqual(["A0", "B0"]);
    expect(lines.map((l) => l.group).sort()).toEqual(["group-A", "group-B"]);
  }, 60_000);
});

describe("the RocketMQ 5 PushConsumer over gRPC", () => {
  test("a message answered FAILURE is delivered again (attempt 2) after the group's backoff; the others once", async () => {
    for (const body of ["ok 1", "fail 1", "ok 2"]) await producer.send({ topic: "rmq5-push", body });
    const lines = await consume("rmq5-push", "rmq5-push-group", "push", 3);
    const failed = lines.filter((l) => l.body === "fail 1");
    expect(failed.map((l) => [l.attempt, l.result])).toEqual([[1, "FAILURE"], [2, "SUCCESS"]]);
    expect(lines.filter((l) => l.body !== "fail 1").map((l) => l.body).sort()).toEqual(["ok 1", "ok 2"]);
  }, 60_000);

  test("a FIFO group is consumed in order per message group; a message that keeps failing goes to the dead-letter topic", async () => {
    const ctx = standalone.broker.context;
    // One redelivery (two attempts), 1 s apart: the client is told so in its settings.
    await ctx.groups.update("rmq5-fifo-group", {
      consumeMessageOrderly: true,
      retryMaxTimes: 1,
      retryPolicy: { type: "EXPONENTIAL", initialBackoffMs: 1000, maxBackoffMs: 1000, multiplier: 1 },
    });
    const sent: Record<string, string[]> = { A: [], B: [] };
    for (let i = 0; i < 4; i++) {
      for (const group of ["A", "B"]) {
        // A1 fails once (then succeeds); B2 fails on every attempt.
        const body = group === "A" && i === 1 ? `fail A${i}` : group === "B" && i === 2 ? `always-fail B${i}` : `${group}${i}`;
        sent[group]!.push(body);
        await producer.send({ topic: "rmq5-fifo", messageGroup: `group-${group}`, body });
      }
    }
    const changedBefore = ctx.pop.counters.changed;
    const lines = await consume("rmq5-fifo", "rmq5-fifo-group", "push-fifo", 7);
    for (const group of ["A", "B"]) {
      const seen = lines.filter((l) => l.group === `group-${group}`).map((l) => l.body as string);
      // In order, each message after the one before it was settled: a retry comes before its successor.
      const settled = seen.filter((body, i) => seen[i + 1] !== body);
      expect(settled).toEqual(sent[group]);
    }
    const retried = lines.filter((l) => l.body === "fail A1").map((l) => [l.attempt, l.result]);
    expect(retried).toEqual([[1, "FAILURE"], [2, "SUCCESS"]]);
    const dead = lines.filter((l) => l.body === "always-fail B2").map((l) => [l.attempt, l.result]);
    expect(dead).toEqual([[1, "FAILURE"], [2, "FAILURE"]]);
    // Told the group is FIFO, the client retried in place (its FIFO consume service): it never gave a message back.
    expect(ctx.pop.counters.changed).toBe(changedBefore);
    // The client forwarded it: in the dead-letter topic now, not when its invisible time (60 s) runs out.
    const store = ctx.store;
    await until(() => store.getMaxOffset(dlqTopic("rmq5-fifo-group"), 0) === 1, 10_000, "the dead letter");
    const record = store.getMessage(dlqTopic("rmq5-fifo-group"), 0, 0, 1);
    expect(decoder.decode(record.body!)).toContain("always-fail B2");
  }, 60_000);
});

describe("messages cross protocols with the RocketMQ 5 consumers", () => {
  test("a message the RocketMQ 5 Producer sends is consumed by our PushConsumer", async () => {
    const [sent] = await runNodeScript("producer.cjs", [endpoint, "rmq5-to-ours", "normal"]);
    const consumer = new PushConsumer({ nameServer: standalone.nameServerAddress, group: "rmq5-ours-group", dial, consumeFromWhere: "FIRST_OFFSET", log: () => {} });
    const received: MessageExt[] = [];
    consumer.subscribe("rmq5-to-ours", "TagA");
    consumer.onMessage((message) => {
      received.push(message);
      return "SUCCESS";
    });
    await consumer.start();
    try {
      await until(() => received.length === 1, 15_000, "the message");
    } finally {
      await consumer.shutdown();
    }
    expect(decoder.decode(received[0]!.body)).toBe("normal message");
    expect(received[0]!.uniqueKey).toBe(sent!.messageId as string);
    expect(received[0]!.keys).toEqual(["key-1", "key-2"]);
  }, 60_000);

  test("a message our Producer sends is received by the RocketMQ 5 SimpleConsumer with its message id, keys and properties", async () => {
    const result = await producer.send({ topic: "rmq5-from-ours", tags: "TagO", keys: ["k1"], properties: { color: "red" }, body: "from ours" });
    const [line] = await consume("rmq5-from-ours", "rmq5-from-ours-group", "simple", 1);
    expect(line!.body).toBe("from ours");
    expect(line!.messageId).toBe(result.uniqueKey);
    expect(line!.tag).toBe("TagO");
    expect(line!.keys).toEqual(["k1"]);
    expect((line!.properties as Record<string, string>).color).toBe("red");
  }, 60_000);
});
