/**
 * SQL92 filters end to end with real processes: a NameServer and a broker started as children,
 * a producer sending orders with properties, and a PullConsumer, a PushConsumer and `rmq consume
 * --sql` each receiving exactly the matching orders; a broker started with
 * RMQ_BROKER_ENABLE_PROPERTY_FILTER=false refuses SQL92 pulls.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrokerError } from "../../core/errors.ts";
import type { MessageExt } from "../../core/model/message.ts";
import { ResponseCode } from "../../core/protocol/request_code.ts";
import { Producer, PullConsumer, PushConsumer } from "../../mod.ts";
import { rmq } from "../cli/_cli.ts";
import { BUN, type Child, type Server, startServer, stop } from "../_helpers/process.ts";
import { until } from "../_helpers/wait.ts";

const TOPIC = "sql_e2e";
const COUNT = 1000;
const children: Child[] = [];
const dirs: string[] = [];
let nameServer: string;

/** Order i: region eu when i % 10 === 0, amount i. */
const propertiesOf = (i: number) => ({ region: i % 10 === 0 ? "eu" : "us", amount: String(i) });
const amountOf = (m: MessageExt) => Number(m.properties.amount);
const range = (from: number, to: number, step: number) => Array.from({ length: Math.ceil((to - from) / step) }, (_, i) => from + i * step);

async function startSystem(env: Record<string, string> = {}): Promise<{ nameServer: string; broker: Server }> {
  const dir = mkdtempSync(join(tmpdir(), "rmq-sql-e2e-"));
  dirs.push(dir);
  const ns = await startServer(BUN, ["run", "server/nameserver.ts", "--host", "127.0.0.1", "--port", "0"]);
  children.push(ns);
  const address = `127.0.0.1:${ns.port}`;
  const broker = await startServer(BUN, [
    "run", "server/broker.ts", "--host", "127.0.0.1", "--port", "0", "--namesrv", address, "--data-dir", dir, "--auto-create-topic",
  ], { env });
  children.push(broker);
  return { nameServer: address, broker };
}

/** Waits until the NameServer routes the topic (the first send created it). */
async function routed(address: string): Promise<void> {
  const probe = new PullConsumer({ nameServer: address, group: "sql_e2e_probe" });
  await probe.start();
  try {
    await until(async () => (await probe.fetchMessageQueues(TOPIC).catch(() => [])).length > 0, 20_000, `a route of "${TOPIC}"`);
  } finally {
    await probe.shutdown();
  }
}

beforeAll(async () => {
  ({ nameServer } = await startSystem());
  const producer = new Producer({ nameServer });
  await producer.start();
  try {
    await Promise.all(Array.from({ length: COUNT }, (_, i) =>
      producer.send({ topic: TOPIC, tags: i >= 900 ? "big" : "small", properties: propertiesOf(i), body: `order ${i}` })));
  } finally {
    await producer.shutdown();
  }
  await routed(nameServer);
}, 60_000);

afterAll(async () => {
  for (const child of children.reverse()) await stop(child);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe("SQL92 filters end to end", () => {
  test("PullConsumer: region = 'eu' AND amount >= 500 returns exactly those 50 orders", async () => {
    const consumer = new PullConsumer({ nameServer, group: "sql_e2e_pull" });
    await consumer.start();
    try {
      const got: number[] = [];
      for (const queue of await consumer.fetchMessageQueues(TOPIC)) {
        let offset = 0;
        for (;;) {
          const result = await consumer.pull(queue, offset, { sql: "region = 'eu' AND amount >= 500", maxNums: 8 });
          got.push(...result.messages.map(amountOf));
          if (result.status === "NO_NEW_MSG") break;
          offset = result.nextBeginOffset;
        }
      }
      expect(got.sort((a, b) => a - b)).toEqual(range(500, COUNT, 10));
    } finally {
      await consumer.shutdown();
    }
  }, 30_000);

  test("PushConsumer: region = 'eu' hands over exactly the 100 eu orders and moves past all 1,000", async () => {
    const consumer = new PushConsumer({ nameServer, group: "sql_e2e_push", consumeFromWhere: "FIRST_OFFSET", log: () => {} });
    const got: number[] = [];
    consumer.subscribe(TOPIC, { sql: "region = 'eu'" });
    consumer.onMessage((m) => {
      got.push(amountOf(m));
      return "SUCCESS";
    });
    await consumer.start();
    try {
      const stats = () => consumer.queueStats().filter((s) => s.queue.topic === TOPIC);
      // Every queue of the topic consumed to its end: nothing more can come.
      await until(() => stats().length > 0 && stats().reduce((n, s) => n + s.commitOffset, 0) === COUNT, 20_000, "the consumer to pass every order");
      expect(got.sort((a, b) => a - b)).toEqual(range(0, COUNT, 10));
    } finally {
      await consumer.shutdown();
    }
  }, 30_000);

  test("rmq consume --sql prints only matching orders; a bad --sql exits 2 naming the column", async () => {
    const run = await rmq(["consume", "-t", TOPIC, "--from", "earliest", "--sql", "region = 'eu' AND amount < 30", "--count", "3", "--json", "-n", nameServer]);
    expect(run.code).toBe(0);
    const amounts = run.stdout.trim().split("\n").map((line) => Number(JSON.parse(line).properties.amount));
    expect(amounts.sort((a, b) => a - b)).toEqual([0, 10, 20]);
    const bad = await rmq(["consume", "-t", TOPIC, "--sql", "amount >", "-n", nameServer]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Invalid value of --sql: Invalid SQL filter at column 9: expected a value after ">"');
  }, 30_000);

  test("a broker started with RMQ_BROKER_ENABLE_PROPERTY_FILTER=false refuses SQL92 pulls and serves tag pulls", async () => {
    const off = await startSystem({ RMQ_BROKER_ENABLE_PROPERTY_FILTER: "false" });
    const producer = new Producer({ nameServer: off.nameServer });
    await producer.start();
    const sent = await producer.send({ topic: TOPIC, tags: "t", properties: { region: "eu" }, body: "x" });
    await producer.shutdown();
    await routed(off.nameServer);
    const consumer = new PullConsumer({ nameServer: off.nameServer, group: "sql_e2e_off" });
    await consumer.start();
    try {
      const error = await consumer.pull(sent.messageQueue, sent.queueOffset, { sql: "region = 'eu'" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BrokerError);
      expect((error as BrokerError).code).toBe(ResponseCode.SYSTEM_ERROR);
      expect((error as BrokerError).remark).toContain("does not filter by SQL92: enablePropertyFilter is off");
      const tagged = await consumer.pull(sent.messageQueue, sent.queueOffset, { expression: "t" });
      expect(tagged.messages.map((m) => m.tags)).toEqual(["t"]);
    } finally {
      await consumer.shutdown();
      await stop(off.broker);
    }
  }, 60_000);
});
