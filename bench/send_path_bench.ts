/**
 * The whole send path in one process, no sockets: a standalone (NameServer and broker, file storage
 * in a temporary directory, async flush) and a `Producer` joined by an in-memory transport that
 * hands each write to the other side one macrotask later, as a socket read would. `--concurrency`
 * callers each await `producer.send` (the sync shape), or `--inflight` sends stay outstanding (the
 * async shape). CPU per message is the client's and the broker's together; under `bun --cpu-prof`
 * the profile is all JS doing the work (no event loop waits, no kernel), so the client's share
 * (client/, core/) and the broker's (server/) can be read apart.
 *
 *   bun bench/send_path_bench.ts --count 200000
 *   bun --cpu-prof bench/send_path_bench.ts --shape sync --count 200000
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import type { Dialer, Listen, Transport, TransportHandlers } from "../core/remoting/transport.ts";
import { Producer } from "../mod.ts";
import { startStandalone } from "../server/standalone.ts";
import { sendAwaited, sendInFlight } from "./_send_loops.ts";
import { loadAverage, wholeNumber } from "./_compare.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "200000" },
    shape: { type: "string", default: "sync,async" },
    concurrency: { type: "string", default: "10" },
    inflight: { type: "string", default: "1000" },
    size: { type: "string", default: "1024" },
    warmup: { type: "string", default: "20000" },
  },
});

const count = wholeNumber("count", values.count!);
const concurrency = wholeNumber("concurrency", values.concurrency!);
const inflight = wholeNumber("inflight", values.inflight!);
const size = wholeNumber("size", values.size!);
const warmup = wholeNumber("warmup", values.warmup!, 0);
const shapes = values.shape!.split(",");
for (const shape of shapes) {
  if (shape !== "sync" && shape !== "async") {
    console.error(`--shape takes "sync" and "async", got "${shape}"`);
    process.exit(2);
  }
}

/** One side's writes, delivered to the other side together on the next macrotask (one "read"). */
function pipe(deliver: (chunk: Uint8Array) => void): (data: Uint8Array) => void {
  let parts: Uint8Array[] = [];
  return (data) => {
    if (parts.length === 0) {
      setImmediate(() => {
        const out = parts;
        parts = [];
        if (out.length === 1) deliver(out[0]!);
        else {
          const chunk = new Uint8Array(out.reduce((n, p) => n + p.length, 0));
          let pos = 0;
          for (const p of out) {
            chunk.set(p, pos);
            pos += p.length;
          }
          deliver(chunk);
        }
      });
    }
    parts.push(data.slice());
  };
}

const listeners = new Map<number, (transport: Transport) => TransportHandlers>();
let nextPort = 1;
let nextClientPort = 50000;
const listen: Listen = (options, accept) => {
  const port = options.port === 0 ? nextPort++ : options.port;
  listeners.set(port, accept);
  return Promise.resolve({ hostname: "127.0.0.1", port, close: () => Promise.resolve() });
};
const dial: Dialer = (address, handlers) => {
  const accept = listeners.get(Number(address.slice(address.lastIndexOf(":") + 1)));
  if (accept === undefined) return Promise.reject(new Error(`Connection refused: ${address}`));
  let server: TransportHandlers | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    server?.close();
    handlers.close();
  };
  const toServer = pipe((chunk) => server?.data(chunk));
  const toClient = pipe((chunk) => handlers.data(chunk));
  server = accept({ remoteAddress: `127.0.0.1:${nextClientPort++}`, bufferedAmount: 0, writeCopies: true, write: (d) => closed || toClient(d), close });
  return Promise.resolve({ remoteAddress: address, bufferedAmount: 0, writeCopies: true, write: (d) => closed || toServer(d), close });
};

const dir = mkdtempSync(join(tmpdir(), "rmq-send-path-"));
const standalone = await startStandalone({ listen, dial, dataDir: dir, hostname: "127.0.0.1", port: 0, nameServerPort: 0, autoCreateTopicEnable: true, log: () => {} });
const producer = new Producer({ nameServer: `127.0.0.1:${standalone.nameServer.port}`, group: "bench", dial });
await producer.start();
const body = new Uint8Array(size).fill(0x61);

const sendSync = (topic: string, n: number) => sendAwaited(producer, topic, body, concurrency, n);
const sendAsync = (topic: string, n: number) => sendInFlight(producer, topic, body, inflight, n);

console.log(`send path in-process (producer + standalone, in-memory transport), ${size}-byte bodies, load average ${loadAverage()}`);
console.log("shape   messages   msg/s        µs CPU/msg (client + broker)");
for (const shape of shapes) {
  const run = shape === "sync" ? sendSync : sendAsync;
  await producer.send({ topic: `BenchPath_${shape}`, body });
  if (warmup > 0) await run(`BenchPath_${shape}`, warmup);
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await run(`BenchPath_${shape}`, count);
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(`${shape.padEnd(7)} ${String(count).padEnd(10)} ${String(Math.round(count / (wallMs / 1000))).padEnd(12)} ${((cpu.user + cpu.system) / count).toFixed(2)}`);
}
await producer.shutdown();
await standalone.close();
rmSync(dir, { recursive: true, force: true });
