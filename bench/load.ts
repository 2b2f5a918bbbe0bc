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
import { formatLoadReports, LOAD_MODES as MODES, type LoadReport as Report, runLoad } from "../cli/_load.ts";
import { progress } from "../cli/_output.ts";
import { freePort } from "../tests/_helpers/process.ts";

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

const server = flags.namesrv === undefined ? await startServer() : undefined;
const namesrv = flags.namesrv ?? server!.namesrv;
const options = { ...flags, nameServers: namesrv.split(","), topic: flags.topic };
const reports: Report[] = [];
try {
  for (const mode of flags.modes) {
    const bar = progress(mode.padEnd(7), flags.count);
    let shown = 0;
    try {
      reports.push(await runLoad(mode, { ...options, onProgress: (done) => {
        bar.tick(done - shown);
        shown = done;
      } }));
    } finally {
      bar.done();
    }
  }
} finally {
  await server?.stop();
}

if (flags.json) {
  console.log(JSON.stringify({ size: flags.size, count: flags.count, concurrency: flags.concurrency, inflight: flags.inflight, batch: flags.batch, flush: flags.flush, reports }, null, 2));
} else {
  process.stdout.write(formatLoadReports(reports, flags, flags.flush));
}
process.exit(reports.every((r) => r.failed === 0 && r.stored === r.ok) ? 0 : 1);
