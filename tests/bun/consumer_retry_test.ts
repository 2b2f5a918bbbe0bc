import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Admin } from "../../client/admin.ts";
import { Producer } from "../../client/producer.ts";
import { type PushConsumerOptions, PushConsumer } from "../../client/push_consumer.ts";
import type { MessageExt } from "../../core/model/message.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import { dial, startCluster, type TestCluster, TEST_STORES, waitFor } from "../_helpers/consumer_cluster.ts";

const decoder = new TextDecoder();
let cluster: TestCluster;
let producer: Producer;
const consumers: PushConsumer[] = [];

function consumer(group: string, options: Partial<PushConsumerOptions> = {}): PushConsumer {
  const c = new PushConsumer({
    nameServer: cluster.nameServer,
    group,
    dial,
    consumeFromWhere: "FIRST_OFFSET",
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

/** Every test runs on in-memory storage; the file store repeats a representative subset. */
for (const store of TEST_STORES) {
  describe(`Retries, dead letters and delays (${store} store)`, () => {
    // The file store runs a representative subset: retry to the DLQ and back, orderly retries.
    const memoryOnly = store === "memory" ? test : () => {};
    beforeAll(async () => {
      cluster = await startCluster({ messageDelayLevel: "100ms 200ms 300ms 400ms 500ms 600ms 700ms 800ms 900ms 1s 2s" }, store);
      producer = new Producer({ nameServer: cluster.nameServer, dial, group: "retry_test_producer" });
      await producer.start();
    });

    afterAll(async () => {
      await Promise.all(consumers.splice(0).map((c) => c.shutdown()));
      await producer.shutdown();
      await cluster.close();
    });

    memoryOnly("a handler failing twice sees the message three times, reconsumeTimes 0, 1, 2, under its own topic", async () => {
      const topic = "retry_twice";
      await cluster.createTopic(topic, 2);
      const seen: { reconsumeTimes: number; topic: string; body: string; tags?: string; keys: string[]; at: number }[] = [];
      const c = consumer("retry_twice_group");
      c.subscribe(topic, "T");
      c.onMessage((m: MessageExt) => {
        seen.push({ reconsumeTimes: m.reconsumeTimes, topic: m.topic, body: decoder.decode(m.body), tags: m.tags, keys: m.keys, at: Date.now() });
        if (m.reconsumeTimes < 2) throw new Error("not yet");
        return "SUCCESS";
      });
      await c.start();
      await producer.send({ topic, body: "again", tags: "T", keys: "k1" });
      await waitFor(() => seen.length >= 3, 15_000, "three deliveries");
      // Settled: the consumer has finished every message of the topic and of its retry topic, so
      // no fourth delivery is on its way.
      const store = cluster.standalone.broker.context.store;
      await waitFor(() => c.queueStats().every((q) => q.cachedCount === 0 && q.commitOffset === store.getMaxOffset(q.queue.topic, q.queue.queueId)) &&
        c.queueStats().some((q) => q.queue.topic.startsWith("%RETRY%") && q.commitOffset === 2), 15_000, "the consumer to settle");
      expect(seen.map((s) => s.reconsumeTimes)).toEqual([0, 1, 2]);
      for (const s of seen) {
        expect(s.topic).toBe(topic);
        expect(s.body).toBe("again");
        expect(s.tags).toBe("T");
        expect(s.keys).toEqual(["k1"]);
      }
      // Delay levels 3 (300 ms) then 4 (400 ms) of the short schedule.
      expect(seen[1]!.at - seen[0]!.at).toBeGreaterThanOrEqual(250);
      expect(seen[2]!.at - seen[1]!.at).toBeGreaterThanOrEqual(350);
    }, 25_000);

    test("an always-failing message lands in the DLQ after maxReconsumeTimes and can be re-sent", async () => {
      const topic = "retry_dlq";
      const group = "retry_dlq_group";
      await cluster.createTopic(topic, 2);
      const attempts: number[] = [];
      const c = consumer(group, { maxReconsumeTimes: 2 });
      c.subscribe(topic);
      c.onMessage((m: MessageExt) => {
        attempts.push(m.reconsumeTimes);
        return "RECONSUME_LATER";
      });
      await c.start();
      const sent = await producer.send({ topic, body: "poison", tags: "P", keys: ["order-9"], properties: { tenant: "acme" } });

      const admin = new Admin({ nameServer: cluster.nameServer, dial });
      await admin.start();
      try {
        let dead: MessageExt[] = [];
        await waitFor(async () => {
          dead = (await admin.listDeadLetters(group)).messages;
          return dead.length === 1;
        }, 15_000, "the dead letter");
        expect(attempts).toEqual([0, 1, 2]);
        expect(decoder.decode(dead[0]!.body)).toBe("poison");
        expect(dead[0]!.properties.RETRY_TOPIC).toBe(topic);
        const page = await admin.listDeadLetters(group, { page: 1, pageSize: 1 });
        expect(page).toEqual({ total: 1, messages: [] });

        // Re-send to the original topic; a fresh group reads it with keys, tags and properties kept.
        const checker = consumer("retry_dlq_checker");
        const copies: MessageExt[] = [];
        checker.subscribe(topic);
        checker.onMessage((m: MessageExt) => {
          copies.push(m);
          return "SUCCESS";
        });
        await checker.start();
        await waitFor(() => copies.length === 1, 10_000, "the original");
        const resent = await admin.resendDeadLetter(group, { msgId: sent.msgId });
        expect(resent.messageQueue.topic).toBe(topic);
        await waitFor(() => copies.length === 2, 10_000, "the re-sent copy");
        const copy = copies[1]!;
        expect(decoder.decode(copy.body)).toBe("poison");
        expect(copy.tags).toBe("P");
        expect(copy.keys).toEqual(["order-9"]);
        expect(copy.properties.tenant).toBe("acme");
        expect(copy.reconsumeTimes).toBe(0);
        await admin.resendDeadLetter(group, { queueId: 0, queueOffset: dead[0]!.queueOffset });
        await waitFor(() => copies.length === 3, 10_000, "the copy re-sent by offset");
        await expect(admin.resendDeadLetter(group, { msgId: "nope" })).rejects.toThrow('no dead letter with id "nope"');
      } finally {
        await admin.shutdown();
      }
    }, 30_000);

    memoryOnly("a delayed message is not delivered before its level's delay and is after", async () => {
      const topic = "delay_topic";
      await cluster.createTopic(topic, 2);
      let deliveredAt = 0;
      const c = consumer("delay_group");
      c.subscribe(topic);
      c.onMessage(() => {
        deliveredAt = Date.now();
        return "SUCCESS";
      });
      await c.start();
      const sentAt = Date.now();
      await producer.send({ topic, body: "later", delayLevel: 10 }); // 1s in this broker's schedule
      await waitFor(() => deliveredAt > 0, 10_000, "the delayed message");
      expect(deliveredAt - sentAt).toBeGreaterThanOrEqual(1000);
      expect(deliveredAt - sentAt).toBeLessThan(4000);
    }, 15_000);

    test("orderly: with failures injected, each order's messages are handled in order", async () => {
      const topic = "orderly_failures";
      await cluster.createTopic(topic, 4);
      const orders = 20;
      const steps = 15;
      const done = new Map<number, number>();
      let violations = 0;
      let failures = 0;
      const failedOnce = new Set<string>();
      const members = [0, 1].map(() => {
        const c = consumer("orderly_failures_group", { orderly: true, suspendCurrentQueueTimeMillis: 20, maxReconsumeTimes: 5 });
        c.subscribe(topic);
        c.onMessage((m: MessageExt) => {
          const [order, step] = decoder.decode(m.body).split(":").map(Number) as [number, number];
          if ((done.get(order) ?? -1) !== step - 1) violations++;
          const key = `${order}:${step}`;
          if (step % 4 === 1 && !failedOnce.has(key)) {
            failedOnce.add(key);
            failures++;
            return "RECONSUME_LATER";
          }
          done.set(order, step);
          return "SUCCESS";
        });
        return c;
      });
      await Promise.all(members.map((m) => m.start()));
      const selector = (queues: readonly MessageQueue[], _m: unknown, order: unknown) => queues[(order as number) % queues.length]!;
      for (let step = 0; step < steps; step++) {
        await Promise.all(Array.from({ length: orders }, (_, order) =>
          producer.send({ topic, body: `${order}:${step}` }, { selector, arg: order })));
      }
      await waitFor(() => [...done.values()].filter((s) => s === steps - 1).length === orders, 20_000, "every order finished");
      expect(violations).toBe(0);
      expect(failures).toBe(orders * Math.ceil((steps - 1) / 4));
    }, 30_000);

    memoryOnly("orderly: a message failing past maxReconsumeTimes goes to the DLQ and its queue moves on", async () => {
      const topic = "orderly_dlq";
      const group = "orderly_dlq_group";
      await cluster.createTopic(topic, 1);
      const handled: string[] = [];
      const c = consumer(group, { orderly: true, maxReconsumeTimes: 1, suspendCurrentQueueTimeMillis: 20 });
      c.subscribe(topic);
      c.onMessage((m: MessageExt) => {
        const body = decoder.decode(m.body);
        handled.push(`${body}/${m.reconsumeTimes}`);
        return body === "bad" ? "RECONSUME_LATER" : "SUCCESS";
      });
      await c.start();
      for (const body of ["a", "bad", "b"]) await producer.send({ topic, body });
      await waitFor(() => handled.includes("b/0"), 10_000, "the message after the poison one");
      expect(handled).toEqual(["a/0", "bad/0", "bad/1", "b/0"]);
      const admin = new Admin({ nameServer: cluster.nameServer, dial });
      await admin.start();
      try {
        // The poison message is sent to the DLQ while the queue moves on: it may land a moment later.
        let page = await admin.listDeadLetters(group);
        await waitFor(async () => (page = await admin.listDeadLetters(group)).total > 0, 10_000, "the dead letter");
        expect(page.total).toBe(1);
        expect(decoder.decode(page.messages[0]!.body)).toBe("bad");
      } finally {
        await admin.shutdown();
      }
    }, 20_000);
  });
}
