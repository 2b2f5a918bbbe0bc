import { afterEach, describe, expect, test } from "bun:test";
import { decodeRecords } from "../../../core/model/record.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import { joinPath } from "../../../server/store/segment_storage.ts";
import type { MessageStoreOptions } from "../../../server/store/store_types.ts";
import { BACKENDS, HOST, msg } from "./_store_helpers.ts";

const text = new TextDecoder();
const SEGMENT = 64 * 1024;

for (const backend of BACKENDS) {
  describe(`MessageStore recovery on ${backend.name}`, () => {
    let env = backend.make();
    afterEach(() => {
      env.cleanup();
      env = backend.make();
    });

    function openStore(options: Partial<MessageStoreOptions> = {}): Promise<MessageStore> {
      return MessageStore.open({
        dataDir: env.dataDir,
        storage: env.storage,
        storeHost: HOST,
        commitLogSegmentSize: SEGMENT,
        consumeQueueEntriesPerFile: 64,
        ...options,
      });
    }

    function bodies(store: MessageStore, topic: string, queueId = 0): string[] {
      const out: string[] = [];
      let offset = store.getMinOffset(topic, queueId);
      while (true) {
        const got = store.getMessage(topic, queueId, offset, 64, undefined, 1 << 20);
        if (got.status !== "FOUND") return out;
        for (const m of decodeRecords(got.body!)) out.push(text.decode(m.body));
        offset = got.nextBeginOffset;
      }
    }

    function segmentPath(offset: number): string {
      const start = offset - (offset % SEGMENT);
      return joinPath(env.dataDir, "commitlog", String(start).padStart(20, "0"));
    }

    function flipByte(offset: number): void {
      const file = env.storage.open(segmentPath(offset));
      const one = new Uint8Array(1);
      file.read(one, offset % SEGMENT);
      one[0]! ^= 0x40;
      file.write(one, offset % SEGMENT);
      file.close();
    }

    async function fill(store: MessageStore, count: number, size = 900) {
      const results = [];
      for (let i = 0; i < count; i++) {
        results.push(await store.putMessage(msg("R", { queueId: i % 2, body: `${i}:${"r".repeat(size)}` })));
      }
      return results;
    }

    function expected(count: number, queueId: number, upTo = count): string[] {
      const out: string[] = [];
      for (let i = queueId; i < Math.min(count, upTo); i += 2) out.push(`${i}:${"r".repeat(900)}`);
      return out;
    }

    test("an unclean shutdown keeps every written message", async () => {
      const store = await openStore();
      await fill(store, 100);
      // Dropped without close(): no final flush or checkpoint.
      const again = await openStore();
      expect(bodies(again, "R", 0)).toEqual(expected(100, 0));
      expect(bodies(again, "R", 1)).toEqual(expected(100, 1));
      expect((await again.putMessage(msg("R"))).queueOffset).toBe(50);
      await again.close();
    });

    test("lost ConsumeQueues are rebuilt from the CommitLog", async () => {
      const store = await openStore();
      await fill(store, 100);
      await store.close();
      env.storage.remove(joinPath(env.dataDir, "consumequeue"));
      env.storage.remove(joinPath(env.dataDir, "checkpoint"));
      const again = await openStore();
      expect(again.stats.recovery.rebuiltEntries).toBe(100);
      expect(bodies(again, "R", 1)).toEqual(expected(100, 1));
      await again.close();
    });

    function writeFile(name: string, bytes: Uint8Array): void {
      const file = env.storage.open(joinPath(env.dataDir, name), { create: true });
      file.truncate(0);
      file.write(bytes, 0);
      file.close();
    }

    function readFile(path: string): Uint8Array {
      const file = env.storage.open(path);
      const bytes = new Uint8Array(file.size());
      file.read(bytes, 0);
      file.close();
      return bytes;
    }

    function writeCheckpoints(state: Record<string, unknown>): void {
      for (const name of ["checkpoint", "checkpoint.bak"]) writeFile(name, new TextEncoder().encode(JSON.stringify(state)));
    }

    function cqPath(queueId: number, fileStart = 0): string {
      return joinPath(env.dataDir, "consumequeue", "R", String(queueId), String(fileStart).padStart(20, "0"));
    }

    test("a torn tail past the last fsync is cut, copied to quarantine, and the log goes on there", async () => {
      const store = await openStore();
      await fill(store, 100);
      const end = store.stats.commitLogMaxOffset;
      await store.close();
      // What a crash in the middle of a write leaves: part of a record after everything fsynced.
      const torn = new Uint8Array(300).fill(0x5a);
      new DataView(torn.buffer).setInt32(0, 1000);
      const file = env.storage.open(segmentPath(end));
      file.write(torn, end % SEGMENT);
      file.close();
      const again = await openStore();
      const recovery = again.stats.recovery;
      expect(recovery.cutAt).toBe(end);
      expect(recovery.quarantined).toMatchObject([{ from: end, to: end + 300, bytes: 300, action: "cut" }]);
      expect(readFile(recovery.quarantined[0]!.copy!)).toEqual(torn);
      expect(bodies(again, "R", 0)).toEqual(expected(100, 0));
      expect(bodies(again, "R", 1)).toEqual(expected(100, 1));
      const next = await again.putMessage(msg("R", { queueId: 1, body: "after" }));
      expect(next).toMatchObject({ queueOffset: 50, commitLogOffset: end });
      await again.close();
    });

    test("a flipped body byte in the middle sets only its record aside; the records after it are served", async () => {
      const store = await openStore();
      const results = await fill(store, 100);
      await store.close();
      const victim = results[96]!;
      flipByte(victim.commitLogOffset + 84 + 4 + 3);
      const segmentsBefore = env.storage.list(joinPath(env.dataDir, "commitlog"));
      const again = await openStore();
      const recovery = again.stats.recovery;
      expect(recovery.cutAt).toBeUndefined();
      expect(recovery.quarantined).toMatchObject([
        { from: victim.commitLogOffset, to: results[97]!.commitLogOffset, records: 1, action: "kept" },
      ]);
      expect(recovery.quarantined[0]!.reason).toContain("CRC");
      expect(recovery.skippedEntries).toBe(1);
      expect(env.storage.list(joinPath(env.dataDir, "commitlog"))).toEqual(segmentsBefore);
      expect(bodies(again, "R", 0)).toEqual(expected(100, 0).filter((b) => !b.startsWith("96:")));
      expect(bodies(again, "R", 1)).toEqual(expected(100, 1));
      // The queue keeps its offsets: the damaged record's is skipped, not reused.
      expect(again.getMaxOffset("R", 0)).toBe(50);
      expect((await again.putMessage(msg("R"))).queueOffset).toBe(50);
      await again.close();
    });

    test("without a checkpoint a flipped bit early in the log costs one record, not every later segment", async () => {
      const store = await openStore();
      const results = await fill(store, 200);
      await store.close();
      const victim = results[10]!;
      expect(victim.commitLogOffset).toBeLessThan(SEGMENT);
      flipByte(victim.commitLogOffset + 84 + 4 + 1);
      env.storage.remove(joinPath(env.dataDir, "checkpoint"));
      env.storage.remove(joinPath(env.dataDir, "checkpoint.bak"));
      const segmentsBefore = env.storage.list(joinPath(env.dataDir, "commitlog"));
      expect(segmentsBefore.length).toBeGreaterThan(2);
      const again = await openStore();
      const recovery = again.stats.recovery;
      expect(recovery.scanFrom).toBe(0);
      expect(recovery.checkpoint).toBe("none");
      expect(recovery.cutAt).toBeUndefined();
      expect(recovery.quarantined).toMatchObject([{ from: victim.commitLogOffset, records: 1, action: "kept" }]);
      expect(env.storage.list(joinPath(env.dataDir, "commitlog"))).toEqual(segmentsBefore);
      expect(bodies(again, "R", 0)).toEqual(expected(200, 0).filter((b) => !b.startsWith("10:")));
      expect(bodies(again, "R", 1)).toEqual(expected(200, 1));
      await again.close();
    });

    test("a damaged size field resynchronises on the next record that names its own offset", async () => {
      const store = await openStore();
      const results = await fill(store, 60);
      await store.close();
      // Size field of record 20 made to point into the middle of record 21.
      const victim = results[20]!;
      const file = env.storage.open(segmentPath(victim.commitLogOffset));
      const size = new Uint8Array(4);
      new DataView(size.buffer).setInt32(0, 1500);
      file.write(size, victim.commitLogOffset % SEGMENT);
      file.close();
      env.storage.remove(joinPath(env.dataDir, "checkpoint"));
      env.storage.remove(joinPath(env.dataDir, "checkpoint.bak"));
      const again = await openStore();
      expect(again.stats.recovery.quarantined).toMatchObject([
        { from: victim.commitLogOffset, to: results[21]!.commitLogOffset, action: "kept" },
      ]);
      expect(bodies(again, "R", 0)).toEqual(expected(60, 0).filter((b) => !b.startsWith("20:")));
      expect(bodies(again, "R", 1)).toEqual(expected(60, 1));
      await again.close();
    });

    test("a damaged last record inside the fsynced part is kept in place, not cut, and new records follow it", async () => {
      const store = await openStore();
      const results = await fill(store, 50);
      await store.close();
      const last = results.at(-1)!;
      flipByte(last.commitLogOffset + 4);
      const again = await openStore();
      const recovery = again.stats.recovery;
      expect(recovery.cutAt).toBeUndefined();
      expect(recovery.quarantined).toMatchObject([{ from: last.commitLogOffset, action: "kept" }]);
      expect(recovery.quarantined[0]!.copy).toContain("quarantine");
      expect(bodies(again, "R", 1)).toEqual(expected(49, 1));
      const next = await again.putMessage(msg("R", { queueId: 1, body: "after" }));
      expect(next.queueOffset).toBe(25);
      expect(next.commitLogOffset).toBe(recovery.end);
      await again.close();
      const third = await openStore();
      expect(third.stats.recovery.quarantined.map((r) => r.from)).toEqual([last.commitLogOffset]);
      expect(bodies(third, "R", 1)).toEqual([...expected(49, 1), "after"]);
      await third.close();
    });

    test("a checkpoint offset off a record boundary is refused and the whole log scanned", async () => {
      const store = await openStore();
      const results = await fill(store, 200);
      await store.close();
      const inside = results[150]!.commitLogOffset + 7;
      writeCheckpoints({ version: 1, physicalOffset: inside, logicsOffset: inside, timestamp: 1 });
      const again = await openStore();
      const recovery = again.stats.recovery;
      expect(recovery.checkpoint).toBe("none");
      expect(recovery.checkpointWarning).toContain(`${inside} is not where a record starts`);
      expect(recovery.scanFrom).toBe(0);
      expect(recovery.quarantined).toEqual([]);
      expect(bodies(again, "R", 0)).toEqual(expected(200, 0));
      expect(bodies(again, "R", 1)).toEqual(expected(200, 1));
      await again.close();
    });

    test("a checkpoint off a record boundary falls back to its backup when that one fits", async () => {
      const store = await openStore();
      const results = await fill(store, 100);
      await store.flush();
      await fill(store, 20);
      await store.close();
      const main = JSON.parse(new TextDecoder().decode(readFile(joinPath(env.dataDir, "checkpoint"))));
      main.physicalOffset = results[50]!.commitLogOffset + 3;
      // Without its checksum the edited copy parses as hand-written: the boundary check must catch it.
      delete main["#crc32"];
      writeFile("checkpoint", new TextEncoder().encode(JSON.stringify(main)));
      const again = await openStore();
      expect(again.stats.recovery.checkpoint).toBe("backup");
      expect(again.stats.recovery.checkpointWarning).toContain("not where a record starts");
      expect(bodies(again, "R", 1).length).toBe(60);
      await again.close();
    });

    test("a checkpoint that says fsynced bytes are missing from the log refuses to open", async () => {
      const store = await openStore();
      const results = await fill(store, 100);
      await store.flush();
      await fill(store, 20);
      await store.close();
      const file = env.storage.open(segmentPath(results[20]!.commitLogOffset));
      file.truncate(results[20]!.commitLogOffset % SEGMENT);
      file.close();
      for (const later of env.storage.list(joinPath(env.dataDir, "commitlog")).slice(1)) {
        env.storage.remove(joinPath(env.dataDir, "commitlog", later));
      }
      await expect(openStore()).rejects.toThrow(/were fsynced, but the log ends at .*Refusing to start/);
    });

    test("a missing middle segment is refused with a message naming it", async () => {
      const store = await openStore();
      await fill(store, 200);
      await store.close();
      const segments = env.storage.list(joinPath(env.dataDir, "commitlog"));
      expect(segments.length).toBeGreaterThan(2);
      env.storage.remove(joinPath(env.dataDir, "commitlog", segments[1]!));
      await expect(openStore()).rejects.toThrow(`Commit log segment "${joinPath(env.dataDir, "commitlog", segments[1]!)}" is missing`);
    });

    test("a deleted ConsumeQueue is rebuilt from the CommitLog although the checkpoint is intact", async () => {
      const store = await openStore();
      await fill(store, 200);
      await store.close();
      env.storage.remove(joinPath(env.dataDir, "consumequeue", "R", "1"));
      const again = await openStore();
      const recovery = again.stats.recovery;
      expect(recovery.rebuiltQueues).toEqual([{ topic: "R", queueId: 1, reason: expect.stringContaining("missing") }]);
      expect(recovery.scanFrom).toBe(0);
      expect(bodies(again, "R", 1)).toEqual(expected(200, 1));
      expect(bodies(again, "R", 0)).toEqual(expected(200, 0));
      await again.close();
    });

    test("a ConsumeQueue missing a file in the middle, or a truncated one, is rebuilt (its files alone tell)", async () => {
      const store = await openStore();
      await fill(store, 400);
      await store.close();
      // A version 1 checkpoint (a store written before queue tables): only the files show the damage.
      const { physicalOffset, logicsOffset } = JSON.parse(new TextDecoder().decode(readFile(joinPath(env.dataDir, "checkpoint"))));
      writeCheckpoints({ version: 1, physicalOffset, logicsOffset, timestamp: 1 });
      env.storage.remove(cqPath(0, 64 * 20));
      const file = env.storage.open(cqPath(1, 2 * 64 * 20));
      file.truncate(30 * 20);
      file.close();
      const again = await openStore();
      expect(again.stats.recovery.rebuiltQueues.map((q) => q.queueId).sort()).toEqual([0, 1]);
      expect(bodies(again, "R", 0)).toEqual(expected(400, 0));
      expect(bodies(again, "R", 1)).toEqual(expected(400, 1));
      await again.close();
    });

    test("a damaged ConsumeQueue entry is found on read and mended from the CommitLog", async () => {
      const store = await openStore();
      await fill(store, 100);
      await store.close();
      // Entry 30 of queue 0 moved 32 bytes into its record; entry 31 zeroed (never written).
      const file = env.storage.open(cqPath(0));
      const low = new Uint8Array(1);
      file.read(low, 30 * 20 + 7);
      low[0]! ^= 0x20;
      file.write(low, 30 * 20 + 7);
      file.write(new Uint8Array(20), 31 * 20);
      file.close();
      const again = await openStore();
      expect(bodies(again, "R", 0)).toEqual(expected(100, 0));
      expect(again.stats.repairedEntries).toBe(2);
      expect(again.stats.unreadableRecords).toBe(0);
      await again.close();
    });

    test("ConsumeQueue entries whose offsets' high or sign bit flipped are mended, not read forever or passed over", async () => {
      const store = await openStore();
      await fill(store, 100);
      await store.close();
      // Entry 40 damaged to offset 2^62 + 1024 and size 200 (what a bit-flip test met with a bigger
      // record): doubles there are 1,024 apart, so adding the size to the offset changes nothing,
      // and a pull of it used to spin without end.
      const file = env.storage.open(cqPath(0));
      const entry = new Uint8Array(20);
      file.read(entry, 40 * 20);
      const view = new DataView(entry.buffer);
      view.setUint32(0, 0x4000_0000);
      view.setUint32(4, 1024);
      view.setInt32(8, 200);
      file.write(entry, 40 * 20);
      // Entry 45's sign bit: a negative offset, which is no record deleted by retention.
      const sign = new Uint8Array(1);
      file.read(sign, 45 * 20);
      sign[0]! ^= 0x80;
      file.write(sign, 45 * 20);
      file.close();
      const again = await openStore();
      expect(bodies(again, "R", 0)).toEqual(expected(100, 0));
      expect(again.stats.repairedEntries).toBe(2);
      await again.close();
    });

    test("a record whose queue offset field is damaged does not hide the records after it", async () => {
      const store = await openStore();
      const results = await fill(store, 100);
      await store.close();
      // The body CRC does not cover the header: push record 40's queue offset (20 in queue 0) up by 2^20.
      const file = env.storage.open(segmentPath(results[40]!.commitLogOffset));
      const byte = new Uint8Array(1);
      const at = (results[40]!.commitLogOffset % SEGMENT) + 20 + 5;
      file.read(byte, at);
      byte[0]! ^= 0x10;
      file.write(byte, at);
      file.close();
      env.storage.remove(joinPath(env.dataDir, "consumequeue"));
      const again = await openStore();
      expect(again.stats.recovery.unindexedRecords).toBe(1);
      expect(again.stats.recovery.notes.join()).toContain("claims queue offset 1048596 of queue 0");
      expect(bodies(again, "R", 0)).toEqual(expected(100, 0).filter((b) => !b.startsWith("40:")));
      expect(again.getMaxOffset("R", 0)).toBe(50);
      await again.close();
    });

    test("a deleted topic's ConsumeQueues left behind by a crash during the deletion are dropped", async () => {
      const store = await openStore();
      for (let i = 0; i < 20; i++) await store.putMessage(msg("Gone", { body: `g${i}` }));
      await store.close();
      const dir = joinPath(env.dataDir, "consumequeue", "Gone", "0");
      const files = env.storage.list(dir).map((name) => [name, readFile(joinPath(dir, name))] as const);
      const again = await openStore();
      await again.deleteTopic("Gone");
      await fill(again, 20);
      await again.close();
      // As if the process died after the checkpoint recorded the deletion but before the files went.
      env.storage.mkdir(dir);
      for (const [name, bytes] of files) writeFile(joinPath("consumequeue", "Gone", "0", name), bytes);
      const third = await openStore();
      expect(third.topics()).toEqual(["R"]);
      expect(bodies(third, "R", 0)).toEqual(expected(20, 0));
      await third.close();
    });

    test("a corrupt checkpoint and backup fall back to a full scan", async () => {
      const store = await openStore();
      await fill(store, 20);
      await store.close();
      for (const name of ["checkpoint", "checkpoint.bak"]) writeFile(name, new TextEncoder().encode("{not json"));
      const again = await openStore();
      expect(again.stats.recovery.checkpointWarning).toContain("unusable");
      expect(again.stats.recovery.scanFrom).toBe(0);
      expect(bodies(again, "R", 0)).toEqual(expected(20, 0));
      await again.close();
    });
  });
}

describe("MessageStore recovery after a power loss", () => {
  function openOn(storage: MemorySegmentStorage, flushMode: "sync" | "async") {
    return MessageStore.open({
      dataDir: "/data",
      storage,
      storeHost: HOST,
      flushMode,
      commitLogSegmentSize: SEGMENT,
      flushIntervalMs: 60_000,
    });
  }

  test("sync flush loses nothing that was acknowledged", async () => {
    const storage = new MemorySegmentStorage();
    const store = await openOn(storage, "sync");
    const acked = [];
    for (let round = 0; round < 10; round++) {
      const puts = Array.from({ length: 20 }, (_, i) => store.putMessage(msg("P", { body: `${round}-${i}` })));
      acked.push(...(await Promise.all(puts)));
    }
    storage.crash();
    const again = await openOn(storage, "sync");
    expect(again.getMaxOffset("P", 0)).toBe(200);
    const got = again.getMessage("P", 0, 0, 200, undefined, 1 << 20);
    expect(decodeRecords(got.body!).map((m) => m.msgId)).toEqual(acked.map((r) => r.msgId));
    await again.close();
  });

  test("async flush may lose the unflushed tail but stays consistent", async () => {
    const storage = new MemorySegmentStorage();
    const store = await openOn(storage, "async");
    for (let i = 0; i < 50; i++) await store.putMessage(msg("P", { body: `a${i}` }));
    await store.flush();
    for (let i = 50; i < 80; i++) await store.putMessage(msg("P", { body: `a${i}` }));
    storage.crash();
    const again = await openOn(storage, "async");
    expect(again.getMaxOffset("P", 0)).toBe(50);
    const next = await again.putMessage(msg("P", { body: "new" }));
    expect(next.queueOffset).toBe(50);
    const got = again.getMessage("P", 0, 48, 10);
    expect(decodeRecords(got.body!).map((m) => text.decode(m.body))).toEqual(["a48", "a49", "new"]);
    await again.close();
  });
});

describe("MessageStore recovery of large segments", () => {
  test("the scan handles segments and records larger than its read window", async () => {
    const storage = new MemorySegmentStorage();
    const options = {
      dataDir: "/data",
      storage,
      storeHost: HOST,
      commitLogSegmentSize: 16 * 1024 * 1024,
      maxMessageSize: 6 * 1024 * 1024,
    };
    const store = await MessageStore.open(options);
    const kib = new Uint8Array(1024).fill(7);
    for (let i = 0; i < 6; i++) {
      await store.putMessages(Array.from({ length: 1000 }, () => msg("Big", { body: kib })));
    }
    const huge = new Uint8Array(5 * 1024 * 1024).fill(9);
    const hugeResult = await store.putMessage(msg("Big", { body: huge }));
    await store.putMessage(msg("Big", { body: "tail" }));
    await store.close();
    storage.remove("/data/consumequeue");
    storage.remove("/data/checkpoint");
    const again = await MessageStore.open(options);
    expect(again.stats.recovery.cutAt).toBeUndefined();
    expect(again.stats.recovery.rebuiltEntries).toBe(6002);
    expect(again.lookMessageByOffset(hugeResult.commitLogOffset)?.body).toEqual(huge);
    const last = again.getMessage("Big", 0, 6001, 1);
    expect(text.decode(decodeRecords(last.body!)[0]!.body)).toBe("tail");
    await again.close();
  });
});
