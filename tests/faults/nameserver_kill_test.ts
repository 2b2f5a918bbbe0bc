/**
 * NameServer failures: with two NameServers, SIGKILLing one is invisible to clients (new and
 * running); with every NameServer gone, running producers and consumers keep working on cached
 * routes; when one returns on the same port the broker registers again within seconds and new
 * clients can route again.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Producer } from "../../client/producer.ts";
import { PushConsumer } from "../../client/push_consumer.ts";
import { type Child, stop } from "../_helpers/process.ts";
import { startTestBroker, startTestNameServer } from "./_common.ts";

const TOPIC = "ns_fault";
let dir: string;
const children: Child[] = [];
const received = new Set<string>();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-nskill-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - started;
}

async function sendBatch(producer: Producer, from: number, count: number): Promise<string[]> {
  const keys = Array.from({ length: count }, (_, i) => `m-${from + i}`);
  await Promise.all(keys.map((key) => producer.send({ topic: TOPIC, keys: key, body: key })));
  return keys;
}

describe("NameServer failures", () => {
  test("clients survive losing one NameServer, then all; routes heal when one returns", async () => {
    let ns1 = await startTestNameServer();
    const ns2 = await startTestNameServer();
    children.push(ns1, ns2);
    const ns1Port = ns1.port;
    const ns1Address = `127.0.0.1:${ns1Port}`;
    const ns2Address = `127.0.0.1:${ns2.port}`;
    const broker = await startTestBroker({ dataDir: dir, flush: "async", namesrv: [ns1Address, ns2Address] });
    children.push(broker);

    const producer = new Producer({ nameServer: [ns1Address, ns2Address], sendTimeoutMs: 3000 });
    await producer.start();
    const consumer = new PushConsumer({
      nameServer: [ns1Address, ns2Address],
      group: "ns_fault_group",
      consumeFromWhere: "FIRST_OFFSET",
      heartbeatIntervalMs: 1000,
      rebalanceIntervalMs: 1000,
    });
    consumer.subscribe(TOPIC);
    consumer.onMessage((message) => {
      received.add(new TextDecoder().decode(message.body));
      return "SUCCESS";
    });
    let sent = await sendBatch(producer, 0, 50); // creates the topic, which the broker registers
    await consumer.start();
    await until(() => sent.every((k) => received.has(k)), 15_000, "the first 50 messages");

    // One of two NameServers gone: running and brand-new clients do not notice.
    ns1.kill("SIGKILL");
    await ns1.exited;
    sent = sent.concat(await sendBatch(producer, 50, 50));
    const fresh = new Producer({ nameServer: [ns1Address, ns2Address], sendTimeoutMs: 3000 });
    await fresh.start();
    sent = sent.concat(await sendBatch(fresh, 100, 50));
    await fresh.shutdown();
    await until(() => sent.every((k) => received.has(k)), 15_000, "messages sent with one NameServer down");

    // Every NameServer gone: cached routes carry on.
    ns2.kill("SIGKILL");
    await ns2.exited;
    sent = sent.concat(await sendBatch(producer, 150, 100));
    await until(() => sent.every((k) => received.has(k)), 15_000, "messages sent with no NameServer");

    // One NameServer back on the same port: the broker registers again and new clients route.
    ns1 = await startTestNameServer(ns1Port);
    children.push(ns1);
    const healMs = await until(() => /Registered with NameServer 127\.0\.0\.1:\d+ again/.test(broker.output()), 10_000, "re-registration");
    const late = new Producer({ nameServer: ns1Address, sendTimeoutMs: 3000 });
    await late.start();
    sent = sent.concat(await sendBatch(late, 250, 50));
    await late.shutdown();
    await until(() => sent.every((k) => received.has(k)), 15_000, "messages sent after the NameServer returned");
    console.log(`nameserver kill: ${sent.length} sent, ${received.size} received, broker re-registered ${healMs} ms after the NameServer returned`);
    expect(received.size).toBe(sent.length);

    await producer.shutdown();
    await consumer.shutdown();
    await stop(broker);
  }, 40_000);
});
