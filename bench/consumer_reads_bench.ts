/**
 * Reads one backlog several times in one client process, each time with a fresh consumer group,
 * and prints the client's CPU time a message (user and system apart) and the rate of each read:
 * the first read is cold (JIT, heap growth), the later ones warm. A standalone server is started
 * in a child process on free ports, and the backlog (`--count` messages of 1 KiB, 4 queues) is
 * sent by `rmq bench produce` in another, so neither's CPU is counted here.
 * Run: `bun bench/consumer_reads_bench.ts [--mode push|lite] [--reads 3] [--count 300000] [--first N]`
 * (`--first`: the first read stops after N messages, to tell start-up from steady state).
 */
import { spawnSync } from "node:child_process";
import process from "node:process";
import { parseArgs } from "node:util";
import { startLoadServer } from "../cli/_load_server.ts";
import { LitePullConsumer } from "../client/lite_pull_consumer.ts";
import { PushConsumer } from "../client/push_consumer.ts";

const { values } = parseArgs({
  options: {
    mode: { type: "string", default: "push" },
    reads: { type: "string", default: "3" },
    count: { type: "string", default: "300000" },
    first: { type: "string", default: "0" },
  },
});
const mode = values.mode;
if (mode !== "push" && mode !== "lite") throw new Error(`--mode "${mode}" is not push or lite`);
const reads = Number(values.reads);
const total = Number(values.count);
const first = Number(values.first);
const runtime = "Bun" in globalThis ? "bun" : "deno";
const gc = () => (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);

const server = await startLoadServer({ runtime, flush: "async" });
try {
  const prefix = `reads_${Date.now()}`;
  const cli = new URL(`../cli/${runtime}.ts`, import.meta.url).pathname;
  const command = runtime === "bun" ? [process.execPath, cli] : [process.execPath, "run", "-A", cli];
  const fill = spawnSync(command[0]!, [
    ...command.slice(1), "bench", "produce", "--namesrv", server.namesrv, "--modes", "async", "--count", String(total),
    "--warmup", "0", "--topic", prefix,
  ], { encoding: "utf8" });
  if (fill.status !== 0) throw new Error(`Filling the backlog failed: ${fill.stderr}`);
  const topic = `${prefix}_async`;
  for (let read = 0; read < reads; read++) {
    const count = read === 0 && first > 0 ? first : total;
    gc();
    const options = { nameServer: server.namesrv, group: `${topic}_${mode}_${read}`, consumeFromWhere: "FIRST_OFFSET" as const, log: () => {} };
    let consumed = 0;
    const before = process.cpuUsage();
    const started = performance.now();
    if (mode === "push") {
      const consumer = new PushConsumer(options);
      consumer.subscribe(topic, "*");
      const { promise, resolve } = Promise.withResolvers<void>();
      consumer.onMessage(() => {
        if (++consumed === count) resolve();
        return "SUCCESS";
      });
      await consumer.start();
      await promise;
      report(read, count, process.cpuUsage(before), performance.now() - started);
      await consumer.shutdown();
    } else {
      const consumer = new LitePullConsumer(options);
      consumer.subscribe(topic, "*");
      await consumer.start();
      while (consumed < count) consumed += (await consumer.poll(1000)).length;
      report(read, count, process.cpuUsage(before), performance.now() - started);
      await consumer.shutdown();
    }
  }
} finally {
  await server.stop();
}

function report(read: number, count: number, used: { user: number; system: number }, ms: number): void {
  const perMessage = (us: number) => (us / count).toFixed(2);
  console.log(
    `${mode} read ${read} (${count} messages): client ${perMessage(used.user + used.system)} µs CPU a message ` +
      `(user ${perMessage(used.user)}, system ${perMessage(used.system)}), ${Math.round((count / ms) * 1000)} msg/s`,
  );
}
