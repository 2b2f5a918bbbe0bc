/**
 * The key index through the store: lookups by key and unique key on memory and file storage,
 * hash collisions, roll-over of index files, restarts, crashes (a power loss on memory storage;
 * a SIGKILLed broker process is in tests/faults/key_index_kill_test.ts), retention, time ranges,
 * the most-messages bound and the completeness flag.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { decodeRecords } from "../../../core/model/record.ts";
import { encodeProperties } from "../../../core/model/properties.ts";
import { SysFlag } from "../../../core/model/message.ts";
import { tagHash } from "../../../core/model/tag_hash.ts";
import { KeyIndex } from "../../../server/store/key_index.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { joinPath } from "../../../server/store/segment_storage.ts";
import type { KeyQueryResult, MessageStoreOptions, StoreInput } from "../../../server/store/store_types.ts";
import { BACKENDS, HOST, msg } from "./_store_helpers.ts";

const text = new TextDecoder();
const T0 = 1_750_000_000_000;

/** A message with a unique key and keys, stored at the store's clock. */
function keyed(topic: string, options: { body: string; keys?: string; uniq?: string; sysFlag?: number }): StoreInput {
  const properties: Record<string, string> = {};
  if (options.uniq !== undefined) properties.UNIQ_KEY = options.uniq;
  if (options.keys !== undefined) properties.KEYS = options.keys;
  return { ...msg(topic, { body: options.body }), sysFlag: options.sysFlag ?? 0, properties: encodeProperties(properties) };
}

function bodies(result: KeyQueryResult): string[] {
  return result.body === undefined ? [] : decodeRecords(result.body).map((m) => text.decode(m.body));
}

for (const backend of BACKENDS) {
  describe(`key index on ${backend.name}`, () => {
    let env = backend.make();
    const open: MessageStore[] = [];
    let clock = T0;
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close().catch(() => {});
      env.cleanup();
      env = backend.make();
      clock = T0;
    });

    async function openStore(options: Partial<MessageStoreOptions> = {}): Promise<MessageStore> {
      const store = await MessageStore.open({
        dataDir: env.dataDir,
        storage: env.storage,
        storeHost: HOST,
        now: () => clock,
        flushIntervalMs: 60_000,
        ...options,
      });
      open.push(store);
      return store;
    }

    async function reopen(store: MessageStore, options: Partial<MessageStoreOptions> = {}): Promise<MessageStore> {
      await store.close();
      open.splice(open.indexOf(store), 1);
      return await openStore(options);
    }

    test("finds a topic's messages by key and by unique key, newest first, and only that topic's", async () => {
      const store = await openStore();
      await store.putMessage(keyed("orders", { body: "a", keys: "k1 k2", uniq: "U1" }));
      await store.putMessage(keyed("orders", { body: "b", keys: "k2" }));
      await store.putMessage(keyed("refunds", { body: "c", keys: "k2", uniq: "U1" }));
      await store.putMessage(keyed("orders", { body: "d", keys: "k3" }));
      expect(bodies(store.queryMessage("orders", "k2"))).toEqual(["b", "a"]);
      expect(bodies(store.queryMessage("orders", "k1"))).toEqual(["a"]);
      expect(bodies(store.queryMessage("orders", "U1"))).toEqual(["a"]);
      expect(bodies(store.queryMessage("refunds", "U1", { uniqueKey: true }))).toEqual(["c"]);
      // A unique-key query matches UNIQ_KEY only; a key query matches either.
      expect(store.queryMessage("orders", "k1", { uniqueKey: true }).count).toBe(0);
      const none = store.queryMessage("orders", "nothing");
      expect(none).toMatchObject({ count: 0, complete: true });
      expect(store.stats.index).toMatchObject({ files: 1, entries: 7 });
    });

    test("keys whose hashes are equal are told apart by their records", async () => {
      expect(tagHash("orders#Aa")).toBe(tagHash("orders#BB"));
      const store = await openStore({ maxHashSlotNum: 1 });
      for (let i = 0; i < 20; i++) await store.putMessage(keyed("orders", { body: `${i % 2 ? "Aa" : "BB"}-${i}`, keys: i % 2 ? "Aa" : "BB" }));
      // A different hash in the one slot, too.
      await store.putMessage(keyed("orders", { body: "other", keys: "zz" }));
      const aa = store.queryMessage("orders", "Aa", { maxNum: 100 });
      expect(aa.count).toBe(10);
      expect(bodies(aa).every((b) => b.startsWith("Aa-"))).toBe(true);
      expect(bodies(store.queryMessage("orders", "BB", { maxNum: 3 }))).toEqual(["BB-18", "BB-16", "BB-14"]);
      expect(bodies(store.queryMessage("orders", "zz"))).toEqual(["other"]);
      // The collision cost index reads, not wrong answers: every entry of the one chain was read.
      expect(aa.entriesRead).toBe(21);
    });

    test("rolls over to new index files and finds keys in every one of them", async () => {
      const store = await openStore({ maxIndexNum: 128, maxHashSlotNum: 64 });
      for (let i = 0; i < 300; i++) await store.putMessage(keyed("t", { body: `m${i}`, keys: `k${i} common`, uniq: `U${i}` }));
      const stats = store.stats.index!;
      expect(stats.entries).toBe(900);
      expect(stats.files).toBe(Math.ceil(900 / 128));
      for (const i of [0, 42, 127, 128, 200, 299]) {
        expect(bodies(store.queryMessage("t", `k${i}`))).toEqual([`m${i}`]);
        expect(bodies(store.queryMessage("t", `U${i}`, { uniqueKey: true }))).toEqual([`m${i}`]);
      }
      const all = store.queryMessage("t", "common", { maxNum: 1000 });
      expect(all.count).toBe(300);
      expect(all.complete).toBe(true);
      expect(bodies(all)).toEqual(Array.from({ length: 300 }, (_, i) => `m${299 - i}`));
      // And the same after a restart, when the sealed files serve from their stored slot tables.
      const again = await reopen(store, { maxIndexNum: 128, maxHashSlotNum: 64 });
      expect(again.stats.index!.recovery.records).toBe(0);
      for (const i of [0, 127, 128, 299]) expect(bodies(again.queryMessage("t", `k${i}`))).toEqual([`m${i}`]);
      expect(again.queryMessage("t", "common", { maxNum: 1000 }).count).toBe(300);
      // New entries go on in the last file and roll on.
      for (let i = 300; i < 400; i++) await again.putMessage(keyed("t", { body: `m${i}`, keys: `k${i} common` }));
      expect(bodies(again.queryMessage("t", "k399"))).toEqual(["m399"]);
      expect(again.queryMessage("t", "common", { maxNum: 1000 }).count).toBe(400);
    });

    test("a time range and a most-messages bound limit the answer, which says when it is not complete", async () => {
      const store = await openStore();
      for (let i = 0; i < 10; i++) {
        clock = T0 + i * 60_000;
        await store.putMessage(keyed("t", { body: `m${i}`, keys: "k" }));
      }
      const window = store.queryMessage("t", "k", { beginTimestamp: T0 + 2 * 60_000, endTimestamp: T0 + 5 * 60_000 });
      expect(bodies(window)).toEqual(["m5", "m4", "m3", "m2"]);
      expect(window.complete).toBe(true);
      // Millisecond bounds, though entries keep whole seconds.
      expect(bodies(store.queryMessage("t", "k", { beginTimestamp: T0 + 2 * 60_000 + 1, endTimestamp: T0 + 5 * 60_000 - 1 }))).toEqual(["m4", "m3"]);
      const capped = store.queryMessage("t", "k", { maxNum: 3 });
      expect(bodies(capped)).toEqual(["m9", "m8", "m7"]);
      expect(capped).toMatchObject({ complete: false, incomplete: "more than 3 messages match" });
      // Exactly as many as asked is complete.
      expect(store.queryMessage("t", "k", { maxNum: 10 }).complete).toBe(true);
      const bounded = store.queryMessage("t", "k", { maxBytes: 1 });
      expect(bounded.count).toBe(1);
      expect(bounded.complete).toBe(false);
      expect(store.queryMessage("t", "k", { beginTimestamp: T0 + 3_600_000 })).toMatchObject({ count: 0, complete: true });
    });

    test("a time range is honoured when the clock went back", async () => {
      const store = await openStore();
      clock = T0 + 600_000;
      await store.putMessage(keyed("t", { body: "late", keys: "k" }));
      clock = T0;
      await store.putMessage(keyed("t", { body: "early", keys: "k" }));
      clock = T0 + 601_000;
      await store.putMessage(keyed("t", { body: "later", keys: "k" }));
      expect(bodies(store.queryMessage("t", "k", { beginTimestamp: T0 + 500_000 }))).toEqual(["later", "late"]);
      const again = await reopen(store);
      expect(bodies(again.queryMessage("t", "k", { beginTimestamp: T0 + 500_000 }))).toEqual(["later", "late"]);
      expect(bodies(again.queryMessage("t", "k", { endTimestamp: T0 + 1000 }))).toEqual(["early"]);
    });

    test("a restart keeps the index and a missing index is built from the log", async () => {
      const store = await openStore({ maxIndexNum: 128 });
      for (let i = 0; i < 100; i++) await store.putMessage(keyed("t", { body: `m${i}`, keys: `k${i}` }));
      const again = await reopen(store, { maxIndexNum: 128 });
      expect(again.stats.index!.recovery).toMatchObject({ records: 0, notes: [] });
      expect(bodies(again.queryMessage("t", "k7"))).toEqual(["m7"]);
      await again.close();
      open.splice(0);
      env.storage.remove(joinPath(env.dataDir, "index"));
      const rebuilt = await openStore({ maxIndexNum: 128 });
      expect(rebuilt.stats.index!.recovery).toMatchObject({ from: 0, records: 100 });
      expect(bodies(rebuilt.queryMessage("t", "k99"))).toEqual(["m99"]);
      expect(bodies(rebuilt.queryMessage("t", "k0"))).toEqual(["m0"]);
    });

    test("with indexing off nothing is indexed and lookups refuse; on again, the index catches up", async () => {
      const first = await openStore();
      await first.putMessage(keyed("t", { body: "before", keys: "k" }));
      const off = await reopen(first, { messageIndexEnable: false });
      await off.putMessage(keyed("t", { body: "while off", keys: "k" }));
      expect(off.indexEnabled).toBe(false);
      expect(off.stats.index).toBeUndefined();
      expect(() => off.queryMessage("t", "k")).toThrow("Key lookups are off on this store: messageIndexEnable is false");
      const on = await reopen(off);
      expect(on.stats.index!.recovery.records).toBe(1);
      expect(bodies(on.queryMessage("t", "k"))).toEqual(["while off", "before"]);
    });

    test("a rolled-back transaction's record is not indexed", async () => {
      const store = await openStore();
      await store.putMessage(keyed("t", { body: "rolled back", keys: "k", sysFlag: SysFlag.TRANSACTION_ROLLBACK }));
      await store.putMessage(keyed("t", { body: "committed", keys: "k", sysFlag: SysFlag.TRANSACTION_COMMIT }));
      expect(bodies(store.queryMessage("t", "k"))).toEqual(["committed"]);
      expect(store.stats.index!.entries).toBe(1);
    });

    test("retention deletes index files whose entries all point below the log's start, and lookups skip deleted records", async () => {
      const store = await openStore({ commitLogSegmentSize: 16 * 1024, maxIndexNum: 128, fileReservedTimeMs: 3_600_000, deleteWhen: "*" });
      const body = "x".repeat(500);
      for (let i = 0; i < 300; i++) await store.putMessage(keyed("t", { body: `${i}:${body}`, keys: `k${i} common` }));
      const before = store.stats.index!.files;
      expect(before).toBe(Math.ceil(600 / 128));
      clock = T0 + 2 * 3_600_000;
      // A fresh message keeps the newest segment served.
      await store.putMessage(keyed("t", { body: "fresh", keys: "common" }));
      expect(store.deleteExpiredSegments()).toBeGreaterThan(0);
      const min = store.stats.commitLogMinOffset;
      const after = store.stats.index!;
      expect(after.files).toBeLessThan(before);
      // What is left still covers every record from the log's start on.
      expect(bodies(store.queryMessage("t", "common", { maxNum: 1000 }))).toEqual(["fresh"]);
      expect(store.queryMessage("t", "k0").count).toBe(0);
      const files = env.storage.list(joinPath(env.dataDir, "index")).filter((n) => /^\d{20}$/.test(n));
      expect(files.length).toBe(after.files);
      expect(Number(files[0])).toBeLessThanOrEqual(min);
      const again = await reopen(store, { commitLogSegmentSize: 16 * 1024, maxIndexNum: 128, fileReservedTimeMs: 3_600_000, deleteWhen: "*" });
      expect(again.stats.index!.files).toBe(after.files);
      expect(bodies(again.queryMessage("t", "common", { maxNum: 1000 }))).toEqual(["fresh"]);
    });

    test("a damaged index file is rebuilt from the log, with the files after it", async () => {
      const store = await openStore({ maxIndexNum: 128 });
      for (let i = 0; i < 200; i++) await store.putMessage(keyed("t", { body: `m${i}`, keys: `k${i} c` }));
      await store.close();
      open.splice(0);
      const dir = joinPath(env.dataDir, "index");
      const names = env.storage.list(dir).filter((n) => /^\d{20}$/.test(n));
      expect(names.length).toBe(4);
      const file = env.storage.open(joinPath(dir, names[1]!));
      file.write(new Uint8Array(8), 0);
      file.close();
      const again = await openStore({ maxIndexNum: 128 });
      const recovery = again.stats.index!.recovery;
      expect(recovery.from).toBe(Number(names[1]));
      expect(recovery.notes[0]).toContain("has no index header: rebuilding the key index from CommitLog offset");
      for (const i of [0, 63, 64, 150, 199]) expect(bodies(again.queryMessage("t", `k${i}`))).toEqual([`m${i}`]);
      expect(again.queryMessage("t", "c", { maxNum: 1000 }).count).toBe(200);
      // Rebuilt once: the files after the damaged one went with it, so no entry is there twice.
      expect(again.stats.index).toMatchObject({ files: 4, entries: 400 });
    });
  });
}

describe("key index after a power loss (memory storage)", () => {
  function openOn(storage: MemorySegmentStorage, flushMode: "sync" | "async", extra: Partial<MessageStoreOptions> = {}) {
    return MessageStore.open({ dataDir: "/data", storage, storeHost: HOST, flushMode, flushIntervalMs: 60_000, maxIndexNum: 128, ...extra });
  }

  test("sync flush: every acknowledged message is found by key after the crash, the lost index tail rebuilt past its checkpoint", async () => {
    const storage = new MemorySegmentStorage();
    const store = await openOn(storage, "sync");
    for (let i = 0; i < 50; i++) await store.putMessage(keyed("t", { body: `m${i}`, keys: `k${i} all` }));
    await store.flush();
    // Past the index's durable point: acknowledged (fsynced CommitLog) but their index entries not fsynced.
    for (let i = 50; i < 200; i++) await store.putMessage(keyed("t", { body: `m${i}`, keys: `k${i} all` }));
    expect(store.stats.index!.durableOffset).toBeLessThan(store.stats.index!.indexedOffset);
    storage.crash();
    const again = await openOn(storage, "sync");
    const recovery = again.stats.index!.recovery;
    expect(recovery.records).toBe(150);
    for (let i = 0; i < 200; i += 7) expect(bodies(again.queryMessage("t", `k${i}`))).toEqual([`m${i}`]);
    const all = again.queryMessage("t", "all", { maxNum: 1000 });
    expect(all.count).toBe(200);
    expect(new Set(bodies(all)).size).toBe(200);
    await again.close();
  });

  test("a lookup stops after reading 50,000 index entries and says the answer is not complete", async () => {
    const storage = new MemorySegmentStorage();
    // One hash slot: every key's chain is every entry.
    const store = await openOn(storage, "async", { maxHashSlotNum: 1, maxIndexNum: 100_000 });
    for (let i = 0; i < 50_100; i += 1000) {
      await store.putMessages(Array.from({ length: 1000 }, (_, k) => keyed("t", { body: `m${i + k}`, keys: `k${i + k}` })));
    }
    expect(bodies(store.queryMessage("t", "k50099"))).toEqual(["m50099"]);
    const old = store.queryMessage("t", "k0");
    expect(old).toMatchObject({ count: 0, complete: false, entriesRead: 50_000 });
    expect(old.incomplete).toBe("the lookup stopped after reading 50000 index entries (keys of other messages share this key's hash slot)");
    await store.close();
  });

  test("the slot table a clean close stored is used only for exactly the entries it covers", async () => {
    const storage = new MemorySegmentStorage();
    const a = await openOn(storage, "sync");
    for (let i = 0; i < 100; i++) await a.putMessage(keyed("t", { body: `m${i}`, keys: `k${i}` }));
    await a.close();
    // Reopened on the stored table; 50 more whose entries a power loss takes (the log keeps them).
    const b = await openOn(storage, "sync");
    expect(b.stats.index!.recovery.records).toBe(0);
    for (let i = 100; i < 150; i++) await b.putMessage(keyed("t", { body: `m${i}`, keys: `k${i}` }));
    storage.crash();
    const c = await openOn(storage, "sync");
    expect(c.stats.index!.recovery.records).toBe(50);
    for (let i = 0; i < 150; i++) expect(bodies(c.queryMessage("t", `k${i}`))).toEqual([`m${i}`]);
    // Again, with entries past the stored table made durable (and counted) before the crash: the table covers too few.
    await c.close();
    const d = await openOn(storage, "sync");
    for (let i = 150; i < 200; i++) await d.putMessage(keyed("t", { body: `m${i}`, keys: `k${i}` }));
    await d.flush();
    for (let i = 200; i < 220; i++) await d.putMessage(keyed("t", { body: `m${i}`, keys: `k${i}` }));
    storage.crash();
    const e = await openOn(storage, "sync");
    expect(e.stats.index!.recovery.records).toBe(20);
    for (let i = 0; i < 220; i++) expect(bodies(e.queryMessage("t", `k${i}`))).toEqual([`m${i}`]);
    await e.close();
  });

  test("a checkpoint restored from its backup cuts the file below its stored slot table, which is then rebuilt", async () => {
    const storage = new MemorySegmentStorage();
    const a = await openOn(storage, "sync");
    for (let i = 0; i < 60; i++) await a.putMessage(keyed("t", { body: `m${i}`, keys: `k${i} all` }));
    await a.flush();
    for (let i = 60; i < 100; i++) await a.putMessage(keyed("t", { body: `m${i}`, keys: `k${i} all` }));
    await a.close();
    // The main checkpoint is damaged: its backup (taken at the flush) counts fewer entries than the stored table covers.
    const main = storage.open("/data/index/checkpoint");
    main.write(new TextEncoder().encode("{ broken"), 0);
    main.close();
    const b = await openOn(storage, "sync");
    const recovery = b.stats.index!.recovery;
    expect(recovery.notes[0]).toStartWith("Key index checkpoint restored from its backup");
    expect(recovery.records).toBe(40);
    for (let i = 0; i < 100; i++) expect(bodies(b.queryMessage("t", `k${i}`))).toEqual([`m${i}`]);
    expect(b.queryMessage("t", "all", { maxNum: 1000 }).count).toBe(100);
    expect(b.stats.index!.entries).toBe(200);
    await b.close();
  });

  test("entries pointing past the recovered log's end are dropped (records an async flush lost), files and all", async () => {
    const storage = new MemorySegmentStorage();
    const shape = { storage, hashSlots: 16, entriesPerFile: 128 };
    const index = new KeyIndex("/idx", shape);
    expect(index.open({ min: 0, end: 0 })).toBe(0);
    for (let i = 0; i < 300; i++) index.add({ topic: "t", properties: encodeProperties({ KEYS: `k${i}` }), sysFlag: 0 }, i * 100, 100, T0);
    await index.close();
    expect(storage.list("/idx").filter((n) => /^\d{20}$/.test(n)).length).toBe(3);
    const again = new KeyIndex("/idx", shape);
    expect(again.open({ min: 0, end: 150 * 100 })).toBe(150 * 100);
    expect(again.stats).toMatchObject({ files: 2, entries: 150, indexedOffset: 150 * 100 });
    const found = (key: string) => {
      const offsets: number[] = [];
      again.lookup("t", key, { begin: 0, end: Number.MAX_SAFE_INTEGER, budget: 1000 }, (offset) => offsets.push(offset) > 0);
      return offsets;
    };
    expect(found("k149")).toEqual([14_900]);
    expect(found("k150")).toEqual([]);
    again.add({ topic: "t", properties: encodeProperties({ KEYS: "k150" }), sysFlag: 0 }, 15_000, 100, T0);
    expect(found("k150")).toEqual([15_000]);
    expect(found("k0")).toEqual([0]);
    await again.close();
  });
});

describe("key index writes", () => {
  test("entries of puts made one at a time reach the index file together, and lookups find them before they do", async () => {
    let writes = 0;
    const storage = new (class extends MemorySegmentStorage {
      override open(path: string, options?: { create?: boolean }) {
        const file = super.open(path, options);
        if (!path.includes("/index/")) return file;
        const write = file.write.bind(file);
        file.write = (data: Uint8Array, position: number) => {
          writes++;
          write(data, position);
        };
        return file;
      }
    })();
    const store = await MessageStore.open({ dataDir: "/data", storage, storeHost: HOST, flushIntervalMs: 60_000 });
    // A put a task, as requests one at a time arrive: every one is indexed by a drain of its own.
    for (let i = 0; i < 50; i++) {
      await store.putMessage(keyed("t", { body: `m${i}`, keys: `k${i}` }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(writes).toBeLessThan(5);
    for (let i = 0; i < 50; i += 7) expect(bodies(store.queryMessage("t", `k${i}`))).toEqual([`m${i}`]);
    await store.close();
    const again = await MessageStore.open({ dataDir: "/data", storage, storeHost: HOST, flushIntervalMs: 60_000 });
    for (let i = 0; i < 50; i += 7) expect(bodies(again.queryMessage("t", `k${i}`))).toEqual([`m${i}`]);
    await again.close();
  });
});

describe("key index writes that fail", () => {
  /** Memory storage whose index files refuse writes once `full` is set, as a full disk does. */
  class FullIndexDisk extends MemorySegmentStorage {
    full = false;
    override open(path: string, options?: { create?: boolean }) {
      const file = super.open(path, options);
      if (!path.includes("/index/")) return file;
      const write = file.write.bind(file);
      file.write = (data: Uint8Array, position: number) => {
        if (this.full) throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        write(data, position);
      };
      return file;
    }
  }

  test("a full disk under the index stops indexing, not the puts; lookups say so and a restart indexes again", async () => {
    const storage = new FullIndexDisk();
    const open = () => MessageStore.open({ dataDir: "/data", storage, storeHost: HOST, flushMode: "sync", flushIntervalMs: 60_000, maxIndexNum: 128 });
    const store = await open();
    for (let i = 0; i < 20; i++) await store.putMessage(keyed("t", { body: `m${i}`, keys: `k${i}` }));
    await store.flush();
    storage.full = true;
    // Enough for the index to write (and fail) while the puts go on.
    for (let i = 20; i < 400; i++) expect((await store.putMessage(keyed("t", { body: `m${i}`, keys: `k${i}` }))).status).toBe("PUT_OK");
    await store.flush();
    expect(store.stats.index!.failure).toContain("ENOSPC");
    // Whatever a lookup finds now, it says it may miss messages.
    const late = store.queryMessage("t", "k399");
    expect(late.complete).toBe(false);
    expect(late.incomplete).toContain("the key index stopped at CommitLog offset");
    storage.full = false;
    await store.close();
    const again = await open();
    expect(again.stats.index!.failure).toBeUndefined();
    for (let i = 0; i < 400; i += 13) expect(bodies(again.queryMessage("t", `k${i}`))).toEqual([`m${i}`]);
    await again.close();
  });
});
