/**
 * A million pending timers against a broker process: enqueues `--count` timers (default
 * 1,000,000) due between `--from-hours` (default 1) and `--days` (default 7) ahead, spread evenly,
 * into a standalone server in a child process (the load tool's, Bun, async flush) over one raw
 * connection with `--inflight` sends in flight, and follows the broker's resident memory
 * (`/proc/<pid>/status`) and its timer counters (GET_BROKER_RUNTIME_INFO) as they go.
 *
 * Reports the send rate (acknowledged timer sends/s), the enqueue rate (timers placed in the
 * timer log and wheel/s, until every one is pending), broker CPU a timer, RSS before, every
 * tenth of the way and 10 s after the last, and the RSS growth per pending timer from before to
 * then. The timer store keeps pending timers on disk and loads only the seconds of its lookahead
 * window, so that growth stays near zero (a timer held in memory would cost about 80 bytes: an
 * object of seven numbers and its heap slot); the script fails when it exceeds
 * `--max-bytes-per-timer` (default 32) or when timers are loaded in memory though none is due
 * within the window.
 *
 * `--plain` sends the same messages without a delivery time, for a control: what the same count of
 * plain messages costs the broker's memory (no timer checks then).
 *
 * Usage: bun bench/timer_million_bench.ts [--count 1000000] [--days 7] [--from-hours 1] [--inflight 256] [--size 64] [--plain]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { dial } from "../client/bun/connect.ts";
import { startLoadServer } from "../cli/_load_server.ts";
import { processCpuSeconds, processMemory } from "../cli/_load_stats.ts";
import { RequestCode, ResponseCode } from "../core/protocol/request_code.ts";
import { connect, type Connection } from "../core/remoting/connection.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1000000" },
    days: { type: "string", default: "7" },
    "from-hours": { type: "string", default: "1" },
    inflight: { type: "string", default: "256" },
    size: { type: "string", default: "64" },
    "max-bytes-per-timer": { type: "string", default: "32" },
    plain: { type: "boolean", default: false },
  },
});
const count = Number(values.count);
const fromMs = Number(values["from-hours"]) * 3_600_000;
const spanMs = Number(values.days) * 86_400_000 - fromMs;
const inflight = Number(values.inflight);
const body = new Uint8Array(Number(values.size)).fill(120);
const maxBytesPerTimer = Number(values["max-bytes-per-timer"]);
const plain = values.plain;
const topic = `bench_timers_${Date.now()}`;
const MIB = 1024 * 1024;

interface TimerFigures {
  pending: number;
  loaded: number;
  logEntries: number;
  enqueueOffset: number;
  enqueueMax: number;
  lastError?: string;
}

async function timerFigures(connection: Connection): Promise<TimerFigures> {
  const info = await connection.request(RequestCode.GET_BROKER_RUNTIME_INFO, {}, undefined, 30_000);
  if (info.code !== ResponseCode.SUCCESS) throw new Error(`Runtime info: ${info.code} ${info.remark}`);
  return info.header.timers as TimerFigures;
}

const server = await startLoadServer({ runtime: "bun", flush: "async" });
const pid = server.startup.pid;
const rss = () => processMemory(pid).rssBytes ?? Number.NaN;
const connection = await connect(dial, server.broker);
try {
  const created = await connection.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic, readQueueNums: 4, writeQueueNums: 4 });
  if (created.code !== ResponseCode.SUCCESS) throw new Error(`Create topic: ${created.code} ${created.remark}`);

  const start = Date.now();
  const send = async (i: number) => {
    // Evenly spread (golden-ratio sequence) over the span, in send order.
    const due = start + fromMs + Math.floor(((i * 0.6180339887498949) % 1) * spanMs);
    const reply = await connection.request(
      RequestCode.SEND_MESSAGE,
      { topic, queueId: i % 4, bornTimestamp: Date.now(), properties: plain ? {} : { TIMER_DELIVER_MS: String(due) } },
      body,
      30_000,
    );
    if (reply.code !== ResponseCode.SUCCESS) throw new Error(`Send ${i}: ${reply.code} ${reply.remark}`);
  };
  // Warm-up (JIT, first segment files): 1,000 messages (timers: counted as pending like the rest).
  const warmup = 1000;
  for (let i = 0; i < warmup; i += inflight) await Promise.all(Array.from({ length: Math.min(inflight, warmup - i) }, (_, k) => send(i + k)));
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const rssBefore = rss();
  const cpuBefore = processCpuSeconds(pid) ?? Number.NaN;
  const samples: { sent: number; rssBytes: number }[] = [{ sent: 0, rssBytes: rssBefore }];
  const tenth = Math.ceil(count / 10);

  const sendStart = performance.now();
  let next = warmup;
  let acknowledged = 0;
  await Promise.all(Array.from({ length: inflight }, async () => {
    while (next < warmup + count) {
      await send(next++);
      if (++acknowledged % tenth === 0) samples.push({ sent: acknowledged, rssBytes: rss() });
    }
  }));
  const sendSeconds = (performance.now() - sendStart) / 1000;
  let figures = await timerFigures(connection);
  while (!plain && (figures.enqueueOffset < figures.enqueueMax || figures.pending < warmup + count)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    figures = await timerFigures(connection);
  }
  const enqueueSeconds = (performance.now() - sendStart) / 1000;
  const cpu = (processCpuSeconds(pid) ?? Number.NaN) - cpuBefore;
  const rssEnqueued = rss();
  // Settle: the broker is idle, its timers wait on disk.
  await new Promise((resolve) => setTimeout(resolve, 10_000));
  const rssAfter = rss();
  const peak = processMemory(pid).peakRssBytes ?? Number.NaN;
  figures = await timerFigures(connection);
  const bytesPerTimer = (rssAfter - rssBefore) / count;

  const what = plain ? "plain messages (control, no delivery time)" : `timers due ${values["from-hours"]} h to ${values.days} days ahead`;
  console.log(`${count} ${what} of ${body.length} bytes, ${inflight} in flight, bun broker, async flush`);
  console.log(`sends:    ${Math.round(count / sendSeconds)}/s acknowledged (${sendSeconds.toFixed(1)} s)`);
  console.log(`enqueue:  ${Math.round(count / enqueueSeconds)}/s until all pending (${enqueueSeconds.toFixed(1)} s); broker CPU ${((cpu / count) * 1e6).toFixed(1)} us a message (send + enqueue)`);
  console.log("broker RSS as they went in:");
  for (const sample of samples) console.log(`  ${String(sample.sent).padStart(9)} sent  ${(sample.rssBytes / MIB).toFixed(1).padStart(7)} MiB`);
  console.log(`  all enqueued  ${(rssEnqueued / MIB).toFixed(1)} MiB; 10 s later ${(rssAfter / MIB).toFixed(1)} MiB (before: ${(rssBefore / MIB).toFixed(1)} MiB, peak ${(peak / MIB).toFixed(1)} MiB)`);
  console.log(`timer store: ${figures.pending} pending, ${figures.loaded} loaded in memory, ${figures.logEntries} timer log entries on disk`);
  console.log(`RSS growth, before to 10 s after: ${bytesPerTimer.toFixed(1)} bytes a message (limit ${maxBytesPerTimer})`);
  if (!plain) {
    if (figures.lastError !== undefined) throw new Error(`Timer store error: ${figures.lastError}`);
    if (figures.pending !== warmup + count) throw new Error(`${warmup + count} timers sent but ${figures.pending} pending`);
    if (figures.loaded !== 0) throw new Error(`${figures.loaded} timers are loaded in memory though none is due within the lookahead window`);
    if (!(bytesPerTimer <= maxBytesPerTimer)) throw new Error(`Memory is not bounded: ${bytesPerTimer.toFixed(1)} bytes a pending timer`);
    console.log("bounded: yes");
  }
} finally {
  connection.close();
  await server.stop();
}
