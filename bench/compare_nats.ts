/**
 * rocketmq-ts next to NATS JetStream on this machine: the same workloads against each, printed
 * side by side with the ratio (rocketmq-ts / JetStream).
 *
 * - sync: `--concurrency` publishers (10), each awaiting its acknowledgement;
 * - async: `--inflight` publishes (1000) awaiting acknowledgements at once;
 * - push: read a backlog of `--count` messages with a push consumer (rocketmq-ts `PushConsumer`,
 *   one member; JetStream `consumer.consume()` with explicit acks);
 * - pull: read a backlog with pull loops of `--batch` messages (rocketmq-ts `PullConsumer`, one loop
 *   a queue, no acks; JetStream `consumer.fetch()` of a consumer with `AckPolicy.None`).
 *
 * JetStream is Debian's `nats-server` (installed with apt-get when missing) with file storage in a
 * temporary directory on a free loopback port; rocketmq-ts is a standalone server in a child
 * process, async flush. Both clients run in this process, on this runtime.
 *
 *   bun bench/compare_nats.ts --count 20000
 *   deno run -A bench/compare_nats.ts --count 20000 --json
 */
import process from "node:process";
import { AckPolicy, connect, type JetStreamManager, type NatsConnection, StorageType } from "nats";
import { sendPipelined } from "../cli/_load.ts";
import { type LoadServer, startLoadServer } from "../cli/_load_server.ts";
import { LatencyRecorder, meterProcess, meterSelf, processCpuSeconds, processMemory } from "../cli/_load_stats.ts";
import { checksPass, compareFlags, type CompareRow, type Figures, onInterrupt, type PeerServer, PeerTally, printRows, rmqWorkload, runtime, startPeerServer, status } from "./_compare.ts";

const WORKLOADS = ["sync", "async", "push", "pull"] as const;
type Workload = typeof WORKLOADS[number];

const { settings, workloads, json } = compareFlags("bench/compare_nats.ts", WORKLOADS, 20_000);
const { count, size, concurrency, inflight, batch, queues } = settings;

// ---- JetStream workloads ----

let streamSeq = 0;
async function freshStream(jsm: JetStreamManager): Promise<{ stream: string; subject: string }> {
  const stream = `BENCH_${Date.now()}_${streamSeq++}`;
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], storage: StorageType.File });
  return { stream, subject: `${stream}.msgs` };
}

async function natsWorkload(nc: NatsConnection, jsm: JetStreamManager, brokerPid: number, workload: Workload): Promise<Figures> {
  const js = nc.jetstream();
  const { stream, subject } = await freshStream(jsm);
  const body = new Uint8Array(size).fill(0x61);
  await js.publish(subject, body); // warm-up, as the rocketmq-ts side does
  const produce = workload === "sync" || workload === "async";
  let client = meterSelf();
  let broker = meterProcess(brokerPid);
  let started = performance.now();
  // The load tool's own send loop, as the rocketmq-ts side sends.
  const sent = new PeerTally();
  await sendPipelined(sent, count, workload === "sync" ? concurrency : inflight, Infinity, () => js.publish(subject, body));
  const sendSeconds = (performance.now() - started) / 1000;
  const sendUsage = { client: client.stop(), broker: broker.stop() };
  const stored = (await jsm.streams.info(stream)).state.messages - 1;
  const counts = { ok: sent.ok, failed: sent.failed, stored, errors: sent.errors, duplicates: 0 };
  if (produce) return { msgsPerSec: sent.ok / sendSeconds, latencyMs: sent.latency.summary(), ...counts, consumed: null, ...sendUsage };
  // Consume the backlog (the warm-up message included, then not counted).
  const durable = `c_${workload}`;
  await jsm.consumers.add(stream, {
    durable_name: durable,
    ack_policy: workload === "push" ? AckPolicy.Explicit : AckPolicy.None,
    filter_subject: subject,
  });
  const consumer = await js.consumers.get(stream, durable);
  const total = sent.ok + 1;
  let consumed = 0;
  const latency = new LatencyRecorder();
  client = meterSelf();
  broker = meterProcess(brokerPid);
  started = performance.now();
  if (workload === "push") {
    const messages = await consumer.consume({ max_messages: 1000 });
    // Stop the subscription at the last message and let the iterator drain: breaking out of it
    // leaves the pull requests of `consume()` pending.
    for await (const m of messages) {
      m.ack();
      if (++consumed >= total) messages.stop();
    }
  } else {
    while (consumed < total) {
      const t0 = performance.now();
      const messages = await consumer.fetch({ max_messages: Math.min(batch, total - consumed), expires: 5000 });
      let got = 0;
      for await (const _ of messages) got++;
      latency.add(performance.now() - t0);
      if (got === 0) break;
      consumed += got;
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const usage = { client: client.stop(), broker: broker.stop() };
  return { msgsPerSec: (consumed - 1) / seconds, latencyMs: latency.summary(), ...counts, consumed: consumed - 1, ...usage };
}

// ---- run both, print side by side ----

const shape: Record<Workload, string> = {
  sync: `${concurrency} publishers`,
  async: `${inflight} in flight`,
  push: "push consumer",
  pull: `pull, ${batch}/pull`,
};
const results: CompareRow[] = [];
let rmqServer: LoadServer | undefined;
let natsServer: PeerServer | undefined;
let nc: NatsConnection | undefined;
const cleanup = async () => {
  await nc?.close().catch(() => {});
  await natsServer?.stop();
  await rmqServer?.stop();
};
onInterrupt(cleanup);
let rmqCpu: number | null = null;
let rmqPeak: number | null = null;
let natsCpu: number | null = null;
let natsPeak: number | null = null;
try {
  natsServer = await startPeerServer({
    binary: "nats-server",
    aptPackage: "nats-server",
    args: (dir, port) => ["-js", "-sd", dir, "-p", String(port), "-a", "127.0.0.1"],
    readyText: "Server is ready",
  });
  rmqServer = await startLoadServer({ runtime, flush: "async" });
  nc = await connect({ servers: `127.0.0.1:${natsServer.port}` });
  const jsm = await nc.jetstreamManager();
  for (const workload of workloads) {
    status(`${workload}: rocketmq-ts…`);
    const rmq = await rmqWorkload(rmqServer, workload, settings);
    status(`${workload}: NATS JetStream…`);
    const peer = await natsWorkload(nc, jsm, natsServer.pid, workload);
    results.push({ workload, shape: shape[workload], rmq, peer });
  }
  status("");
  rmqCpu = processCpuSeconds(rmqServer.startup.pid);
  rmqPeak = processMemory(rmqServer.startup.pid).peakRssBytes;
  natsCpu = processCpuSeconds(natsServer.pid);
  natsPeak = processMemory(natsServer.pid).peakRssBytes;
} finally {
  await cleanup();
}

const servers = {
  rocketmq: { runtime, readyMs: rmqServer!.startup.readyMs, idleRssBytes: rmqServer!.startup.idleRssBytes, peakRssBytes: rmqPeak, cpuSeconds: rmqCpu },
  nats: { version: natsServer!.version, readyMs: natsServer!.readyMs, idleRssBytes: natsServer!.idleRssBytes, peakRssBytes: natsPeak, cpuSeconds: natsCpu },
};
if (json) {
  console.log(JSON.stringify({ settings: { ...settings, runtime }, servers, results: results.map(({ workload, rmq, peer }) => ({ workload, rmq, nats: peer })) }, null, 2));
} else {
  const mib = (b: number | null) => (b === null ? "-" : `${(b / 1024 / 1024).toFixed(1)} MiB`);
  console.log(`${count} messages of ${size} bytes, ${runtime} clients; rocketmq-ts (${runtime} server, async flush, ${queues} queues) vs NATS JetStream ${servers.nats.version} (file storage)`);
  printRows("NATS", results);
  console.log(
    `servers: rocketmq-ts ready in ${servers.rocketmq.readyMs.toFixed(0)} ms, idle RSS ${mib(servers.rocketmq.idleRssBytes)}, peak ${mib(rmqPeak)}, CPU ${rmqCpu ?? "-"} s; ` +
      `nats-server ready in ${servers.nats.readyMs.toFixed(0)} ms, idle RSS ${mib(servers.nats.idleRssBytes)}, peak ${mib(natsPeak)}, CPU ${natsCpu ?? "-"} s`,
  );
}
process.exit(checksPass(results) ? 0 : 1);
