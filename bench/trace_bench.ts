/**
 * What message trace costs a send: `--count` sends of 1 KiB (64 in flight) by a Producer without
 * and with `enableTrace`, alternating, and the CPU time of this client process and of the broker
 * (a standalone child process, from /proc) per send, the median of `--rounds` rounds each. A round
 * runs from the first send to the end of `shutdown()`, so the traced rounds include sending every
 * trace record (in trace messages of up to 20 records).
 *
 *   bun bench/trace_bench.ts --count 20000 --rounds 5
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { processCpuSeconds } from "../cli/_load_stats.ts";
import { startLoadServer } from "../cli/_load_server.ts";
import { Producer } from "../mod.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "20000" },
    rounds: { type: "string", default: "5" },
  },
});
const count = Number(values.count);
const rounds = Number(values.rounds);
const server = await startLoadServer({ runtime: "Deno" in globalThis ? "deno" : "bun", flush: "async" });
const topic = `trace_bench_${Date.now()}`;
const body = new Uint8Array(1024).fill(120);

interface Round {
  clientCpuS: number;
  brokerCpuS: number;
  wallMs: number;
  dropped: number;
}

async function round(enableTrace: boolean): Promise<Round> {
  const producer = new Producer({ nameServer: server.namesrv, enableTrace });
  await producer.start();
  await producer.send({ topic, body, keys: ["warm"] });
  const broker0 = processCpuSeconds(server.startup.pid) ?? NaN;
  const client0 = process.cpuUsage();
  const started = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < count) {
      const i = next++;
      await producer.send({ topic, body, keys: [`order-${i}`], tags: "created" });
    }
  }));
  const dropped = producer.traceStats?.dropped ?? 0;
  await producer.shutdown();
  const client = process.cpuUsage(client0);
  return {
    clientCpuS: (client.user + client.system) / 1e6,
    brokerCpuS: (processCpuSeconds(server.startup.pid) ?? NaN) - broker0,
    wallMs: performance.now() - started,
    dropped,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  await round(false);
  await round(true);
  const results = { off: [] as Round[], on: [] as Round[] };
  for (let r = 0; r < rounds; r++) {
    results.off.push(await round(false));
    results.on.push(await round(true));
  }
  console.log(`${count} sends of 1 KiB, 64 in flight, median of ${rounds} rounds, ${server.startup.runtime} broker (pid ${server.startup.pid})`);
  console.log("trace  client µs/send  broker µs/send  sends/s  trace records dropped");
  for (const [name, rs] of Object.entries(results)) {
    const client = (median(rs.map((r) => r.clientCpuS)) / count) * 1e6;
    const broker = (median(rs.map((r) => r.brokerCpuS)) / count) * 1e6;
    const rate = count / (median(rs.map((r) => r.wallMs)) / 1000);
    console.log(`${name.padEnd(5)}  ${client.toFixed(2).padStart(14)}  ${broker.toFixed(2).padStart(14)}  ${Math.round(rate).toLocaleString("en-US").padStart(7)}  ${Math.max(...rs.map((r) => r.dropped))}`);
  }
} finally {
  await server.stop();
}
