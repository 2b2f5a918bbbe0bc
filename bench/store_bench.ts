/**
 * Micro benchmarks of the store's hot pieces: record codec, CRC-32, CommitLog append and a
 * full MessageStore put on memory storage. Run: `npx bun bench/store_bench.ts`.
 */

import { bench, do_not_optimize, run, summary } from "mitata";
import { crc32 } from "../core/model/crc32.ts";
import { encodeProperties } from "../core/model/properties.ts";
import { decodeRecord, encodeRecord, PreparedRecord, type RecordInput } from "../core/model/record.ts";
import { CommitLog } from "../server/store/commit_log.ts";
import { MemorySegmentStorage } from "../server/store/memory_segment_storage.ts";
import { MessageStore } from "../server/store/message_store.ts";

const host = { address: "127.0.0.1", port: 10911 };
const body1k = new Uint8Array(1024).map((_, i) => i * 31);
const input: RecordInput = {
  topic: "BenchTopic",
  queueId: 1,
  flag: 0,
  sysFlag: 0,
  bornTimestamp: Date.now(),
  bornHost: { address: "10.0.0.2", port: 50000 },
  storeHost: host,
  reconsumeTimes: 0,
  preparedTransactionOffset: 0,
  body: body1k,
  properties: encodeProperties({ TAGS: "TagA", KEYS: "order-1", UNIQ_KEY: "0A0000020000C35000000000000000" }),
};
const prepared = new PreparedRecord(input);
const target = new Uint8Array(prepared.size);
encodeRecord(prepared, target, 0, 1, 0, Date.now());
const body4k = new Uint8Array(4096).map((_, i) => i);

summary(() => {
  bench("crc32 1 KiB", () => do_not_optimize(crc32(body1k)));
  bench("crc32 4 KiB", () => do_not_optimize(crc32(body4k)));
});

summary(() => {
  bench("prepare + encode record (1 KiB body)", () => {
    do_not_optimize(encodeRecord(new PreparedRecord(input), target, 0, 1, 0, 1));
  });
  bench("encode prepared record (1 KiB body)", () => {
    do_not_optimize(encodeRecord(prepared, target, 0, 1, 0, 1));
  });
  bench("decode record (1 KiB body)", () => do_not_optimize(decodeRecord(target, 0)));
});

const SEGMENT = 64 * 1024 * 1024;
function freshLog(): CommitLog {
  return CommitLog.open("/bench/commitlog", { storage: new MemorySegmentStorage(), segmentSize: SEGMENT });
}
let log = freshLog();
let queueOffset = 0;
const batch32 = Array.from({ length: 32 }, () => prepared);
const offsets32 = Array.from({ length: 32 }, (_, i) => i);

summary(() => {
  bench("CommitLog append 1 record (memory)", () => {
    if (log.maxOffset > SEGMENT * 4) log = freshLog();
    do_not_optimize(log.append([prepared], { queueOffsets: [queueOffset++], storeTimestamp: 1 }));
  });
  bench("CommitLog append 32 records (memory)", () => {
    if (log.maxOffset > SEGMENT * 4) log = freshLog();
    do_not_optimize(log.append(batch32, { queueOffsets: offsets32, storeTimestamp: 1 }));
  });
});

const store = await MessageStore.open({
  dataDir: "/bench/store",
  storage: new MemorySegmentStorage(),
  storeHost: host,
  commitLogSegmentSize: SEGMENT,
  flushIntervalMs: 3_600_000,
});
const { storeHost: _, ...storeInput } = input;
const put100 = Array.from({ length: 100 }, () => storeInput);

summary(() => {
  bench("MessageStore putMessage x100 concurrent (async flush, memory)", async () => {
    await Promise.all(put100.map((m) => store.putMessage(m)));
  });
  bench("MessageStore getMessage 32 x 1 KiB (memory)", () => {
    do_not_optimize(store.getMessage("BenchTopic", 1, 0, 32, undefined, 1 << 20));
  });
});

await run();
await store.close();
