/**
 * Apache's RocketMQ 5 Node.js client (rocketmq-client-nodejs from npm, unchanged), in separate Node
 * processes, produces to a real broker's gRPC port; what it sent is read back with our own
 * PullConsumer over the remoting port: normal messages with tag, keys and properties, FIFO per
 * message group, delayed delivery, recall, transactions committed, rolled back and resolved by a
 * check-back pushed over Telemetry.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dial } from "../../../client/bun/connect.ts";
import { Producer } from "../../../client/producer.ts";
import { PullConsumer } from "../../../client/pull_consumer.ts";
import type { MessageExt } from "../../../core/model/message.ts";
import type { Standalone } from "../../../server/standalone.ts";
import { until } from "../../_helpers/wait.ts";
import { type Line, runNodeScript } from "./_node_script.ts";
import { type GrpcStandalone, startGrpcStandalone } from "./_standalone.ts";

const decoder = new TextDecoder();

let server: GrpcStandalone;
let standalone: Standalone;
let consumer: PullConsumer;
let endpoint: string;

/** Runs one scenario of the Node producer; returns its JSON lines. */
function node(topic: string, scenario: string): Promise<Line[]> {
  return runNodeScript("producer.cjs", [endpoint, topic, scenario]);
}

/** Every message of a topic, read with our PullConsumer from each queue's start. */
async function messagesOf(topic: string): Promise<MessageExt[]> {
  const found: MessageExt[] = [];
  for (const queue of await consumer.fetchMessageQueues(topic)) {
    let offset = 0;
    for (;;) {
      const result = await consumer.pull(queue, offset, { maxNums: 32 });
      if (result.status !== "FOUND") break;
      found.push(...result.messages);
      offset = result.nextBeginOffset;
    }
  }
  return found;
}

beforeAll(async () => {
  server = await startGrpcStandalone("rmq-grpc", { transactionTimeoutMs: 1000, transactionCheckIntervalMs: 1000 });
  standalone = server.standalone;
  endpoint = server.endpoint;
  consumer = new PullConsumer({ nameServer: standalone.nameServerAddress, group: "grpc-test-reader", dial });
  await consumer.start();
});

afterAll(async () => {
  await consumer?.shutdown();
  await server?.close();
});

describe("the RocketMQ 5 Node.js client sends to the gRPC port", () => {
  test("a normal message keeps its tag, keys, properties and message id, and our PullConsumer reads it", async () => {
    const [sent] = await node("grpc-normal", "normal");
    const [message] = await messagesOf("grpc-normal");
    expect(decoder.decode(message!.body)).toBe("normal message");
    expect(message!.tags).toBe("TagA");
    expect(message!.keys).toEqual(["key-1", "key-2"]);
    expect(message!.properties.color).toBe("blue");
    expect(message!.uniqueKey).toBe(sent!.messageId as string);
    expect(message!.queueOffset).toBe(sent!.offset as number);
  });

  test("FIFO messages of one message group land in one queue in send order, with the group as sharding key", async () => {
    const sent = await node("grpc-fifo", "fifo");
    expect(new Set(sent.map((s) => s.queueId)).size).toBe(1);
    const messages = await messagesOf("grpc-fifo");
    expect(messages.map((m) => decoder.decode(m.body))).toEqual(Array.from({ length: 10 }, (_, i) => `fifo ${i}`));
    expect(messages.every((m) => m.properties.__SHARDINGKEY === "group-1")).toBe(true);
  });

  test("a delayed message arrives once its delivery time has come, not before", async () => {
    const [sent] = await node("grpc-delay", "delay");
    expect(typeof sent!.recallHandle).toBe("string");
    let delivered: MessageExt | undefined;
    await until(async () => (delivered = (await messagesOf("grpc-delay"))[0]) !== undefined, 10_000, "the delayed message");
    expect(decoder.decode(delivered!.body)).toBe("delayed message");
    expect(delivered!.storeTimestamp).toBeGreaterThanOrEqual((sent!.sentAt as number) + 1400);
  });

  test("a recalled timer message is never delivered", async () => {
    const [sent] = await node("grpc-recall", "recall");
    expect(sent!.recalled).toBeTruthy();
    // The recall is applied when the timer's second comes: then nothing is delivered.
    const timers = standalone.broker.context.timers!;
    await until(() => timers.stats.recalled === 1, 10_000, "the timer's due time");
    expect(timers.stats.pending).toBe(0);
    expect(await messagesOf("grpc-recall")).toEqual([]);
  });

  test("a committed transaction is delivered and a rolled-back one is not", async () => {
    const [committed] = await node("grpc-tx", "commit");
    await node("grpc-tx", "rollback");
    const messages = await messagesOf("grpc-tx");
    expect(messages.map((m) => decoder.decode(m.body))).toEqual(["commit message"]);
    expect(messages[0]!.uniqueKey).toBe(committed!.messageId as string);
  });

  test("an unresolved transaction is checked back over Telemetry and committed by the producer's checker", async () => {
    const lines = await node("grpc-orphan", "orphan");
    const sent = lines.find((l) => l.sent === true)!;
    const checked = lines.find((l) => l.checked !== undefined)!;
    expect(checked.checked).toBe(sent.messageId);
    expect(checked.body).toBe("orphan message");
    await until(async () => (await messagesOf("grpc-orphan")).length === 1, 10_000, "the committed orphan");
    const [message] = await messagesOf("grpc-orphan");
    expect(decoder.decode(message!.body)).toBe("orphan message");
  });
});

describe("messages cross protocols", () => {
  test("a message our Producer sends is in the route the RocketMQ 5 client is given, on the same queues", async () => {
    const producer = new Producer({ nameServer: standalone.nameServerAddress, dial, log: () => {} });
    await producer.start();
    await producer.send({ topic: "grpc-mixed", body: "from remoting" });
    await producer.shutdown();
    await node("grpc-mixed", "normal");
    const bodies = (await messagesOf("grpc-mixed")).map((m) => decoder.decode(m.body)).sort();
    expect(bodies).toEqual(["from remoting", "normal message"]);
  });
});
