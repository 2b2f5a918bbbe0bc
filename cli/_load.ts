/**
 * The load tool's engine, shared by `rmq bench` and `bench/load.ts`: sends messages to a topic in
 * sync, async, oneway or batch mode through the client `Producer` and reports throughput, latency,
 * success, and what the broker stored.
 *
 * @module
 */
import { Producer } from "../client/producer.ts";
import { PullConsumer } from "../client/pull_consumer.ts";
import type { Dialer } from "../core/remoting/transport.ts";

/** The ways of sending the tool measures. */
export const LOAD_MODES = ["sync", "async", "oneway", "batch"] as const;
/** One way of sending. */
export type LoadMode = typeof LOAD_MODES[number];

/** What one run sends. */
export interface LoadOptions {
  /** NameServer addresses. */
  nameServers: string[];
  /** The runtime's dialer. @default the client's default */
  dial?: Dialer;
  /** Topic prefix; each mode sends to `<topic>_<mode>`. */
  topic: string;
  /** Messages per mode. */
  count: number;
  /** Body bytes. */
  size: number;
  /** Concurrent senders for sync and batch. */
  concurrency: number;
  /** Sends in flight for async. */
  inflight: number;
  /** Messages per batch. */
  batch: number;
  /** Called as messages finish, with the count done so far. */
  onProgress?: (done: number) => void;
}

/** The outcome of one mode. */
export interface LoadReport {
  mode: LoadMode;
  runtime: string;
  sent: number;
  ok: number;
  failed: number;
  seconds: number;
  msgsPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Messages the broker holds for the topic after the run, the warm-up excluded. */
  stored: number;
  errors: Record<string, number>;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

async function storedCount(options: LoadOptions, topic: string): Promise<number> {
  const consumer = new PullConsumer({ nameServer: options.nameServers, group: "bench_check", dial: options.dial });
  await consumer.start();
  try {
    // A topic created by the run's first send reaches the NameServer with the broker's next
    // registration: wait for its route a little.
    let queues;
    for (let attempt = 0;; attempt++) {
      try {
        queues = await consumer.fetchMessageQueues(topic);
        break;
      } catch (error) {
        if (attempt >= 30) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    let total = 0;
    for (const queue of queues) total += await consumer.maxOffset(queue);
    return total;
  } finally {
    await consumer.shutdown();
  }
}

/**
 * Runs one mode.
 *
 * @param mode How to send.
 * @param options What to send and where.
 * @returns The report.
 */
export async function runLoad(mode: LoadMode, options: LoadOptions): Promise<LoadReport> {
  const topic = `${options.topic}_${mode}`;
  const producer = new Producer({
    nameServer: options.nameServers,
    dial: options.dial,
    maxInFlight: Math.max(options.inflight, options.concurrency) * options.batch,
  });
  await producer.start();
  const body = new Uint8Array(options.size).fill(0x61);
  const count = options.count;
  const latencies = new Float64Array(count);
  let latencyCount = 0;
  const errors: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  const fail = (error: unknown, n = 1) => {
    failed += n;
    const name = (error as Error)?.name ?? "Error";
    errors[name] = (errors[name] ?? 0) + 1;
  };
  let started = 0;
  const ticker = setInterval(() => options.onProgress?.(ok + failed), 100);
  try {
    // Warm up: route lookup, topic creation, connection.
    await producer.send({ topic, body });
    started = performance.now();
    if (mode === "sync" || mode === "async") {
      const workers = mode === "sync" ? options.concurrency : options.inflight;
      let next = 0;
      await Promise.all(Array.from({ length: workers }, async () => {
        while (next < count) {
          next++;
          const t0 = performance.now();
          try {
            await producer.send({ topic, body });
            ok++;
            latencies[latencyCount++] = performance.now() - t0;
          } catch (error) {
            fail(error);
          }
        }
      }));
    } else if (mode === "oneway") {
      for (let i = 0; i < count; i++) {
        try {
          await producer.sendOneway({ topic, body });
          ok++;
        } catch (error) {
          fail(error);
        }
      }
    } else {
      const batches = Math.ceil(count / options.batch);
      let next = 0;
      await Promise.all(Array.from({ length: options.concurrency }, async () => {
        while (next < batches) {
          const n = Math.min(options.batch, count - next * options.batch);
          next++;
          const t0 = performance.now();
          try {
            await producer.sendBatch(Array.from({ length: n }, () => ({ topic, body })));
            ok += n;
            latencies[latencyCount++] = performance.now() - t0;
          } catch (error) {
            fail(error, n);
          }
        }
      }));
    }
  } finally {
    clearInterval(ticker);
    options.onProgress?.(ok + failed);
    await producer.shutdown();
  }
  const seconds = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, latencyCount).sort();
  // Every mode is checked against what the broker stored (the warm-up message excluded). Oneway
  // sends get no answer, so wait until the count stops moving.
  let stored = (await storedCount(options, topic)) - 1;
  for (let still = 0; stored < ok && still < 20;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = (await storedCount(options, topic)) - 1;
    still = now === stored ? still + 1 : 0;
    stored = now;
  }
  return {
    mode,
    runtime: "Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node",
    sent: count,
    ok,
    failed,
    seconds,
    msgsPerSec: ok / seconds,
    mbPerSec: (ok * options.size) / seconds / 1024 / 1024,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : 0,
    stored,
    errors,
  };
}

/**
 * The human report of a run.
 *
 * @param reports One per mode.
 * @param options The run's options.
 * @param flush The broker's flush mode, for the heading.
 * @returns The heading and an aligned table.
 */
export function formatLoadReports(reports: readonly LoadReport[], options: Pick<LoadOptions, "count" | "size" | "concurrency" | "inflight" | "batch">, flush: string): string {
  const what: Record<LoadMode, string> = {
    sync: `${options.concurrency} senders`,
    async: `${options.inflight} in flight`,
    oneway: "1 sender",
    batch: `${options.batch}/batch, ${options.concurrency} senders`,
  };
  const lines = [
    `${options.count} messages of ${options.size} bytes per mode, flush ${flush}, ${reports[0]?.runtime ?? ""} client`,
    ["mode", "shape", "msgs/s", "MB/s", "p50 ms", "p99 ms", "max ms", "success", "stored"].map((h, i) => (i < 2 ? h.padEnd(i ? 24 : 7) : h.padStart(9))).join(" "),
  ];
  for (const r of reports) {
    lines.push([
      r.mode.padEnd(7),
      what[r.mode].padEnd(24),
      Math.round(r.msgsPerSec).toString().padStart(9),
      r.mbPerSec.toFixed(1).padStart(9),
      (r.mode === "oneway" ? "-" : r.p50Ms.toFixed(2)).padStart(9),
      (r.mode === "oneway" ? "-" : r.p99Ms.toFixed(2)).padStart(9),
      (r.mode === "oneway" ? "-" : r.maxMs.toFixed(2)).padStart(9),
      `${((r.ok / r.sent) * 100).toFixed(1)}%`.padStart(9),
      String(r.stored).padStart(9),
    ].join(" "));
    if (r.failed > 0) lines.push(`  errors: ${JSON.stringify(r.errors)}`);
  }
  return lines.join("\n") + "\n";
}
