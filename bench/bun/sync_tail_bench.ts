/**
 * When the slow sync sends happen (issue #19's p99): a standalone broker and a producer, each in
 * a child process, `--concurrency` callers awaiting `producer.send`. The client child records each
 * send's start and latency; the sends slower than `--slow-ms` are merged into stalls (overlapping
 * spans), and each stall is matched with what overlapped it:
 *
 * - `--sched`: every context switch of the two main threads (`perf record -e sched:sched_switch`),
 *   placed on the client's clock by a mark (three 4 ms sleeps of its main thread just before the
 *   run). A main thread switched out while runnable is "preempted" (counted from 0.2 ms), with the
 *   thread that ran instead. These spans are exact.
 * - JSC's GC log (`BUN_JSC_logGC=1`, off with `--no-gc-log`): each collection's pause (`p=…ms`),
 *   stamped when its line reaches this process. JSC's log reaches the pipe in bursts, so these
 *   stamps can be late: the pauses' count and length are exact, their match with stalls is not.
 * - The broker's timer callbacks that ran longer than 0.1 ms (`_trace_timers.ts`, preloaded).
 *
 * It also prints each thread's CPU and run-queue wait over the run (`/proc/<pid>/task/<tid>/schedstat`).
 *
 *   bun bench/bun/sync_tail_bench.ts --count 300000 --sched
 *   bun bench/bun/sync_tail_bench.ts --count 300000 --no-gc-log   # the same run without the log's cost
 *   bun bench/bun/sync_tail_bench.ts --count 300000 --sched --peer redis   # Redis Streams the same way
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Buffer } from "node:buffer";
import process from "node:process";
import { parseArgs } from "node:util";
import { freeLoopbackPort } from "../../cli/_load_server.ts";
import { Redis } from "ioredis";
import { Producer } from "../../mod.ts";
import { loadAverage, startPeerServer, wholeNumber } from "../_compare.ts";

const ROOT = join(import.meta.dir, "..", "..");
const { values } = parseArgs({
  options: {
    role: { type: "string", default: "parent" },
    count: { type: "string", default: "300000" },
    concurrency: { type: "string", default: "10" },
    size: { type: "string", default: "1024" },
    warmup: { type: "string", default: "20000" },
    "slow-ms": { type: "string", default: "0.5" },
    "no-gc-log": { type: "boolean", default: false },
    /** A directory to copy both children's stamped stderr into (`client.log`, `broker.log`). */
    "raw-dir": { type: "string" },
    /** Trace both processes' context switches with `perf record -e sched:sched_switch` (needs perf and the right to trace). */
    sched: { type: "boolean", default: false },
    /** The server: "rocketmq" (a standalone) or "redis" (redis-server as bench/compare_redis.ts runs it, `XADD` sends). */
    peer: { type: "string", default: "rocketmq" },
    "redis-port": { type: "string" },
    namesrv: { type: "string" },
    out: { type: "string" },
    "broker-pid": { type: "string" },
  },
});
const count = wholeNumber("count", values.count!);
const concurrency = wholeNumber("concurrency", values.concurrency!);
const size = wholeNumber("size", values.size!);
const warmup = wholeNumber("warmup", values.warmup!, 0);
const slowMs = Number(values["slow-ms"]);

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

/** CPU and run-queue wait (ns) of a process's threads, by thread name, from `/proc/<pid>/task/<tid>/{comm,schedstat}`. */
function schedstat(pid: number | "self"): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ").map(Number);
      const row = out.get(name) ?? [0, 0];
      out.set(name, [row[0] + run!, row[1] + wait!]);
    } catch {
      // The thread ended.
    }
  }
  return out;
}
function schedDelta(before: Map<string, [number, number]>, after: Map<string, [number, number]>): string {
  const rows = [...after].map(([name, [run, wait]]) => [name, run - (before.get(name)?.[0] ?? 0), wait - (before.get(name)?.[1] ?? 0)] as const).filter((r) => r[1] > 1e6 || r[2] > 1e6);
  rows.sort((a, b) => b[1] - a[1]);
  return rows.map(([name, run, wait]) => `${name} cpu ${(run / 1e6).toFixed(0)} ms wait ${(wait / 1e6).toFixed(0)} ms`).join("; ");
}

if (values.role === "client") {
  const brokerPid = Number(values["broker-pid"]);
  const body = new Uint8Array(size).fill(0x61);
  const topic = "tail";
  let send: () => Promise<unknown>;
  let stop: () => Promise<void>;
  if (values["redis-port"] !== undefined) {
    const redis = new Redis({ host: "127.0.0.1", port: Number(values["redis-port"]) });
    const field = Buffer.from(body);
    send = () => redis.xadd(topic, "*", "body", field);
    stop = () => Promise.resolve(redis.disconnect());
  } else {
    const producer = new Producer({ nameServer: values.namesrv!, group: "tail" });
    await producer.start();
    send = () => producer.send({ topic, body });
    stop = () => producer.shutdown();
  }
  await send();
  const run = (n: number, starts: Float64Array | undefined, lats: Float64Array | undefined) =>
    new Promise<void>((resolve, reject) => {
      let started = 0;
      let done = 0;
      const one = (): void => {
        const i = started++;
        const t0 = performance.now();
        send().then(() => {
          const t1 = performance.now();
          if (starts) {
            starts[i] = performance.timeOrigin + t0;
            lats![i] = t1 - t0;
          }
          if (++done === n) resolve();
          else if (started < n) one();
        }, reject);
      };
      for (let k = 0; k < Math.min(concurrency, n); k++) one();
    });
  await run(warmup, undefined, undefined);
  const starts = new Float64Array(count);
  const lats = new Float64Array(count);
  // With a scheduler trace, the parent says when perf is recording (a line on stdin).
  if (values.sched) await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
  // A mark the scheduler trace can find: three 4 ms sleeps of this thread, the first begun at `mark`.
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const mark = performance.timeOrigin + performance.now();
  for (let k = 0; k < 3; k++) Atomics.wait(cell, 0, 0, 4);
  const sched0 = [schedstat("self"), schedstat(brokerPid)];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run(count, starts, lats);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const sched1 = [schedstat("self"), schedstat(brokerPid)];
  console.log(`client threads: ${schedDelta(sched0[0]!, sched1[0]!)}`);
  console.log(`broker threads: ${schedDelta(sched0[1]!, sched1[1]!)}`);
  await stop();
  const out = new Float64Array(count * 2 + 4);
  out[0] = seconds;
  out[3] = mark;
  out[1] = (cpu.user + cpu.system) / count;
  out[2] = count;
  out.set(starts, 4);
  out.set(lats, 4 + count);
  writeFileSync(values.out!, new Uint8Array(out.buffer));
  process.exit(0);
}

// ---- parent: start both children, stamp their stderr, analyse ----

interface Pause {
  who: "client" | "broker";
  kind: string;
  start: number;
  end: number;
}
const rawDir = values["raw-dir"];
const pauses: Pause[] = [];
const timers: Pause[] = [];
/** Main-thread preemptions of 0.2 ms or more, from the scheduler trace. */
const preemptions: Pause[] = [];
/** Stamps each stderr line of a child; GC ends and timer traces become pauses. */
function stamp(child: ReturnType<typeof spawn>, who: "client" | "broker", sink: string[]): void {
  let rest = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    const at = now();
    const text = rest + chunk.toString("latin1");
    const lines = text.split("\n");
    if (rawDir !== undefined) appendFileSync(join(rawDir, `${who}.log`), lines.map((l) => `${at.toFixed(3)} ${l}`).join("\n") + "\n");
    rest = lines.pop()!;
    for (const line of lines) {
      const gc = /START \S+ \S+ => (\w+),.* p=([\d.]+)ms/.exec(line);
      if (gc) {
        const p = Number(gc[2]);
        pauses.push({ who, kind: gc[1]!, start: at - p, end: at });
        continue;
      }
      const tick = /^\[timer ([\d.]+) ([\d.]+) (.*)\]$/.exec(line);
      if (tick) {
        const start = Number(tick[1]);
        timers.push({ who, kind: tick[3]!, start, end: start + Number(tick[2]) });
        continue;
      }
      if (!/^\[GC|^Requesting GC|^GC END|^\s*$/.test(line)) sink.push(line);
    }
  });
}

const dir = mkdtempSync(join(tmpdir(), "rmq-tail-"));
const [nsPort, brokerPort] = [await freeLoopbackPort(), await freeLoopbackPort()];
const gcEnv = values["no-gc-log"] ? {} : { BUN_JSC_logGC: "1" };
const brokerOut: string[] = [];
const redis = values.peer === "redis";
if (!redis && values.peer !== "rocketmq") {
  console.error(`--peer takes "rocketmq" or "redis", got "${values.peer}"`);
  process.exit(2);
}
/** The server under test: its PID (traced as "broker") and how to stop it. */
let broker: { pid: number; stop(): Promise<void> };
if (redis) {
  const server = await startPeerServer({
    binary: "redis-server",
    aptPackage: "redis-server",
    args: (d, port) => ["--port", String(port), "--bind", "127.0.0.1", "--dir", d, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "", "--daemonize", "no"],
    readyText: "Ready to accept connections",
  });
  broker = server;
  values["redis-port"] = String(server.port);
} else {
  const child = spawn(process.execPath, [
    "--preload", join(import.meta.dir, "_trace_timers.ts"),
    join(ROOT, "cli", "bun.ts"), "standalone", "--host", "127.0.0.1", "--namesrv-port", String(nsPort), "--port", String(brokerPort),
    "--data-dir", dir, "--flush", "async", "--no-admin", "--no-grpc",
  ], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...gcEnv } });
  stamp(child, "broker", brokerOut);
  await new Promise<void>((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (c: Buffer) => {
      text += c.toString();
      if (text.includes("Standalone ready")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`Broker exited with ${code}: ${text}${brokerOut.join("\n")}`)));
  });
  const exited = new Promise((resolve) => child.once("exit", resolve));
  broker = {
    pid: child.pid!,
    async stop() {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
const outFile = join(dir, "client.bin");
const clientOut: string[] = [];
const client = spawn(process.execPath, [import.meta.path, "--role", "client", "--namesrv", `127.0.0.1:${nsPort}`, "--out", outFile, "--broker-pid", String(broker.pid), ...(redis ? ["--redis-port", values["redis-port"]!] : []), "--count", String(count), "--concurrency", String(concurrency), "--size", String(size), "--warmup", String(warmup), ...(values.sched ? ["--sched"] : [])], {
  cwd: ROOT,
  stdio: ["pipe", "inherit", "pipe"],
  env: { ...process.env, ...gcEnv },
});
stamp(client, "client", clientOut);
const perfFile = join(dir, "sched.data");
const perf = values.sched
  ? spawn("perf", ["record", "-q", "-k", "1", "-e", "sched:sched_switch", "-p", `${broker.pid},${client.pid}`, "-o", perfFile], { stdio: ["ignore", "ignore", "inherit"] })
  : undefined;
const perfEnded = perf && new Promise<boolean>((resolve) => {
  perf.once("exit", () => resolve(true));
  perf.once("error", (error) => {
    console.error(`Cannot trace the scheduler (perf): ${error.message}`);
    resolve(false);
  });
});
// perf says nothing when it is recording: give it 1.5 s, then let the client go on.
if (perf) setTimeout(() => client.stdin!.write("go\n"), 1500);
const code = await new Promise<number | null>((resolve) => client.once("exit", resolve));
let switches: string[] = [];
if (perf) {
  perf.kill("SIGINT");
  if (await perfEnded) switches = spawnSync("perf", ["script", "-i", perfFile, "-F", "tid,time,trace"], { encoding: "utf8", maxBuffer: 1 << 30 }).stdout.split("\n");
}
await broker.stop();
if (code !== 0) {
  console.error(`Client exited with ${code}:\n${clientOut.join("\n")}`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
}
const data = new Float64Array(readFileSync(outFile).buffer.slice(0));
rmSync(dir, { recursive: true, force: true });
const [seconds, cpuUsPerSend] = [data[0]!, data[1]!];
const mark = data[3]!;
const starts = data.subarray(4, 4 + count);
const lats = data.subarray(4 + count, 4 + 2 * count);
const runStart = starts[0]!;
const runEnd = starts[count - 1]! + lats[count - 1]!;

const sorted = Float64Array.from(lats).sort();
const pct = (p: number) => sorted[Math.min(count - 1, Math.ceil((count * p) / 100) - 1)]!;
console.log(`${redis ? "Redis Streams (XADD, ioredis)" : "rocketmq-ts"}: ${count} sync sends, ${concurrency} callers, ${size} B, GC log ${values["no-gc-log"] ? "off" : "on"}, load ${loadAverage()}`);
console.log(`${(count / seconds).toFixed(0)} msg/s; client CPU ${cpuUsPerSend.toFixed(2)} us/send; p50 ${pct(50).toFixed(3)} p90 ${pct(90).toFixed(3)} p99 ${pct(99).toFixed(3)} p99.9 ${pct(99.9).toFixed(3)} max ${sorted[count - 1]!.toFixed(3)} ms`);

// Stalls: the slow sends' spans, merged where they overlap.
const slow: number[] = [];
for (let i = 0; i < count; i++) if (lats[i]! > slowMs) slow.push(i);
slow.sort((a, b) => starts[a]! - starts[b]!);
interface Stall {
  start: number;
  end: number;
  sends: number;
  worst: number;
}
const stalls: Stall[] = [];
for (const i of slow) {
  const s = starts[i]!;
  const e = s + lats[i]!;
  const last = stalls.at(-1);
  if (last && s <= last.end) {
    last.end = Math.max(last.end, e);
    last.sends++;
    last.worst = Math.max(last.worst, lats[i]!);
  } else {
    stalls.push({ start: s, end: e, sends: 1, worst: lats[i]! });
  }
}
// Off-CPU spans of each main thread from the scheduler trace: "preempted" (switched out runnable)
// and "slept" (waiting for I/O or a timer), on the trace's clock, then moved onto the client's by
// its mark: the first of three ~4 ms sleeps of the client's main thread.
if (switches.length > 0) {
  const out = new Map<number, { at: number; state: string; by: string }>();
  const spans: { who: "client" | "broker"; state: string; start: number; end: number; by: string }[] = [];
  for (const line of switches) {
    const m = /^\s*(\d+)\s+([\d.]+): prev_comm=.* prev_pid=(\d+) .*prev_state=(\S+) ==> next_comm=(.*) next_pid=(\d+)/.exec(line);
    if (!m) continue;
    const at = Number(m[2]) * 1000;
    const prev = Number(m[3]);
    const next = Number(m[6]);
    const by = next === client.pid ? "client main" : next === broker.pid ? "broker main" : m[5]!;
    if (prev === client.pid || prev === broker.pid) out.set(prev, { at, state: m[4]!, by });
    const was = out.get(next);
    if (was !== undefined) {
      out.delete(next);
      spans.push({ who: next === client.pid ? "client" : "broker", state: was.state.startsWith("R") ? "preempted" : "slept", start: was.at, end: at, by: was.by });
    }
  }
  // The mark: the first sleep of the client's main thread that begins 16 ms in which it slept 10 ms
  // or more (a 4 ms wait may end early and wait again, or late on a busy machine).
  const sleeps = spans.filter((s) => s.who === "client" && s.state === "slept");
  const first = sleeps.find((s, k) => {
    let slept = 0;
    for (let j = k; j < sleeps.length && sleeps[j]!.start < s.start + 16; j++) slept += Math.min(sleeps[j]!.end, s.start + 16) - sleeps[j]!.start;
    return slept >= 10;
  });
  if (first === undefined) {
    const counts = (who: string) => spans.filter((s) => s.who === who).length;
    console.log(`scheduler trace: the client's mark was not found (${switches.length} lines; off-CPU spans: client ${counts("client")}, server ${counts("broker")})`);
  } else {
    const shift = mark - first.start;
    // Preemptions of 0.2 ms or more only: shorter ones cannot make a send slow by themselves.
    for (const s of spans) if (s.state === "preempted" && s.end - s.start >= 0.2) preemptions.push({ who: s.who, kind: "preempted", start: s.start + shift, end: s.end + shift });
    const run = spans.filter((s) => s.start + shift >= runStart && s.end + shift <= runEnd);
    for (const who of ["client", "broker"] as const) {
      const mine = run.filter((s) => s.who === who && s.state === "preempted");
      const long = mine.filter((s) => s.end - s.start > 0.5);
      const by = new Map<string, number>();
      for (const s of mine) by.set(s.by, (by.get(s.by) ?? 0) + s.end - s.start);
      const top = [...by].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([k, ms]) => `${k} ${ms.toFixed(0)} ms`).join(", ");
      console.log(`${who} main thread preempted ${mine.length} times, ${mine.reduce((a, s) => a + s.end - s.start, 0).toFixed(1)} ms in all, ${long.length} of them over 0.5 ms; first to run instead: ${top}`);
    }
  }
}
const inRun = (p: Pause) => p.end >= runStart && p.start <= runEnd;
const runPauses = pauses.filter(inRun);
const runTimers = timers.filter(inRun);
// A stamped GC end arrives through a pipe a little late: allow 0.3 ms of slack.
// (Scheduler spans are on the trace's exact clock: no slack for them.)
const SLACK = 0.3;
const overlaps = (st: Stall, p: Pause) => {
  const slack = p.kind === "preempted" ? 0 : SLACK;
  return p.start <= st.end + slack && p.end + slack >= st.start;
};
const cause = (st: Stall): string => {
  const hit = [...runPauses, ...runTimers, ...preemptions].filter((p) => overlaps(st, p));
  if (hit.length === 0) return "none";
  return [...new Set(hit.map((p) => `${p.who} ${p.kind}`))].sort().join(" + ");
};
const byCause = new Map<string, { stalls: number; sends: number; ms: number }>();
for (const st of stalls) {
  const c = cause(st);
  const row = byCause.get(c) ?? { stalls: 0, sends: 0, ms: 0 };
  row.stalls++;
  row.sends += st.sends;
  row.ms += st.end - st.start;
  byCause.set(c, row);
}
console.log(`sends > ${slowMs} ms: ${slow.length} (${((slow.length / count) * 100).toFixed(2)} %) in ${stalls.length} stalls over ${((runEnd - runStart) / 1000).toFixed(2)} s`);
for (const [c, row] of [...byCause].sort((a, b) => b[1].sends - a[1].sends)) {
  console.log(`  ${c.padEnd(40)} stalls ${String(row.stalls).padStart(5)}  slow sends ${String(row.sends).padStart(6)}  stall time ${row.ms.toFixed(1)} ms`);
}
for (const who of ["client", "broker"] as const) {
  const mine = runPauses.filter((p) => p.who === who);
  const kinds = new Map<string, number[]>();
  for (const p of mine) kinds.set(p.kind, [...(kinds.get(p.kind) ?? []), p.end - p.start]);
  for (const [kind, ms] of kinds) {
    ms.sort((a, b) => a - b);
    console.log(`${who} GC ${kind}: ${ms.length} pauses, total ${ms.reduce((a, b) => a + b, 0).toFixed(1)} ms, median ${ms[ms.length >> 1]!.toFixed(3)} max ${ms.at(-1)!.toFixed(3)} ms`);
  }
}
const timerKinds = new Map<string, number[]>();
for (const t of runTimers) timerKinds.set(t.kind, [...(timerKinds.get(t.kind) ?? []), t.end - t.start]);
for (const [kind, ms] of timerKinds) console.log(`broker timer > 0.1 ms ${kind}: ${ms.length}, max ${Math.max(...ms).toFixed(3)} ms`);
// Stall length histogram, and the gaps between stalls (periodic work shows as a peak).
const hist = (values: number[], edges: number[]) => edges.map((e, k) => `${k === edges.length - 1 ? `>${edges[k - 1]}` : `<=${e}`}: ${values.filter((v) => v <= e && (k === 0 || v > edges[k - 1]!)).length}`).join("  ");
console.log(`stall length ms  ${hist(stalls.map((s) => s.end - s.start), [0.75, 1, 1.5, 2, 3, 5, Infinity])}`);
const gaps = stalls.slice(1).map((s, k) => s.start - stalls[k]!.start);
console.log(`gap between stalls ms  ${hist(gaps, [2, 5, 10, 20, 50, 100, 250, 500, 1000, Infinity])}`);
if (brokerOut.length > 0) console.log(`broker stderr: ${brokerOut.slice(0, 5).join(" | ")}`);
if (clientOut.length > 0) console.log(`client stderr: ${clientOut.slice(0, 5).join(" | ")}`);
