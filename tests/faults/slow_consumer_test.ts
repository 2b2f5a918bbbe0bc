/**
 * A fast producer and a slow consumer for a bounded 20 s (the documented soak runs the same
 * shape for 30 minutes): the broker's and the consumer's resident memory stay bounded — the
 * consumer's flow control stops pulling when its local queue is full, pulls that find nothing
 * are parked for a bounded time, and the backlog lives on disk, not in memory.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, type Child, start, stop } from "../_helpers/process.ts";
import { rssKiB, startTestBroker, startTestNameServer } from "./_common.ts";

const DURATION_MS = 20_000;
const BROKER_RSS_LIMIT_MIB = 300;
const CONSUMER_RSS_LIMIT_MIB = 250;
let dir: string;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-slow-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

describe("slow consumer, fast producer", () => {
  test(`${DURATION_MS / 1000} s of backlog growth keeps broker and consumer memory bounded`, async () => {
    const ns = await startTestNameServer();
    children.push(ns);
    const nameServer = `127.0.0.1:${ns.port}`;
    const broker = await startTestBroker({ dataDir: dir, flush: "async", namesrv: [nameServer], segmentSize: 16 * 1024 * 1024 });
    const brokerPort = broker.port;
    children.push(broker);
    // Bounded: at most 400,000 sends (3 in flight keeps it sending for the whole run), stopped after DURATION_MS.
    const producer = start(BUN, ["tests/_fixtures/keyed_sender.ts", `127.0.0.1:${brokerPort}`, "slow", "p", "400000", "3"]);
    children.push(producer);
    await producer.waitFor(/ACK /, 15_000);
    // 50 ms per message, 20 handlers: at most ~400 messages/s, far below the producer.
    const consumer = start(BUN, ["tests/_fixtures/push_member.ts", nameServer, "slow_group", "slow", "50"]);
    children.push(consumer);
    await consumer.waitFor("READY", 15_000);

    const samples: { t: number; broker: number; consumer: number }[] = [];
    const started = Date.now();
    while (Date.now() - started < DURATION_MS) {
      samples.push({ t: Date.now() - started, broker: rssKiB(broker.pid) / 1024, consumer: rssKiB(consumer.pid) / 1024 });
      await new Promise((r) => setTimeout(r, 500));
    }
    producer.kill("SIGKILL");
    const acked = producer.output().split("\nACK ").length - 1;
    const handled = consumer.output().split("\nH ").length - 1;
    const peak = (k: "broker" | "consumer", from = 0) => Math.max(...samples.filter((s) => s.t >= from).map((s) => s[k]));
    const half = DURATION_MS / 2;
    const firstHalf = { broker: peak("broker") , consumer: peak("consumer") };
    const secondHalf = { broker: peak("broker", half), consumer: peak("consumer", half) };
    const firstOnly = {
      broker: Math.max(...samples.filter((s) => s.t < half).map((s) => s.broker)),
      consumer: Math.max(...samples.filter((s) => s.t < half).map((s) => s.consumer)),
    };
    console.log(
      `slow consumer: ${acked} sent, ${handled} handled, backlog ${acked - handled} in ${DURATION_MS / 1000} s; ` +
        `broker RSS peak ${firstOnly.broker.toFixed(0)} MiB (first half) / ${secondHalf.broker.toFixed(0)} MiB (second half); ` +
        `consumer RSS peak ${firstOnly.consumer.toFixed(0)} / ${secondHalf.consumer.toFixed(0)} MiB`,
    );
    expect(acked - handled).toBeGreaterThan(20_000); // the consumer really fell behind
    expect(firstHalf.broker).toBeLessThan(BROKER_RSS_LIMIT_MIB);
    expect(firstHalf.consumer).toBeLessThan(CONSUMER_RSS_LIMIT_MIB);
    // No unbounded growth: the second half adds little over the first while the backlog keeps growing.
    expect(secondHalf.broker).toBeLessThan(firstOnly.broker * 1.5 + 32);
    expect(secondHalf.consumer).toBeLessThan(firstOnly.consumer * 1.5 + 32);
  }, 45_000);
});
