import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Producer } from "../../client/producer.ts";
import { PullConsumer } from "../../client/pull_consumer.ts";
import { PushConsumer } from "../../client/push_consumer.ts";
import { RemotingClient } from "../../client/remoting_client.ts";
import { CorruptMessageError } from "../../core/errors.ts";
import type { MessageExt } from "../../core/model/message.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import { decodeOffsetMessageId } from "../../core/model/message_id.ts";
import { RequestCode } from "../../core/protocol/request_code.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { MemorySegmentStorage } from "../../server/store/memory_segment_storage.ts";
import { MemoryNetwork } from "../_helpers/memory_network.ts";
import { until } from "../_helpers/wait.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const quiet = () => {};

let network: MemoryNetwork;
let storage: MemorySegmentStorage;
let standalone: Standalone;
let producer: Producer;
let admin: RemotingClient;

beforeAll(async () => {
  network = new MemoryNetwork();
  storage = new MemorySegmentStorage();
  standalone = await startStandalone({
    listen: network.listen,
    dial: network.dial,
    dataDir: "/data",
    storage,
    port: 0,
    nameServerPort: 0,
    log: quiet,
  });
  producer = new Producer({ nameServer: standalone.nameServerAddress, dial: network.dial, group: "corrupt_producer" });
  await producer.start();
  admin = new RemotingClient({ dial: network.dial });
});

afterAll(async () => {
  await producer.shutdown();
  await admin.shutdown();
  await standalone.close();
});

/** Sends ten messages to one queue of a new topic and flips a bit in the stored body of the sixth. */
async function topicWithCorruptBody(topic: string): Promise<void> {
  await admin.invoke(standalone.brokerAddress, {
    code: RequestCode.UPDATE_AND_CREATE_TOPIC,
    header: { topic, readQueueNums: 1, writeQueueNums: 1 },
  });
  const routes = new PullConsumer({ nameServer: standalone.nameServerAddress, dial: network.dial, group: "corrupt_routes" });
  await routes.start();
  await until(async () => (await routes.fetchMessageQueues(topic).catch(() => [])).length === 1, 5000, `the route of "${topic}"`);
  await routes.shutdown();
  let victim = -1;
  for (let i = 0; i < 10; i++) {
    const result = await producer.send({ topic, body: `${topic}-body-${i}` });
    if (i === 5) victim = decodeOffsetMessageId(result.msgId).commitLogOffset;
  }
  // The record sits in the first segment; find its body there and flip one bit on "disk".
  const file = storage.open("/data/store/commitlog/00000000000000000000");
  const record = new Uint8Array(200);
  file.read(record, victim);
  const needle = encoder.encode(`${topic}-body-5`);
  const at = indexOf(record, needle);
  expect(at).toBeGreaterThan(0);
  const byte = record.subarray(at + 2, at + 3);
  byte[0]! ^= 0x08;
  file.write(byte, victim + at + 2);
  file.close();
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

const bodies = (messages: MessageExt[]) => messages.map((m) => decoder.decode(m.body));
const expected = (topic: string) => Array.from({ length: 10 }, (_, i) => `${topic}-body-${i}`).filter((b) => !b.endsWith("-5"));

describe("a body corrupted on the broker's disk", () => {
  test("PullConsumer.pull() leaves it out and describes it in corrupt, with the rest delivered", async () => {
    await topicWithCorruptBody("CorruptPull");
    const consumer = new PullConsumer({ nameServer: standalone.nameServerAddress, dial: network.dial, group: "corrupt_pull" });
    await consumer.start();
    try {
      const [queue] = await consumer.fetchMessageQueues("CorruptPull");
      const result = await consumer.pull(queue as MessageQueue, 0, { maxNums: 32 });
      expect(result.status).toBe("FOUND");
      expect(bodies(result.messages)).toEqual(expected("CorruptPull"));
      expect(result.nextBeginOffset).toBe(10);
      expect(result.corrupt).toHaveLength(1);
      const error = result.corrupt[0]!;
      expect(error).toBeInstanceOf(CorruptMessageError);
      expect(error).toMatchObject({ topic: "CorruptPull", queueId: 0, queueOffset: 5 });
      expect(error.message).toMatch(/^Message at queue offset 5 of queue 0 of topic "CorruptPull" on broker "[^"]+" \(CommitLog offset \d+\) is corrupt and was not delivered: body CRC \d+ does not match the computed \d+$/);
    } finally {
      await consumer.shutdown();
    }
  });

  test("a PushConsumer logs it, counts it in its queue stats and consumes the rest", async () => {
    await topicWithCorruptBody("CorruptPush");
    const lines: string[] = [];
    const consumer = new PushConsumer({
      nameServer: standalone.nameServerAddress,
      dial: network.dial,
      group: "corrupt_push",
      consumeFromWhere: "FIRST_OFFSET",
      log: (line) => lines.push(line),
    });
    const got: MessageExt[] = [];
    consumer.subscribe("CorruptPush", "*");
    consumer.onMessage((message) => {
      got.push(message);
      return "SUCCESS";
    });
    await consumer.start();
    try {
      await until(() => got.length >= 9 && consumer.queueStats().some((q) => q.corruptMessages > 0), 10_000, "nine messages and one corrupt");
      expect(bodies(got).sort()).toEqual(expected("CorruptPush").sort());
      expect(consumer.queueStats().reduce((n, q) => n + q.corruptMessages, 0)).toBe(1);
      expect(lines.filter((line) => line.includes("is corrupt and was not delivered"))).toHaveLength(1);
    } finally {
      await consumer.shutdown();
    }
  });
});
