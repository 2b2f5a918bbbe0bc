import { describe, expect, test } from "bun:test";
import { decodeRecords } from "../../../core/model/record.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import type { MessageStoreOptions } from "../../../server/store/store_types.ts";
import { BACKENDS, FaultyStorage, HOST, msg } from "./_store_helpers.ts";

function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function openOn(faulty: FaultyStorage, dataDir: string, options: Partial<MessageStoreOptions> = {}) {
  return await MessageStore.open({
    dataDir,
    storage: faulty,
    storeHost: HOST,
    flushMode: "sync",
    commitLogSegmentSize: 64 * 1024,
    flushIntervalMs: 60_000,
    ...options,
  });
}

describe("sync flush", () => {
  for (const backend of BACKENDS) {
    test(`group commit: 100 concurrent puts need far fewer fsyncs (${backend.name})`, async () => {
      const env = backend.make();
      const faulty = new FaultyStorage(env.storage);
      const store = await openOn(faulty, env.dataDir);
      faulty.syncDelayMs = 5;
      const before = faulty.logSyncs;
      const puts: Promise<unknown>[] = [];
      for (let round = 0; round < 10; round++) {
        for (let i = 0; i < 10; i++) puts.push(store.putMessage(msg("G", { body: `${round}-${i}` })));
        await tick(1);
      }
      const results = (await Promise.all(puts)) as { status: string; queueOffset: number }[];
      expect(results.every((r) => r.status === "PUT_OK")).toBe(true);
      expect(results.map((r) => r.queueOffset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
      const syncs = faulty.logSyncs - before;
      expect(syncs).toBeGreaterThan(0);
      expect(syncs).toBeLessThan(20);
      expect(store.getMaxOffset("G", 0)).toBe(100);
      await store.close();
      env.cleanup();
    });
  }

  for (const backend of BACKENDS) {
    test(`a put made by an onArrive listener while the flush loop ends is flushed, not left waiting (${backend.name})`, async () => {
      const env = backend.make();
      const store = await openOn(new FaultyStorage(env.storage), env.dataDir);
      // What a POP long poll does: a message's arrival wakes a consumer whose pop writes a record.
      let chained: Promise<{ status: string }> | undefined;
      store.onArrive = (topic) => {
        if (topic === "A") chained = store.putMessage(msg("B"));
      };
      expect((await store.putMessage(msg("A"))).status).toBe("PUT_OK");
      const outcome = await Promise.race([chained!, tick(2000).then(() => ({ status: "still waiting after 2 s" }))]);
      expect(outcome.status).toBe("PUT_OK");
      expect(store.getMaxOffset("B", 0)).toBe(1);
      await store.close();
      env.cleanup();
    });
  }

  test("a put resolves only after its fsync and is invisible until then", async () => {
    const memory = new MemorySegmentStorage();
    const faulty = new FaultyStorage(memory);
    const store = await openOn(faulty, "/data");
    faulty.syncDelayMs = 20;
    const arrived: number[] = [];
    store.onArrive = (_t, _q, offset) => arrived.push(offset);
    let resolved = false;
    const put = store.putMessage(msg("V")).then((r) => {
      resolved = true;
      return r;
    });
    await tick(5);
    expect(resolved).toBe(false);
    expect(faulty.logSyncs).toBeGreaterThan(0);
    expect(store.getMaxOffset("V", 0)).toBe(0);
    expect(store.getMessage("V", 0, 0, 1).status).toBe("NO_MESSAGE_IN_QUEUE");
    expect(arrived).toEqual([]);
    const result = await put;
    expect(result.status).toBe("PUT_OK");
    expect(store.lookMessageByOffset(result.commitLogOffset)?.msgId).toBe(result.msgId);
    expect(arrived).toEqual([0]);
    expect(store.getMessage("V", 0, 0, 1).status).toBe("FOUND");
    memory.crash();
    const again = await openOn(new FaultyStorage(memory), "/data");
    expect(again.getMaxOffset("V", 0)).toBe(1);
    await again.close();
  });

  test("what a put acknowledged survives a power loss right after the acknowledgement; what was pending does not", async () => {
    // Plain memory storage: a sync counts only once it resolves, as a disk's does.
    const memory = new MemorySegmentStorage();
    const store = await openOn(new FaultyStorage(memory), "/data");
    const acked = await store.putMessage(msg("P", { body: "acked" }));
    expect(acked.status).toBe("PUT_OK");
    memory.crash();
    let pendingSettled = false;
    void store.putMessage(msg("P", { body: "pending" })).then(() => (pendingSettled = true));
    await Promise.resolve();
    memory.crash(); // before the second put's sync resolved
    expect(pendingSettled).toBe(false);
    const again = await openOn(new FaultyStorage(memory), "/data");
    expect(again.getMaxOffset("P", 0)).toBe(1);
    const read = again.getMessage("P", 0, 0, 10);
    expect(read.count).toBe(1);
    expect(decodeRecords(read.body!).map((m) => new TextDecoder().decode(m.body))).toEqual(["acked"]);
    await again.close();
  });

  test("a failed fsync fails every covered put and stops writes", async () => {
    const faulty = new FaultyStorage(new MemorySegmentStorage());
    const store = await openOn(faulty, "/data");
    faulty.failSync = true;
    const results = await Promise.all([store.putMessage(msg("F")), store.putMessage(msg("F"))]);
    expect(results.map((r) => r.status)).toEqual(["FLUSH_DISK_FAILED", "FLUSH_DISK_FAILED"]);
    expect(results[0]!.error).toContain("Injected fsync failure");
    expect(store.getMaxOffset("F", 0)).toBe(0);
    faulty.failSync = false;
    const after = await store.putMessage(msg("F"));
    expect(after.status).toBe("SERVICE_NOT_AVAILABLE");
    expect(store.stats.writeFailure).toContain("Injected fsync failure");
    await expect(store.flush()).rejects.toThrow("Flush failed");
  });

  test("a failed write fails the batch, is cut off, and the next write succeeds", async () => {
    const faulty = new FaultyStorage(new MemorySegmentStorage());
    const store = await openOn(faulty, "/data", { flushMode: "async" });
    expect((await store.putMessage(msg("W"))).status).toBe("PUT_OK");
    const end = store.stats.commitLogMaxOffset;
    faulty.failWrite = true;
    const result = await store.putMessage(msg("W"));
    expect(result.status).toBe("FLUSH_DISK_FAILED");
    expect(result.error).toContain("Injected write failure");
    expect(store.stats.commitLogMaxOffset).toBe(end);
    expect(store.stats.writeFailure).toBeUndefined();
    expect(store.stats.lastWriteError).toContain("Injected write failure");
    faulty.failWrite = false;
    const after = await store.putMessage(msg("W"));
    expect(after.status).toBe("PUT_OK");
    expect(after.queueOffset).toBe(1);
    expect(after.commitLogOffset).toBe(end);
    expect(store.stats.lastWriteError).toBeUndefined();
    expect(store.getMessage("W", 0, 0, 10).count).toBe(2);
    await store.close();
  });
});

describe("async flush", () => {
  test("a put is visible at once and fsynced by the background flush", async () => {
    const faulty = new FaultyStorage(new MemorySegmentStorage());
    const store = await openOn(faulty, "/data", { flushMode: "async", flushIntervalMs: 10 });
    const before = faulty.logSyncs;
    const arrived: number[] = [];
    store.onArrive = (_t, _q, offset) => arrived.push(offset);
    const result = await store.putMessage(msg("A"));
    expect(arrived).toEqual([0]);
    expect(store.getMaxOffset("A", 0)).toBe(1);
    expect(faulty.logSyncs).toBe(before);
    for (let i = 0; i < 100 && store.stats.flushedOffset <= result.commitLogOffset; i++) await tick(5);
    expect(store.stats.flushedOffset).toBe(store.stats.commitLogMaxOffset);
    expect(faulty.logSyncs).toBeGreaterThan(before);
    await store.close();
    expect((await store.putMessage(msg("A"))).status).toBe("SERVICE_NOT_AVAILABLE");
  });
});
