/**
 * Every consumer re-checks tags exactly. The broker filters by tag hash code, and "Aa" and "BB"
 * have the same Java hashCode, so both reach every consumer subscribed to either; each consumer
 * must hand over only the tag it asked for, and still move past the other. Through a SQL92
 * filter on `TAGS` the broker compares the text itself, so the same must hold. New consumer kinds
 * (POP) join the table below.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LitePullConsumer } from "../../client/lite_pull_consumer.ts";
import { Producer } from "../../client/producer.ts";
import { PullConsumer } from "../../client/pull_consumer.ts";
import { PushConsumer } from "../../client/push_consumer.ts";
import { SimpleConsumer } from "../../client/simple_consumer.ts";
import { tagHash } from "../../core/model/tag_hash.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import type { MessageSelector } from "../../client/_subscription.ts";
import { dial, startCluster, type TestCluster } from "../_helpers/consumer_cluster.ts";
import { until } from "../_helpers/wait.ts";

const TOPIC = "collide";
const QUEUE: MessageQueue = { topic: TOPIC, brokerName: "broker-a", queueId: 0 };
/** Sent in this order to the topic's only queue. */
const SENT = [{ tags: "BB", body: "b1" }, { tags: "Aa", body: "a1" }, { tags: "BB", body: "b2" }, { tags: "Aa", body: "a2" }];
const decoder = new TextDecoder();

let cluster: TestCluster;

/** A consumer kind: subscribes `group` with `selector`, reads until it has passed every message, returns the bodies it handed over. */
interface ConsumerKind {
  name: string;
  consume(group: string, selector: MessageSelector): Promise<string[]>;
}

const options = (group: string) => ({ nameServer: cluster.nameServer, dial, group, log: () => {} });

/** Waits until the broker's committed offset of a group (a POP group's: past every settled message) reaches the end. */
async function groupPassedAll(group: string): Promise<void> {
  const reader = new PullConsumer(options(group));
  await reader.start();
  try {
    await until(async () => (await reader.fetchConsumeOffset(QUEUE)) === SENT.length, 10_000, `${group} to move past all ${SENT.length} messages`);
  } finally {
    await reader.shutdown();
  }
}

/** Waits until a consumer's only queue would commit past every sent message. */
async function passedAll(stats: () => { queue: MessageQueue; commitOffset: number }[], what: string): Promise<void> {
  await until(() => stats().some((s) => s.queue.topic === TOPIC && s.commitOffset === SENT.length), 10_000, `${what} to move past all ${SENT.length} messages`);
}

const KINDS: ConsumerKind[] = [
  {
    name: "PullConsumer",
    async consume(group, selector) {
      const consumer = new PullConsumer(options(group));
      await consumer.start();
      try {
        const bodies: string[] = [];
        let offset = 0;
        while (offset < SENT.length) {
          const result = await consumer.pull(QUEUE, offset, typeof selector === "string" ? { expression: selector } : selector);
          bodies.push(...result.messages.map((m) => decoder.decode(m.body)));
          offset = result.nextBeginOffset;
        }
        return bodies;
      } finally {
        await consumer.shutdown();
      }
    },
  },
  ...[false, true].map((orderly): ConsumerKind => ({
    name: `PushConsumer (${orderly ? "orderly" : "concurrent"})`,
    async consume(group, selector) {
      const consumer = new PushConsumer({ ...options(group), consumeFromWhere: "FIRST_OFFSET", orderly, suspendMs: 1000 });
      const bodies: string[] = [];
      consumer.subscribe(TOPIC, selector);
      consumer.onMessage((m) => {
        bodies.push(decoder.decode(m.body));
        return "SUCCESS";
      });
      await consumer.start();
      try {
        await passedAll(() => consumer.queueStats(), group);
        return bodies;
      } finally {
        await consumer.shutdown();
      }
    },
  })),
  {
    name: "LitePullConsumer",
    async consume(group, selector) {
      const consumer = new LitePullConsumer({ ...options(group), consumeFromWhere: "FIRST_OFFSET", suspendMs: 1000 });
      consumer.subscribe(TOPIC, selector);
      await consumer.start();
      try {
        const bodies: string[] = [];
        const stats = () => consumer.queueStats();
        while (!stats().some((s) => s.queue.topic === TOPIC && s.nextPullOffset === SENT.length && s.cachedCount === 0)) {
          bodies.push(...(await consumer.poll(100)).map((m) => decoder.decode(m.body)));
        }
        bodies.push(...(await consumer.poll(0)).map((m) => decoder.decode(m.body)));
        return bodies;
      } finally {
        await consumer.shutdown();
      }
    },
  },
  {
    name: "SimpleConsumer",
    async consume(group, selector) {
      const consumer = new SimpleConsumer({ ...options(group), consumeFromWhere: "FIRST_OFFSET", awaitDurationMs: 200 });
      consumer.subscribe(TOPIC, selector);
      await consumer.start();
      try {
        const bodies: string[] = [];
        const passed = groupPassedAll(group);
        let done = false;
        void passed.then(() => (done = true), () => (done = true));
        while (!done) {
          for (const m of await consumer.receive(32, 30_000)) {
            bodies.push(decoder.decode(m.body));
            await consumer.ack(m.receiptHandle);
          }
        }
        await passed;
        return bodies;
      } finally {
        await consumer.shutdown();
      }
    },
  },
  {
    name: "PushConsumer (over POP)",
    async consume(group, selector) {
      const consumer = new PushConsumer({ ...options(group), consumeFromWhere: "FIRST_OFFSET", pop: true, suspendMs: 200 });
      const bodies: string[] = [];
      consumer.subscribe(TOPIC, selector);
      consumer.onMessage((m) => {
        bodies.push(decoder.decode(m.body));
        return "SUCCESS";
      });
      await consumer.start();
      try {
        await groupPassedAll(group);
        return bodies;
      } finally {
        await consumer.shutdown();
      }
    },
  },
];

beforeAll(async () => {
  cluster = await startCluster();
  await cluster.createTopic(TOPIC, 1);
  const producer = new Producer({ nameServer: cluster.nameServer, dial, group: "collide_producer" });
  await producer.start();
  for (const message of SENT) await producer.send({ topic: TOPIC, ...message }, { queue: QUEUE });
  await producer.shutdown();
});

afterAll(async () => {
  await cluster.close();
});

test('"Aa" and "BB" share a tag hash, so the broker passes both to either subscription', () => {
  expect(tagHash("Aa")).toBe(tagHash("BB"));
});

describe("every consumer re-checks tags exactly", () => {
  for (const kind of KINDS) {
    test(`${kind.name}: a subscription to "Aa" gets only the Aa messages and one to "BB" only the BB ones`, async () => {
      const slug = kind.name.replace(/\W+/g, "_");
      // Sorted: concurrent handlers may finish in any order; which messages arrive is the point.
      expect((await kind.consume(`${slug}_aa`, "Aa")).sort()).toEqual(["a1", "a2"]);
      expect((await kind.consume(`${slug}_bb`, "BB")).sort()).toEqual(["b1", "b2"]);
      expect((await kind.consume(`${slug}_either`, "Aa || BB")).sort()).toEqual(["a1", "a2", "b1", "b2"]);
    }, 30_000);
  }
});

describe("every consumer gets exactly the tag a SQL92 filter on TAGS names", () => {
  for (const kind of KINDS) {
    test(`${kind.name}: TAGS = 'Aa' gets only the Aa messages, TAGS = 'BB' only the BB ones, TAGS IN ('Aa', 'BB') both`, async () => {
      const slug = kind.name.replace(/\W+/g, "_");
      expect((await kind.consume(`${slug}_sql_aa`, { sql: "TAGS = 'Aa'" })).sort()).toEqual(["a1", "a2"]);
      expect((await kind.consume(`${slug}_sql_bb`, { sql: "TAGS = 'BB'" })).sort()).toEqual(["b1", "b2"]);
      expect((await kind.consume(`${slug}_sql_either`, { sql: "TAGS IN ('Aa', 'BB')" })).sort()).toEqual(["a1", "a2", "b1", "b2"]);
    }, 30_000);
  }
});
