/**
 * The broker's own CPU per send, with no socket, no client and no other process in the way: a
 * broker in this process (file storage in a temporary directory) gets pre-encoded SEND_MESSAGE_V2
 * (or, with `--batch`, SEND_BATCH_RECORDS, what the producer sends, or with `--form v2` too,
 * SEND_BATCH_MESSAGE_V2) frames through its connection's handlers,
 * `--per-turn` requests in one chunk, each chunk's responses awaited before the next, as a
 * socket's reads would bring them. It measures the broker's request path alone (frame decode,
 * send processor, store append, ConsumeQueue, response encode): `bun --cpu-prof` of it shows where
 * that time goes, which a profile of a loaded standalone (mostly waiting in the event loop and the
 * kernel, its samples charged to whatever ran last) does not. Every response is counted; one in 64 is
 * decoded and its code checked.
 *
 *   bun bench/broker_send_bench.ts                                  # 1, 5 and 64 sends a turn
 *   bun bench/broker_send_bench.ts --per-turn 1,5 --count 300000
 *   bun bench/broker_send_bench.ts --batch 32 --per-turn 10 --count 20000
 *   bun bench/broker_send_bench.ts --batch 32 --per-turn 10 --count 300000 --form v2
 *   bun --cpu-prof bench/broker_send_bench.ts --per-turn 5 --count 300000
 *   bun bench/broker_send_bench.ts --per-turn 5 --heap 1000          # heap cells a send, by type
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { decodeCommand, FRAME_PREFIX_SIZE } from "../core/codec/frame.ts";
import { RequestCode, ResponseCode } from "../core/protocol/request_code.ts";
import { Connection } from "../core/remoting/connection.ts";
import { startInProcessBroker } from "./_in_process_broker.ts";
import { encodeBatchRecords } from "../core/model/batch_records.ts";
import { loadAverage, wholeNumber } from "./_compare.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "200000" },
    "per-turn": { type: "string" },
    batch: { type: "string", default: "1" },
    size: { type: "string", default: "1024" },
    queues: { type: "string", default: "4" },
    flush: { type: "string", default: "async" },
    warmup: { type: "string", default: "20000" },
    heap: { type: "string" },
    form: { type: "string", default: "records" },
  },
});
const count = wholeNumber("count", values.count!);
const batch = wholeNumber("batch", values.batch!);
const size = wholeNumber("size", values.size!);
const queues = wholeNumber("queues", values.queues!);
const warmup = wholeNumber("warmup", values.warmup!, 0);
const perTurns = (values["per-turn"] ?? "1,5,64").split(",").map((n) => wholeNumber("per-turn", n));
if (values.flush !== "async" && values.flush !== "sync") {
  console.error(`--flush must be "async" or "sync", got "${values.flush}"`);
  process.exit(2);
}
const flushMode = values.flush;
if (values.form !== "records" && values.form !== "v2") {
  console.error(`--form must be "records" or "v2", got "${values.form}"`);
  process.exit(2);
}
const records = batch > 1 && values.form === "records";
const batchName = records ? "SEND_BATCH_RECORDS" : "SEND_BATCH_MESSAGE_V2";

const { connect, close } = await startInProcessBroker({ flushMode });

/** Encodes requests the way the producer does (same header fields), through a capturing connection. */
async function encodeTurns(topic: string, perTurn: number, turns: number): Promise<Uint8Array[]> {
  const frames: Uint8Array[] = [];
  const encoder = new Connection();
  encoder.attach({ remoteAddress: "bench", bufferedAmount: 0, writeCopies: true, write: (data) => frames.push(data.slice()), close() {} });
  const body = new Uint8Array(size * batch).fill(0x61);
  const out: Uint8Array[] = [];
  for (let t = 0; t < turns; t++) {
    for (let i = 0; i < perTurn; i++) {
      const n = t * perTurn + i;
      // What the producer sends: a unique key (and here no tags or keys).
      const properties = (k: number) => `UNIQ_KEY\u0001BENCH${(n * batch + k).toString(16).padStart(24, "0")}\u0002`;
      const header = batch === 1
        ? { a: "bench", b: topic, d: queues, e: n % queues, g: Date.now(), h: 0, i: properties(0) }
        : records
        ? { a: "bench", b: topic, d: queues, e: n % queues, g: Date.now(), n: batch }
        : { a: "bench", b: topic, d: queues, e: n % queues, g: Date.now(), m: Array.from({ length: batch }, (_, k) => [size, 0, properties(k)]) };
      const payload = records
        ? encodeBatchRecords(topic, Array.from({ length: batch }, (_, k) => ({ body: body.subarray(k * size, (k + 1) * size), flag: 0, properties: properties(k) })), { bornTimestamp: Date.now() })
        : body;
      const code = batch === 1 ? RequestCode.SEND_MESSAGE_V2 : records ? RequestCode.SEND_BATCH_RECORDS : RequestCode.SEND_BATCH_MESSAGE_V2;
      encoder.request(code, header, payload).catch(() => {});
    }
    await Promise.resolve();
    const chunk = new Uint8Array(frames.reduce((s, f) => s + f.length, 0));
    let pos = 0;
    for (const f of frames) {
      chunk.set(f, pos);
      pos += f.length;
    }
    frames.length = 0;
    out.push(chunk);
  }
  encoder.close();
  return out;
}

let answered = 0;
let bad: string | undefined;
let waiting: { n: number; resolve: () => void } | undefined;
const handlers = connect({
  remoteAddress: "127.0.0.1:50000",
  bufferedAmount: 0,
  writeCopies: true,
  write(data) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let pos = 0; pos < data.length;) {
      const length = view.getUint32(pos);
      if (answered % 64 === 0) {
        const response = decodeCommand(data.subarray(pos + FRAME_PREFIX_SIZE, pos + FRAME_PREFIX_SIZE + length));
        if (response.code !== ResponseCode.SUCCESS) bad ??= `code ${response.code}: ${response.remark}`;
      }
      answered++;
      pos += FRAME_PREFIX_SIZE + length;
    }
    if (waiting !== undefined && answered >= waiting.n) {
      const w = waiting;
      waiting = undefined;
      w.resolve();
    }
  },
  close() {},
});

async function run(topic: string, perTurn: number, requests: number): Promise<{ cpuUs: number; sysUs: number; wallMs: number }> {
  const ring = await encodeTurns(topic, perTurn, Math.min(1000, Math.ceil(requests / perTurn)));
  const turns = Math.ceil(requests / perTurn);
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let t = 0; t < turns; t++) {
    const target = answered + perTurn;
    // Not copied: nothing the broker keeps refers to a chunk once its responses are out (the store
    // copies what it is given into its own write buffer), so the ring's chunks are handed out again.
    handlers.data(ring[t % ring.length]!);
    if (answered < target) await new Promise<void>((resolve) => (waiting = { n: target, resolve }));
    if (bad !== undefined) throw new Error(`A send failed: ${bad}`);
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { cpuUs: cpu.user + cpu.system, sysUs: cpu.system, wallMs };
}

/** Bun's heap counters (`bun:jsc`), when `--heap` asks for them. */
type HeapStats = { objectTypeCounts: Record<string, number> };
const heapStats = values.heap === undefined ? undefined : ((await import("bun:jsc" as string)) as { heapStats(): HeapStats }).heapStats;

/**
 * Heap cells made by `sends` sends after a collection, by type (from a count small enough that
 * no collection runs between the two snapshots, so nothing made is freed before it is counted).
 */
async function cellsPerSend(perTurn: number, sends: number): Promise<void> {
  await run(`BenchHeap${perTurn}`, perTurn, 20000);
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
  const before = heapStats!().objectTypeCounts;
  await run(`BenchHeap${perTurn}`, perTurn, sends);
  const after = heapStats!().objectTypeCounts;
  const rows = Object.keys(after)
    .map((type) => [type, ((after[type] ?? 0) - (before[type] ?? 0)) / sends] as const)
    .filter(([, n]) => n >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  console.log(`heap cells a send at ${perTurn} a turn: ${rows.reduce((s, [, n]) => s + n, 0).toFixed(1)} (${rows.map(([t, n]) => `${t} ${n.toFixed(1)}`).join(", ")})`);
}

console.log(`broker request path in-process: ${batch === 1 ? "SEND_MESSAGE_V2" : `${batchName} of ${batch}`}, ${size}-byte bodies, ${queues} queues, ${flushMode} flush, load average ${loadAverage()}`);
console.log("per turn   requests   messages   msg/s        µs CPU/msg   (of it sys)  µs CPU/request");
for (const perTurn of perTurns) {
  if (heapStats !== undefined) {
    await cellsPerSend(perTurn, wholeNumber("heap", values.heap!));
    continue;
  }
  if (warmup > 0) await run(`BenchWarm${perTurn}`, perTurn, Math.ceil(warmup / batch));
  const requests = Math.ceil(count / batch);
  const { cpuUs, sysUs, wallMs } = await run(`BenchSend${perTurn}`, perTurn, requests);
  const turns = Math.ceil(requests / perTurn);
  const messages = turns * perTurn * batch;
  console.log(
    `${String(perTurn).padEnd(10)} ${String(turns * perTurn).padEnd(10)} ${String(messages).padEnd(10)} ` +
      `${String(Math.round(messages / (wallMs / 1000))).padEnd(12)} ${(cpuUs / messages).toFixed(2).padEnd(12)} ${(sysUs / messages).toFixed(2).padEnd(12)} ${(cpuUs / (turns * perTurn)).toFixed(2)}`,
  );
}
await close();
