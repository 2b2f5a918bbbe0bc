/**
 * An unchanged RocketMQ 4.x client, the npm package `ali-ons` in Node processes, against a real
 * NameServer and broker started from our entries (`server/nameserver.ts`, `server/broker.ts`) on
 * Bun and on Deno (each adapter feeds the same protocol detection), and beside rocketmq-ts's own
 * clients on the same cluster.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ReceivedMessage } from "../../../client/_pop.ts";
import { dial } from "../../../client/bun/connect.ts";
import { SimpleConsumer } from "../../../client/simple_consumer.ts";
import { SysFlag } from "../../../core/model/message.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { connect } from "../../../core/remoting/connection.ts";
import { BUN, type Child, DENO, type Server, start, startServer, stop } from "../../_helpers/process.ts";
import { drainQueue } from "../../_helpers/raw_client.ts";
import { until } from "../../_helpers/wait.ts";

const NODE = "node";
const ALI_ONS = "tests/_fixtures/ali_ons_client.cjs";
const NATIVE = "tests/_fixtures/native_client.ts";

interface Delivery {
  msgId: string;
  /** As the client printed it (ali-ons: a string). */
  queueId: number | string;
  topic: string;
  tags: string;
  keys: string;
  body?: string;
  bodySize: number;
  bodyHead: string;
  reconsumeTimes: number;
  originMessageId?: string;
}

let dataDir: string;
let nameServer: Server;
let broker: Server;
let nsAddress: string;
const children: Child[] = [];

function events(child: Child, kind: string): Delivery[] {
  return child.output().split("\n").filter((line) => line.startsWith(`{"${kind}"`)).map((line) => JSON.parse(line)[kind]);
}

async function createTopics(...topics: string[]): Promise<void> {
  const connection = await connect(dial, `127.0.0.1:${broker.port}`);
  for (const topic of topics) {
    expect((await connection.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic, readQueueNums: 4, writeQueueNums: 4 })).code).toBe(ResponseCode.SUCCESS);
  }
  connection.close();
  // The broker registers the new topics with the NameServer a moment later.
  const ns = await connect(dial, nsAddress);
  for (const topic of topics) {
    await until(async () => (await ns.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic })).code === ResponseCode.SUCCESS, 10_000, `a route for ${topic}`);
  }
  ns.close();
}

function run(command: string, args: string[]): Child {
  const child = start(command, args);
  children.push(child);
  return child;
}

async function consumer(command: string, args: string[]): Promise<Child> {
  const child = run(command, args);
  await child.waitFor('{"ready":true', 30_000);
  return child;
}

async function produce(command: string, topic: string, messages: unknown[]): Promise<Delivery[]> {
  const producer = run(command, [command === NODE ? ALI_ONS : NATIVE, "produce", nsAddress, topic, JSON.stringify(messages)]);
  const code = await Promise.race([producer.exited, new Promise((resolve) => setTimeout(() => resolve("still running after 30 s"), 30_000))]);
  if (code !== 0) throw new Error(`Producer exited with ${code}; it printed:\n${producer.output()}`);
  expect(producer.output()).toContain(`{"done":${messages.length}}`);
  expect(code).toBe(0);
  return events(producer, "sent");
}

for (const runtime of ["bun", "deno"] as const) describe(`ali-ons (RocketMQ 4.x remoting), servers on ${runtime}`, () => {
  const server = (script: string, args: string[]) =>
    runtime === "bun"
      ? startServer(BUN, ["run", script, ...args])
      : startServer(DENO, ["run", "-A", script, ...args], { timeoutMs: 30_000 });

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "rmq-ali-ons-"));
    nameServer = await server("server/nameserver.ts", ["--host", "127.0.0.1", "--port", "0"]);
    nsAddress = `127.0.0.1:${nameServer.port}`;
    broker = await server("server/broker.ts", [
      "--host", "127.0.0.1", "-p", "0", "-n", nsAddress, "--data-dir", dataDir,
      // Retries come back after 1 s instead of 10 s (level 3 + reconsume times).
      "--message-delay-level", "1s 1s 1s 1s 1s 1s",
    ]);
  });

  afterAll(async () => {
    for (const child of children.splice(0)) await stop(child);
    if (broker !== undefined) await stop(broker);
    if (nameServer !== undefined) await stop(nameServer);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("producer to push consumers: tags and keys, an 8 KiB compressed body, a tag-filtered second group, retry after a thrown handler", async () => {
    await createTopics("AliOnsTopic");
    const all = await consumer(NODE, [ALI_ONS, "consume", nsAddress, "CG_ALL", "AliOnsTopic", "*", "failFirst"]);
    const tagA = await consumer(NODE, [ALI_ONS, "consume", nsAddress, "CG_TAG_A", "AliOnsTopic", "TagA"]);
    const sent = await produce(NODE, "AliOnsTopic", [
      { tag: "TagA", keys: ["k1", "k2"], body: "hello" },
      { tag: "TagB", size: 8192 },
      { tag: "TagA", body: "third" },
    ]);
    expect(sent.map((s) => s.msgId)).toEqual(sent.map(() => expect.stringMatching(/^7F000001[0-9A-F]{24}$/)));

    // CG_ALL fails each message once: it comes back through %RETRY%CG_ALL, shown under its topic.
    await until(() => events(all, "received").length >= 3, 30_000, "three redeliveries to CG_ALL");
    const failed = events(all, "failing");
    const received = events(all, "received");
    expect(failed.map((m) => m.reconsumeTimes)).toEqual([0, 0, 0]);
    expect(received.map((m) => m.reconsumeTimes)).toEqual([1, 1, 1]);
    expect(received.map((m) => m.originMessageId).sort()).toEqual(sent.map((s) => s.msgId).sort());
    const byTag = (list: Delivery[], tag: string) => list.filter((m) => m.tags === tag);
    expect(byTag(received, "TagA").map((m) => m.body).sort()).toEqual(["hello", "third"]);
    expect(byTag(received, "TagA").find((m) => m.body === "hello")!.keys).toBe("k1 k2");
    const big = byTag(received, "TagB")[0]!;
    expect(big.bodySize).toBe(8192);
    expect(big.bodyHead).toBe("1:1:1:1:");
    expect(received.every((m) => m.topic === "AliOnsTopic")).toBe(true);

    // CG_TAG_A got the two TagA messages and never TagB (the broker filters by tag hash).
    await until(() => events(tagA, "received").length >= 2, 15_000, "two TagA messages");
    expect(events(tagA, "received").map((m) => [m.tags, m.body, m.reconsumeTimes]).sort()).toEqual([["TagA", "hello", 0], ["TagA", "third", 0]]);
  }, 90_000);

  test("a message sent through one protocol is consumed through the other: our producer to ali-ons, ali-ons (compressed) to ours", async () => {
    await createTopics("CrossTopic");
    const aliOnsConsumer = await consumer(NODE, [ALI_ONS, "consume", nsAddress, "CG_CROSS_ALI", "CrossTopic", "*"]);
    const nativeConsumer = await consumer(BUN, [NATIVE, "consume", nsAddress, "CG_CROSS_NATIVE", "CrossTopic", "*"]);
    await produce(BUN, "CrossTopic", [{ tag: "FromNative", keys: ["n1"], body: "sent by rocketmq-ts" }]);
    await produce(NODE, "CrossTopic", [{ tag: "FromAliOns", keys: ["a1"], size: 8192 }]);
    for (const child of [aliOnsConsumer, nativeConsumer]) {
      await until(() => events(child, "received").length >= 2, 20_000, "both messages");
      const got = events(child, "received").sort((a, b) => (a.tags < b.tags ? -1 : 1));
      expect(got.map((m) => [m.tags, m.keys, m.bodySize, m.bodyHead])).toEqual([
        ["FromAliOns", "a1", 8192, "0:0:0:0:"],
        ["FromNative", "n1", 19, "sent by "],
      ]);
    }
  }, 90_000);

  test("a SimpleConsumer (POP) receives ali-ons's zlib-compressed 8 KiB body inflated and intact", async () => {
    await createTopics("PopCompressedTopic");
    const sent = await produce(NODE, "PopCompressedTopic", [{ tag: "Big", keys: ["p1"], size: 8192 }]);
    // ali-ons compresses bodies of 4 KiB and more: the broker keeps the record as sent (compressed).
    const raw = await connect(dial, `127.0.0.1:${broker.port}`);
    const stored = await drainQueue(raw, "PopCompressedTopic", Number(sent[0]!.queueId));
    raw.close();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.sysFlag & SysFlag.COMPRESSED).toBe(SysFlag.COMPRESSED);
    expect(stored[0]!.body.length).toBeLessThan(8192);
    const consumer = new SimpleConsumer({ nameServer: nsAddress, dial, group: "CG_POP_COMPRESSED", consumeFromWhere: "FIRST_OFFSET", awaitDurationMs: 2000, log: () => {} });
    consumer.subscribe("PopCompressedTopic");
    await consumer.start();
    try {
      let got: ReceivedMessage[] = [];
      const deadline = Date.now() + 20_000;
      while (got.length === 0 && Date.now() < deadline) got = await consumer.receive(16, 30_000);
      expect(got).toHaveLength(1);
      const message = got[0]!;
      expect(message.msgId).toBe(stored[0]!.msgId);
      expect([message.tags, message.keys]).toEqual(["Big", ["p1"]]);
      expect(message.sysFlag & SysFlag.COMPRESSED).toBe(0);
      expect(message.body.length).toBe(8192);
      expect(new TextDecoder().decode(message.body)).toBe("0:".repeat(4096));
      await consumer.ack(message.receiptHandle);
    } finally {
      await consumer.shutdown();
    }
  }, 90_000);
});
