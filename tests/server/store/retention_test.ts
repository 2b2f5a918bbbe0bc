/**
 * Retention on an injected clock: time retention per topic (queues stop serving, segments go only
 * when every topic allows), the deletion window, and the disk marks on a disk whose readings the
 * test controls (the real disk is tested on a tmpfs in tests/faults/disk_marks_test.ts).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { PreparedRecord } from "../../../core/model/record.ts";
import { CommitLog } from "../../../server/store/commit_log.ts";
import { ConsumeQueue, CQ_ENTRY_SIZE, encodeEntry } from "../../../server/store/consume_queue.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import { expireQueue } from "../../../server/store/retention.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import type { DiskUsage, SegmentStorage } from "../../../server/store/segment_storage.ts";
import type { MessageStoreOptions, PutResult } from "../../../server/store/store_types.ts";
import { until } from "../../_helpers/wait.ts";
import { BACKENDS, HOST, msg } from "./_store_helpers.ts";

const HOUR = 3_600_000;
const SEGMENT = 64 * 1024;
const BODY = "r".repeat(1000);
/** A local time at 10:00, so deletion windows can be chosen around it. */
const T0 = new Date(2025, 0, 15, 10, 0, 0).getTime();

/** A storage whose disk reading is `usage()`, counting the readings. */
class MeteredDisk {
  readings = 0;
  constructor(readonly storage: SegmentStorage, public usage: () => DiskUsage) {
    storage.usage = () => {
      this.readings++;
      return this.usage();
    };
  }
}

for (const backend of BACKENDS) {
  describe(`retention on ${backend.name}`, () => {
    let env = backend.make();
    const open: MessageStore[] = [];
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close().catch(() => {});
      env.cleanup();
      env = backend.make();
    });

    async function openStore(options: Partial<MessageStoreOptions> = {}): Promise<MessageStore> {
      const store = await MessageStore.open({
        dataDir: env.dataDir,
        storage: env.storage,
        storeHost: HOST,
        commitLogSegmentSize: SEGMENT,
        consumeQueueEntriesPerFile: 50,
        deleteWhen: "*",
        diskHighWaterPercent: 100,
        diskHardLimitPercent: 100,
        ...options,
      });
      open.push(store);
      return store;
    }

    /** Puts `n` messages alternating between topics, one at a time. */
    async function fill(store: MessageStore, topics: string[], n: number): Promise<PutResult[]> {
      const results: PutResult[] = [];
      for (let i = 0; i < n; i++) {
        const result = await store.putMessage(msg(topics[i % topics.length]!, { body: BODY }));
        expect(result.status).toBe("PUT_OK");
        results.push(result);
      }
      return results;
    }

    test("a topic past its own retention is no longer served while its segments stay for the other topics", async () => {
      let clock = T0;
      const store = await openStore({ now: () => clock, topicRetentionMs: (t) => (t === "Short" ? HOUR : undefined) });
      const [firstShort] = await fill(store, ["Short", "Long"], 200);
      expect(store.lookMessageByOffset(firstShort!.commitLogOffset)?.topic).toBe("Short");
      const segments = store.stats.segmentCount;
      expect(segments).toBeGreaterThan(2);

      clock = T0 + 2 * HOUR;
      const report = store.runRetention();
      expect(report).toEqual({ expiredQueues: 1, timeSegments: 0, diskSegments: 0 });
      expect(store.getMinOffset("Short", 0)).toBe(100);
      expect(store.getMaxOffset("Short", 0)).toBe(100);
      expect(store.getMessage("Short", 0, 0, 10)).toMatchObject({ status: "OFFSET_TOO_SMALL", nextBeginOffset: 100 });
      expect(store.lookMessageByOffset(firstShort!.commitLogOffset)).toBeUndefined();
      // The other topic keeps every message, and so the log keeps every segment.
      expect(store.getMinOffset("Long", 0)).toBe(0);
      expect(served(store, "Long", 0)).toBe(100);
      expect(store.stats.segmentCount).toBe(segments);
      // A new message of the short topic is served at once.
      expect((await store.putMessage(msg("Short", { body: BODY }))).queueOffset).toBe(100);
      expect(store.getMessage("Short", 0, 100, 10).count).toBe(1);
    });

    test("a segment is deleted only once every topic's retention allows it", async () => {
      let clock = T0;
      const store = await openStore({ now: () => clock, topicRetentionMs: (t) => (t === "Kept" ? 100 * HOUR : undefined) });
      await fill(store, ["Plain", "Kept"], 200);
      clock = T0 + 80 * HOUR; // past the default 72 h, within Kept's 100 h
      await store.putMessage(msg("Plain", { body: BODY }));
      const segments = store.stats.segmentCount;
      expect(store.runRetention()).toMatchObject({ expiredQueues: 1, timeSegments: 0 });
      expect(store.getMinOffset("Plain", 0)).toBe(100);
      expect(store.getMinOffset("Kept", 0)).toBe(0);
      expect(store.stats.segmentCount).toBe(segments);

      clock = T0 + 101 * HOUR;
      const report = store.runRetention();
      expect(report.expiredQueues).toBe(1);
      expect(report.timeSegments).toBe(segments - 1);
      expect(store.stats.segmentCount).toBe(1);
      expect(store.stats.deletedSegments).toEqual({ time: segments - 1, disk: 0 });
      expect(store.getMinOffset("Kept", 0)).toBe(100);
      expect(store.getMessage("Plain", 0, 100, 10).count).toBe(1);
    });

    test("segments are deleted for age only in the deleteWhen hours, while expired messages stop being served at once", async () => {
      let clock = T0; // 10:00 local time
      const store = await openStore({ now: () => clock, deleteWhen: "03;04", fileReservedTimeMs: HOUR });
      await fill(store, ["A"], 150);
      clock = T0 + 2 * HOUR; // 12:00: outside the window
      await store.putMessage(msg("A", { body: BODY }));
      const segments = store.stats.segmentCount;
      expect(store.runRetention()).toEqual({ expiredQueues: 1, timeSegments: 0, diskSegments: 0 });
      expect(store.getMinOffset("A", 0)).toBe(150);
      expect(store.stats.segmentCount).toBe(segments);

      clock = new Date(2025, 0, 16, 3, 30).getTime(); // 03:30 the next day: inside the window
      await store.putMessage(msg("A", { body: BODY }));
      expect(store.runRetention().timeSegments).toBe(segments - 1);
      expect(store.stats.commitLogMinOffset).toBe((segments - 1) * SEGMENT);
      // Asked directly, deletion ignores the window.
      clock = new Date(2025, 0, 18, 12, 0).getTime();
      await fill(store, ["A"], 70);
      clock += 2 * HOUR;
      await store.putMessage(msg("A", { body: BODY }));
      expect(store.deleteExpiredSegments()).toBeGreaterThan(0);
    });

    test("after a restart expired messages are still not served", async () => {
      let clock = T0;
      const retention = (t: string) => (t === "Short" ? HOUR : undefined);
      const store = await openStore({ now: () => clock, topicRetentionMs: retention });
      await fill(store, ["Short", "Long"], 40);
      clock = T0 + 2 * HOUR;
      await store.close();
      const again = await openStore({ now: () => clock, topicRetentionMs: retention });
      expect(again.getMinOffset("Short", 0)).toBe(20);
      expect(again.getMessage("Short", 0, 0, 1).status).toBe("OFFSET_TOO_SMALL");
      expect(again.getMinOffset("Long", 0)).toBe(0);
    });

    test("a bad deleteWhen is refused when the store opens", async () => {
      await expect(openStore({ deleteWhen: "25" })).rejects.toThrow('Invalid deleteWhen "25": expected hours 0 to 23 separated by ";"');
    });

    test("above the high-water mark the oldest segments are deleted even if young, until the disk is below it", async () => {
      const storage = env.storage;
      let store: MessageStore | undefined;
      const capacity = 20 * SEGMENT;
      const other = 10 * SEGMENT;
      // The disk holds 10 segments of other files plus what the log holds.
      const disk = new MeteredDisk(storage, () => {
        const stats = store?.stats;
        const used = other + (stats ? stats.commitLogMaxOffset - stats.commitLogMinOffset : 0);
        return { usedBytes: used, availableBytes: capacity - used };
      });
      store = await openStore({ storage: disk.storage, diskHighWaterPercent: 75, diskHardLimitPercent: 100 });
      await fill(store, ["A"], 400); // about 6.3 segments: 81% used
      const before = store.stats.segmentCount;
      expect(store.stats.disk!.usedPercent).toBeGreaterThan(75);
      const report = store.runRetention();
      expect(report.diskSegments).toBeGreaterThan(0);
      expect(report.timeSegments).toBe(0);
      expect(store.stats.segmentCount).toBe(before - report.diskSegments);
      expect(store.stats.disk!.usedPercent).toBeLessThanOrEqual(75);
      expect(store.stats.deletedSegments.disk).toBe(report.diskSegments);
      // The queue now starts at the first message of the first segment left.
      const min = store.getMinOffset("A", 0);
      expect(min).toBeGreaterThan(0);
      expect(store.getMessage("A", 0, 0, 1)).toMatchObject({ status: "OFFSET_TOO_SMALL", nextBeginOffset: min });
      expect(served(store, "A", min)).toBe(400 - min);
    });

    test("at the hard limit puts are refused with a retryable status and counted, and taken again once space frees", async () => {
      let used = 50;
      const disk = new MeteredDisk(env.storage, () => ({ usedBytes: used * 1024 * 1024, availableBytes: (100 - used) * 1024 * 1024 }));
      const store = await openStore({ storage: disk.storage, flushIntervalMs: 10, diskHighWaterPercent: 75, diskHardLimitPercent: 90 });
      expect((await store.putMessage(msg("A"))).status).toBe("PUT_OK");
      used = 92;
      await until(() => store.stats.disk?.refusingWrites === true, 5000, "the disk to count as full");
      const refused = await store.putMessages([msg("A"), msg("A")]);
      expect(refused.map((r) => r.status)).toEqual(["SERVICE_NOT_AVAILABLE", "SERVICE_NOT_AVAILABLE"]);
      expect(refused[0]!.error).toBe(
        `Disk full: "${env.dataDir}" is 92.0% used, at or above the hard limit of 90% (diskHardLimitPercent); the message was not stored, sends resume once space is freed`,
      );
      expect(store.stats.disk).toMatchObject({ usedPercent: 92, refusingWrites: true, refusedPuts: 2 });
      used = 60;
      await until(() => store.stats.disk?.refusingWrites === false, 5000, "the disk to have room again");
      expect((await store.putMessage(msg("A"))).queueOffset).toBe(1);
    });

    test("the disk is read after every few hundredths of it written, not per put", async () => {
      const capacity = 64 * 1024 * 1024;
      let store: MessageStore | undefined;
      const disk = new MeteredDisk(env.storage, () => {
        const stats = store?.stats;
        const used = 57 * 1024 * 1024 + (stats?.commitLogMaxOffset ?? 0);
        return { usedBytes: used, availableBytes: capacity - used };
      });
      // The timer never fires here: only bytes written trigger readings.
      store = await openStore({ storage: disk.storage, flushIntervalMs: 600_000, diskHardLimitPercent: 90, commitLogSegmentSize: 4 * 1024 * 1024 });
      const atOpen = disk.readings;
      const results = [];
      for (let i = 0; i < 2000; i++) results.push(await store.putMessage(msg("A", { body: BODY })));
      // 57 MiB of 64 MiB is 89.1%: the hard limit (90%) is crossed after about 0.6 MiB of puts, and
      // the refusal starts within 1/200 of the disk (328 KiB, about 300 puts) of it.
      const firstRefused = results.findIndex((r) => r.status !== "PUT_OK");
      expect(firstRefused).toBeGreaterThan(500);
      expect(firstRefused).toBeLessThan(1000);
      expect(results.slice(firstRefused).every((r) => r.status === "SERVICE_NOT_AVAILABLE")).toBe(true);
      expect(disk.readings - atOpen).toBeLessThan(10);
    });
  });
}

/** How many messages queue 0 of a topic serves from an offset on (reads stop at ConsumeQueue file ends). */
function served(store: MessageStore, topic: string, from: number): number {
  let count = 0;
  for (let offset = from; offset < store.getMaxOffset(topic, 0);) {
    const result = store.getMessage(topic, 0, offset, 1000);
    count += result.count;
    offset = result.nextBeginOffset;
  }
  return count;
}

test("a memory storage has no disk to read: the disk marks are off", async () => {
  const store = await MessageStore.open({ dataDir: "/d", storage: new MemorySegmentStorage(), storeHost: HOST, diskHardLimitPercent: 1 });
  expect(store.stats.disk).toBeUndefined();
  expect((await store.putMessage(msg("A"))).status).toBe("PUT_OK");
  await store.close();
});

test("expireQueue() moves a queue's min offset past expired messages and past holes, never past a live message", () => {
  const storage = new MemorySegmentStorage();
  const log = CommitLog.open("/d/commitlog", { storage, segmentSize: SEGMENT });
  const stored = [10, 20, 30].map((storeTimestamp, i) => {
    const record = new PreparedRecord({ ...msg("T"), storeHost: HOST });
    return { offset: log.append([record], { queueOffsets: [i], storeTimestamp })[0]!, size: record.size };
  });
  const cq = ConsumeQueue.open("/d/consumequeue/T/0", { storage, entriesPerFile: 100 });
  const entry = (i: number) => {
    const bytes = new Uint8Array(CQ_ENTRY_SIZE);
    encodeEntry(bytes, 0, { ...stored[i]!, tagHash: 0 });
    return bytes;
  };
  cq.write(0, entry(0));
  cq.write(2, entry(1)); // queue offset 1 is a hole (an entry lost from the ConsumeQueue)
  cq.write(3, entry(2));
  const state = { topic: "T", topicBytes: new TextEncoder().encode("T"), queueId: 0, cq, next: 4, deleted: false };
  expect(expireQueue(state, log, 5)).toBe(false);
  expect(cq.minOffset).toBe(0);
  // The first message expired: the min offset skips it and the hole, and stops at the live one.
  expect(expireQueue(state, log, 15)).toBe(true);
  expect(cq.minOffset).toBe(2);
  expect(expireQueue(state, log, 25)).toBe(true);
  expect(cq.minOffset).toBe(3);
  expect(expireQueue(state, log, 31)).toBe(true);
  expect(cq.minOffset).toBe(4);
  expect(cq.maxOffset).toBe(4);
  expect(expireQueue(state, log, 100)).toBe(false);
});
