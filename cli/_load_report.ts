/**
 * The load tool's output: a live progress line on stderr (terminals only) and the final report,
 * as an aligned table or as JSON.
 *
 * @module
 */
import process from "node:process";
import type { LoadProgress, LoadReport, Workload } from "./_load.ts";
import type { ServerStartup } from "./_load_server.ts";
import type { ResourceUse } from "./_load_stats.ts";

/** What a run was asked to do, for the heading and the JSON. */
export interface RunSettings {
  workload: Workload;
  /** Messages per mode; `null`: no cap (a `--duration` run). */
  count: number | null;
  durationMs: number | undefined;
  size: number;
  concurrency: number;
  inflight: number;
  batch: number;
  /** Messages per pull of the push and lite pull consumers; undefined: their default. */
  pullBatch?: number | undefined;
  queues: number;
  rate: number;
  /** Uncounted messages sent (and read) before each mode. */
  warmup: number;
  /** Broker flush mode, when the tool started the broker. */
  flush: string | undefined;
}

/** A whole run: settings, the server the tool started (if it did), and one report a mode. */
export interface LoadRun {
  settings: RunSettings;
  server: (ServerStartup & { cpuSeconds: number | null; peakRssBytes: number | null }) | null;
  reports: LoadReport[];
}

/**
 * A progress line redrawn in place on stderr at most five times a second; silent unless stderr is
 * a terminal, so pipes and `--json` consumers see nothing.
 *
 * @param stream Where to draw. @default process.stderr
 * @returns `update` for `LoadOptions.onProgress`, and `done` to erase the line.
 */
export function liveLine(
  stream: { isTTY?: boolean; write(text: string): unknown } = process.stderr,
): { update(progress: LoadProgress): void; done(): void } {
  const enabled = stream.isTTY === true;
  let last = 0;
  let drawn = false;
  return {
    update(p) {
      if (!enabled) return;
      const now = performance.now();
      if (now - last < 200) return;
      last = now;
      const rate = p.done / Math.max(0.001, p.elapsedMs / 1000);
      const of = p.total === undefined ? "" : `/${p.total} ${Math.floor((p.done / Math.max(1, p.total)) * 100)}%`;
      const failed = p.failed > 0 ? `  ${p.failed} failed` : "";
      stream.write(`\r\x1b[K${p.phase.padEnd(7)} ${p.done}${of}  ${Math.round(rate)} msgs/s  ${(p.elapsedMs / 1000).toFixed(1)} s${failed}`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write("\r\x1b[K");
      drawn = false;
    },
  };
}

const mib = (bytes: number | null | undefined) => (bytes === null || bytes === undefined ? "-" : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);
const cpu = (seconds: number | null | undefined) => (seconds === null || seconds === undefined ? "-" : `${seconds.toFixed(2)} s`);
const ms = (value: number | undefined) => (value === undefined ? "-" : value.toFixed(2));

function shape(r: LoadReport, s: RunSettings): string {
  switch (r.mode) {
    case "sync":
      return `${s.concurrency} senders`;
    case "async":
      return `${s.inflight} in flight`;
    case "oneway":
      return "1 sender";
    case "batch":
      return `${s.batch}/batch, ${s.concurrency} senders`;
    case "push":
      return `1 member, ${s.pullBatch ?? "default"}/pull`;
    case "pull":
      return `${s.queues} loops, ${s.batch}/pull`;
    case "pop":
      return `${s.queues} loops, ${Math.min(s.batch, 32)}/receive+ack`;
    case "push-pop":
      return `1 member over POP, ${Math.min(s.batch, 32)}/pop`;
    case "lite-pull":
      return `1 poll loop, ${s.pullBatch ?? "default"}/pull`;
    case "e2e":
      return `${s.rate}/s, push consumer`;
  }
}

function usage(label: string, use: ResourceUse | null, seconds: number): string {
  if (use === null) return `${label} -`;
  const share = use.cpuSeconds === null ? "" : ` (${Math.round((use.cpuSeconds / Math.max(seconds, 1e-9)) * 100)}% of a core)`;
  return `${label} CPU ${cpu(use.cpuSeconds)}${share}, peak RSS ${mib(use.peakRssBytes)}`;
}

/**
 * The human report of a run: a heading, a table of one row per mode, errors and resource use.
 *
 * @param run The run.
 * @returns Text with a final newline.
 */
export function formatLoadRun(run: LoadRun): string {
  const s = run.settings;
  const amount = s.durationMs === undefined
    ? `${s.count} messages`
    : `${s.durationMs / 1000} s${s.count === null ? "" : ` (at most ${s.count} messages)`}`;
  const broker = run.server === null ? "given broker" : `${run.server.runtime} broker, flush ${s.flush}`;
  const warm = s.warmup > 0 ? ` after ${s.warmup} warm-up messages` : "";
  const lines = [`${s.workload}: ${amount} of ${s.size} bytes per mode${warm}, ${s.queues} queues, ${broker}, ${run.reports[0]?.runtime ?? ""} client`];
  const consuming = s.workload !== "produce";
  const headers = ["mode", "shape", "msgs/s", "MB/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "success", consuming ? "consumed" : "stored"];
  lines.push(headers.map((h, i) => (i < 2 ? h.padEnd(i ? 24 : 7) : h.padStart(9))).join(" "));
  for (const r of run.reports) {
    const l = r.latencyMs ?? undefined;
    lines.push([
      r.mode.padEnd(7),
      shape(r, s).padEnd(24),
      Math.round(r.msgsPerSec).toString().padStart(9),
      r.mbPerSec.toFixed(1).padStart(9),
      ms(l?.p50).padStart(9),
      ms(l?.p90).padStart(9),
      ms(l?.p99).padStart(9),
      ms(l?.p999).padStart(9),
      ms(l?.max).padStart(9),
      `${(r.successRate * 100).toFixed(1)}%`.padStart(9),
      String((consuming ? r.consumed : r.stored) ?? "-").padStart(9),
    ].join(" "));
  }
  lines.push("");
  for (const r of run.reports) {
    const facts = [`sent ${r.sent} = ${r.ok} ok + ${r.failed} failed`, `${r.seconds.toFixed(2)} s`];
    if (r.consumed !== undefined) facts.push(`consumed ${r.consumed}`, `duplicates ${r.duplicates ?? 0}`);
    if (r.stored !== undefined) facts.push(`stored ${r.stored}`);
    if (r.firstMessageMs !== undefined) facts.push(`first message after ${r.firstMessageMs.toFixed(0)} ms`);
    lines.push(`${r.mode.padEnd(7)} ${facts.join(", ")}`);
    if (Object.keys(r.errors).length > 0) {
      lines.push(`        errors: ${Object.entries(r.errors).map(([kind, n]) => `${kind} ${n}`).join(", ")}`);
    }
    lines.push(`        ${usage("client", r.client, r.seconds)}; ${usage("broker", r.broker, r.seconds)}`);
  }
  if (run.server !== null) {
    const b = run.server;
    lines.push(
      `server: ${b.runtime} pid ${b.pid}, first connection after ${b.firstConnectionMs.toFixed(0)} ms, ready after ${b.readyMs.toFixed(0)} ms, ` +
        `idle RSS ${mib(b.idleRssBytes)}, peak RSS ${mib(b.peakRssBytes)}, CPU ${cpu(b.cpuSeconds)} in all`,
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * Tells whether a run adds up: nothing failed, every acknowledged message was stored, and every
 * acknowledged message was consumed.
 *
 * @param run The run.
 * @returns A list of problems, empty when clean.
 */
export function loadProblems(run: LoadRun): string[] {
  const problems: string[] = [];
  for (const r of run.reports) {
    if (r.failed > 0) problems.push(`${r.mode}: ${r.failed} of ${r.sent} sends failed`);
    if (r.stored !== undefined && r.stored !== r.ok) problems.push(`${r.mode}: the broker stored ${r.stored} messages, ${r.ok} were acknowledged`);
    if (r.consumed !== undefined && r.consumed !== r.ok) problems.push(`${r.mode}: ${r.consumed} messages consumed, ${r.ok} were acknowledged`);
  }
  return problems;
}
