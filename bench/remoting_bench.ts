/**
 * The same broker serving its own clients and an unchanged RocketMQ 4.x client (ali-ons, in a Node
 * process) in one run: sends/s and receives/s of each, and the broker's CPU time per message for
 * each protocol (`/proc/<pid>/stat`), which is what counts on a shared machine.
 * Run: `bun bench/remoting_bench.ts [messages] [inFlight] [bodyBytes]` (default 20000, 100, 1024).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../client/bun/connect.ts";
import { processCpuSeconds } from "../cli/_load_stats.ts";
import { RequestCode } from "../core/protocol/request_code.ts";
import { connect } from "../core/remoting/connection.ts";
import { Producer, PushConsumer } from "../mod.ts";
import { BUN, start, startServer, stop } from "../tests/_helpers/process.ts";

const count = Number(process.argv[2] ?? 20_000);
const inFlight = Number(process.argv[3] ?? 100);
const bodyBytes = Number(process.argv[4] ?? 1024);
const dir = mkdtempSync(join(tmpdir(), "rmq-remoting-bench-"));
const nameServer = await startServer(BUN, ["run", "server/nameserver.ts", "--host", "127.0.0.1", "--port", "0"]);
const nsAddress = `127.0.0.1:${nameServer.port}`;
const broker = await startServer(BUN, ["run", "server/broker.ts", "--host", "127.0.0.1", "-p", "0", "-n", nsAddress, "--data-dir", dir]);
const admin = await connect(dial, `127.0.0.1:${broker.port}`);
for (const topic of ["BenchNative", "BenchAliOns"]) await admin.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic, readQueueNums: 4, writeQueueNums: 4 });
admin.close();
await new Promise((resolve) => setTimeout(resolve, 500));

const rows: string[] = [];
async function phase(name: string, work: () => Promise<number>): Promise<void> {
  const cpu = processCpuSeconds(broker.pid)!;
  const started = performance.now();
  const measuredMs = await work();
  const wallMs = measuredMs > 0 ? measuredMs : performance.now() - started;
  const cpuMs = (processCpuSeconds(broker.pid)! - cpu) * 1000;
  const row = `${name.padEnd(28)} ${(count / (wallMs / 1000)).toFixed(0).padStart(8)} msg/s   broker CPU ${cpuMs.toFixed(0).padStart(6)} ms = ${((cpuMs * 1000) / count).toFixed(1).padStart(6)} us/msg`;
  rows.push(row);
  console.log(row);
}

async function aliOns(args: string[]): Promise<number> {
  const child = start("node", ["bench/_ali_ons_load.cjs", ...args]);
  const code = await child.exited;
  if (code !== 0) throw new Error(`ali-ons ${args[0]} exited with ${code}: ${child.output()}`);
  return JSON.parse(child.output().trim().split("\n").at(-1)!).ms;
}

const body = new Uint8Array(bodyBytes).fill(0x78);
try {
  const producer = new Producer({ nameServer: nsAddress, group: "PG_BENCH_NATIVE" });
  await producer.start();
  await producer.send({ topic: "BenchNative", tags: "warm", body });
  await phase("send, rocketmq-ts", async () => {
    let next = 0;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (next < count) {
        next++;
        await producer.send({ topic: "BenchNative", tags: "bench", body });
      }
    }));
    return 0;
  });
  await producer.shutdown();
  await phase("send, ali-ons (remoting)", () => aliOns(["produce", nsAddress, "BenchAliOns", String(count), String(inFlight), String(bodyBytes)]));

  await phase("receive, rocketmq-ts", async () => {
    const consumer = new PushConsumer({ nameServer: nsAddress, group: "CG_BENCH_NATIVE", consumeFromWhere: "FIRST_OFFSET" });
    consumer.subscribe("BenchNative", "bench");
    let received = 0;
    let first = 0;
    const done = new Promise<number>((resolve) => {
      consumer.onMessage(() => {
        if (received++ === 0) first = performance.now();
        if (received === count) resolve(performance.now() - first);
        return "SUCCESS";
      });
    });
    await consumer.start();
    const ms = await done;
    await consumer.shutdown();
    return ms;
  });
  await phase("receive, ali-ons (remoting)", () => aliOns(["consume", nsAddress, "CG_BENCH_ALI_ONS", "BenchAliOns", String(count)]));
} finally {
  await stop(broker);
  await stop(nameServer);
  rmSync(dir, { recursive: true, force: true });
}
console.log(`\n${count} messages of ${bodyBytes} bytes, ${inFlight} sends in flight, one broker process (Bun ${Bun.version}); wall-clock rates under shared load`);
