/**
 * What `bench/compare_nats.ts` and `bench/compare_redis.ts` share (the send benches too): flag
 * checks, the load average, the figures of one side of one workload, the rocketmq-ts side through
 * the load tool's engine, a peer server in a child process, the correctness checks and the
 * side-by-side table.
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { type ConsumeMode, LOAD_MODES, type LoadMode, type LoadOptions, type LoadReport, runConsume, runLoad, type SendTally } from "../cli/_load.ts";
import { freeLoopbackPort, type LoadServer } from "../cli/_load_server.ts";
import { errorKind, LatencyRecorder, type LatencySummary, processMemory, type ResourceUse } from "../cli/_load_stats.ts";

/** The runtime of this process, which runs both clients (and, for rocketmq-ts, the server too). */
export const runtime = "Deno" in globalThis ? "deno" : "bun";

/**
 * A flag's whole number of at least `min`; exits with 2 and a message otherwise.
 *
 * @param name The flag, without its dashes.
 * @param text What was given.
 * @param min The least allowed. @default 1
 * @returns The number.
 */
export function wholeNumber(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    console.error(`Invalid value "${text}" of --${name}: expected a whole number of at least ${min}`);
    process.exit(2);
  }
  return n;
}

/**
 * The machine's load average, to print beside figures taken on a shared machine.
 *
 * @returns The 1, 5 and 15 minute averages, or "unknown" without `/proc/loadavg`.
 */
export function loadAverage(): string {
  try {
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return "unknown";
  }
}

/** What a compare bench was asked for. */
export interface CompareFlags<W extends string, E extends string> {
  settings: CompareSettings;
  workloads: W[];
  json: boolean;
  /** The bench's own whole-number flags. */
  extra: Record<E, number>;
}

/**
 * Parses the flags every compare bench takes (`--count --size --concurrency --inflight --batch
 * --queues --workloads --json --help`) and its own whole-number ones; prints the usage and exits
 * with 0 on `--help`, exits with 2 on a bad value.
 *
 * @param script The bench's path, for the usage line.
 * @param known Its workloads, all run by default.
 * @param count The default `--count`.
 * @param extra Its own flags and their defaults.
 * @returns The checked values.
 */
export function compareFlags<W extends string, E extends string = never>(script: string, known: readonly W[], count: number, extra: Record<E, number> = {} as Record<E, number>): CompareFlags<W, E> {
  const own = Object.keys(extra) as E[];
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      count: { type: "string", default: String(count) },
      size: { type: "string", default: "1024" },
      concurrency: { type: "string", default: "10" },
      inflight: { type: "string", default: "1000" },
      batch: { type: "string", default: "32" },
      queues: { type: "string", default: "4" },
      workloads: { type: "string", default: known.join(",") },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
      ...Object.fromEntries(own.map((name) => [name, { type: "string", default: String(extra[name]) }])),
    },
  });
  if (values.help) {
    const flags = ["--count n", "--size bytes", "--concurrency n", "--inflight n", "--batch n", ...own.map((name) => `--${name} n`), "--queues n", `--workloads ${known.join(",")}`, "--json"];
    console.log(`Usage: bun ${script} ${flags.map((f) => `[${f}]`).join(" ")}`);
    process.exit(0);
  }
  const text = (name: string) => (values as Record<string, unknown>)[name] as string;
  const asked = text("workloads").split(",").map((w) => w.trim());
  for (const w of asked) {
    if (!(known as readonly string[]).includes(w)) {
      console.error(`Invalid value "${w}" of --workloads: expected ${known.slice(0, -1).join(", ")} or ${known.at(-1)}`);
      process.exit(2);
    }
  }
  return {
    settings: {
      count: wholeNumber("count", text("count")),
      size: wholeNumber("size", text("size")),
      concurrency: wholeNumber("concurrency", text("concurrency")),
      inflight: wholeNumber("inflight", text("inflight")),
      batch: wholeNumber("batch", text("batch")),
      queues: wholeNumber("queues", text("queues")),
    },
    workloads: asked as W[],
    json: values.json === true,
    extra: Object.fromEntries(own.map((name) => [name, wholeNumber(name, text(name))])) as Record<E, number>,
  };
}

/** One side's figures for one workload. */
export interface Figures {
  /** Produce: acknowledged a second; read-back: consumed a second. */
  msgsPerSec: number;
  latencyMs: LatencySummary | null;
  /** Acknowledged sends (read-back: of the backlog). */
  ok: number;
  failed: number;
  /** What the server holds after the sends, the warm-up excluded. */
  stored: number;
  /** Distinct messages read back (read-back workloads only). */
  consumed: number | null;
  /** Messages read back more than once. */
  duplicates: number;
  errors: Record<string, number>;
  client: ResourceUse;
  broker: ResourceUse | null;
}

/** Counts sends of a peer's client for the load tool's send loops. */
export class PeerTally implements SendTally {
  ok = 0;
  failed = 0;
  latency = new LatencyRecorder();
  readonly errors: Record<string, number> = {};

  fail(error: unknown, n = 1): void {
    this.failed += n;
    const kind = errorKind(error);
    this.errors[kind] = (this.errors[kind] ?? 0) + n;
  }
}

/** What a compare bench sends: the load tool's settings that both sides share. */
export type CompareSettings = Pick<LoadOptions, "count" | "size" | "concurrency" | "inflight" | "batch" | "queues">;

/**
 * Runs one load-tool mode against a rocketmq-ts server (a produce mode, or a consume mode that
 * fills a backlog first), metering the server's process.
 *
 * @param server The server the bench started.
 * @param mode The load tool's mode.
 * @param settings Counts, sizes and concurrency.
 * @returns The figures.
 */
export async function rmqWorkload(server: LoadServer, mode: LoadMode | ConsumeMode, settings: CompareSettings): Promise<Figures> {
  const options: LoadOptions = { ...settings, nameServers: [server.namesrv], topic: `cmp_${Date.now()}`, rate: 1, brokerPid: server.startup.pid };
  const r: LoadReport = (LOAD_MODES as readonly string[]).includes(mode) ? await runLoad(mode as LoadMode, options) : await runConsume(mode as ConsumeMode, options);
  return {
    msgsPerSec: r.msgsPerSec,
    latencyMs: r.latencyMs,
    ok: r.ok,
    failed: r.failed,
    stored: r.stored ?? 0,
    consumed: r.consumed ?? null,
    duplicates: r.duplicates ?? 0,
    errors: r.errors,
    client: r.client,
    broker: r.broker,
  };
}

/** A peer's server (nats-server, redis-server) in a child process of the bench. */
export interface PeerServer {
  port: number;
  pid: number;
  /** What `<binary> --version` printed. */
  version: string;
  /** From spawn to its ready line. */
  readyMs: number;
  idleRssBytes: number | null;
  /** Stops it by its PID and deletes its data directory. */
  stop(): Promise<void>;
}

/** How to start a peer's server. */
export interface PeerServerSpec {
  binary: string;
  /** The Debian package to install with apt-get when the binary is missing. */
  aptPackage: string;
  /** Its arguments, given a fresh data directory and a free loopback port. */
  args(dir: string, port: number): string[];
  /** A line of its output that says it accepts connections. */
  readyText: string;
}

function installed(binary: string): boolean {
  return spawnSync(binary, ["--version"], { stdio: "ignore" }).status === 0;
}

function aptInstall(spec: PeerServerSpec): void {
  const policy = spawnSync("apt-cache", ["policy", spec.aptPackage], { encoding: "utf8" });
  const candidate = /Candidate:\s*(\S+)/.exec(policy.stdout ?? "")?.[1];
  if (policy.status !== 0 || candidate === undefined || candidate === "(none)") {
    throw new Error(`${spec.binary} is not installed and apt has no candidate for "${spec.aptPackage}" (run apt-get update, or install it yourself)`);
  }
  console.error(`Installing ${spec.aptPackage} ${candidate} with apt-get…`);
  const install = spawnSync("apt-get", ["install", "-y", spec.aptPackage], { stdio: ["ignore", "ignore", "inherit"] });
  if (install.status !== 0 || !installed(spec.binary)) throw new Error(`apt-get install -y ${spec.aptPackage} failed`);
}

/**
 * Starts a peer's server on a free loopback port with its data in a temporary directory
 * (installing it with apt-get when missing), and waits for its ready line and half a second more.
 *
 * @param spec The binary and how to run it.
 * @returns The server; stop it when done.
 * @throws {Error} When it cannot be installed or exits before it is ready.
 */
export async function startPeerServer(spec: PeerServerSpec): Promise<PeerServer> {
  if (!installed(spec.binary)) aptInstall(spec);
  const version = spawnSync(spec.binary, ["--version"], { encoding: "utf8" }).stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), `${spec.binary}-bench-`));
  const port = await freeLoopbackPort();
  const started = performance.now();
  const child = spawn(spec.binary, spec.args(dir, port), { stdio: ["ignore", "pipe", "pipe"] });
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
        if (output.includes(spec.readyText)) resolve(performance.now() - started);
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`${spec.binary} exited with ${code}: ${output.trim()}`)));
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    return { port, pid: child.pid!, version, readyMs, idleRssBytes: processMemory(child.pid!).rssBytes, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * Runs `cleanup` and exits with 130 on SIGINT or SIGTERM.
 *
 * @param cleanup Stops what the bench started.
 */
export function onInterrupt(cleanup: () => Promise<void>): void {
  const onSignal = () => void cleanup().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
}

/** Redraws a one-line status on stderr when it is a terminal; `""` erases it. */
export function status(text: string): void {
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
}

/** One workload, both sides. */
export interface CompareRow {
  workload: string;
  /** What the workload does, for the table. */
  shape: string;
  rmq: Figures;
  peer: Figures;
}

/**
 * What fails the correctness checks of a side: failed sends, a stored count other than the
 * acknowledged one, a consumed count other than the sent one, duplicates.
 *
 * @param f The side's figures.
 * @returns One phrase a problem; empty when the side checks out.
 */
export function problems(f: Figures): string[] {
  return [
    ...(f.failed > 0 ? [`${f.failed} sends failed ${JSON.stringify(f.errors)}`] : []),
    ...(f.stored !== f.ok ? [`stored ${f.stored} of ${f.ok} acknowledged`] : []),
    ...(f.consumed !== null && f.consumed !== f.ok ? [`consumed ${f.consumed} of ${f.ok} sent`] : []),
    ...(f.duplicates > 0 ? [`${f.duplicates} duplicates`] : []),
  ];
}

/** Microseconds of CPU a message handled (consumed, or else acknowledged). */
export function cpuPerMessage(use: ResourceUse | null, f: Figures): number | null {
  const n = f.consumed ?? f.ok;
  return use?.cpuSeconds == null || n === 0 ? null : (use.cpuSeconds / n) * 1e6;
}

/**
 * Whether both sides of every row pass the correctness checks (`problems`).
 *
 * @param rows The workloads.
 * @returns `true` when nothing failed.
 */
export function checksPass(rows: readonly CompareRow[]): boolean {
  return rows.every((r) => problems(r.rmq).length === 0 && problems(r.peer).length === 0);
}

/**
 * Prints the rows side by side, rocketmq-ts first, with throughput ratios (rocketmq-ts / peer),
 * then each side's failed correctness checks.
 *
 * @param peer The peer's name in the headings.
 * @param rows The workloads.
 */
export function printRows(peer: string, rows: readonly CompareRow[]): void {
  const num = (n: number) => Math.round(n).toString();
  const ms = (l: LatencySummary | null, key: "p50" | "p99") => (l === null ? "-" : l[key].toFixed(2));
  const us = (n: number | null) => (n === null ? "-" : n.toFixed(1));
  const side = (f: Figures) => [num(f.msgsPerSec), ms(f.latencyMs, "p50"), ms(f.latencyMs, "p99"), us(cpuPerMessage(f.broker, f)), us(cpuPerMessage(f.client, f))];
  const cols = ["msg/s", "p50 ms", "p99 ms", "srv µs/msg", "cli µs/msg"];
  const width = Math.max(...rows.map((r) => r.shape.length), 5);
  console.log(`${"".padEnd(10 + width)}${"rocketmq-ts".padStart(11)}${"".padEnd(cols.length * 11 - 11)}${peer.padStart(11)}`);
  console.log(["workload".padEnd(9), "shape".padEnd(width), ...[...cols, ...cols, "ratio"].map((h) => h.padStart(10))].join(" "));
  for (const { workload, shape, rmq, peer: p } of rows) {
    console.log([workload.padEnd(9), shape.padEnd(width), ...[...side(rmq), ...side(p), `${(rmq.msgsPerSec / p.msgsPerSec).toFixed(2)}x`].map((c) => c.padStart(10))].join(" "));
  }
  for (const { workload, rmq, peer: p } of rows) {
    for (const [name, f] of [["rocketmq-ts", rmq], [peer, p]] as const) {
      const found = problems(f);
      if (found.length > 0) console.log(`${workload}: ${name} ${found.join("; ")}`);
    }
  }
}
