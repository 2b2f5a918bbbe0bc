/**
 * What one round trip costs through this runtime's own TCP adapters (`server/<runtime>/listen.ts`
 * and `connect.ts`, the ones the broker and its clients use), with no protocol on top: a client
 * writes frames of `--size` bytes, `--in-flight` at a time, and an echo server in the same process
 * writes back what it reads. Reported as CPU time of the process per round trip (both ends
 * together), because wall-clock figures swing on a shared machine; with `--in-flight 1` every
 * frame costs each end one wake-up of its event loop, one read and one write.
 *
 *   bun bench/transport_round_trip_bench.ts --in-flight 1
 *   deno run -A bench/transport_round_trip_bench.ts --in-flight 1
 */
import process from "node:process";
import { parseArgs } from "node:util";
import type { Transport } from "../core/remoting/transport.ts";
import { defaultDial, defaultListen } from "../server/_runtime.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "30000" },
    size: { type: "string", default: "1100" },
    "in-flight": { type: "string", default: "1" },
    rounds: { type: "string", default: "3" },
  },
});
const COUNT = Number(values.count);
const SIZE = Number(values.size);
const IN_FLIGHT = Number(values["in-flight"]);
const ROUNDS = Number(values.rounds);
for (const [name, n] of [["count", COUNT], ["size", SIZE], ["in-flight", IN_FLIGHT], ["rounds", ROUNDS]] as const) {
  if (!Number.isInteger(n) || n < 1) {
    console.error(`Invalid value "${values[name]}" of --${name}: expected a whole number of at least 1`);
    process.exit(2);
  }
}

const runtime = "Deno" in globalThis ? "deno" : "bun";
const [dial, listen] = await Promise.all([defaultDial(), defaultListen()]);

const server = await listen({ hostname: "127.0.0.1", port: 0 }, (transport) => ({
  data(bytes) {
    transport.write(bytes);
  },
  close() {},
}));

/** CPU µs and wall ms of COUNT round trips on a fresh connection. */
async function round(): Promise<{ cpuUs: number; wallMs: number }> {
  const frame = new Uint8Array(SIZE).fill(42);
  let sent = 0;
  let received = 0;
  let partial = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  let transport!: Transport;
  transport = await dial(`127.0.0.1:${server.port}`, {
    data(bytes) {
      partial += bytes.length;
      while (partial >= SIZE) {
        partial -= SIZE;
        received++;
        if (sent < COUNT) {
          sent++;
          transport.write(frame);
        }
      }
      if (received >= COUNT) done();
    },
    close() {},
  });
  const start = process.cpuUsage();
  const t0 = performance.now();
  for (; sent < Math.min(IN_FLIGHT, COUNT); sent++) transport.write(frame);
  await finished;
  const used = process.cpuUsage(start);
  const wallMs = performance.now() - t0;
  transport.close();
  return { cpuUs: (used.user + used.system) / COUNT, wallMs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
await round(); // unmeasured: JIT warm-up
const cpu: number[] = [];
const wall: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const { cpuUs, wallMs } = await round();
  cpu.push(cpuUs);
  wall.push(wallMs);
}
console.log(
  `${runtime}: ${COUNT} round trips of ${SIZE} bytes, ${IN_FLIGHT} in flight, ${ROUNDS} rounds: ` +
    `CPU ${median(cpu).toFixed(2)} µs a round trip (${Math.min(...cpu).toFixed(2)}–${Math.max(...cpu).toFixed(2)}), ` +
    `${Math.round(COUNT / (median(wall) / 1000))} round trips/s (median)`,
);
await server.close();
process.exit(0);
