/**
 * The key index at scale, on **file** storage through the store itself (no broker, no network):
 *
 * 1. Put cost with and without the index: the same keyed puts (a unique key and two keys each,
 *    async flush, batches of puts per tick as the broker makes them), CPU time per message from
 *    `process.cpuUsage()`, runs alternated off/on; the index's deferred work and its flush are
 *    inside the measured span.
 * 2. Lookups among many messages: builds a store of `--messages` (default 10,000,000) messages with
 *    `putMessages`, reopens it (a restart), then times lookups of random unique keys, random keys
 *    of one message, and keys shared by 100 messages (32 returned).
 * 3. Rebuild: removes the index directory and reopens, which indexes the whole log again.
 *
 * Run: `bun bench/key_index_bench.ts [--messages 10000000] [--put-messages 200000] [--dir /tmp/x] [--keep]`.
 * Needs about 260 bytes of disk per message (10M: ~2.6 GB, removed at the end unless --keep).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeProperties } from "../core/model/properties.ts";
import { MessageStore } from "../server/store/message_store.ts";
import type { StoreInput } from "../server/store/store_types.ts";

const { values } = parseArgs({
  options: {
    messages: { type: "string", default: "10000000" },
    "put-messages": { type: "string", default: "200000" },
    dir: { type: "string" },
    keep: { type: "boolean", default: false },
  },
});
const MESSAGES = Number(values.messages);
const PUT_MESSAGES = Number(values["put-messages"]);
const root = values.dir ?? mkdtempSync(join(tmpdir(), "rmq-index-bench-"));
const host = { address: "127.0.0.1", port: 10911 };
const QUEUES = 8;
const BATCH = 256;
const body = new Uint8Array(100).map((_, i) => i * 7);

function uniqueKey(i: number): string {
  return `0A0000020000C350${i.toString(16).toUpperCase().padStart(16, "0")}`;
}

function input(i: number): StoreInput {
  return {
    topic: "BenchTopic",
    queueId: i % QUEUES,
    flag: 0,
    sysFlag: 0,
    bornTimestamp: 1_750_000_000_000,
    bornHost: { address: "10.0.0.2", port: 50000 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    body,
    properties: encodeProperties({ TAGS: "TagA", KEYS: `order-${i} user-${i % 100_000}`, UNIQ_KEY: uniqueKey(i) }),
  };
}

/** Puts messages `from` to `to` in batches of `BATCH` per queue, `QUEUES` batches per tick. */
async function fill(store: MessageStore, from: number, to: number, onProgress?: (done: number) => void): Promise<void> {
  for (let i = from; i < to;) {
    const puts: Promise<unknown>[] = [];
    for (let q = 0; q < QUEUES && i < to; q++) {
      const batch: StoreInput[] = [];
      const queueId = q;
      for (let k = 0; k < BATCH && i < to; k++, i++) batch.push({ ...input(i), queueId });
      puts.push(store.putMessages(batch).then((results) => {
        for (const r of results) if (r.status !== "PUT_OK") throw new Error(`Put failed: ${r.status} ${r.error ?? ""}`);
      }));
    }
    await Promise.all(puts);
    onProgress?.(i);
  }
}

function open(dir: string, messageIndexEnable: boolean): Promise<MessageStore> {
  return MessageStore.open({ dataDir: dir, storeHost: host, messageIndexEnable, flushIntervalMs: 3_600_000, log: (line) => console.log(`  store: ${line}`) });
}

const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

// ---- 1. put cost with and without the index
console.log(`Put cost: ${PUT_MESSAGES} keyed messages per run (100-byte bodies, 3 keys each), file storage, async flush`);
const runs: Record<"off" | "on", { cpu: number[]; wall: number[] }> = { off: { cpu: [], wall: [] }, on: { cpu: [], wall: [] } };
for (const mode of ["off", "on", "off", "on", "off", "on"] as const) {
  const dir = join(root, `put-${mode}-${runs[mode].cpu.length}`);
  const store = await open(dir, mode === "on");
  await fill(store, 0, 2000); // warm-up
  const cpu0 = cpuUs();
  const wall0 = performance.now();
  await fill(store, 2000, 2000 + PUT_MESSAGES);
  await store.flush();
  const cpu = (cpuUs() - cpu0) / PUT_MESSAGES;
  const wall = performance.now() - wall0;
  runs[mode].cpu.push(cpu);
  runs[mode].wall.push(wall);
  console.log(`  index ${mode}: ${cpu.toFixed(2)} µs CPU/msg, ${(PUT_MESSAGES / (wall / 1000)).toFixed(0)} msg/s wall`);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const off = median(runs.off.cpu);
const on = median(runs.on.cpu);
console.log(
  `  median: off ${off.toFixed(2)} µs/msg (${(PUT_MESSAGES / (median(runs.off.wall) / 1000)).toFixed(0)} msg/s), ` +
    `on ${on.toFixed(2)} µs/msg (${(PUT_MESSAGES / (median(runs.on.wall) / 1000)).toFixed(0)} msg/s): indexing adds ${(on - off).toFixed(2)} µs CPU per message`,
);

// ---- 2. lookups among MESSAGES messages
const dir = join(root, "big");
console.log(`\nBuilding a store of ${MESSAGES} messages in ${dir} …`);
let store = await open(dir, true);
const buildStart = performance.now();
const buildCpu = cpuUs();
let lastReport = buildStart;
await fill(store, 0, MESSAGES, (done) => {
  const now = performance.now();
  if (now - lastReport > 10_000) {
    lastReport = now;
    console.log(`  ${done} messages, ${((now - buildStart) / 1000).toFixed(0)} s`);
  }
});
await store.flush();
const buildMs = performance.now() - buildStart;
console.log(
  `  built in ${(buildMs / 1000).toFixed(1)} s wall (${(MESSAGES / (buildMs / 1000)).toFixed(0)} msg/s), ` +
    `${((cpuUs() - buildCpu) / MESSAGES).toFixed(2)} µs CPU/msg; index: ${JSON.stringify({ files: store.stats.index!.files, entries: store.stats.index!.entries })}, ` +
    `CommitLog ${(store.stats.commitLogMaxOffset / 2 ** 30).toFixed(2)} GiB`,
);
await store.close();
const openStart = performance.now();
store = await open(dir, true);
console.log(
  `  reopened in ${(performance.now() - openStart).toFixed(0)} ms (clean shutdown: nothing to re-index; of it CommitLog recovery ` +
    `${store.stats.recovery.durationMs} ms, key index ${store.stats.index!.recovery.durationMs} ms)`,
);

/** Simple deterministic PRNG, so runs look up the same keys. */
let seed = 12345;
const random = (n: number) => {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
};

function time(label: string, count: number, lookup: (i: number) => { count: number; complete: boolean }, expect: (i: number, r: { count: number; complete: boolean }) => boolean): void {
  const ms: number[] = [];
  for (let n = 0; n < count; n++) {
    const i = random(MESSAGES);
    const t0 = performance.now();
    const result = lookup(i);
    ms.push(performance.now() - t0);
    if (!expect(i, result)) throw new Error(`${label}: lookup ${i} answered ${JSON.stringify({ count: result.count, complete: result.complete })}`);
  }
  ms.sort((a, b) => a - b);
  const at = (p: number) => ms[Math.min(ms.length - 1, Math.floor(ms.length * p))]!.toFixed(3);
  const mean = (ms.reduce((a, b) => a + b, 0) / ms.length).toFixed(3);
  console.log(`  ${label.padEnd(44)} ${count} lookups: mean ${mean} ms, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`);
}

/** Messages with key `user-<i % 100000>`. */
const perKey = (i: number) => Math.floor(MESSAGES / 100_000) + (i % 100_000 < MESSAGES % 100_000 ? 1 : 0);
console.log(`\nLookups among ${MESSAGES} messages (page cache warm):`);
time("unique key (queryMessage uniqueKey)", 2000, (i) => store.queryMessage("BenchTopic", uniqueKey(i), { uniqueKey: true }), (_, r) => r.count === 1 && r.complete);
time("key of one message (order-<i>)", 2000, (i) => store.queryMessage("BenchTopic", `order-${i}`), (_, r) => r.count === 1 && r.complete);
time(`key of ${perKey(0)} messages, ≤ 32 returned (user-<n>)`, 500, (i) => store.queryMessage("BenchTopic", `user-${i % 100_000}`), (i, r) => r.count === Math.min(32, perKey(i)) && r.complete === (perKey(i) <= 32));
time("key nobody sent", 2000, (i) => store.queryMessage("BenchTopic", `nobody-${i}`), (_, r) => r.count === 0 && r.complete);
await store.close();

// ---- 3. the whole index lost: rebuilt from the log at open
rmSync(join(dir, "index"), { recursive: true, force: true });
console.log("\nIndex directory removed; reopening …");
const rebuildStart = performance.now();
store = await open(dir, true);
console.log(`  reopened in ${((performance.now() - rebuildStart) / 1000).toFixed(1)} s, ${store.stats.index!.recovery.records} records indexed again`);
time("unique key after the rebuild", 200, (i) => store.queryMessage("BenchTopic", uniqueKey(i), { uniqueKey: true }), (_, r) => r.count === 1 && r.complete);
await store.close();
if (!values.keep) rmSync(root, { recursive: true, force: true });
else console.log(`\nKept ${root}`);
