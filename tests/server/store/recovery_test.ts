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

    test("a torn tail is cut and everything before it stays", async () => {
      const store = await openStore();
      const results = await fill(store, 100);
      await store.close();
      const last = results.at(-1)!;
      const file = env.storage.open(segmentPath(last.commitLogOffset));
      file.truncate(file.size() - 10);
      file.close();
      const again = await openStore();
      expect(again.stats.recovery.cutAt).toBe(last.commitLogOffset);
      expect(again.stats.recovery.trimmedEntries).toBe(1);
      expect(bodies(again, "R", 1)).toEqual(expected(99, 1));
      expect(bodies(again, "R", 0)).toEqual(expected(99, 0));
      const next = await again.putMessage(msg("R", { queueId: 1, body: "after" }));
      expect(next).toMatchObject({ queueOffset: 49, commitLogOffset: last.commitLogOffset });
      expect(bodies(again, "R", 1).at(-1)).toBe("after");
      await again.close();
    });

    test("a flipped body byte is detected by its CRC and the log cut there", async () => {
      const store = await openStore();
      const results = await fill(store, 100);
      await store.close();
      const victim = results[96]!;
      flipByte(victim.commitLogOffset + 84 + 4 + 3);
      const again = await openStore();
      expect(again.stats.recovery.cutAt).toBe(victim.commitLogOffset);
      expect(again.stats.recovery.cutReason).toContain("CRC");
      expect(bodies(again, "R", 0)).toEqual(expected(96, 0));
      expect(bodies(again, "R", 1)).toEqual(expected(96, 1));
      expect(again.getMaxOffset("R", 0)).toBe(48);
      await again.close();
    });

    test("without a checkpoint the whole log is verified and later segments dropped", async () => {
      const store = await openStore();
      const results = await fill(store, 200);
      await store.close();
      const victim = results[10]!;
      expect(victim.commitLogOffset).toBeLessThan(SEGMENT);
      flipByte(victim.commitLogOffset + 84 + 4 + 1);
      env.storage.remove(joinPath(env.dataDir, "checkpoint"));
      const again = await openStore();
      expect(again.stats.recovery.scanFrom).toBe(0);
      expect(again.stats.recovery.cutAt).toBe(victim.commitLogOffset);
      expect(again.stats.segmentCount).toBe(1);
      expect(env.storage.list(joinPath(env.dataDir, "commitlog"))).toEqual(["00000000000000000000"]);
      expect(bodies(again, "R", 0)).toEqual(expected(10, 0));
      expect(again.stats.recovery.trimmedEntries).toBe(190);
      expect((await again.putMessage(msg("R"))).queueOffset).toBe(5);
      await again.close();
    });

    test("a corrupt checkpoint and backup fall back to a full scan", async () => {
      const store = await openStore();
      await fill(store, 20);
      await store.close();
      for (const name of ["checkpoint", "checkpoint.bak"]) {
        const file = env.storage.open(joinPath(env.dataDir, name), { create: true });
        file.truncate(0);
        file.write(new TextEncoder().encode("{not json"), 0);
        file.close();
      }
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
