/**
 * What a fresh broker's first messages cost (issue #19, cold start): starts a standalone in a child
 * process (`--no-admin --no-grpc`, as the load tool does), sends `--count` messages of 1 KiB in
 * sync mode from `--concurrency` awaiting senders (the load tool's sync workload), and prints the
 * broker's and this client's CPU per message for each slice of the run: the first 100, up to
 * 1,000, 10,000, then every further 10,000. Broker CPU is summed over its threads'
 * `/proc/<pid>/task/<tid>/schedstat` (nanoseconds, where `/proc/<pid>/stat` counts 10 ms ticks).
 * `--threads` adds the broker's CPU per message by thread (main, JIT workers, GC helpers, …).
 * `--warmup n` first sends `n` messages to a topic of its own, as the load tool's `--warmup` does.
 *
 *   bun bench/cold_bench.ts
 *   bun bench/cold_bench.ts --warmup 20000
 *   bun bench/cold_bench.ts --runs 3 --json
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { Producer } from "../client/producer.ts";
import { startLoadServer } from "../cli/_load_server.ts";
import { dial } from "../client/bun/connect.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "50000" },
    warmup: { type: "string", default: "0" },
    concurrency: { type: "string", default: "10" },
    runs: { type: "string", default: "1" },
    json: { type: "boolean", default: false },
    threads: { type: "boolean", default: false },
  },
});
const count = Number(values.count);
const warmup = Number(values.warmup);
const concurrency = Number(values.concurrency);
const runs = Number(values.runs);
for (const [name, n] of [["count", count], ["warmup", warmup], ["concurrency", concurrency], ["runs", runs]] as const) {
  if (!Number.isSafeInteger(n) || n < (name === "warmup" ? 0 : 1)) throw new RangeError(`Invalid --${name} "${n}": expected a whole number`);
}

/** CPU nanoseconds of a process's threads so far, by thread name (`comm`; the main thread's is "main"). */
function threadsCpuNs(pid: number): Map<string, number> {
  const byName = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      const name = tid === String(pid) ? "main" : readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      byName.set(name, (byName.get(name) ?? 0) + ns);
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return byName;
}

const sum = (byName: Map<string, number>) => [...byName.values()].reduce((a, b) => a + b, 0);

/** Per-message microseconds of each thread name between two readings, largest first, over 0.5 µs. */
function threadsDelta(before: Map<string, number>, after: Map<string, number>, n: number): Record<string, number> {
  const delta: [string, number][] = [...after].map(([name, ns]) => [name, (ns - (before.get(name) ?? 0)) / 1000 / n]);
  return Object.fromEntries(delta.filter(([, us]) => us >= 0.5).sort((a, b) => b[1] - a[1]));
}

const selfCpuNs = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) * 1000;
};

/** Where the slices end: 100, 1,000, 10,000, then every 10,000 up to `count`. */
function sliceEnds(count: number): number[] {
  const ends = [100, 1000, 10_000].filter((n) => n < count);
  for (let n = 20_000; n < count; n += 10_000) ends.push(n);
  ends.push(count);
  return ends;
}

interface Slice {
  from: number;
  to: number;
  ms: number;
  brokerUsPerMsg: number;
  clientUsPerMsg: number;
  /** Broker CPU per message by thread name. */
  brokerThreads: Record<string, number>;
}

async function sendSync(producer: Producer, topic: string, body: Uint8Array, n: number): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) {
      next++;
      await producer.send({ topic, body });
    }
  }));
}

async function oneRun(): Promise<{ slices: Slice[]; idleRssMiB: number }> {
  const server = await startLoadServer({ runtime: "bun", flush: "async" });
  const pid = server.startup.pid;
  const producer = new Producer({ nameServer: [server.namesrv], dial, defaultTopicQueueNums: 4 });
  const body = new Uint8Array(1024).fill(0x61);
  const slices: Slice[] = [];
  try {
    await producer.start();
    const topic = `cold_${Date.now()}`;
    // One send first, as the load tool does: routes, topic creation and the connection.
    await producer.send({ topic, body });
    if (warmup > 0) await sendSync(producer, `${topic}_warmup`, body, warmup);
    let done = 0;
    for (const end of sliceEnds(count)) {
      const [b0, c0, t0] = [threadsCpuNs(pid), selfCpuNs(), performance.now()];
      await sendSync(producer, topic, body, end - done);
      const [b1, c1, t1] = [threadsCpuNs(pid), selfCpuNs(), performance.now()];
      const n = end - done;
      slices.push({
        from: done,
        to: end,
        ms: t1 - t0,
        brokerUsPerMsg: (sum(b1) - sum(b0)) / 1000 / n,
        clientUsPerMsg: (c1 - c0) / 1000 / n,
        brokerThreads: threadsDelta(b0, b1, n),
      });
      done = end;
    }
  } finally {
    await producer.shutdown();
    await server.stop();
  }
  return { slices, idleRssMiB: (server.startup.idleRssBytes ?? NaN) / 1048576 };
}

const load = () => readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
const results: { slices: Slice[]; idleRssMiB: number }[] = [];
for (let i = 0; i < runs; i++) results.push(await oneRun());
if (values.json) {
  console.log(JSON.stringify(results, null, 2));
} else {
  console.log(`sync, ${concurrency} senders, 1 KiB, warm-up ${warmup}, ${runs} run(s); load ${load()}`);
  console.log("slice              ms   broker µs/msg   client µs/msg");
  for (let s = 0; s < results[0]!.slices.length; s++) {
    const column = (key: "ms" | "brokerUsPerMsg" | "clientUsPerMsg") => results.map((r) => r.slices[s]![key].toFixed(1)).join(" / ");
    const { from, to } = results[0]!.slices[s]!;
    console.log(`${`${from}–${to}`.padEnd(14)} ${column("ms").padStart(8)}   ${column("brokerUsPerMsg").padStart(13)}   ${column("clientUsPerMsg").padStart(13)}`);
    if (values.threads) {
      for (const r of results) console.log(`    ${Object.entries(r.slices[s]!.brokerThreads).map(([name, us]) => `${name} ${us.toFixed(1)}`).join(", ")}`);
    }
  }
  const total = (r: { slices: Slice[] }, key: "brokerUsPerMsg" | "clientUsPerMsg") => r.slices.reduce((sum, s) => sum + s[key] * (s.to - s.from), 0) / count;
  console.log(`all ${count}: broker ${results.map((r) => total(r, "brokerUsPerMsg").toFixed(1)).join(" / ")} µs/msg, client ${results.map((r) => total(r, "clientUsPerMsg").toFixed(1)).join(" / ")} µs/msg`);
}
process.exit(0);
