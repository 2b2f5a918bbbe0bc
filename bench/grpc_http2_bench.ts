/**
 * What a gRPC unary call costs a server on each runtime's `node:http2`, against what the broker's
 * gRPC port costs a SendMessage: one cheap client (`bench/node/h2_unary.cjs`, raw `node:http2`
 * under Node) drives, with 1 and 10 calls in flight, (1) the least a gRPC server on `node:http2`
 * does — headers, one message, trailers (`bench/node/h2_server.mjs raw`), (2) `@grpc/grpc-js`'s
 * server with a method answering at once (`h2_server.mjs grpc-js`), each under Bun, Deno and
 * Node, and (3) the real standalone broker under Bun (the load tool's, async flush) taking valid
 * 1 KiB SendMessage calls, checked stored. Reports calls/s and the server's CPU per call
 * (`/proc/<pid>/stat`), the figure that stays meaningful on a shared machine.
 *
 * Usage: bun bench/grpc_http2_bench.ts [--calls 10000] [--in-flight 1,10] [--json]
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { create, toBinary } from "@bufbuild/protobuf";
import { PullConsumer } from "../client/pull_consumer.ts";
import { startLoadServer } from "../cli/_load_server.ts";
import { meterProcess } from "../cli/_load_stats.ts";
import { Encoding, MessageType } from "../server/grpc/gen/apache/rocketmq/v2/definition_pb.ts";
import { SendMessageRequestSchema } from "../server/grpc/gen/apache/rocketmq/v2/service_pb.ts";

const { values } = parseArgs({
  options: { calls: { type: "string", default: "10000" }, "in-flight": { type: "string", default: "1,10" }, json: { type: "boolean", default: false } },
});
const calls = Number(values.calls);
const inFlights = values["in-flight"].split(",").map(Number);
const ROOT = join(import.meta.dirname!, "..");
const bin = (name: string) => join(ROOT, "node_modules", ".bin", name);
const RUNTIMES: Record<string, string[]> = { bun: [process.execPath], deno: [bin("deno"), "run", "-A"], node: ["node"] };

interface Row {
  server: string;
  inFlight: number;
  callsPerSec: number;
  serverCpuUsPerCall: number | null;
}

/** Drives `port` with `inFlight` callers; meters `pid` over the counted calls. */
function drive(port: number, pid: number, inFlight: number, request: Uint8Array): Promise<Omit<Row, "server">> {
  const child = spawn("node", [join(ROOT, "bench", "node", "h2_unary.cjs"), String(port), String(calls), String(inFlight), Buffer.from(request).toString("hex")], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let meter: ReturnType<typeof meterProcess> | undefined;
  return new Promise((resolve, reject) => {
    child.stderr!.on("data", (chunk) => (err += chunk));
    child.stdout!.on("data", (chunk) => {
      out += chunk;
      if (meter === undefined && out.includes("warm\n")) {
        meter = meterProcess(pid);
        child.stdin!.write("go\n");
      }
    });
    child.on("exit", (code) => {
      const seconds = Number(out.split("\n").at(-2));
      if (code !== 0 || meter === undefined || !(seconds > 0)) return reject(new Error(`The client exited ${code}: ${out}${err}`));
      const cpu = meter.stop().cpuSeconds;
      resolve({ inFlight, callsPerSec: calls / seconds, serverCpuUsPerCall: cpu === null ? null : (cpu * 1e6) / calls });
    });
  });
}

/** Starts `h2_server.mjs <kind>` under a runtime; resolves with the process and its port. */
function stub(runtime: string, kind: string): Promise<{ child: ChildProcess; port: number }> {
  const [command, ...args] = RUNTIMES[runtime]!;
  const child = spawn(command!, [...args, join(ROOT, "bench", "node", "h2_server.mjs"), kind], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  return new Promise((resolve, reject) => {
    const onData = (chunk: Uint8Array) => {
      out += chunk;
      const port = /port (\d+)/.exec(out)?.[1];
      if (port !== undefined) resolve({ child, port: Number(port) });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${runtime} ${kind} exited ${code}: ${out}`)));
  });
}

const rows: Row[] = [];
// Unknown to the stubs' method (they read no protobuf): a field-15 blob as long as the real request's body.
const filler = new Uint8Array([0x7a, 0x80, 0x08, ...new Uint8Array(1024).fill(7)]);
for (const kind of ["raw", "grpc-js"]) {
  for (const runtime of Object.keys(RUNTIMES)) {
    for (const inFlight of inFlights) {
      const { child, port } = await stub(runtime, kind);
      try {
        rows.push({ server: `${kind === "raw" ? "node:http2 alone" : "grpc-js, no work"} (${runtime})`, ...(await drive(port, child.pid!, inFlight, filler)) });
      } finally {
        child.removeAllListeners("exit");
        child.kill("SIGKILL");
      }
    }
  }
}

const broker = await startLoadServer({ runtime: "bun", flush: "async", grpc: true });
const topic = `bench_h2_${Date.now()}`;
const request = toBinary(SendMessageRequestSchema, create(SendMessageRequestSchema, {
  messages: [{
    topic: { name: topic },
    body: new Uint8Array(1024).fill(120),
    systemProperties: { messageId: "01H2UNARYBENCH0000000000000000", bodyEncoding: Encoding.IDENTITY, messageType: MessageType.NORMAL },
  }],
}));
const reader = new PullConsumer({ nameServer: broker.namesrv, group: "bench_h2_reader" });
await reader.start();
let expected = 0;
for (const inFlight of inFlights) {
  rows.push({ server: "standalone broker, SendMessage (bun)", ...(await drive(Number(broker.grpc!.split(":").at(-1)), broker.startup.pid, inFlight, request)) });
  expected += calls + Math.min(calls, 2000);
}
let stored = 0;
for (const queue of await reader.fetchMessageQueues(topic)) stored += await reader.maxOffset(queue);
await reader.shutdown();
await broker.stop();
if (stored !== expected) throw new Error(`The broker answered ${expected} sends but stored ${stored}`);

if (values.json) console.log(JSON.stringify({ calls, rows }, null, 2));
else {
  console.log(`${calls} unary calls per row, 1 KiB requests, one raw node:http2 client (Node)`);
  console.log("server                                   in flight    calls/s   server CPU µs/call");
  for (const r of rows) {
    console.log(`${r.server.padEnd(42)}${String(r.inFlight).padStart(8)}${Math.round(r.callsPerSec).toString().padStart(11)}${(r.serverCpuUsPerCall?.toFixed(1) ?? "-").padStart(21)}`);
  }
}
