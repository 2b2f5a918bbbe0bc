/**
 * The producer's own cost a send: a standalone in another process (the load tool's lean server),
 * and in this process a `Producer` sending to it over TCP. `--concurrency` callers each await
 * `producer.send` (the sync shape) or `--inflight` sends stay outstanding (the async shape); for
 * each shape it prints this process's CPU a send (`process.cpuUsage()`: JS, the event loop and the
 * socket syscalls) and what a send allocates, counted by `heapStats()` of `bun:jsc` over
 * `--sample` sends between two full collections (cells a send, by type where at least 0.5).
 *
 *   bun bench/bun/client_send_bench.ts --count 200000
 *   bun bench/bun/client_send_bench.ts --shape async --count 300000 --sample 2000
 *
 * @module
 */
import { heapStats } from "bun:jsc";
import process from "node:process";
import { parseArgs } from "node:util";
import { startLoadServer } from "../../cli/_load_server.ts";
import { Producer } from "../../mod.ts";
import { sendAwaited, sendInFlight } from "../_send_loops.ts";
import { loadAverage, wholeNumber } from "../_compare.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "200000" },
    shape: { type: "string", default: "sync,async" },
    concurrency: { type: "string", default: "10" },
    inflight: { type: "string", default: "1000" },
    size: { type: "string", default: "1024" },
    warmup: { type: "string", default: "20000" },
    sample: { type: "string", default: "1000" },
  },
});

const count = wholeNumber("count", values.count!);
const concurrency = wholeNumber("concurrency", values.concurrency!);
const inflight = wholeNumber("inflight", values.inflight!);
const size = wholeNumber("size", values.size!);
const warmup = wholeNumber("warmup", values.warmup!, 0);
const sample = wholeNumber("sample", values.sample!);
const shapes = values.shape!.split(",");
for (const shape of shapes) {
  if (shape !== "sync" && shape !== "async") {
    console.error(`--shape takes "sync" and "async", got "${shape}"`);
    process.exit(2);
  }
}

const server = await startLoadServer({ runtime: "bun", flush: "async", idleMs: 0 });
const producer = new Producer({ nameServer: server.namesrv, group: "bench" });
const body = new Uint8Array(size).fill(0x61);

const sendSync = (topic: string, n: number) => sendAwaited(producer, topic, body, concurrency, n);
const sendAsync = (topic: string, n: number) => sendInFlight(producer, topic, body, inflight, n);

/** Cells allocated a send by type, between full collections around `n` sends. */
async function allocation(run: (topic: string, n: number) => Promise<void>, topic: string, n: number): Promise<string> {
  Bun.gc(true);
  const before = heapStats();
  await run(topic, n);
  const after = heapStats();
  const counts: string[] = [];
  let cells = 0;
  for (const [type, total] of Object.entries(after.objectTypeCounts)) {
    const each = (total - (before.objectTypeCounts[type] ?? 0)) / n;
    cells += each;
    if (each >= 0.5) counts.push(`${type} ${each.toFixed(1)}`);
  }
  const bytes = (after.heapSize - before.heapSize) / n;
  return `${cells.toFixed(1)} cells, ~${Math.round(bytes)} B a send (${counts.join(", ")})`;
}

try {
  await producer.start();
  console.log(`producer alone against a standalone in another process, ${size}-byte bodies, load average ${loadAverage()}`);
  for (const shape of shapes) {
    const run = shape === "sync" ? sendSync : sendAsync;
    const topic = `BenchClient_${shape}`;
    await producer.send({ topic, body });
    if (warmup > 0) await run(topic, warmup);
    Bun.gc(true);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await run(topic, count);
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const perSend = (cpu.user + cpu.system) / count;
    console.log(
      `${shape.padEnd(6)} ${String(count).padStart(8)} sends ${String(Math.round(count / (wallMs / 1000))).padStart(7)} msg/s  ` +
        `client ${perSend.toFixed(2)} µs CPU a send (user ${(cpu.user / count).toFixed(2)}, system ${(cpu.system / count).toFixed(2)})`,
    );
    console.log(`       allocation: ${await allocation(run, topic, sample)}`);
  }
} finally {
  await producer.shutdown();
  await server.stop();
}
