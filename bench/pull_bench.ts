/**
 * Micro benchmarks of the read side of a pull: ConsumeQueue reads (memory and file storage), the
 * tag filter (expression parsing, the compiled-filter cache a pull uses, the broker's hash match
 * and the client's text match), SQL92 filters (compiling, and evaluating on the properties of 32
 * stored records), the broker's check that each record read is the one its entry names, and the
 * client's decoding of a pull body of 32 records, with and without the body CRC check consumers do.
 * Run: `bun bench/pull_bench.ts` or `deno run -A bench/pull_bench.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bench, do_not_optimize, run, summary } from "mitata";
import { encodeProperties } from "../core/model/properties.ts";
import "../client/node/native_crc32.ts";
import { decodeRecords, encodeRecord, PreparedRecord, type RecordInput, recordMatches } from "../core/model/record.ts";
import { compileFilter } from "../core/model/message_filter.ts";
import { compileSqlFilter } from "../core/model/sql_filter.ts";
import { matchesTag, parseTagExpression } from "../core/model/tag_expression.ts";
import { tagHash } from "../core/model/tag_hash.ts";
import { ConsumeQueue, CQ_ENTRY_SIZE, decodeEntry, encodeEntry } from "../server/store/consume_queue.ts";
import { FileSegmentStorage } from "../server/store/file_segment_storage.ts";
import { MemorySegmentStorage } from "../server/store/memory_segment_storage.ts";

const ENTRIES = 100_000;
const TAGS = ["TagA", "TagB", "TagC", "TagD"];
const entries = new Uint8Array(ENTRIES * CQ_ENTRY_SIZE);
for (let i = 0; i < ENTRIES; i++) {
  encodeEntry(entries, i * CQ_ENTRY_SIZE, { offset: i * 1200, size: 1200, tagHash: tagHash(TAGS[i % TAGS.length]) });
}
const dir = mkdtempSync(join(tmpdir(), "rmq-pull-bench-"));
function filledQueue(storage: MemorySegmentStorage | FileSegmentStorage, path: string): ConsumeQueue {
  const cq = ConsumeQueue.open(path, { storage, entriesPerFile: 300_000 });
  cq.write(0, entries);
  return cq;
}
const memoryQueue = filledQueue(new MemorySegmentStorage(), "/bench/cq/0");
const fileQueue = filledQueue(new FileSegmentStorage(), join(dir, "cq", "0"));
const target32 = new Uint8Array(32 * CQ_ENTRY_SIZE);
let at = 0;
const nextOffset = () => (at = (at + 32) % (ENTRIES - 32));

summary(() => {
  bench("ConsumeQueue read 32 entries (memory)", () => do_not_optimize(memoryQueue.read(nextOffset(), target32)));
  bench("ConsumeQueue read 32 entries (file)", () => do_not_optimize(fileQueue.read(nextOffset(), target32)));
  bench("ConsumeQueue read + decode 32 entries (file)", () => {
    const n = fileQueue.read(nextOffset(), target32);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += decodeEntry(target32, i * CQ_ENTRY_SIZE).size;
    return do_not_optimize(sum);
  });
});

// Tag filtering: the broker keeps entries whose tag hash the expression names; the client then
// checks the tag text of what came back (two tags can share a hash).
const expression = "TagA || TagC";
const brokerFilter = parseTagExpression(expression)!;
const clientFilter = parseTagExpression(expression);
const hashes32 = Array.from({ length: 32 }, (_, i) => decodeEntry(entries, i * CQ_ENTRY_SIZE).tagHash);
const tags32 = Array.from({ length: 32 }, (_, i) => TAGS[i % TAGS.length]);
// Cache lookups rotate over a few texts (as a broker's pulls do), so the call is not hoisted out of the loop.
const tagTexts = [expression, "TagA", "TagB || TagD", "TagC"];
let turn = 0;

summary(() => {
  bench("parse tag expression (tags + hashes)", () => do_not_optimize(parseTagExpression(expression)));
  bench("compileFilter: a pull's tag filter, from the cache", () => do_not_optimize(compileFilter("TAG", tagTexts[(turn = (turn + 1) & 3)]!)));
});
summary(() => {
  bench("broker hash match, 32 entries", () => {
    let kept = 0;
    for (const hash of hashes32) if (brokerFilter.hashes.has(hash)) kept++;
    return do_not_optimize(kept);
  });
  bench("client tag match, 32 messages", () => {
    let kept = 0;
    for (const tag of tags32) if (matchesTag(clientFilter, tag)) kept++;
    return do_not_optimize(kept);
  });
});

// A pull response body: 32 records of 1 KiB back to back, as the broker sends them.
function record(queueOffset: number, extra: Record<string, string> = {}): Uint8Array {
  const input: RecordInput = {
    topic: "BenchTopic",
    queueId: 1,
    flag: 0,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    bornHost: { address: "10.0.0.2", port: 50000 },
    storeHost: { address: "127.0.0.1", port: 10911 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    body: new Uint8Array(1024).map((_, i) => i * 7),
    properties: encodeProperties({
      TAGS: TAGS[queueOffset % TAGS.length]!,
      KEYS: `order-${queueOffset}`,
      UNIQ_KEY: `0A0000020000C3500000000000${String(queueOffset).padStart(4, "0")}`,
      ...extra,
    }),
  };
  const prepared = new PreparedRecord(input);
  const bytes = new Uint8Array(prepared.size);
  encodeRecord(prepared, bytes, 0, queueOffset, queueOffset * prepared.size, Date.now());
  return bytes;
}
const records = Array.from({ length: 32 }, (_, i) => record(i));
const pullBody = new Uint8Array(records.reduce((n, r) => n + r.length, 0));
records.reduce((pos, r) => (pullBody.set(r, pos), pos + r.length), 0);

// SQL92: what a pull pays per record read (its properties found and the filter evaluated), and
// what compiling costs (once per distinct text: pulls take it from the cache).
const sqlText = "region = 'eu' AND amount > 100";
const sql = compileSqlFilter(sqlText);
const sqlTexts = [sqlText, "region = 'us'", "amount BETWEEN 1 AND 9", "TAGS IN ('TagA', 'TagB')"];
// Half the records match: region alternates, amount grows by 7.
const sqlRecords = Array.from({ length: 32 }, (_, i) => record(i, { region: i % 2 === 0 ? "eu" : "us", amount: String(i * 7) }));
const sqlBody = new Uint8Array(sqlRecords.reduce((n, r) => n + r.length, 0));
sqlRecords.reduce((pos, r) => (sqlBody.set(r, pos), pos + r.length), 0);
summary(() => {
  bench("compileSqlFilter: region = 'eu' AND amount > 100", () => do_not_optimize(compileSqlFilter(sqlText)));
  bench("compileFilter: a pull's SQL92 filter, from the cache", () => do_not_optimize(compileFilter("SQL92", sqlTexts[(turn = (turn + 1) & 3)]!)));
});
bench("broker: SQL92 filter on 32 stored records (properties found in place)", () => {
  let kept = 0;
  let pos = 0;
  for (let i = 0; i < 32; i++) {
    const size = sqlRecords[i]!.length;
    if (sql.matchesRecord(sqlBody, pos, size)) kept++;
    pos += size;
  }
  return do_not_optimize(kept);
});

const topicBytes = new TextEncoder().encode("BenchTopic");
summary(() => {
  bench("decodeRecords: pull body of 32 x 1 KiB records", () => do_not_optimize(decodeRecords(pullBody, { copyBody: false })));
  bench("decodeRecords + body CRC check (zlib): 32 x 1 KiB records", () => {
    return do_not_optimize(decodeRecords(pullBody, { copyBody: false, onCorrupt: () => {} }));
  });
});
bench("broker: recordMatches on 32 records read", () => {
  const identity = { size: 0, physicalOffset: 0, queueId: 1, queueOffset: 0, topic: topicBytes };
  let pos = 0;
  let ok = 0;
  for (let i = 0; i < 32; i++) {
    identity.size = records[i]!.length;
    identity.physicalOffset = i * identity.size;
    identity.queueOffset = i;
    if (recordMatches(pullBody, pos, identity)) ok++;
    pos += identity.size;
  }
  return do_not_optimize(ok);
});

try {
  await run();
} finally {
  memoryQueue.close();
  fileQueue.close();
  rmSync(dir, { recursive: true, force: true });
}
