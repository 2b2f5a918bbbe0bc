/**
 * End-to-end load tool: sends 1 KiB (by default) messages to a broker in sync, async, oneway and
 * batch modes and reports throughput, latency and success.
 *
 *   bun bench/load.ts                       # starts a standalone server in a child process
 *   bun bench/load.ts --namesrv 127.0.0.1:9876 --modes sync,async --count 50000
 *
 * Works under Deno too: deno run -A bench/load.ts
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { Producer } from "../client/producer.ts";
import { PullConsumer } from "../client/pull_consumer.ts";
import { freePort } from "../tests/_helpers/process.ts";

const MODES = ["sync", "async", "oneway", "batch"] as const;
type Mode = typeof MODES[number];

const Flags = v.object({
  namesrv: v.optional(v.string()),
  modes: v.pipe(v.string(), v.transform((s) => s.split(",")), v.array(v.picklist(MODES))),
  count: v.pipe(v.string(), v.transform(Number), v.number(), v.integer(), v.minValue(1)),
  size: v.pipe(v.string(), v.transform(Number), v.number(), v.integer(), v.minValue(1), v.maxValue(4 * 1024 * 1024)),
  concurrency: v.pipe(v.string(), v.transform(Number), v.number(), v.integer(), v.minValue(1)),
  inflight: v.pipe(v.string(), v.transform(Number), v.number(), v.integer(), v.minValue(1)),
  batch: v.pipe(v.string(), v.transform(Number), v.number(), v.integer(), v.minValue(1), v.maxValue(1024)),
  topic: v.pipe(v.string(), v.minLength(1)),
  flush: v.picklist(["async", "sync"]),
  json: v.boolean(),
});

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    namesrv: { type: "string" },
    modes: { type: "string", default: MODES.join(",") },
    count: { type: "string", default: "50000" },
    size: { type: "string", default: "1024" },
    concurrency: { type: "string", default: "10" },
    inflight: { type: "string", default: "1000" },
    batch: { type: "string", default: "32" },
    topic: { type: "string", default: `bench_${Date.now()}` },
    flush: { type: "string", default: "async" },
    json: { type: "boolean", default: false },
  },
});
const parsed = v.safeParse(Flags, values);
if (!parsed.success) {
  console.error(`Invalid flags: ${v.summarize(parsed.issues)}`);
  process.exit(2);
}
const flags = parsed.output;

interface Report {
  mode: Mode;
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
  stored?: number;
  errors: Record<string, number>;
}

async function startServer(): Promise<{ namesrv: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "rmq-bench-"));
  const [nsPort, brokerPort] = [await freePort(), await freePort()];
  const root = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..");
  const runtime = "Deno" in globalThis ? join(root, "node_modules/.bin/deno") : process.execPath;
  const args = "Deno" in globalThis ? ["run", "-A", "cli/deno.ts"] : ["run", "cli/bun.ts"];
  const child = spawn(runtime, [...args, "standalone", "--host", "127.0.0.1", "--namesrv-port", String(nsPort), "--port", String(brokerPort), "--data-dir", dir, "--flush", flags.flush], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Uint8Array) => {
      out += new TextDecoder().decode(chunk);
      if (out.includes("Standalone ready")) resolve();
    });
    child.on("exit", (code) => reject(new Error(`Server exited with ${code}: ${out}`)));
  });
  return {
    namesrv: `127.0.0.1:${nsPort}`,
    async stop() {
      const exited = new Promise((resolve) => child.on("exit", resolve));
      child.kill("SIGTERM");
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function progress(mode: string, done: number, total: number, started: number): void {
  if (!process.stderr.isTTY) return;
  const rate = done / ((performance.now() - started) / 1000);
  process.stderr.write(`\r${mode.padEnd(7)} ${done}/${total} (${Math.round((done / total) * 100)}%) ${Math.round(rate)} msg/s   `);
}

async function storedCount(namesrv: string, topic: string): Promise<number> {
  const consumer = new PullConsumer({ nameServer: namesrv, group: "bench_check" });
  await consumer.start();
  let total = 0;
  for (const queue of await consumer.fetchMessageQueues(topic)) total += await consumer.maxOffset(queue);
  await consumer.shutdown();
  return total;
}

async function runMode(mode: Mode, namesrv: string): Promise<Report> {
  const topic = `${flags.topic}_${mode}`;
  const producer = new Producer({ nameServer: namesrv, maxInFlight: Math.max(flags.inflight, flags.concurrency) * flags.batch });
  await producer.start();
  const body = new Uint8Array(flags.size).fill(0x61);
  // Warm up: route lookup, topic creation, connection.
  await producer.send({ topic, body });
  const latencies = new Float64Array(flags.count);
  let latencyCount = 0;
  const errors: Record<string, number> = {};
  let ok = 0;
  let failed = 0;
  const fail = (error: unknown) => {
    failed++;
    const name = (error as Error)?.name ?? "Error";
    errors[name] = (errors[name] ?? 0) + 1;
  };
  const started = performance.now();
  const ticker = setInterval(() => progress(mode, ok + failed, flags.count, started), 250);
  if (mode === "sync" || mode === "async") {
    const workers = mode === "sync" ? flags.concurrency : flags.inflight;
    let next = 0;
    await Promise.all(Array.from({ length: workers }, async () => {
      while (next < flags.count) {
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
    for (let i = 0; i < flags.count; i++) {
      try {
        await producer.sendOneway({ topic, body });
        ok++;
      } catch (error) {
        fail(error);
      }
    }
  } else {
    const batches = Math.ceil(flags.count / flags.batch);
    let next = 0;
    await Promise.all(Array.from({ length: flags.concurrency }, async () => {
      while (next < batches) {
        const n = Math.min(flags.batch, flags.count - next * flags.batch);
        next++;
        const t0 = performance.now();
        try {
          await producer.sendBatch(Array.from({ length: n }, () => ({ topic, body })));
          ok += n;
          latencies[latencyCount++] = performance.now() - t0;
        } catch (error) {
          failed += n;
          fail(error);
          failed--;
        }
      }
    }));
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(ticker);
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  await producer.shutdown();
  const sorted = latencies.subarray(0, latencyCount).sort();
  const report: Report = {
    mode,
    runtime: "Deno" in globalThis ? "deno" : "bun",
    sent: flags.count,
    ok,
    failed,
    seconds,
    msgsPerSec: ok / seconds,
    mbPerSec: (ok * flags.size) / seconds / 1024 / 1024,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.length ? sorted[sorted.length - 1]! : 0,
    errors,
  };
  // Every mode is checked against what the broker stored (the warm-up message included). Oneway
  // sends get no answer, so wait until the count stops moving.
  let stored = (await storedCount(namesrv, topic)) - 1;
  for (let still = 0; stored < ok && still < 20; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = (await storedCount(namesrv, topic)) - 1;
    still = now === stored ? still + 1 : 0;
    stored = now;
  }
  report.stored = stored;
  return report;
}

const server = flags.namesrv === undefined ? await startServer() : undefined;
const namesrv = flags.namesrv ?? server!.namesrv;
const reports: Report[] = [];
try {
  for (const mode of flags.modes) reports.push(await runMode(mode, namesrv));
} finally {
  await server?.stop();
}

if (flags.json) {
  console.log(JSON.stringify({ size: flags.size, count: flags.count, concurrency: flags.concurrency, inflight: flags.inflight, batch: flags.batch, flush: flags.flush, reports }, null, 2));
} else {
  const what = { sync: `${flags.concurrency} senders`, async: `${flags.inflight} in flight`, oneway: "1 sender", batch: `${flags.batch}/batch, ${flags.concurrency} senders` };
  console.log(`${flags.count} messages of ${flags.size} bytes per mode, flush ${flags.flush}, ${reports[0]?.runtime ?? ""} client`);
  console.log(["mode", "shape", "msgs/s", "MB/s", "p50 ms", "p99 ms", "max ms", "success", "stored"].map((h, i) => i < 2 ? h.padEnd(i ? 24 : 7) : h.padStart(9)).join(" "));
  for (const r of reports) {
    const cells = [
      r.mode.padEnd(7),
      what[r.mode].padEnd(24),
      Math.round(r.msgsPerSec).toString().padStart(9),
      r.mbPerSec.toFixed(1).padStart(9),
      (r.mode === "oneway" ? "-" : r.p50Ms.toFixed(2)).padStart(9),
      (r.mode === "oneway" ? "-" : r.p99Ms.toFixed(2)).padStart(9),
      (r.mode === "oneway" ? "-" : r.maxMs.toFixed(2)).padStart(9),
      `${((r.ok / r.sent) * 100).toFixed(1)}%`.padStart(9),
      String(r.stored).padStart(9),
    ];
    console.log(cells.join(" "));
    if (r.failed > 0) console.log(`  errors: ${JSON.stringify(r.errors)}`);
  }
}
process.exit(reports.every((r) => r.failed === 0 && r.stored === r.ok) ? 0 : 1);
