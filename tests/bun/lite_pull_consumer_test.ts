import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LitePullConsumer, type LitePullConsumerOptions } from "../../client/lite_pull_consumer.ts";
import { Producer } from "../../client/producer.ts";
import type { MessageExt } from "../../core/model/message.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import { dial, partitioned, startCluster, type TestCluster, waitFor } from "../_helpers/consumer_cluster.ts";

const decoder = new TextDecoder();
let cluster: TestCluster;
let producer: Producer;
const consumers: LitePullConsumer[] = [];

function consumer(group: string, options: Partial<LitePullConsumerOptions> = {}): LitePullConsumer {
  const c = new LitePullConsumer({
    nameServer: cluster.nameServer,
    group,
    dial,
    consumeFromWhere: "FIRST_OFFSET",
    heartbeatIntervalMs: 1000,
    rebalanceIntervalMs: 1000,
    suspendMs: 1000,
    log: () => {},
    ...options,
  });
  consumers.push(c);
  return c;
}

async function sendAll(topic: string, count: number): Promise<void> {
  await Promise.all(Array.from({ length: count }, (_, i) => producer.send({ topic, body: `m${i}`, tags: i % 2 === 0 ? "even" : "odd" })));
}

async function drain(c: LitePullConsumer, want: number, into: string[] = []): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  while (into.length < want && Date.now() < deadline) {
    for (const m of await c.poll(200)) into.push(decoder.decode(m.body));
  }
  return into;
}

beforeAll(async () => {
  cluster = await startCluster();
  producer = new Producer({ nameServer: cluster.nameServer, dial, group: "lite_test_producer" });
  await producer.start();
});

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.shutdown()));
  await producer.shutdown();
  await cluster.close();
});

describe("LitePullConsumer", () => {
  test("assign() + poll() reads every message of the queues, at most pullBatchSize per poll", async () => {
    const topic = "lite_assign";
    await cluster.createTopic(topic, 4);
    await sendAll(topic, 500);
    const queues: MessageQueue[] = [0, 1, 2, 3].map((queueId) => ({ topic, brokerName: "broker-a", queueId }));
    const c = consumer("lite_assign_group", { pullBatchSize: 16 });
    c.assign(queues);
    await c.start();
    let largest = 0;
    const got: string[] = [];
    const deadline = Date.now() + 10_000;
    while (got.length < 500 && Date.now() < deadline) {
      const batch = await c.poll(200);
      largest = Math.max(largest, batch.length);
      for (const m of batch) got.push(decoder.decode(m.body));
    }
    expect(new Set(got).size).toBe(500);
    expect(got.length).toBe(500);
    expect(largest).toBeLessThanOrEqual(16);
    expect(await c.poll(50)).toEqual([]);
  }, 20_000);

  test("without autoCommit, only commitSync() moves the group's offsets; a restart re-reads the rest", async () => {
    const topic = "lite_commit";
    const group = "lite_commit_group";
    await cluster.createTopic(topic, 1);
    await sendAll(topic, 100);
    const queue: MessageQueue = { topic, brokerName: "broker-a", queueId: 0 };
    const first = consumer(group, { autoCommit: false, pullBatchSize: 40 });
    first.assign([queue]);
    await first.start();
    const got = await drain(first, 40);
    expect(got.length).toBe(40);
    await first.commitSync();
    expect(cluster.standalone.broker.context.offsets.query(group, topic, 0)).toBe(40);
    await drain(first, 80, got);
    await first.shutdown(); // uncommitted messages 40..79 are not committed

    const second = consumer(group, { autoCommit: false });
    second.assign([queue]);
    await second.start();
    const again = await drain(second, 60);
    expect(again.length).toBe(60);
    const offsets = new Set(again);
    expect(offsets.size).toBe(60);
  }, 20_000);

  test("seek() moves a queue back and its messages are read again", async () => {
    const topic = "lite_seek";
    await cluster.createTopic(topic, 1);
    await sendAll(topic, 50);
    const queue: MessageQueue = { topic, brokerName: "broker-a", queueId: 0 };
    const c = consumer("lite_seek_group");
    c.assign([queue]);
    await c.start();
    const offsets: number[] = [];
    const collect = async (n: number) => {
      const deadline = Date.now() + 10_000;
      while (offsets.length < n && Date.now() < deadline) for (const m of await c.poll(200)) offsets.push(m.queueOffset);
    };
    await collect(50);
    await c.seek(queue, 45);
    await collect(55);
    expect(offsets.slice(50)).toEqual([45, 46, 47, 48, 49]);
    await expect(c.seek({ topic, brokerName: "broker-a", queueId: 7 }, 0)).rejects.toThrow("not assigned");
  }, 20_000);

  test("subscribe(): two members split the queues, filter by tag and together read every message once", async () => {
    const topic = "lite_subscribe";
    await cluster.createTopic(topic, 4);
    const [a, b] = [consumer("lite_sub_group"), consumer("lite_sub_group")];
    for (const c of [a, b]) c.subscribe(topic, "even");
    await a.start();
    await b.start();
    await waitFor(() => partitioned([a.assignment(), b.assignment()], topic, 4), 10_000, "4 queues over 2 members");
    await sendAll(topic, 400);
    const got: MessageExt[] = [];
    const deadline = Date.now() + 10_000;
    while (got.length < 200 && Date.now() < deadline) {
      const [x, y] = await Promise.all([a.poll(100), b.poll(100)]);
      got.push(...x, ...y);
    }
    expect(got.length).toBe(200);
    expect(new Set(got.map((m) => decoder.decode(m.body))).size).toBe(200);
    expect(got.every((m) => m.tags === "even")).toBe(true);
  }, 20_000);
});

describe("LitePullConsumer against a broker with no long-polling slot", () => {
  test("backs off while the broker answers its pulls busy, and still gets new messages", async () => {
    const busyCluster = await startCluster({ maxHeldPulls: 0 });
    const lines: string[] = [];
    const c = new LitePullConsumer({ nameServer: busyCluster.nameServer, group: "lite_busy_group", dial, suspendMs: 1000, log: (line) => lines.push(line) });
    try {
      const topic = "lite_busy";
      await busyCluster.createTopic(topic, 4);
      c.assign([0, 1, 2, 3].map((queueId) => ({ topic, brokerName: "broker-a", queueId })));
      await c.start();
      const holds = busyCluster.standalone.broker.context.holds;
      await waitFor(() => holds.refused >= 4, 5000, "the first busy answers");
      const before = holds.refused;
      await new Promise((resolve) => setTimeout(resolve, 3000));
      // Backed off (100 ms doubling to 3 s, with jitter): a handful per queue, where pulling again at
      // once would be thousands.
      expect(holds.refused - before).toBeLessThan(40);
      // Said once per queue, not at every attempt.
      const told = lines.filter((line) => line.includes("Long polling is off on broker"));
      expect(told.length).toBeGreaterThanOrEqual(1);
      expect(told.length).toBeLessThanOrEqual(4);
      const sender = new Producer({ nameServer: busyCluster.nameServer, dial, group: "lite_busy_producer" });
      await sender.start();
      await sender.send({ topic, body: "after busy" });
      await sender.shutdown();
      expect(await drain(c, 1)).toEqual(["after busy"]);
    } finally {
      await c.shutdown();
      await busyCluster.close();
    }
  }, 20_000);
});
