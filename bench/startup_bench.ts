/**
 * Start-up time and idle memory of `rmq standalone` (issue #19: accepting connections within 50 ms,
 * idle RSS at most 50 MB): starts it `--runs` times on free loopback ports and a fresh data
 * directory, and prints the median and range of
 *
 * - accept: spawn to the first TCP connection the broker port accepted (polled every 2 ms);
 * - ready: spawn to the "Standalone ready" line;
 * - idle RSS: resident memory after `--idle-ms` (500) of idleness.
 *
 * `--shape defaults` (the default) runs what a new user's `rmq standalone` serves: the admin API
 * and dashboard, and gRPC; `--shape lean` runs the load tool's server (`--no-admin --no-grpc`).
 * `--runtime bun|deno` runs this checkout's sources; `--binary dist/rmq` a binary of
 * `npm run build:bin` instead.
 *
 *   bun bench/startup_bench.ts
 *   bun bench/startup_bench.ts --runtime deno --shape lean --runs 5
 *   bun bench/startup_bench.ts --binary dist/rmq --json
 *
 * @module
 */
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import process from "node:process";
import { type ServerRuntime, startLoadServer, type ServerStartup } from "../cli/_load_server.ts";

const { values } = parseArgs({
  options: {
    runtime: { type: "string", default: "bun" },
    binary: { type: "string" },
    shape: { type: "string", default: "defaults" },
    runs: { type: "string", default: "7" },
    "idle-ms": { type: "string", default: "500" },
    json: { type: "boolean", default: false },
  },
});
const runtime = values.runtime as ServerRuntime;
if (runtime !== "bun" && runtime !== "deno") throw new RangeError(`Invalid --runtime "${values.runtime}": expected bun or deno`);
if (values.shape !== "defaults" && values.shape !== "lean") throw new RangeError(`Invalid --shape "${values.shape}": expected defaults or lean`);
const runs = Number(values.runs);
if (!Number.isSafeInteger(runs) || runs < 1) throw new RangeError(`Invalid --runs "${values.runs}": expected a positive integer`);
const idleMs = Number(values["idle-ms"]);
if (!Number.isFinite(idleMs) || idleMs < 0) throw new RangeError(`Invalid --idle-ms "${values["idle-ms"]}": expected a number of milliseconds`);
const full = values.shape === "defaults";

const samples: ServerStartup[] = [];
for (let i = 0; i < runs; i++) {
  const server = await startLoadServer({
    runtime,
    flush: "async",
    grpc: full,
    admin: full,
    idleMs,
    ...(values.binary === undefined ? {} : { command: [resolve(values.binary)] }),
  });
  samples.push(server.startup);
  await server.stop();
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const summary = (xs: number[]) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
const result = {
  runtime: values.binary === undefined ? runtime : `binary ${values.binary}`,
  shape: values.shape,
  runs,
  acceptMs: summary(samples.map((s) => s.firstConnectionMs)),
  readyMs: summary(samples.map((s) => s.readyMs)),
  idleRssMiB: summary(samples.map((s) => (s.idleRssBytes ?? NaN) / 1048576)),
};
if (values.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  const row = (name: string, s: { median: number; min: number; max: number }, unit: string) =>
    `${name.padEnd(10)} ${s.median.toFixed(1).padStart(7)} ${unit}  (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
  console.log(`rmq standalone, ${result.runtime}, ${result.shape} shape, ${runs} runs (median, range); load ${(await loadAverage()) ?? "?"}`);
  console.log(row("accept", result.acceptMs, "ms "));
  console.log(row("ready", result.readyMs, "ms "));
  console.log(row("idle RSS", result.idleRssMiB, "MiB"));
}
process.exit(0);

async function loadAverage(): Promise<string | undefined> {
  try {
    const { readFileSync } = await import("node:fs");
    return readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  } catch {
    return undefined;
  }
}
