/**
 * Micro benchmarks of the client side of consuming a pull: decoding a pull response body of 128
 * records of 1 KiB (as a producer's sends are stored: a unique key, optionally tags and keys) into
 * messages with the body CRC check consumers do, and a ProcessQueue taking the batch and marking
 * each message done, one at a time as a push consumer's handlers do and as one batch as a lite pull
 * consumer's poll does. Figures are per pull (128 messages).
 * Run: `bun bench/consume_bench.ts` or `deno run -A bench/consume_bench.ts`; with `--cpu`, the
 * decoding's CPU time a message over 3,000 pulls, garbage collection included, three times; each
 * eager (`decodeRecords`) and as lazy views (`decodeRecordViews`: untouched, and every field read).
 */
import process from "node:process";
import { bench, do_not_optimize, run, summary } from "mitata";
import "../client/node/native_crc32.ts";
import { ProcessQueue } from "../client/process_queue.ts";
import { encodeProperties } from "../core/model/properties.ts";
import { decodeRecords, encodeRecord, PreparedRecord } from "../core/model/record.ts";
import { decodeRecordViews } from "../core/model/record_view.ts";
import type { MessageExt } from "../core/model/message.ts";

const BATCH = 128;
const host = { address: "127.0.0.1", port: 10911 };
const born = { address: "127.0.0.1", port: 53211 };

/** A pull body of `BATCH` records with the given properties each. */
function pullBody(properties: (i: number) => Record<string, string>): Uint8Array {
  const records: Uint8Array[] = [];
  let physical = 1_000_000;
  for (let i = 0; i < BATCH; i++) {
    const body = new Uint8Array(1024).fill(0x62 + (i & 7));
    const prepared = new PreparedRecord({
      topic: "BenchTopic", queueId: 1, flag: 0, sysFlag: 0, bornTimestamp: 1_764_650_000_000 + i, bornHost: born,
      storeHost: host, reconsumeTimes: 0, preparedTransactionOffset: 0, body, properties: encodeProperties(properties(i)),
    });
    const bytes = new Uint8Array(prepared.size);
    encodeRecord(prepared, bytes, 0, 5000 + i, physical, 1_764_650_000_100 + i);
    physical += bytes.length;
    records.push(bytes);
  }
  const out = new Uint8Array(records.reduce((n, r) => n + r.length, 0));
  records.reduce((pos, r) => (out.set(r, pos), pos + r.length), 0);
  return out;
}

const uniqueKey = (i: number) => `7F000001D1A718B4AAC2${(0x1000 + i).toString(16).toUpperCase().padStart(12, "0")}`;
const plain = pullBody((i) => ({ UNIQ_KEY: uniqueKey(i) }));
const tagged = pullBody((i) => ({ TAGS: "TagA", KEYS: `order-${i}`, UNIQ_KEY: uniqueKey(i) }));
const check = { copyBody: false, onCorrupt: () => {} };

summary(() => {
  bench("decodeRecords + CRC: 128 x 1 KiB, unique key only", () => do_not_optimize(decodeRecords(plain, check)));
  bench("decodeRecords + CRC: 128 x 1 KiB, tags, keys, unique key", () => do_not_optimize(decodeRecords(tagged, check)));
  bench("decodeRecordViews + CRC: 128 x 1 KiB, unique key only", () => do_not_optimize(decodeRecordViews(plain, check)));
  bench("decodeRecordViews + CRC: 128 x 1 KiB, tags, keys, unique key", () => do_not_optimize(decodeRecordViews(tagged, check)));
});

const messages = decodeRecords(plain, check);
summary(() => {
  bench("ProcessQueue: add 128, remove one at a time", () => {
    const pq = new ProcessQueue({ topic: "BenchTopic", brokerName: "b", queueId: 1 });
    pq.add(messages);
    for (let i = 0; i < messages.length; i++) pq.removeOne(messages[i]!);
    return do_not_optimize(pq.commitOffset);
  });
  bench("ProcessQueue: add 128, remove as one batch", () => {
    const pq = new ProcessQueue({ topic: "BenchTopic", brokerName: "b", queueId: 1 });
    pq.add(messages);
    return do_not_optimize(pq.remove(messages));
  });
});

// Mitata's means swing with garbage collection; CPU time over many pulls (collection included) is
// the figure to compare: each pull's messages are kept until the next round, as a consumer's cache holds them.
function cpuPerMessage(name: string, body: Uint8Array, decode: (body: Uint8Array) => MessageExt[]): void {
  const rounds = 3000;
  let held: unknown[] = [];
  for (let i = 0; i < 500; i++) held = decode(body);
  const before = process.cpuUsage();
  for (let i = 0; i < rounds; i++) held = decode(body);
  const used = process.cpuUsage(before);
  do_not_optimize(held);
  console.log(`${name}: ${((used.user + used.system) / (rounds * BATCH)).toFixed(3)} µs CPU a message`);
}

/** Views whose every field is read once, as a handler that looks at all of them would. */
function viewsReadWhole(body: Uint8Array): MessageExt[] {
  const views = decodeRecordViews(body, check);
  for (const m of views) do_not_optimize([m.properties, m.keys, m.tags, m.uniqueKey, m.msgId]);
  return views;
}

if (process.argv.includes("--cpu")) {
  for (let run = 0; run < 3; run++) {
    cpuPerMessage("decodeRecords + CRC, unique key only", plain, (b) => decodeRecords(b, check));
    cpuPerMessage("decodeRecordViews + CRC, unique key only", plain, (b) => decodeRecordViews(b, check));
    cpuPerMessage("decodeRecords + CRC, tags, keys, unique key", tagged, (b) => decodeRecords(b, check));
    cpuPerMessage("decodeRecordViews + CRC, tags, keys, unique key", tagged, (b) => decodeRecordViews(b, check));
    cpuPerMessage("decodeRecordViews + CRC + every field read, tags, keys, unique key", tagged, viewsReadWhole);
  }
} else {
  await run();
}
