/**
 * rocketmq-ts next to Redis Streams on this machine (issue #19's "How to measure"): the same
 * shapes against each, every shape on fresh servers, printed side by side with the ratio
 * (rocketmq-ts / Redis) and the targets.
 *
 * - sync: `--concurrency` callers (10), each awaiting its answer: `Producer.send` / `XADD`;
 * - async: `--inflight` sends (1000) outstanding: `Producer.send` / `XADD`;
 * - batch: `--concurrency` callers each awaiting a batch of `--batch` (32): `Producer.sendBatch` /
 *   an ioredis pipeline of `--batch` `XADD`s;
 * - push: read a backlog of `--count` back: a `PushConsumer` with the settings a new user gets
 *   (one member, from the first offset) / `XRANGE` in pages of `--page` (1000);
 * - lite-pull: the same backlog read by a `LitePullConsumer`'s `poll()` loop (default settings) /
 *   `XRANGE` again.
 *
 * Redis is Debian's `redis-server` (installed with apt-get when missing) with AOF, `appendfsync
 * everysec`, no RDB snapshots, its data in a temporary directory, on a free loopback port;
 * rocketmq-ts is a standalone server in a child process, async flush. Both clients (ioredis with
 * its defaults, and this project's) run in this process, on this runtime, through the load tool's
 * send loops. Every side is checked: stored = acknowledged, consumed = sent, no duplicates; the
 * exit code is 1 when a check fails.
 *
 *   bun bench/compare_redis.ts --count 20000
 *   bun bench/compare_redis.ts --count 300000 --json
 */
import { Buffer } from "node:buffer";
import process from "node:process";
import { Redis } from "ioredis";
import { sendBatches, sendPipelined } from "../cli/_load.ts";
import { startLoadServer } from "../cli/_load_server.ts";
import { LatencyRecorder, meterProcess, meterSelf, processCpuSeconds, processMemory } from "../cli/_load_stats.ts";
import { checksPass, compareFlags, type CompareRow, type Figures, onInterrupt, type PeerServer, PeerTally, printRows, rmqWorkload, runtime, startPeerServer, status } from "./_compare.ts";

const WORKLOADS = ["sync", "async", "batch", "push", "lite-pull"] as const;
type Workload = typeof WORKLOADS[number];

/** Issue #19's targets: throughput ratio (rocketmq-ts / Redis) at least, and p99 at most. */
const TARGETS: Record<Workload, { ratio: number; p99Ms?: number }> = {
  sync: { ratio: 1.2, p99Ms: 0.5 },
  async: { ratio: 1.5 },
  batch: { ratio: 4 },
  push: { ratio: 1 },
  "lite-pull": { ratio: 1 },
};

const { settings, workloads, json, extra: { page } } = compareFlags("bench/compare_redis.ts", WORKLOADS, 300_000, { page: 1000 });
const { count, size, concurrency, inflight, batch } = settings;

const startRedis = () =>
  startPeerServer({
    binary: "redis-server",
    aptPackage: "redis-server",
    args: (dir, port) => [
      "--port", String(port), "--bind", "127.0.0.1", "--dir", dir,
      "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no",
    ],
    readyText: "Ready to accept connections",
  });

/** A stream entry id (`<ms>-<seq>`) as its two numbers. */
function idParts(id: Buffer): [number, number] {
  const text = id.toString("latin1");
  const dash = text.indexOf("-");
  return [Number(text.slice(0, dash)), Number(text.slice(dash + 1))];
}

/** Reads the whole stream back with `XRANGE` pages, metered; a duplicate is an id not above the one before it. */
async function readBack(redis: Redis, key: string, pid: number): Promise<Omit<Figures, "ok" | "failed" | "stored" | "errors">> {
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true); // as the rocketmq-ts side does after its fill
  const ids: Buffer[] = [];
  const latency = new LatencyRecorder();
  const client = meterSelf();
  const broker = meterProcess(pid);
  const started = performance.now();
  for (let from = "-";;) {
    const t0 = performance.now();
    const entries = await redis.xrangeBuffer(key, from, "+", "COUNT", page);
    latency.add(performance.now() - t0);
    if (entries.length === 0) break;
    for (const [id] of entries) ids.push(id);
    from = `(${entries[entries.length - 1]![0].toString("latin1")}`;
  }
  const seconds = (performance.now() - started) / 1000;
  const usage = { client: client.stop(), broker: broker.stop() };
  let duplicates = 0;
  for (let i = 1, [lastMs, lastSeq] = idParts(ids[0] ?? Buffer.from("0-0")); i < ids.length; i++) {
    const [ms, seq] = idParts(ids[i]!);
    if (ms < lastMs || (ms === lastMs && seq <= lastSeq)) duplicates++;
    else [lastMs, lastSeq] = [ms, seq];
  }
  return { msgsPerSec: (ids.length - duplicates) / seconds, latencyMs: latency.summary(), consumed: ids.length - duplicates, duplicates, ...usage };
}

async function redisWorkload(server: PeerServer, workload: Workload): Promise<Figures> {
  const redis = new Redis({ host: "127.0.0.1", port: server.port });
  try {
    const key = `bench_${workload}`;
    const body = Buffer.alloc(size, 0x61);
    const xadd = () => redis.xadd(key, "*", "body", body);
    const produce = workload === "sync" || workload === "async" || workload === "batch";
    if (produce) await xadd(); // warm-up, as the rocketmq-ts side sends one first
    const sent = new PeerTally();
    const client = meterSelf();
    const broker = meterProcess(server.pid);
    const started = performance.now();
    if (workload === "batch") {
      await sendBatches(sent, count, batch, concurrency, Infinity, async (n) => {
        const pipeline = redis.pipeline();
        for (let i = 0; i < n; i++) pipeline.xadd(key, "*", "body", body);
        for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
      });
    } else {
      await sendPipelined(sent, count, workload === "sync" ? concurrency : inflight, Infinity, xadd);
    }
    const seconds = (performance.now() - started) / 1000;
    const usage = { client: client.stop(), broker: broker.stop() };
    const counts = { ok: sent.ok, failed: sent.failed, stored: (await redis.xlen(key)) - (produce ? 1 : 0), errors: sent.errors };
    if (produce) return { msgsPerSec: sent.ok / seconds, latencyMs: sent.latency.summary(), ...counts, consumed: null, duplicates: 0, ...usage };
    return { ...counts, ...(await readBack(redis, key, server.pid)) };
  } finally {
    redis.disconnect();
  }
}

// ---- run both, each shape on fresh servers, print side by side ----

const shape: Record<Workload, string> = {
  sync: `${concurrency} awaiting senders`,
  async: `${inflight} in flight`,
  batch: `${concurrency} senders, ${batch}/batch`,
  push: `push vs XRANGE ${page}/page`,
  "lite-pull": `lite pull vs XRANGE ${page}/page`,
};
/** How a server of a shape came up and what it used over its life. */
interface ServerUse {
  readyMs: number;
  idleRssBytes: number | null;
  peakRssBytes: number | null;
  cpuSeconds: number | null;
}
type ServerStartupUse = Omit<ServerUse, "peakRssBytes" | "cpuSeconds"> & { pid: number };
const results: (CompareRow & { servers: { rocketmq: ServerUse; redis: ServerUse } })[] = [];
let stopServer: (() => Promise<void>) | undefined;
onInterrupt(() => stopServer?.() ?? Promise.resolve());
/** Runs `work` against a server just started, and stops it (by PID) after. */
async function onFresh<S extends { stop(): Promise<void> }, T>(start: () => Promise<S>, work: (server: S) => Promise<T>, startup: (server: S) => ServerStartupUse): Promise<[T, ServerUse]> {
  const server = await start();
  stopServer = () => server.stop();
  try {
    const result = await work(server);
    const { pid, ...up } = startup(server);
    return [result, { ...up, peakRssBytes: processMemory(pid).peakRssBytes, cpuSeconds: processCpuSeconds(pid) }];
  } finally {
    await server.stop();
    stopServer = undefined;
  }
}
let redisVersion = "";
for (const workload of workloads) {
  status(`${workload}: rocketmq-ts…`);
  const [rmq, rocketmq] = await onFresh(
    () => startLoadServer({ runtime, flush: "async" }),
    (server) => rmqWorkload(server, workload, settings),
    ({ startup }) => ({ pid: startup.pid, readyMs: startup.readyMs, idleRssBytes: startup.idleRssBytes }),
  );
  status(`${workload}: Redis Streams…`);
  const [peer, redis] = await onFresh(
    startRedis,
    (server) => {
      redisVersion = /v=(\S+)/.exec(server.version)?.[1] ?? server.version;
      return redisWorkload(server, workload);
    },
    (server) => ({ pid: server.pid, readyMs: server.readyMs, idleRssBytes: server.idleRssBytes }),
  );
  results.push({ workload, shape: shape[workload], rmq, peer, servers: { rocketmq, redis } });
}
status("");

const ratio = (row: CompareRow) => row.rmq.msgsPerSec / row.peer.msgsPerSec;
const targets = results.map((row) => {
  const target = TARGETS[row.workload as Workload];
  const p99 = row.rmq.latencyMs?.p99;
  const met = ratio(row) >= target.ratio && (target.p99Ms === undefined || (p99 !== undefined && p99 <= target.p99Ms));
  return { workload: row.workload, ratio: ratio(row), target, met };
});
if (json) {
  console.log(JSON.stringify({ settings: { ...settings, page, runtime, redis: redisVersion }, results: results.map(({ workload, rmq, peer, servers }) => ({ workload, rmq, redis: peer, servers })), targets }, null, 2));
} else {
  const mib = (b: number | null) => (b === null ? "-" : `${(b / 1024 / 1024).toFixed(1)} MiB`);
  console.log(`${count} messages of ${size} bytes, ${runtime} clients; rocketmq-ts (${runtime} server, async flush, ${settings.queues} queues) vs Redis Streams ${redisVersion} (AOF everysec), fresh servers each shape`);
  printRows("Redis", results);
  for (const t of targets) {
    const p99 = t.target.p99Ms === undefined ? "" : ` and p99 ≤ ${t.target.p99Ms} ms`;
    console.log(`target ${t.workload}: ≥ ${t.target.ratio}×${p99}: ${t.met ? "met" : "missed"} (${t.ratio.toFixed(2)}×)`);
  }
  const first = results[0]?.servers;
  const peak = (pick: (s: { rocketmq: ServerUse; redis: ServerUse }) => number | null) => Math.max(...results.map((r) => pick(r.servers) ?? 0));
  if (first) {
    console.log(
      `servers: rocketmq-ts ready in ${first.rocketmq.readyMs.toFixed(0)} ms, idle RSS ${mib(first.rocketmq.idleRssBytes)}, peak ${mib(peak((s) => s.rocketmq.peakRssBytes))}; ` +
        `redis-server ready in ${first.redis.readyMs.toFixed(0)} ms, idle RSS ${mib(first.redis.idleRssBytes)}, peak ${mib(peak((s) => s.redis.peakRssBytes))}`,
    );
  }
}
process.exit(checksPass(results) ? 0 : 1);
