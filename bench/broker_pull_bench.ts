/**
 * The broker's own CPU per message served by a pull, with no socket, no client and no other
 * process in the way: a broker in this process (file storage in a temporary directory) is given a
 * backlog of `--count` messages over `--queues` queues (stored interleaved, as concurrent sends
 * store them), then gets PULL_MESSAGE frames through its connection's handlers, one pull of each
 * queue a turn (`--batch` messages each), as a consumer's pulls would bring them, until the backlog
 * is read. It measures the pull path alone (frame decode, pull processor, store read, response
 * encode, and one copy of what it writes, as a socket write makes); every response is decoded, after
 * the clock of its turn stopped, to follow its `nextBeginOffset`.
 *
 *   bun bench/broker_pull_bench.ts
 *   bun bench/broker_pull_bench.ts --count 300000 --batch 128 --rounds 3
 *   bun bench/broker_pull_bench.ts --run 12       # each queue's records stored in runs of 12
 *   bun --cpu-prof bench/broker_pull_bench.ts
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { decodeCommand, FRAME_PREFIX_SIZE } from "../core/codec/frame.ts";
import { RequestCode, ResponseCode } from "../core/protocol/request_code.ts";
import { Connection } from "../core/remoting/connection.ts";
import { startInProcessBroker } from "./_in_process_broker.ts";
import { loadAverage, wholeNumber } from "./_compare.ts";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "200000" },
    batch: { type: "string", default: "128" },
    size: { type: "string", default: "1024" },
    queues: { type: "string", default: "4" },
    rounds: { type: "string", default: "3" },
    run: { type: "string", default: "1" },
  },
});
const count = wholeNumber("count", values.count!);
const batch = wholeNumber("batch", values.batch!);
const size = wholeNumber("size", values.size!);
const queues = wholeNumber("queues", values.queues!);
const rounds = wholeNumber("rounds", values.rounds!);
const run = wholeNumber("run", values.run!);
const topic = "BenchPull";

const { broker, connect, close } = await startInProcessBroker();
const store = broker.context.store;
const body = new Uint8Array(size).fill(0x61);
const inputs = Array.from({ length: queues }, (_, q) => ({
  topic,
  queueId: q,
  flag: 0,
  sysFlag: 0,
  bornTimestamp: Date.now(),
  bornHost: { address: "127.0.0.1", port: 50000 },
  reconsumeTimes: 0,
  preparedTransactionOffset: 0,
  body,
  properties: "TAGS\u0001TagA\u0002",
}));
await broker.context.topics.ensure(topic, queues, 6);
// `--run` messages a group, the queues in turn: stored interleaved in runs, as sends to the queues
// store them (the sends of one socket read are stored grouped by queue).
for (let n = 0; n < count; n += 1000) {
  const groups: (typeof inputs)[] = [];
  for (let i = n; i < Math.min(n + 1000, count); i += run) {
    groups.push(Array.from({ length: Math.min(run, count - i, n + 1000 - i) }, () => inputs[Math.floor(i / run) % queues]!));
  }
  await store.putMessageGroups(groups);
}

/** What each response said, by request id. */
const answers = new Map<number, { code: number; next: number; remark?: string }>();
/** What the broker wrote in a turn, copied as a socket write copies it; decoded after the clock stops. */
const written: Uint8Array[] = [];
let frames = 0;
let waiting: { n: number; resolve: () => void } | undefined;
const handlers = connect({
  remoteAddress: "127.0.0.1:50000",
  bufferedAmount: 0,
  writeCopies: true,
  write(data) {
    written.push(data.slice());
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let pos = 0; pos < data.length; pos += FRAME_PREFIX_SIZE + view.getUint32(pos)) frames++;
    if (waiting !== undefined && frames >= waiting.n) {
      const w = waiting;
      waiting = undefined;
      w.resolve();
    }
  },
  close() {},
});

function decodeWritten(): void {
  for (const data of written) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let pos = 0; pos < data.length;) {
      const length = view.getUint32(pos);
      const response = decodeCommand(data.subarray(pos + FRAME_PREFIX_SIZE, pos + FRAME_PREFIX_SIZE + length));
      answers.set(response.id, { code: response.code, next: Number(response.header.nextBeginOffset), remark: response.remark });
      pos += FRAME_PREFIX_SIZE + length;
    }
  }
  written.length = 0;
}

/** Encodes the pulls of a turn, as the consumer sends them, through a capturing connection. */
function pullFrames(group: string, offsets: number[]): Uint8Array {
  const frames: Uint8Array[] = [];
  const encoder = new Connection();
  encoder.attach({ remoteAddress: "bench", bufferedAmount: 0, writeCopies: true, write: (data) => frames.push(data.slice()), close() {} });
  for (let q = 0; q < offsets.length; q++) {
    const header = { consumerGroup: group, topic, queueId: q, queueOffset: offsets[q]!, maxMsgNums: batch, sysFlag: 0, commitOffset: -1, suspendTimeoutMillis: 0, subscription: "*" };
    encoder.request(RequestCode.PULL_MESSAGE, header).catch(() => {});
  }
  encoder.close();
  const chunk = new Uint8Array(frames.reduce((s, f) => s + f.length, 0));
  let pos = 0;
  for (const f of frames) {
    chunk.set(f, pos);
    pos += f.length;
  }
  return chunk;
}

async function read(group: string): Promise<{ cpuUs: number; wallMs: number; messages: number }> {
  const offsets = new Array<number>(queues).fill(0);
  let messages = 0;
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
  let cpuUs = 0;
  const t0 = performance.now();
  while (offsets.some((o, q) => o < store.getMaxOffset(topic, q))) {
    // Request ids start at 1 in each turn's encoder: the answer to queue q has id q + 1.
    const chunk = pullFrames(group, offsets);
    answers.clear();
    frames = 0;
    const cpu0 = process.cpuUsage();
    handlers.data(chunk);
    if (frames < queues) await new Promise<void>((resolve) => (waiting = { n: queues, resolve }));
    const cpu = process.cpuUsage(cpu0);
    cpuUs += cpu.user + cpu.system;
    decodeWritten();
    for (let q = 0; q < queues; q++) {
      const answer = answers.get(q + 1)!;
      if (answer.code !== ResponseCode.SUCCESS && answer.code !== ResponseCode.PULL_NOT_FOUND) throw new Error(`Pull failed: code ${answer.code}: ${answer.remark}`);
      messages += answer.next - offsets[q]!;
      offsets[q] = answer.next;
    }
  }
  return { cpuUs, wallMs: performance.now() - t0, messages };
}

console.log(`broker pull path in-process: ${count} messages of ${size} bytes over ${queues} queues, ${batch} a pull, load average ${loadAverage()}`);
console.log("round   messages   µs CPU/msg (broker side of each turn)");
for (let r = 0; r < rounds; r++) {
  const { cpuUs, messages } = await read(`BenchGroup${r}`);
  if (messages !== count) throw new Error(`Read ${messages} messages, expected ${count}`);
  console.log(`${String(r + 1).padEnd(7)} ${String(messages).padEnd(10)} ${(cpuUs / messages).toFixed(3)}`);
}
await close();
