/**
 * The CommitLog's read window: pulls of queues whose records lie interleaved in the log share one
 * read of it, and a truncation forgets what the window held.
 */
import { describe, expect, test } from "bun:test";
import { decodeRecords, PreparedRecord } from "../../../core/model/record.ts";
import { CommitLog } from "../../../server/store/commit_log.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import { FaultyStorage, HOST, msg } from "./_store_helpers.ts";

const text = new TextDecoder();

describe("CommitLog read window", () => {
  test("pulls of four interleaved queues read the log once between them, and each gets exactly its own records", async () => {
    const storage = new FaultyStorage(new MemorySegmentStorage());
    const store = await MessageStore.open({ dataDir: "/data", storage, storeHost: HOST, flushIntervalMs: 3_600_000 });
    // One message a group, the queues in turn: the records of each queue lie a record apart.
    const groups = Array.from({ length: 400 }, (_, i) => [msg("Mixed", { queueId: i % 4, body: `${i % 4}:${Math.floor(i / 4)}:${"z".repeat(i % 300)}` })]);
    await store.putMessageGroups(groups);
    const before = storage.logReads;
    for (const queueId of [0, 1, 2, 3]) {
      const read = store.getMessage("Mixed", queueId, 0, 64, undefined, 1 << 20);
      expect(read.status).toBe("FOUND");
      expect(read.nextBeginOffset).toBe(64);
      const records = decodeRecords(read.body!);
      expect(records.map((m) => text.decode(m.body).split(":").slice(0, 2).join(":"))).toEqual(records.map((_, k) => `${queueId}:${k}`));
      expect(records.map((m) => m.queueId)).toEqual(records.map(() => queueId));
    }
    expect(storage.logReads - before).toBe(1);
    await store.close();
  });

  test("pulls of four interleaved queues whose spans pass 1 MiB still read the log once between them", async () => {
    const storage = new FaultyStorage(new MemorySegmentStorage());
    const store = await MessageStore.open({ dataDir: "/data", storage, storeHost: HOST, flushIntervalMs: 3_600_000 });
    // 4 queues of 400 records of about 1 KiB, a record apart: a pull of 400 spans 1.7 MB.
    const groups = Array.from({ length: 1600 }, (_, i) => [msg("Wide", { queueId: i % 4, body: `${i % 4}:${Math.floor(i / 4)}:${"w".repeat(1000)}` })]);
    await store.putMessageGroups(groups);
    const before = storage.logReads;
    for (const queueId of [0, 1, 2, 3]) {
      const read = store.getMessage("Wide", queueId, 0, 400, undefined, 4 << 20);
      expect(read.nextBeginOffset).toBe(400);
      expect(decodeRecords(read.body!).map((m) => text.decode(m.body).split(":").slice(0, 2).join(":"))).toEqual(
        Array.from({ length: 400 }, (_, k) => `${queueId}:${k}`),
      );
    }
    expect(storage.logReads - before).toBe(1);
    await store.close();
  });

  test("bytes read before a truncation are not served after it: records written again at the same offsets read as written", () => {
    const log = CommitLog.open("/log", { storage: new MemorySegmentStorage(), segmentSize: 1 << 20 });
    const record = (body: string) => new PreparedRecord(msg("T", { body }), HOST);
    const placement = { queueOffsets: [0, 1], storeTimestamp: 1 };
    const [first, second] = log.append([record("old-one"), record("old-two")], placement);
    const size = log.maxOffset - second!;
    const before = log.readWindow(first!, size, 1024);
    expect(text.decode(decodeRecords(before.bytes.subarray(before.pos, before.pos + size))[0]!.body)).toBe("old-one");
    log.truncateTo(first!);
    log.append([record("new-one"), record("new-two")], placement);
    const after = log.readWindow(second!, size, 0);
    expect(text.decode(decodeRecords(after.bytes.subarray(after.pos, after.pos + size))[0]!.body)).toBe("new-two");
    log.close();
  });
});
