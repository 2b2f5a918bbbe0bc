/**
 * Sends through RocketMQ 5's gRPC protocol beside native sends, against one standalone server in a
 * child process (the load tool's, with its gRPC port): Apache's RocketMQ 5 Node.js client
 * (rocketmq-client-nodejs, unchanged, under Node) and our own Producer, each with `--concurrency`
 * senders awaiting their answers. Reports msgs/s, client CPU and the broker's CPU per message
 * (`/proc/<pid>/stat`), the figure that stays meaningful on a shared machine, and checks that
 * every acknowledged message was stored once. Then a RocketMQ 5 SimpleConsumer of a fresh group
 * receives and acks everything the gRPC producer stored (`--concurrency` receive loops).
 *
 * The broker's CPU per message depends on the rate: a broker taking a message a wake-up pays each
 * wake-up's fixed costs (event loop, store write and flush) for one message, a faster one shares
 * them. `--paced` also sends natively at the gRPC run's rate (each sender starting its next send no
 * sooner than its share of that rate allows), which compares the protocols at the same load.
 *
 * Usage: bun bench/grpc_bench.ts [--count 20000] [--concurrency 10] [--size 1024] [--runtime bun|deno] [--paced] [--json]
 *
 * @module
 */
import { spawn } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Producer } from "../client/producer.ts";
import { PullConsumer } from "../client/pull_consumer.ts";
import { startLoadServer } from "../cli/_load_server.ts";
import { meterProcess, meterSelf, type ResourceMeter } from "../cli/_load_stats.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "20000" },
    concurrency: { type: "string", default: "10" },
    size: { type: "string", default: "1024" },
    runtime: { type: "string", default: "bun" },
    paced: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const count = Number(values.count);
const concurrency = Number(values.concurrency);
const size = Number(values.size);
const runtime = values.runtime === "deno" ? "deno" : "bun";
const body = new Uint8Array(size).fill(120);

const server = await startLoadServer({ runtime, flush: "async", grpc: true });
const reader = new PullConsumer({ nameServer: server.namesrv, group: "bench_reader" });
await reader.start();

interface Row {
  client: string;
  messages: number;
  stored: number;
  msgsPerSec: number;
  clientCpuUsPerMsg: number;
  brokerCpuUsPerMsg: number | null;
}

async function storedCount(topic: string): Promise<number> {
  let total = 0;
  for (const queue of await reader.fetchMessageQueues(topic)) total += await reader.maxOffset(queue);
  return total;
}

/** Sends natively; with `perSecond`, the measured run is paced to that rate. */
async function native(topic: string, perSecond?: number): Promise<Omit<Row, "stored">> {
  const producer = new Producer({ nameServer: server.namesrv, log: () => {} });
  await producer.start();
  const run = async (n: number, rate?: number) => {
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const due = rate === undefined ? 0 : started + (next * 1000) / rate - performance.now();
        next++;
        if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
        await producer.send({ topic, body });
      }
    }));
  };
  await run(Math.min(count, 5000));
  const client = meterSelf();
  const broker = meterProcess(server.startup.pid);
  const started = performance.now();
  await run(count, perSecond);
  const seconds = (performance.now() - started) / 1000;
  const c = client.stop().cpuSeconds!;
  const b = broker.stop().cpuSeconds;
  await producer.shutdown();
  return { client: perSecond === undefined ? "ours (remoting)" : "ours, gRPC's rate", messages: count, msgsPerSec: count / seconds, clientCpuUsPerMsg: (c * 1e6) / count, brokerCpuUsPerMsg: b === null ? null : (b * 1e6) / count };
}

/** Runs a RocketMQ 5 client script under Node; the broker is metered from `{"warm":true}` (or from the start). */
function nodeScript(name: string, args: string[], client: string, messages: number, meterFromStart: boolean): Promise<Omit<Row, "stored">> {
  const script = join(import.meta.dirname!, "node", name);
  const child = spawn("node", [script, server.grpc!, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  let broker: ResourceMeter | undefined = meterFromStart ? meterProcess(server.startup.pid) : undefined;
  return new Promise((resolve, reject) => {
    child.stderr.on("data", (chunk) => (err += chunk));
    child.stdout.on("data", (chunk) => {
      out += chunk;
      if (broker === undefined && out.includes('"warm":true')) broker = meterProcess(server.startup.pid);
    });
    child.on("exit", (code) => {
      const result = out.split("\n").filter((l) => l.includes("seconds")).map((l) => JSON.parse(l) as { seconds: number; cpuUs: number })[0];
      if (code !== 0 || result === undefined || broker === undefined) return reject(new Error(`The RocketMQ 5 client exited ${code}: ${out}${err}`));
      const b = broker.stop().cpuSeconds;
      resolve({
        client,
        messages,
        msgsPerSec: messages / result.seconds,
        clientCpuUsPerMsg: result.cpuUs / messages,
        brokerCpuUsPerMsg: b === null ? null : (b * 1e6) / messages,
      });
    });
  });
}

function rocketmq5(topic: string): Promise<Omit<Row, "stored">> {
  return nodeScript("rmq5_send.cjs", [topic, String(count), String(concurrency), String(size)], "RocketMQ 5 (gRPC)", count, false);
}

const rows: Row[] = [];
const stamp = Date.now();
for (const [name, run] of [["native", native], ["grpc", rocketmq5]] as const) {
  const topic = `bench_${name}_${stamp}`;
  const row = await run(topic);
  const stored = (await storedCount(topic)) - Math.min(count, 5000);
  if (stored !== count) throw new Error(`${row.client}: ${count} acknowledged but ${stored} stored`);
  rows.push({ ...row, stored });
}
if (values.paced) {
  const topic = `bench_paced_${stamp}`;
  const row = await native(topic, rows.find((r) => r.client.startsWith("RocketMQ 5"))!.msgsPerSec);
  const stored = (await storedCount(topic)) - Math.min(count, 5000);
  if (stored !== count) throw new Error(`${row.client}: ${count} acknowledged but ${stored} stored`);
  rows.push({ ...row, stored });
}
// Everything the gRPC producer stored (warm-up included), received and acked by a fresh group; the broker is metered for the whole run.
const grpcTopic = `bench_grpc_${stamp}`;
const total = await storedCount(grpcTopic);
const consumed = await nodeScript("rmq5_receive.cjs", [grpcTopic, `bench_rmq5_receiver_${stamp}`, String(total), String(concurrency)], "RocketMQ 5 receive+ack", total, true);
await reader.shutdown();
await server.stop();

if (values.json) {
  console.log(JSON.stringify({ settings: { count, concurrency, size, runtime }, rows, consumed }, null, 2));
} else {
  console.log(`${count} messages of ${size} bytes per client, ${concurrency} senders each awaiting its answer, ${runtime} broker, async flush`);
  console.log("client                 msgs/s   client CPU µs/msg   broker CPU µs/msg    stored");
  for (const row of rows) {
    console.log(
      `${row.client.padEnd(20)}${Math.round(row.msgsPerSec).toString().padStart(9)}${row.clientCpuUsPerMsg.toFixed(1).padStart(20)}${
        (row.brokerCpuUsPerMsg?.toFixed(1) ?? "-").padStart(20)
      }${row.stored.toString().padStart(10)}`,
    );
  }
  console.log(
    `${consumed.client.padEnd(20)}${Math.round(consumed.msgsPerSec).toString().padStart(9)}${consumed.clientCpuUsPerMsg.toFixed(1).padStart(20)}${
      (consumed.brokerCpuUsPerMsg?.toFixed(1) ?? "-").padStart(20)
    }${consumed.messages.toString().padStart(10)}  (${concurrency} receive loops, 32 a receive, each acked)`,
  );
}
