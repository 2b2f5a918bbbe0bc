/**
 * rocketmq-ts next to NATS JetStream on this machine: the same workloads against each, printed
 * side by side with the ratio (rocketmq-ts / JetStream).
 *
 * - sync: `--concurrency` publishers (10), each awaiting its acknowledgement;
 * - async: `--inflight` publishes (1000) awaiting acknowledgements at once;
 * - push: read a backlog of `--count` messages with a push consumer (rocketmq-ts `PushConsumer`,
 *   one member; JetStream `consumer.consume()` with explicit acks);
 * - pull: read a backlog with pull loops of `--batch` messages (rocketmq-ts `PullConsumer`, one loop
 *   a queue, no acks; JetStream `consumer.fetch()` of a consumer with `AckPolicy.None`).
 *
 * JetStream is Debian's `nats-server` (installed with apt-get when missing) with file storage in a
 * temporary directory on a free loopback port; rocketmq-ts is a standalone server in a child
 * process, async flush. Both clients run in this process, on this runtime.
 *
 *   bun bench/compare_nats.ts --count 20000
 *   deno run -A bench/compare_nats.ts --count 20000 --json
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { AckPolicy, connect, type JetStreamClient, type JetStreamManager, type NatsConnection, StorageType } from "nats";
import { type LoadOptions, type LoadReport, runConsume, runLoad } from "../cli/_load.ts";
import { freeLoopbackPort, type LoadServer, startLoadServer } from "../cli/_load_server.ts";
import { errorKind, LatencyRecorder, type LatencySummary, meterProcess, meterSelf, processCpuSeconds, processMemory, type ResourceUse } from "../cli/_load_stats.ts";

const WORKLOADS = ["sync", "async", "push", "pull"] as const;
type Workload = typeof WORKLOADS[number];

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    count: { type: "string", default: "20000" },
    size: { type: "string", default: "1024" },
    concurrency: { type: "string", default: "10" },
    inflight: { type: "string", default: "1000" },
    batch: { type: "string", default: "32" },
    queues: { type: "string", default: "4" },
    workloads: { type: "string", default: WORKLOADS.join(",") },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log("Usage: bun bench/compare_nats.ts [--count n] [--size bytes] [--concurrency n] [--inflight n] [--batch n] [--queues n] [--workloads sync,async,push,pull] [--json]");
  process.exit(0);
}
const int = (name: string, text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`Invalid value "${text}" of --${name}: expected a whole number of at least 1`);
    process.exit(2);
  }
  return n;
};
const count = int("count", values.count);
const size = int("size", values.size);
const concurrency = int("concurrency", values.concurrency);
const inflight = int("inflight", values.inflight);
const batch = int("batch", values.batch);
const queues = int("queues", values.queues);
const workloads = values.workloads.split(",").map((w) => w.trim()) as Workload[];
for (const w of workloads) {
  if (!WORKLOADS.includes(w)) {
    console.error(`Invalid value "${w}" of --workloads: expected sync, async, push or pull`);
    process.exit(2);
  }
}
const runtime = "Deno" in globalThis ? "deno" : "bun";

/** One side's figures for one workload. */
interface Figures {
  msgsPerSec: number;
  latencyMs: LatencySummary | null;
  ok: number;
  failed: number;
  /** Stored (produce) or consumed (push, pull). */
  checked: number;
  errors: Record<string, number>;
  client: ResourceUse;
  broker: ResourceUse | null;
}

// ---- nats-server: install when missing, start, stop by PID ----

function haveNatsServer(): boolean {
  return spawnSync("nats-server", ["--version"], { stdio: "ignore" }).status === 0;
}

function installNatsServer(): void {
  const policy = spawnSync("apt-cache", ["policy", "nats-server"], { encoding: "utf8" });
  const candidate = /Candidate:\s*(\S+)/.exec(policy.stdout ?? "")?.[1];
  if (policy.status !== 0 || candidate === undefined || candidate === "(none)") {
    throw new Error("nats-server is not installed and apt has no candidate for it (run apt-get update, or install it yourself)");
  }
  console.error(`Installing nats-server ${candidate} with apt-get…`);
  const install = spawnSync("apt-get", ["install", "-y", "nats-server"], { stdio: ["ignore", "ignore", "inherit"] });
  if (install.status !== 0 || !haveNatsServer()) throw new Error("apt-get install -y nats-server failed");
}

interface NatsServer {
  url: string;
  pid: number;
  version: string;
  readyMs: number;
  idleRssBytes: number | null;
  stop(): Promise<void>;
}

async function startNatsServer(): Promise<NatsServer> {
  if (!haveNatsServer()) installNatsServer();
  const version = spawnSync("nats-server", ["--version"], { encoding: "utf8" }).stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), "nats-bench-"));
  const port = await freeLoopbackPort();
  const started = performance.now();
  const child = spawn("nats-server", ["-js", "-sd", dir, "-p", String(port), "-a", "127.0.0.1"], { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, "SIGTERM");
      const timer = setTimeout(() => child.exitCode === null && process.kill(child.pid!, "SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    let output = "";
    const readyMs = await new Promise<number>((resolve, reject) => {
      const onData = (chunk: Uint8Array) => {
        output += new TextDecoder().decode(chunk);
        if (output.includes("Server is ready")) resolve(performance.now() - started);
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`nats-server exited with ${code}: ${output.trim()}`)));
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    return { url: `127.0.0.1:${port}`, pid: child.pid!, version, readyMs, idleRssBytes: processMemory(child.pid!).rssBytes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

// ---- JetStream workloads ----

let streamSeq = 0;
async function freshStream(jsm: JetStreamManager): Promise<{ stream: string; subject: string }> {
  const stream = `BENCH_${Date.now()}_${streamSeq++}`;
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], storage: StorageType.File });
  return { stream, subject: `${stream}.msgs` };
}

async function publish(js: JetStreamClient, subject: string, body: Uint8Array, n: number, workers: number, latency: LatencyRecorder, errors: Record<string, number>): Promise<{ ok: number; failed: number }> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  await Promise.all(Array.from({ length: Math.min(workers, n) }, async () => {
    while (next < n) {
      next++;
      const t0 = performance.now();
      try {
        await js.publish(subject, body);
        ok++;
        latency.add(performance.now() - t0);
      } catch (error) {
        failed++;
        errors[errorKind(error)] = (errors[errorKind(error)] ?? 0) + 1;
      }
    }
  }));
  return { ok, failed };
}

async function natsWorkload(nc: NatsConnection, jsm: JetStreamManager, brokerPid: number, workload: Workload): Promise<Figures> {
  const js = nc.jetstream();
  const { stream, subject } = await freshStream(jsm);
  const body = new Uint8Array(size).fill(0x61);
  const errors: Record<string, number> = {};
  let latency = new LatencyRecorder();
  await js.publish(subject, body); // warm-up, as the rocketmq-ts side does
  const produce = workload === "sync" || workload === "async";
  let client = meterSelf();
  let broker = meterProcess(brokerPid);
  let started = performance.now();
  const sent = await publish(js, subject, body, count, workload === "sync" ? concurrency : inflight, latency, errors);
  if (produce) {
    const seconds = (performance.now() - started) / 1000;
    const usage = { client: client.stop(), broker: broker.stop() };
    const stored = (await jsm.streams.info(stream)).state.messages - 1;
    return { msgsPerSec: sent.ok / seconds, latencyMs: latency.summary(), ...sent, checked: stored, errors, ...usage };
  }
  // Consume the backlog (the warm-up message included, then not counted).
  const durable = `c_${workload}`;
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: workload === "push" ? AckPolicy.Explicit : AckPolicy.None,
    filter_subject: subject,
  });
  const consumer = await js.consumers.get(stream, durable);
  const total = sent.ok + 1;
  let consumed = 0;
  latency = new LatencyRecorder();
  client = meterSelf();
  broker = meterProcess(brokerPid);
  started = performance.now();
  if (workload === "push") {
    const messages = await consumer.consume({ max_messages: 1000 });
    // Stop the subscription at the last message and let the iterator drain: breaking out of it
    // leaves the pull requests of `consume()` pending.
    for await (const m of messages) {
      m.ack();
      if (++consumed >= total) messages.stop();
    }
  } else {
    while (consumed < total) {
      const t0 = performance.now();
      const messages = await consumer.fetch({ max_messages: Math.min(batch, total - consumed), expires: 5000 });
      let got = 0;
      for await (const _ of messages) got++;
      latency.add(performance.now() - t0);
      if (got === 0) break;
      consumed += got;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const usage = { client: client.stop(), broker: broker.stop() };
  return { msgsPerSec: (consumed - 1) / seconds, latencyMs: latency.summary(), ...sent, checked: consumed - 1, errors, ...usage };
}

// ---- rocketmq-ts workloads, through the load tool's engine ----

function fromReport(r: LoadReport): Figures {
  return {
    msgsPerSec: r.msgsPerSec,
    latencyMs: r.latencyMs,
    ok: r.ok,
    failed: r.failed,
    checked: r.consumed ?? r.stored ?? 0,
    errors: r.errors,
    client: r.client,
    broker: r.broker,
  };
}

async function rmqWorkload(server: LoadServer, workload: Workload): Promise<Figures> {
  const options: LoadOptions = {
    nameServers: [server.namesrv],
    topic: `cmp_${Date.now()}`,
    count,
    size,
    concurrency,
    inflight,
    batch,
    queues,
    rate: 1,
    brokerPid: server.startup.pid,
  };
  if (workload === "sync" || workload === "async") return fromReport(await runLoad(workload, options));
  return fromReport(await runConsume(workload, options));
}

// ---- run both, print side by side ----

const results: { workload: Workload; rmq: Figures; nats: Figures }[] = [];
let rmqServer: LoadServer | undefined;
let natsServer: NatsServer | undefined;
let nc: NatsConnection | undefined;
const cleanup = async () => {
  await nc?.close().catch(() => {});
  await natsServer?.stop();
  await rmqServer?.stop();
};
const onSignal = () => void cleanup().finally(() => process.exit(130));
process.once("SIGINT", onSignal);
process.once("SIGTERM", onSignal);
let rmqCpu: number | null = null;
let rmqPeak: number | null = null;
let natsCpu: number | null = null;
let natsPeak: number | null = null;
try {
  natsServer = await startNatsServer();
  rmqServer = await startLoadServer({ runtime, flush: "async" });
  nc = await connect({ servers: natsServer.url });
  const jsm = await nc.jetstreamManager();
  for (const workload of workloads) {
    process.stderr.isTTY && process.stderr.write(`\r\x1b[K${workload}: rocketmq-ts…`);
    const rmq = await rmqWorkload(rmqServer, workload);
    process.stderr.isTTY && process.stderr.write(`\r\x1b[K${workload}: NATS JetStream…`);
    const nats = await natsWorkload(nc, jsm, natsServer.pid, workload);
    results.push({ workload, rmq, nats });
  }
  process.stderr.isTTY && process.stderr.write("\r\x1b[K");
  rmqCpu = processCpuSeconds(rmqServer.startup.pid);
  rmqPeak = processMemory(rmqServer.startup.pid).peakRssBytes;
  natsCpu = processCpuSeconds(natsServer.pid);
  natsPeak = processMemory(natsServer.pid).peakRssBytes;
} finally {
  await cleanup();
}

const servers = {
  rocketmq: { runtime, readyMs: rmqServer!.startup.readyMs, idleRssBytes: rmqServer!.startup.idleRssBytes, peakRssBytes: rmqPeak, cpuSeconds: rmqCpu },
  nats: { version: natsServer!.version, readyMs: natsServer!.readyMs, idleRssBytes: natsServer!.idleRssBytes, peakRssBytes: natsPeak, cpuSeconds: natsCpu },
};
if (values.json) {
  console.log(JSON.stringify({ settings: { count, size, concurrency, inflight, batch, queues, runtime }, servers, results }, null, 2));
} else {
  const shape: Record<Workload, string> = {
    sync: `${concurrency} publishers`,
    async: `${inflight} in flight`,
    push: "push consumer",
    pull: `pull, ${batch}/pull`,
  };
  const num = (n: number) => Math.round(n).toString();
  const p = (l: LatencySummary | null, key: "p50" | "p99") => (l === null ? "-" : l[key].toFixed(2));
  const cpuPerMsg = (f: Figures) => (f.broker?.cpuSeconds == null || f.checked === 0 ? "-" : ((f.broker.cpuSeconds / f.checked) * 1e6).toFixed(1));
  const mib = (b: number | null) => (b === null ? "-" : `${(b / 1024 / 1024).toFixed(1)} MiB`);
  console.log(`${count} messages of ${size} bytes, ${runtime} clients; rocketmq-ts (${runtime} server, async flush, ${queues} queues) vs NATS JetStream ${servers.nats.version} (file storage)`);
  const head = ["workload", "shape", "rmq msg/s", "p50 ms", "p99 ms", "µs cpu/msg", "nats msg/s", "p50 ms", "p99 ms", "µs cpu/msg", "ratio"];
  console.log(head.map((h, i) => (i < 2 ? h.padEnd(i ? 16 : 9) : h.padStart(11))).join(" "));
  for (const { workload, rmq, nats } of results) {
    console.log([
      workload.padEnd(9),
      shape[workload].padEnd(16),
      num(rmq.msgsPerSec).padStart(11),
      p(rmq.latencyMs, "p50").padStart(11),
      p(rmq.latencyMs, "p99").padStart(11),
      cpuPerMsg(rmq).padStart(11),
      num(nats.msgsPerSec).padStart(11),
      p(nats.latencyMs, "p50").padStart(11),
      p(nats.latencyMs, "p99").padStart(11),
      cpuPerMsg(nats).padStart(11),
      `${(rmq.msgsPerSec / nats.msgsPerSec).toFixed(2)}x`.padStart(11),
    ].join(" "));
  }
  for (const { workload, rmq, nats } of results) {
    const issues = [
      ...(rmq.failed || nats.failed ? [`failed sends: rmq ${rmq.failed}, nats ${nats.failed}`] : []),
      ...(rmq.checked !== rmq.ok ? [`rmq ${workload === "push" || workload === "pull" ? "consumed" : "stored"} ${rmq.checked} of ${rmq.ok}`] : []),
      ...(nats.checked !== nats.ok ? [`nats ${workload === "push" || workload === "pull" ? "consumed" : "stored"} ${nats.checked} of ${nats.ok}`] : []),
    ];
    if (issues.length) console.log(`${workload}: ${issues.join("; ")} ${JSON.stringify({ rmq: rmq.errors, nats: nats.errors })}`);
  }
  console.log(
    `servers: rocketmq-ts ready in ${servers.rocketmq.readyMs.toFixed(0)} ms, idle RSS ${mib(servers.rocketmq.idleRssBytes)}, peak ${mib(rmqPeak)}, CPU ${rmqCpu ?? "-"} s; ` +
      `nats-server ready in ${servers.nats.readyMs.toFixed(0)} ms, idle RSS ${mib(servers.nats.idleRssBytes)}, peak ${mib(natsPeak)}, CPU ${natsCpu ?? "-"} s`,
  );
}
const clean = results.every(({ rmq, nats }) => rmq.failed === 0 && nats.failed === 0 && rmq.checked === rmq.ok && nats.checked === nats.ok);
process.exit(clean ? 0 : 1);
