/**
 * What a send costs through each client transport, as CPU time of this one process (client and an
 * in-process standalone broker together), because wall-clock figures swing on a shared machine:
 * Bun's callback TCP dialer, `duplexDialer` over a Web Streams socket (`node:net` through
 * `Duplex.toWeb`, standing in for `Deno.connect` or Cloudflare's `connect()`), and
 * `webSocketDialer` to the broker's WebSocket port.
 *
 * `bun bench/bun/transport_bench.ts [--count 20000] [--in-flight 64] [--rounds 3]`
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { Duplex } from "node:stream";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { dial as tcpDial } from "../../client/bun/connect.ts";
import { Producer } from "../../client/producer.ts";
import { webSocketDialer } from "../../client/web_socket_dialer.ts";
import { duplexDialer } from "../../core/remoting/duplex.ts";
import type { Dialer } from "../../core/remoting/transport.ts";
import { listen } from "../../server/bun/listen.ts";
import { listenWebSocket } from "../../server/bun/listen_web_socket.ts";
import { startStandalone } from "../../server/standalone.ts";

const { values } = parseArgs({ options: { count: { type: "string", default: "20000" }, "in-flight": { type: "string", default: "64" }, rounds: { type: "string", default: "3" } } });
const COUNT = Number(values.count);
const IN_FLIGHT = Number(values["in-flight"]);
const ROUNDS = Number(values.rounds);

const dir = mkdtempSync(join(tmpdir(), "rmq-transport-bench-"));
const system = await startStandalone({
  listen,
  dial: tcpDial,
  listenWebSocket,
  hostname: "127.0.0.1",
  port: 0,
  nameServerPort: 0,
  webSocketPort: 0,
  nameServer: { webSocketPort: 0 },
  dataDir: dir,
  log: () => {},
});
const urls = new Map([
  [system.nameServerAddress, `ws://127.0.0.1:${system.nameServer.webSocketPort}/`],
  [system.brokerAddress, `ws://127.0.0.1:${system.broker.webSocketPort}/`],
]);

const DIALERS: Array<[string, Dialer]> = [
  ["Bun TCP (callbacks)", tcpDial],
  ["duplexDialer (node:net as Web Streams)", duplexDialer(({ host, port }) => {
    const socket = createConnection({ host, port, noDelay: true });
    return {
      ...(Duplex.toWeb(socket) as unknown as { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }),
      opened: new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject)),
      close: () => void socket.destroy(),
    };
  })],
  ["webSocketDialer (Bun WebSocket)", webSocketDialer({ url: (address) => urls.get(address)! })],
];

const body = new Uint8Array(1024).fill(42);

/** CPU µs per message of COUNT sends, IN_FLIGHT at a time. */
async function round(dial: Dialer): Promise<{ cpuUs: number; wallMs: number }> {
  const producer = new Producer({ nameServer: system.nameServerAddress, dial });
  await producer.start();
  await producer.send({ topic: "bench_transport", body });
  const start = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    while (next++ < COUNT) await producer.send({ topic: "bench_transport", body });
  }));
  const used = process.cpuUsage(start);
  const wallMs = performance.now() - t0;
  await producer.shutdown();
  return { cpuUs: (used.user + used.system) / COUNT, wallMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const results = new Map<string, { cpu: number[]; wall: number[] }>(DIALERS.map(([name]) => [name, { cpu: [], wall: [] }]));
// One unmeasured round each first: JIT warm-up and the topic's creation.
for (const [, dial] of DIALERS) await round(dial);
for (let r = 0; r < ROUNDS; r++) {
  // Interleaved, so a busy moment of the machine falls on every transport alike.
  for (const [name, dial] of DIALERS) {
    const { cpuUs, wallMs } = await round(dial);
    results.get(name)!.cpu.push(cpuUs);
    results.get(name)!.wall.push(wallMs);
  }
}
console.log(`${COUNT} sends of 1 KiB, ${IN_FLIGHT} in flight, ${ROUNDS} rounds; CPU of client and broker together`);
console.log("| transport | CPU per send (median, range) | msg/s (median) |");
console.log("| --- | --- | --- |");
for (const [name, { cpu, wall }] of results) {
  const range = `${Math.min(...cpu).toFixed(1)}–${Math.max(...cpu).toFixed(1)}`;
  console.log(`| ${name} | ${median(cpu).toFixed(1)} µs (${range}) | ${Math.round(COUNT / (median(wall) / 1000))} |`);
}
await system.close();
rmSync(dir, { recursive: true, force: true });
