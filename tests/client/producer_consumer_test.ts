import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Producer } from "../../client/producer.ts";
import { PullConsumer } from "../../client/pull_consumer.ts";
import { RemotingClient } from "../../client/remoting_client.ts";
import { BrokerError, ClientError } from "../../core/errors.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type Broker, startBroker } from "../../server/broker/broker.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { MemorySegmentStorage } from "../../server/store/memory_segment_storage.ts";
import { MemoryNetwork } from "../_helpers/memory_network.ts";

const decoder = new TextDecoder();
const quiet = () => {};

/** Retries `fn` until it stops throwing (an event we cannot await directly, e.g. a registration). */
async function eventually<T>(fn: () => Promise<T>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await Bun.sleep(5);
    }
  }
}

let network: MemoryNetwork;
let standalone: Standalone;
let producer: Producer;
let consumer: PullConsumer;
let admin: RemotingClient;

/** Creates a topic on the standalone broker and waits until the NameServer routes it. */
async function createTopic(topic: string, queues = 4): Promise<MessageQueue[]> {
  await admin.invoke(standalone.brokerAddress, {
    code: RequestCode.UPDATE_AND_CREATE_TOPIC,
    header: { topic, readQueueNums: queues, writeQueueNums: queues },
  });
  return await eventually(async () => {
    const found = await consumer.fetchMessageQueues(topic);
    if (found.length !== queues) throw new Error(`Route of "${topic}" has ${found.length} queues`);
    return found;
  });
}

beforeAll(async () => {
  network = new MemoryNetwork();
  standalone = await startStandalone({
    listen: network.listen,
    dial: network.dial,
    dataDir: "/data",
    storage: new MemorySegmentStorage(),
    port: 0,
    nameServerPort: 0,
    log: quiet,
  });
  producer = new Producer({ nameServer: standalone.nameServerAddress, dial: network.dial, group: "test_producer" });
  await producer.start();
  consumer = new PullConsumer({ nameServer: standalone.nameServerAddress, dial: network.dial, group: "test_consumer" });
  await consumer.start();
  admin = new RemotingClient({ dial: network.dial });
});

afterAll(async () => {
  await producer.shutdown();
  await consumer.shutdown();
  await admin.shutdown();
  await standalone.close();
});

describe("Producer and PullConsumer over an in-memory standalone", () => {
  test("send() then pull() round-trips body, tags, keys and properties", async () => {
    const queues = await createTopic("RoundTrip");
    const sent = await producer.send({
      topic: "RoundTrip",
      body: "hello",
      tags: "TagA",
      keys: ["order-1", "user-7"],
      properties: { color: "red" },
      flag: 3,
    });
    expect(sent.status).toBe("SEND_OK");
    expect(sent.msgId).toMatch(/^[0-9A-F]{32}$/);
    expect(sent.uniqueKey).toMatch(/^[0-9A-F]{32}$/);
    expect(queues).toContainEqual(sent.messageQueue);

    const result = await consumer.pull(sent.messageQueue, sent.queueOffset, { expression: "TagA || TagB" });
    expect(result.status).toBe("FOUND");
    expect(result.nextBeginOffset).toBe(sent.queueOffset + 1);
    expect(result.messages).toHaveLength(1);
    const [message] = result.messages;
    expect(decoder.decode(message!.body)).toBe("hello");
    expect(message!.tags).toBe("TagA");
    expect(message!.keys).toEqual(["order-1", "user-7"]);
    expect(message!.properties.color).toBe("red");
    expect(message!.flag).toBe(3);
    expect(message!.uniqueKey).toBe(sent.uniqueKey);
    expect(message!.msgId).toBe(sent.msgId);
    expect(message!.queueOffset).toBe(sent.queueOffset);
  });

  test("pull() with a tag expression that does not match returns NO_MATCHED_MSG and moves on", async () => {
    await createTopic("Filtered", 1);
    const queue: MessageQueue = { topic: "Filtered", brokerName: "broker-a", queueId: 0 };
    await producer.send({ topic: "Filtered", body: "a", tags: "TagA" }, { queue });
    await producer.send({ topic: "Filtered", body: "b", tags: "TagB" }, { queue });
    const other = await consumer.pull(queue, 0, { expression: "TagC" });
    expect(other.status).toBe("NO_MATCHED_MSG");
    expect(other.messages).toHaveLength(0);
    const onlyB = await consumer.pull(queue, 0, { expression: "TagB" });
    expect(onlyB.status).toBe("FOUND");
    expect(onlyB.messages.map((m) => decoder.decode(m.body))).toEqual(["b"]);
    expect(onlyB.nextBeginOffset).toBe(2);
    const none = await consumer.pull(queue, 2);
    expect(none.status).toBe("NO_NEW_MSG");
    const illegal = await consumer.pull(queue, 50);
    expect(illegal.status).toBe("OFFSET_ILLEGAL");
    expect(illegal.maxOffset).toBe(2);
  });

  test("pull() re-checks tags exactly: tags with the same hash code are told apart", async () => {
    await createTopic("Collide", 1);
    const queue: MessageQueue = { topic: "Collide", brokerName: "broker-a", queueId: 0 };
    // "Aa" and "BB" have the same Java hashCode, so the broker's hash filter lets both through.
    await producer.send({ topic: "Collide", body: "aa", tags: "Aa" }, { queue });
    await producer.send({ topic: "Collide", body: "bb", tags: "BB" }, { queue });
    const result = await consumer.pull(queue, 0, { expression: "Aa" });
    expect(result.status).toBe("FOUND");
    expect(result.messages.map((m) => m.tags)).toEqual(["Aa"]);
    expect(result.nextBeginOffset).toBe(2);
    const onlyBB = await consumer.pull(queue, 0, { expression: "BB", maxNums: 1 });
    expect(onlyBB.status).toBe("NO_MATCHED_MSG");
    expect(onlyBB.nextBeginOffset).toBe(1);
  });

  test("send() to an unknown topic falls back to the TBW102 route and the broker creates it", async () => {
    const sent = await producer.send({ topic: "AutoCreated", body: "first" });
    expect(sent.status).toBe("SEND_OK");
    const queues = await eventually(async () => {
      const found = await consumer.fetchMessageQueues("AutoCreated");
      if (found.length === 0) throw new Error("No queues yet");
      return found;
    });
    expect(queues).toHaveLength(4); // defaultTopicQueueNums
    const result = await consumer.pull(sent.messageQueue, sent.queueOffset);
    expect(decoder.decode(result.messages[0]!.body)).toBe("first");
  });

  test("sendBatch() stores the messages in one queue with consecutive offsets", async () => {
    await createTopic("Batch");
    const batch = await producer.sendBatch([
      { topic: "Batch", body: "m0", tags: "T", keys: "k0" },
      { topic: "Batch", body: new Uint8Array([1, 2, 3]) },
      { topic: "Batch", body: "m2", properties: { p: "v" } },
    ]);
    expect(batch.status).toBe("SEND_OK");
    expect(batch.msgIds).toHaveLength(3);
    expect(new Set(batch.uniqueKeys).size).toBe(3);
    const result = await consumer.pull(batch.messageQueue, batch.queueOffset);
    expect(result.messages.map((m) => m.queueOffset)).toEqual([0, 1, 2].map((i) => batch.queueOffset + i));
    expect(decoder.decode(result.messages[0]!.body)).toBe("m0");
    expect(result.messages[0]!.keys).toEqual(["k0"]);
    expect([...result.messages[1]!.body]).toEqual([1, 2, 3]);
    expect(result.messages[2]!.properties.p).toBe("v");
    expect(result.messages.map((m) => m.msgId)).toEqual(batch.msgIds);
    expect(result.messages.map((m) => m.uniqueKey)).toEqual(batch.uniqueKeys);
  });

  test("sendBatch() batches after batches, smaller and larger, concurrent, each stored as sent (encode memory reused)", async () => {
    const queues = await createTopic("Batches", 2);
    const sizes = [40, 3, 100, 1, 40];
    const sent: { queueOffset: number; queue: MessageQueue; bodies: string[] }[] = [];
    for (let round = 0; round < 3; round++) {
      const results = await Promise.all(sizes.map((n, b) => {
        const bodies = Array.from({ length: n }, (_, i) => `r${round}b${b}m${i}:`.padEnd(10 + ((i * 37) % 300), "é"));
        return producer.sendBatch(bodies.map((body, i) => ({ topic: "Batches", body, tags: `t${i % 3}`, keys: [`r${round}b${b}k${i}`] })), { queue: queues[b % 2]! })
          .then((r) => sent.push({ queueOffset: r.queueOffset, queue: r.messageQueue, bodies }));
      }));
      expect(results).toHaveLength(sizes.length);
    }
    for (const batch of sent) {
      const got: string[] = [];
      while (got.length < batch.bodies.length) {
        const result = await consumer.pull(batch.queue, batch.queueOffset + got.length, { maxNums: 32 });
        got.push(...result.messages.map((m) => decoder.decode(m.body)));
      }
      expect(got.slice(0, batch.bodies.length)).toEqual(batch.bodies);
    }
  });

  test("sendBatch() rejects mixed topics and delay levels before sending", async () => {
    await expect(producer.sendBatch([{ topic: "Batch", body: "a" }, { topic: "Other", body: "b" }])).rejects.toThrow(ClientError);
    await expect(producer.sendBatch([{ topic: "Batch", body: "a", delayLevel: 2 }])).rejects.toThrow(ClientError);
    await expect(producer.sendBatch([])).rejects.toThrow(ClientError);
  });

  test("sendOneway() delivers without an answer; a long-polling pull picks it up", async () => {
    await createTopic("Oneway", 1);
    const queue: MessageQueue = { topic: "Oneway", brokerName: "broker-a", queueId: 0 };
    const pulling = consumer.pull(queue, 0, { suspendMs: 5000 });
    await producer.sendOneway({ topic: "Oneway", body: "fire and forget" }, { queue });
    const result = await pulling;
    expect(result.status).toBe("FOUND");
    expect(decoder.decode(result.messages[0]!.body)).toBe("fire and forget");
  });

  test("send() with a selector keeps one key's messages in one queue, in order", async () => {
    const queues = await createTopic("Ordered");
    const selector = (qs: readonly MessageQueue[], _m: unknown, arg: unknown) => qs[(arg as number) % qs.length]!;
    const sends = [];
    for (let i = 0; i < 10; i++) {
      for (const orderId of [1, 2]) {
        sends.push(await producer.send({ topic: "Ordered", body: `${orderId}:${i}` }, { selector, arg: orderId }));
      }
    }
    for (const orderId of [1, 2]) {
      const mine = sends.filter((_s, i) => i % 2 === orderId - 1);
      expect(new Set(mine.map((s) => s.messageQueue.queueId))).toEqual(new Set([queues[orderId]!.queueId]));
      const result = await consumer.pull(queues[orderId]!, 0, { maxNums: 32 });
      expect(result.messages.map((m) => decoder.decode(m.body))).toEqual(
        Array.from({ length: 10 }, (_, i) => `${orderId}:${i}`),
      );
    }
  });

  test("send() round-robins over the topic's queues", async () => {
    const queues = await createTopic("Spread");
    const used = new Set<number>();
    for (let i = 0; i < queues.length; i++) used.add((await producer.send({ topic: "Spread", body: `${i}` })).messageQueue.queueId);
    expect(used.size).toBe(queues.length);
  });

  test("many sends in flight at once all succeed", async () => {
    await createTopic("Async");
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => producer.send({ topic: "Async", body: `m${i}` })));
    expect(results.every((r) => r.status === "SEND_OK")).toBe(true);
    expect(new Set(results.map((r) => r.msgId)).size).toBe(500);
    expect(producer.inFlight).toBe(0);
  });

  test("a producer bounded to one send in flight still completes every send", async () => {
    const bounded = new Producer({ nameServer: standalone.nameServerAddress, dial: network.dial, maxInFlight: 1 });
    await bounded.start();
    const all = Array.from({ length: 20 }, (_, i) => bounded.send({ topic: "Async", body: `b${i}` }));
    expect(bounded.inFlight).toBeLessThanOrEqual(1);
    expect((await Promise.all(all)).length).toBe(20);
    await bounded.shutdown();
  });

  test("consumer offsets: fetch -1 before a commit, then the committed value", async () => {
    const [queue] = await createTopic("Offsets", 1);
    expect(await consumer.fetchConsumeOffset(queue!)).toBe(-1);
    await consumer.updateConsumeOffset(queue!, 5);
    expect(await consumer.fetchConsumeOffset(queue!)).toBe(5);
    const other = new PullConsumer({ nameServer: standalone.nameServerAddress, dial: network.dial, group: "other_group" });
    await other.start();
    expect(await other.fetchConsumeOffset(queue!)).toBe(-1);
    await other.shutdown();
  });

  test("minOffset(), maxOffset() and searchOffset() describe the queue", async () => {
    const [queue] = await createTopic("Bounds", 1);
    expect(await consumer.maxOffset(queue!)).toBe(0);
    const before = Date.now();
    for (let i = 0; i < 3; i++) await producer.send({ topic: "Bounds", body: `${i}` }, { queue: queue! });
    expect(await consumer.minOffset(queue!)).toBe(0);
    expect(await consumer.maxOffset(queue!)).toBe(3);
    expect(await consumer.searchOffset(queue!, before - 60_000)).toBe(0);
  });

  test("pull() long-polls: it is held until a message arrives, which wakes it", async () => {
    const [queue] = await createTopic("LongPoll", 1);
    const holds = standalone.broker.context.holds;
    // Suspended for a minute: only the arrival's wake-up can answer it within this test.
    const pulling = consumer.pull(queue!, 0, { suspendMs: 60_000 });
    await eventually(() => (holds.size === 0 ? Promise.reject(new Error("Pull not held yet")) : Promise.resolve()));
    await producer.send({ topic: "LongPoll", body: "wake up" }, { queue: queue! });
    await eventually(() => (holds.size > 0 ? Promise.reject(new Error("The arrival did not wake the pull")) : Promise.resolve()), 5000);
    const result = await pulling;
    expect(result.status).toBe("FOUND");
    expect(decoder.decode(result.messages[0]!.body)).toBe("wake up");
  });

  test("pull() long-polls: NO_NEW_MSG when nothing arrives within suspendMs", async () => {
    const [queue] = await createTopic("LongPollEmpty", 1);
    const started = Date.now();
    const result = await consumer.pull(queue!, 0, { suspendMs: 200 });
    expect(result.status).toBe("NO_NEW_MSG");
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  test("viewMessage() finds a message by its offset message id", async () => {
    await createTopic("View");
    const sent = await producer.send({ topic: "View", body: "look at me", keys: "v1" });
    const fresh = new PullConsumer({ nameServer: standalone.nameServerAddress, dial: network.dial, group: "viewer" });
    await fresh.start();
    const message = await fresh.viewMessage(sent.msgId, "View");
    expect(decoder.decode(message.body)).toBe("look at me");
    expect(message.keys).toEqual(["v1"]);
    expect(message.msgId).toBe(sent.msgId);
    await expect(fresh.viewMessage("not-an-id")).rejects.toThrow(ClientError);
    await fresh.shutdown();
  });

  test("pull() of an unknown topic fails with TOPIC_NOT_EXIST", async () => {
    const error = await consumer.fetchMessageQueues("NoSuchTopic").catch((e) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect((error as BrokerError).code).toBe(ResponseCode.TOPIC_NOT_EXIST);
  });

  test("send() rejects invalid messages with ClientError", async () => {
    await expect(producer.send({ topic: "bad topic", body: "x" })).rejects.toThrow(ClientError);
    await expect(producer.send({ topic: "Fine", body: "" })).rejects.toThrow(ClientError);
    await expect(producer.send({ topic: "Fine", body: new Uint8Array(4 * 1024 * 1024 + 1) })).rejects.toThrow(ClientError);
    await expect(producer.send({ topic: "TBW102", body: "x" })).rejects.toThrow(ClientError);
    await expect(producer.send({ topic: "Fine", body: "x", properties: { TAGS: "sneaky" } })).rejects.toThrow(ClientError);
  });

  test("pull() rejects invalid arguments with ClientError before sending", async () => {
    const queue: MessageQueue = { topic: "Spread", brokerName: "broker-a", queueId: 0 };
    await expect(consumer.pull(queue, -1)).rejects.toThrow(ClientError);
    await expect(consumer.pull(queue, 0, { maxNums: 0 })).rejects.toThrow(ClientError);
    await expect(consumer.pull(queue, 0, { suspendMs: 120_001 })).rejects.toThrow(ClientError);
    await expect(consumer.pull({ ...queue, topic: "bad topic" }, 0)).rejects.toThrow(ClientError);
    await expect(consumer.pull({ ...queue, brokerName: "broker-zz" }, 0)).rejects.toThrow("no route names broker");
  });

  test("a producer must be started first and cannot send after shutdown", async () => {
    const p = new Producer({ nameServer: standalone.nameServerAddress, dial: network.dial });
    await expect(p.send({ topic: "Spread", body: "x" })).rejects.toThrow("not started");
    await p.start();
    await p.send({ topic: "Spread", body: "x" });
    await p.shutdown();
    await expect(p.send({ topic: "Spread", body: "x" })).rejects.toThrow("shut down");
  });

  test("shutdown() waits for sends in flight", async () => {
    const p = new Producer({ nameServer: standalone.nameServerAddress, dial: network.dial });
    await p.start();
    let done = 0;
    const sends = Array.from({ length: 50 }, (_, i) => p.send({ topic: "Spread", body: `${i}` }).then(() => done++));
    await p.shutdown();
    expect(done).toBe(50);
    await Promise.all(sends);
  });
});

describe("Producer retries on another broker", () => {
  let second: Broker;
  let secondStorage: MemorySegmentStorage;

  beforeAll(async () => {
    secondStorage = new MemorySegmentStorage();
    second = await startBroker({
      listen: network.listen,
      dial: network.dial,
      dataDir: "/data-b",
      storage: secondStorage,
      port: 0,
      brokerName: "broker-b",
      nameServers: [standalone.nameServerAddress],
      clusterSecret: standalone.clusterSecret,
      autoCreateTopicEnable: true,
      log: quiet,
    });
  });

  afterAll(async () => {
    await second.close();
  });

  test("send() succeeds on broker-a after broker-b goes away, and fails without retries", async () => {
    const topic = "TwoBrokers";
    for (const address of [standalone.brokerAddress, second.address]) {
      await admin.invoke(address, { code: RequestCode.UPDATE_AND_CREATE_TOPIC, header: { topic, readQueueNums: 4, writeQueueNums: 4 } });
    }
    // Both brokers registered the topic before any producer caches its route.
    await eventually(async () => {
      const route = await admin.request(standalone.nameServerAddress, { code: RequestCode.GET_ROUTEINFO_BY_TOPIC, header: { topic } });
      if ((route.header.brokerDatas as unknown[] | undefined)?.length !== 2) throw new Error("The NameServer routes the topic to one broker only");
    }, 10_000);
    const retrying = new Producer({ nameServer: standalone.nameServerAddress, dial: network.dial });
    const single = new Producer({ nameServer: standalone.nameServerAddress, dial: network.dial, retryTimesWhenSendFailed: 0 });
    await retrying.start();
    await single.start();
    // Cache a route naming both brokers.
    for (const p of [retrying, single]) {
      const queues = await eventually(async () => {
        const found = await p.fetchPublishQueues(topic);
        if (new Set(found.map((q) => q.brokerName)).size !== 2) throw new Error("Route lacks broker-b");
        return found;
      });
      expect(queues).toHaveLength(8);
    }
    await second.close();

    // Eight round-robin sends over eight queues: at least one first targets broker-b and must retry.
    for (let i = 0; i < 8; i++) {
      const result = await retrying.send({ topic, body: `after ${i}` });
      expect(result.messageQueue.brokerName).toBe("broker-a");
    }
    const onB: MessageQueue = { topic, brokerName: "broker-b", queueId: 0 };
    await expect(single.send({ topic, body: "x" }, { queue: onB })).rejects.toThrow();
    await retrying.shutdown();
    await single.shutdown();
  });
});
