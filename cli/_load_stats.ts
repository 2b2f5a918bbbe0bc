/**
 * What the load tool measures besides counts: latency percentiles, and the CPU time and memory
 * of the client process and of a broker process (read from `/proc` on Linux; `null` elsewhere).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  /** Samples taken. */
  samples: number;
}

/** Collects latency samples (ms) without a cap on their number. */
export class LatencyRecorder {
  #values = new Float64Array(1024);
  #count = 0;

  /** Samples so far. */
  get count(): number {
    return this.#count;
  }

  /** Adds one sample. */
  add(ms: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = ms;
  }

  /** The percentiles (nearest rank), or `null` without samples. */
  summary(): LatencySummary | null {
    if (this.#count === 0) return null;
    const sorted = this.#values.slice(0, this.#count).sort();
    const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((sorted.length * p) / 100) - 1)]!;
    return { p50: at(50), p90: at(90), p99: at(99), p999: at(99.9), max: sorted[sorted.length - 1]!, samples: sorted.length };
  }
}

/** CPU time and peak memory of a process over a measured span. */
export interface ResourceUse {
  /** User + system CPU seconds spent in the span. */
  cpuSeconds: number | null;
  /** Peak resident set size since the process started (VmHWM), bytes. */
  peakRssBytes: number | null;
}

/** Kernel clock ticks a second; 100 on every Linux this runs on (`getconf CLK_TCK`). */
const CLK_TCK = 100;

/**
 * CPU seconds (utime + stime) of a process so far, from `/proc/<pid>/stat`.
 *
 * @param pid The process.
 * @returns Seconds, or `null` when `/proc` cannot tell.
 */
export function processCpuSeconds(pid: number): number | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / CLK_TCK : null;
}

/**
 * Memory figures of a process from `/proc/<pid>/status`.
 *
 * @param pid The process, or `"self"`.
 * @returns Current (VmRSS) and peak (VmHWM) resident bytes, `null` when unknown.
 */
export function processMemory(pid: number | "self"): { rssBytes: number | null; peakRssBytes: number | null } {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return { rssBytes: null, peakRssBytes: null };
  }
  const kib = (key: string) => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status);
    return match ? Number(match[1]) * 1024 : null;
  };
  return { rssBytes: kib("VmRSS"), peakRssBytes: kib("VmHWM") };
}

/** Measures a span of a process's life: call `stop()` at its end. */
export interface ResourceMeter {
  stop(): ResourceUse;
}

/**
 * Starts measuring this process (CPU from `process.cpuUsage()`, which Bun, Deno and Node share).
 *
 * @returns The meter.
 */
export function meterSelf(): ResourceMeter {
  const start = process.cpuUsage();
  return {
    stop() {
      const used = process.cpuUsage(start);
      return { cpuSeconds: (used.user + used.system) / 1e6, peakRssBytes: processMemory("self").peakRssBytes };
    },
  };
}

/**
 * Starts measuring another process, such as a broker, through `/proc`.
 *
 * @param pid The process.
 * @returns The meter.
 */
export function meterProcess(pid: number): ResourceMeter {
  const start = processCpuSeconds(pid);
  return {
    stop() {
      const now = processCpuSeconds(pid);
      return {
        cpuSeconds: start === null || now === null ? null : Math.round((now - start) * CLK_TCK) / CLK_TCK,
        peakRssBytes: processMemory(pid).peakRssBytes,
      };
    },
  };
}

/**
 * The kind of a failure, for the report's error counts: the error's name, with the response code
 * of a broker's refusal (`BrokerError:14`).
 *
 * @param error What was thrown.
 * @returns The kind.
 */
export function errorKind(error: unknown): string {
  const name = (error as Error | undefined)?.name ?? "Error";
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "number" ? `${name}:${code}` : name;
}
