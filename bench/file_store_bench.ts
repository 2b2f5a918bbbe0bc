/**
 * Micro benchmarks of appends on **file** storage (`node:fs` through `FileSegmentStorage`, in a
 * temporary directory): CommitLog append of 1 and of 32 records with 1 KiB bodies, and a
 * ConsumeQueue entry write. Writes land in the page cache (no fsync), as in async flush mode.
 * The log starts afresh every 64 MiB, so the disk holds little; that reset is part of the timing,
 * spread over thousands of appends.
 * Run: `bun bench/file_store_bench.ts` or `deno run -A bench/file_store_bench.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bench, do_not_optimize, run, summary } from "mitata";
import { encodeProperties } from "../core/model/properties.ts";
import { PreparedRecord } from "../core/model/record.ts";
import { CommitLog } from "../server/store/commit_log.ts";
import { ConsumeQueue, CQ_ENTRY_SIZE, encodeEntry } from "../server/store/consume_queue.ts";
import { FileSegmentStorage } from "../server/store/file_segment_storage.ts";

const SEGMENT = 16 * 1024 * 1024;
const LIMIT = 4 * SEGMENT;
const storage = new FileSegmentStorage();
const dir = mkdtempSync(join(tmpdir(), "rmq-file-bench-"));
const prepared = new PreparedRecord({
  topic: "BenchTopic",
  queueId: 1,
  flag: 0,
  sysFlag: 0,
  bornTimestamp: Date.now(),
  bornHost: { address: "10.0.0.2", port: 50000 },
  storeHost: { address: "127.0.0.1", port: 10911 },
  reconsumeTimes: 0,
  preparedTransactionOffset: 0,
  body: new Uint8Array(1024).map((_, i) => i * 31),
  properties: encodeProperties({ TAGS: "TagA", KEYS: "order-1", UNIQ_KEY: "0A0000020000C35000000000000000" }),
});
const batch32 = Array.from({ length: 32 }, () => prepared);

const openLog = () => CommitLog.open(join(dir, "commitlog"), { storage, segmentSize: SEGMENT });
let log = openLog();
let queueOffset = 0;
function freshLog(): void {
  log.close();
  rmSync(join(dir, "commitlog"), { recursive: true, force: true });
  log = openLog();
}

summary(() => {
  bench("CommitLog append 1 record, 1 KiB (file)", () => {
    if (log.maxOffset > LIMIT) freshLog();
    do_not_optimize(log.append([prepared], { queueOffsets: [queueOffset++], storeTimestamp: 1 }));
  });
  bench("CommitLog append 32 records, 1 KiB each (file)", () => {
    if (log.maxOffset > LIMIT) freshLog();
    const offsets = Array.from({ length: 32 }, (_, i) => queueOffset + i);
    queueOffset += 32;
    do_not_optimize(log.append(batch32, { queueOffsets: offsets, storeTimestamp: 1 }));
  });
});

const ENTRIES_PER_FILE = 300_000;
let cq = ConsumeQueue.open(join(dir, "cq", "0"), { storage, entriesPerFile: ENTRIES_PER_FILE });
const entry = new Uint8Array(CQ_ENTRY_SIZE);
encodeEntry(entry, 0, { offset: 123_456, size: 1200, tagHash: 2598919 });
bench("ConsumeQueue write 1 entry (file)", () => {
  if (cq.maxOffset >= 4 * ENTRIES_PER_FILE) {
    cq.close();
    rmSync(join(dir, "cq"), { recursive: true, force: true });
    cq = ConsumeQueue.open(join(dir, "cq", "0"), { storage, entriesPerFile: ENTRIES_PER_FILE });
  }
  cq.write(cq.maxOffset, entry);
});

try {
  await run();
} finally {
  log.close();
  cq.close();
  rmSync(dir, { recursive: true, force: true });
}
