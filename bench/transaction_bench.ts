/**
 * Transactional sends against a standalone server in a child process (the load tool's), next to
 * plain sends of the same shape for scale: `--concurrency` senders each awaiting its
 * `sendMessageInTransaction` (half message, local transaction, commit) or `send`. Reports msgs/s,
 * and the CPU time of client and broker per message, which stays meaningful on a shared machine.
 * Checks that every committed message was stored once.
 *
 * Usage: bun bench/transaction_bench.ts [--count 20000] [--concurrency 10] [--size 1024] [--flush async|sync]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Producer } from "../client/producer.ts";
import { PullConsumer } from "../client/pull_consumer.ts";
import { startLoadServer } from "../cli/_load_server.ts";
import { meterProcess, meterSelf } from "../cli/_load_stats.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "10" },
    size: { type: "string", default: "1024" },
    flush: { type: "string", default: "async" },
    json: { type: "boolean", default: false },
  },
});
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const body = new Uint8Array(Number(values.size)).fill(120);
const flush = values.flush === "sync" ? "sync" : "async";

const server = await startLoadServer({ runtime: "bun", flush });
const producer = new Producer({
  nameServer: server.namesrv,
  group: "bench_tx",
  log: () => {},
  transactionListener: { executeLocalTransaction: () => "COMMIT", checkLocalTransaction: () => "COMMIT" },
});
await producer.start();
const reader = new PullConsumer({ nameServer: server.namesrv, group: "bench_reader" });
await reader.start();

interface Row {
  mode: string;
  messages: number;
  /** Messages the topic holds afterwards: every acknowledged send (or commit) once. */
  stored: number;
  seconds: number;
  msgsPerSec: number;
  clientCpuUsPerMsg: number;
  brokerCpuUsPerMsg: number | null;
}

async function measure(mode: string, n: number, one: () => Promise<unknown>): Promise<Omit<Row, "stored">> {
  const client = meterSelf();
  const broker = meterProcess(server.startup.pid);
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      next++;
      await one();
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const c = client.stop().cpuSeconds!;
  const b = broker.stop().cpuSeconds;
  return { mode, messages: n, seconds, msgsPerSec: n / seconds, clientCpuUsPerMsg: (c * 1e6) / n, brokerCpuUsPerMsg: b === null ? null : (b * 1e6) / n };
}

/** Messages stored in a topic (the sum of its queues' max offsets). */
async function storedCount(topic: string): Promise<number> {
  let total = 0;
  for (const queue of await reader.fetchMessageQueues(topic)) total += await reader.maxOffset(queue);
  return total;
}

const rows: Row[] = [];
const stamp = Date.now();
for (const [mode, topic] of [["send", `bench_plain_${stamp}`], ["transaction", `bench_tx_${stamp}`]] as const) {
  const send = mode === "send"
    ? () => producer.send({ topic, body })
    : async () => {
      const result = await producer.sendMessageInTransaction({ topic, body });
      if (result.endError !== undefined) throw result.endError;
    };
  // Warm-up, not counted (the topic then holds its messages too).
  const warmup = Math.min(count, 5000);
  await measure(mode, warmup, send);
  const row = await measure(mode, count, send);
  const stored = (await storedCount(topic)) - warmup;
  if (stored !== count) throw new Error(`${mode}: ${count} acknowledged but ${stored} stored`);
  rows.push({ ...row, stored });
}
await reader.shutdown();
await producer.shutdown();
await server.stop();

if (values.json) {
  console.log(JSON.stringify({ settings: { count, concurrency, size: body.length, flush }, rows }, null, 2));
} else {
  console.log(`${count} messages of ${body.length} bytes per mode, ${concurrency} senders each awaiting its answer, flush ${flush}, bun client and broker`);
  console.log("mode          msgs/s   client CPU µs/msg   broker CPU µs/msg    stored");
  for (const row of rows) {
    console.log(
      `${row.mode.padEnd(12)}${Math.round(row.msgsPerSec).toString().padStart(8)}${row.clientCpuUsPerMsg.toFixed(1).padStart(20)}${
        (row.brokerCpuUsPerMsg?.toFixed(1) ?? "-").padStart(20)
      }${row.stored.toString().padStart(10)}`,
    );
  }
}
