import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Producer } from "../../client/producer.ts";
import { type PushConsumerOptions, PushConsumer } from "../../client/push_consumer.ts";
import type { MessageExt } from "../../core/model/message.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import { dial, partitioned, startCluster, type TestCluster, TEST_STORES, waitFor } from "../_helpers/consumer_cluster.ts";

const decoder = new TextDecoder();
let cluster: TestCluster;
let producer: Producer;
const consumers: PushConsumer[] = [];

function consumer(group: string, options: Partial<PushConsumerOptions> = {}): PushConsumer {
  const c = new PushConsumer({
    nameServer: cluster.nameServer,
    group,
    dial,
    heartbeatIntervalMs: 1000,
    rebalanceIntervalMs: 1000,
    persistOffsetIntervalMs: 500,
    suspendMs: 2000,
    log: () => {},
    ...options,
  });
  consumers.push(c);
  return c;
}


async function sendAll(topic: string, count: number, make: (i: number) => { body: string; tags?: string } = (i) => ({ body: `m${i}` })) {
  const window = 500;
  for (let i = 0; i < count; i += window) {
    const batch = [];
    for (let j = i; j < Math.min(count, i + window); j++) batch.push(producer.send({ topic, ...make(j) }));
    await Promise.all(batch);
  }
}

/** Every test runs on in-memory storage; the file store repeats a representative subset. */
for (const store of TEST_STORES) {
  describe(`PushConsumer over real sockets (${store} store)`, () => {
    // The file store runs a representative subset: rebalancing as a member joins, plain and orderly.
    const memoryOnly = store === "memory" ? test : () => {};
    beforeAll(async () => {
      cluster = await startCluster({}, store);
      producer = new Producer({ nameServer: cluster.nameServer, dial, group: "push_test_producer" });
      await producer.start();
    });

    afterAll(async () => {
      await Promise.all(consumers.splice(0).map((c) => c.shutdown()));
      await producer.shutdown();
      await cluster.close();
    });

    memoryOnly("three members share 8 queues and handle each of 20,000 messages exactly once", async () => {
      const topic = "push_share";
      await cluster.createTopic(topic, 8);
      const seen = new Map<string, number>();
      const byMember = [0, 0, 0];
      const members = [0, 1, 2].map((i) => {
        const c = consumer("share_group", { consumeFromWhere: "FIRST_OFFSET" });
        c.subscribe(topic, "*");
        c.onMessage((m: MessageExt) => {
          const body = decoder.decode(m.body);
          seen.set(body, (seen.get(body) ?? 0) + 1);
          byMember[i]!++;
          return "SUCCESS";
        });
        return c;
      });
      await Promise.all(members.map((m) => m.start()));
      await waitFor(() => partitioned(members.map((m) => m.assignedQueues()), topic, 8), 10_000, "8 queues split over 3 members");
      expect(members.map((m) => m.assignedQueues().filter((q) => q.topic === topic).length).sort()).toEqual([2, 3, 3]);

      const total = 20_000;
      await sendAll(topic, total);
      await waitFor(() => seen.size === total, 20_000, "every message handled");
      // Once the broker holds offsets at the end of every queue, no member can be handed one again.
      const offsets = cluster.standalone.broker.context.offsets;
      await waitFor(() => Array.from({ length: 8 }, (_, q) => offsets.query("share_group", topic, q)).reduce((a, b) => a + Math.max(0, b), 0) === total, 10_000, "offsets committed at the end of every queue");
      const duplicates = [...seen.values()].filter((n) => n > 1).length;
      expect(duplicates).toBe(0);
      expect(seen.size).toBe(total);
      expect(byMember.every((n) => n > 0)).toBe(true);
      for (const m of members) {
        for (const stats of m.queueStats().filter((s) => s.queue.topic === topic)) expect(stats.lastPullTime).toBeGreaterThan(0);
      }
    }, 30_000);

    test("a member added mid-stream gets queues, and every message is still handled", async () => {
      const topic = "push_add";
      await cluster.createTopic(topic, 8);
      const seen = new Map<string, number>();
      const handledBy = [0, 0, 0];
      const make = (i: number) => {
        const c = consumer("add_group", { consumeFromWhere: "FIRST_OFFSET" });
        c.subscribe(topic);
        c.onMessage((m: MessageExt) => {
          const body = decoder.decode(m.body);
          seen.set(body, (seen.get(body) ?? 0) + 1);
          handledBy[i]!++;
          return "SUCCESS";
        });
        return c;
      };
      const first = [make(0), make(1)];
      await Promise.all(first.map((c) => c.start()));
      await waitFor(() => partitioned(first.map((m) => m.assignedQueues()), topic, 8), 10_000, "8 queues over 2 members");
      const total = 6000;
      const sending = sendAll(topic, total);
      await waitFor(() => seen.size > 1000, 10_000, "consumption under way");
      const third = make(2);
      await third.start();
      const all = [...first, third];
      await waitFor(() => partitioned(all.map((m) => m.assignedQueues()), topic, 8), 10_000, "8 queues over 3 members");
      expect(third.assignedQueues().filter((q) => q.topic === topic).length).toBeGreaterThanOrEqual(2);
      await sending;
      await waitFor(() => seen.size === total, 15_000, "every message handled");
      expect(handledBy[2]).toBeGreaterThan(0);
    }, 30_000);

    test("orderly: a member added mid-stream never handles a queue while another member does", async () => {
      const topic = "push_orderly_add";
      await cluster.createTopic(topic, 8);
      const active = new Map<number, number>();
      const lastOffset = new Map<number, number>();
      let overlaps = 0;
      let outOfOrder = 0;
      let handled = 0;
      const handledBy = [0, 0, 0];
      const make = (i: number) => {
        const c = consumer("orderly_add_group", { consumeFromWhere: "FIRST_OFFSET", orderly: true });
        c.subscribe(topic);
        c.onMessage(async (m: MessageExt) => {
          const owner = active.get(m.queueId);
          if (owner !== undefined && owner !== i) overlaps++;
          active.set(m.queueId, i);
          if (m.queueOffset <= (lastOffset.get(m.queueId) ?? -1)) outOfOrder++;
          lastOffset.set(m.queueId, m.queueOffset);
          await new Promise((r) => setTimeout(r, 1));
          active.delete(m.queueId);
          handled++;
          handledBy[i]!++;
          return "SUCCESS";
        });
        return c;
      };
      const first = [make(0), make(1)];
      await Promise.all(first.map((c) => c.start()));
      await waitFor(() => partitioned(first.map((m) => m.assignedQueues()), topic, 8), 10_000, "8 queues over 2 members");
      const total = 3000;
      const sending = sendAll(topic, total);
      await waitFor(() => handled > 300, 10_000, "consumption under way");
      const third = make(2);
      await third.start();
      const all = [...first, third];
      await waitFor(() => partitioned(all.map((m) => m.assignedQueues()), topic, 8), 10_000, "8 queues over 3 members");
      await sending;
      // Every queue read to its end and every handler finished (the last ones may still be running).
      await waitFor(() => [...lastOffset.values()].reduce((a, b) => a + b + 1, 0) === total && active.size === 0 && handled >= total, 20_000, "every queue consumed to its end");
      expect(overlaps).toBe(0);
      expect(outOfOrder).toBe(0);
      expect(handled).toBe(total);
      expect(handledBy[2]).toBeGreaterThan(0);
    }, 30_000);

    memoryOnly("broadcasting: every member handles every message", async () => {
      const topic = "push_broadcast";
      await cluster.createTopic(topic, 4);
      const seen = [new Set<string>(), new Set<string>(), new Set<string>()];
      const members = [0, 1, 2].map((i) => {
        const c = consumer("broadcast_group", { messageModel: "BROADCASTING", consumeFromWhere: "FIRST_OFFSET" });
        c.subscribe(topic);
        c.onMessage((m: MessageExt) => {
          seen[i]!.add(decoder.decode(m.body));
          return "SUCCESS";
        });
        return c;
      });
      await Promise.all(members.map((m) => m.start()));
      for (const m of members) expect(m.assignedQueues().length).toBe(4);
      await sendAll(topic, 1000);
      await waitFor(() => seen.every((s) => s.size === 1000), 10_000, "every member to see every message");
    }, 20_000);

    memoryOnly("consumeBatchMaxSize: a synchronous batch handler gets runs of at most 7 messages of one queue, each message once and in queue order", async () => {
      const topic = "push_batches";
      await cluster.createTopic(topic, 2);
      const batches: MessageExt[][] = [];
      const c = consumer("batch_group", { consumeFromWhere: "FIRST_OFFSET", consumeBatchMaxSize: 7, pullBatchSize: 32 });
      c.subscribe(topic, "*");
      c.onMessage((messages: MessageExt[]) => {
        batches.push(messages);
        return "SUCCESS";
      });
      await c.start();
      const total = 500;
      await sendAll(topic, total);
      await waitFor(() => batches.reduce((n, b) => n + b.length, 0) >= total, 10_000, "every message handled");
      expect(batches.every((b) => b.length >= 1 && b.length <= 7 && b.every((m) => m.queueId === b[0]!.queueId))).toBe(true);
      expect(batches.some((b) => b.length === 7)).toBe(true);
      for (const queueId of [0, 1]) {
        const offsets = batches.flat().filter((m) => m.queueId === queueId).map((m) => m.queueOffset);
        expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => i));
      }
      expect(new Set(batches.flat().map((m) => decoder.decode(m.body))).size).toBe(total);
      await waitFor(() => c.queueStats().filter((s) => s.queue.topic === topic).reduce((n, s) => n + Math.max(0, s.commitOffset), 0) === total, 10_000, "offsets past every message");
    }, 20_000);

    memoryOnly("tag filtering: only subscribed tags reach the handler, and the offsets move past the rest", async () => {
      const topic = "push_tags";
      await cluster.createTopic(topic, 2);
      const tags = ["A", "B", "C"];
      const got: string[] = [];
      const c = consumer("tag_group", { consumeFromWhere: "FIRST_OFFSET" });
      c.subscribe(topic, "A || C");
      c.onMessage((m: MessageExt) => {
        got.push(m.tags!);
        return "SUCCESS";
      });
      await c.start();
      await sendAll(topic, 300, (i) => ({ body: `t${i}`, tags: tags[i % 3] }));
      await waitFor(() => got.length === 200, 10_000, "the A and C messages");
      // Every queue done (the B messages passed too): nothing more can reach the handler.
      await waitFor(() => c.queueStats().filter((s) => s.queue.topic === topic).reduce((n, s) => n + Math.max(0, s.commitOffset), 0) === 300, 10_000, "the consumer to pass every message");
      expect(got.length).toBe(200);
      expect(got.filter((t) => t === "B")).toEqual([]);
      // Offsets (committed on shutdown) reach the end of each queue even though B messages were skipped.
      await c.shutdown();
      const queues: MessageQueue[] = [0, 1].map((queueId) => ({ topic, brokerName: "broker-a", queueId }));
      const committed = queues.map((q) => cluster.standalone.broker.context.offsets.query("tag_group", q.topic, q.queueId));
      expect(committed.reduce((a, b) => a + b, 0)).toBe(300);
    }, 20_000);
  });
}
