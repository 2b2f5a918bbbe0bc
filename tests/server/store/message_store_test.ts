import { afterEach, describe, expect, test } from "bun:test";
import { decodeRecords } from "../../../core/model/record.ts";
import { tagHash } from "../../../core/model/tag_hash.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import { joinPath } from "../../../server/store/segment_storage.ts";
import type { MessageStoreOptions } from "../../../server/store/store_types.ts";
import { BACKENDS, HOST, msg } from "./_store_helpers.ts";

const text = new TextDecoder();

for (const backend of BACKENDS) {
  describe(`MessageStore on ${backend.name}`, () => {
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
        commitLogSegmentSize: 64 * 1024,
        consumeQueueEntriesPerFile: 100,
        ...options,
      });
      open.push(store);
      return store;
    }

    test("putMessage() assigns consecutive queue offsets per queue", async () => {
      const store = await openStore();
      const results = await Promise.all([
        store.putMessage(msg("A", { queueId: 0 })),
        store.putMessage(msg("A", { queueId: 1 })),
        store.putMessage(msg("A", { queueId: 0 })),
        store.putMessage(msg("B", { queueId: 0 })),
      ]);
      expect(results.map((r) => r.status)).toEqual(["PUT_OK", "PUT_OK", "PUT_OK", "PUT_OK"]);
      expect(results.map((r) => r.queueOffset)).toEqual([0, 0, 1, 0]);
      expect(store.getMaxOffset("A", 0)).toBe(2);
      expect(store.getMaxOffset("A", 1)).toBe(1);
      expect(store.topics()).toEqual(["A", "B"]);
      expect(store.queueIds("A")).toEqual([0, 1]);
      const m = store.lookMessageByOffset(results[2]!.commitLogOffset)!;
      expect(m.queueOffset).toBe(1);
      expect(m.msgId).toBe(results[2]!.msgId);
      expect(m.storeHost).toEqual(HOST);
    });

    test("queues written in the same ticks interleave in the log and each reads back whole, across segments", async () => {
      const store = await openStore();
      // Sizes vary so records sit a varying distance apart; 3 x 150 records of up to ~1.5 KB fill several 64 KiB segments.
      const sent: string[][] = [[], [], []];
      for (let round = 0; round < 150; round += 10) {
        const puts = [];
        for (let i = round; i < round + 10; i++) {
          for (const queueId of [0, 1, 2]) {
            const body = `${queueId}:${i}:${"y".repeat((i * 37 + queueId * 101) % 1500)}`;
            sent[queueId]!.push(body);
            puts.push(store.putMessage(msg("Mixed", { queueId, body, keys: `k${queueId}-${i}` })));
          }
        }
        expect((await Promise.all(puts)).every((r) => r.status === "PUT_OK")).toBe(true);
      }
      expect(store.stats.segmentCount).toBeGreaterThan(3);
      for (const queueId of [0, 1, 2]) {
        const got: string[] = [];
        let offset = 0;
        while (offset < 150) {
          const read = store.getMessage("Mixed", queueId, offset, 32, undefined, 1 << 24);
          expect(read.status).toBe("FOUND");
          const records = decodeRecords(read.body!);
          expect(records.map((m) => m.queueOffset)).toEqual(records.map((_, k) => offset + k));
          for (const m of records) {
            expect(m.keys).toEqual([`k${queueId}-${m.queueOffset}`]);
            got.push(text.decode(m.body));
          }
          offset = read.nextBeginOffset;
        }
        expect(got).toEqual(sent[queueId]!);
      }
    });

    test("appends roll over segments with a blank marker and stay readable", async () => {
      const store = await openStore();
      const body = "x".repeat(1000);
      const results = [];
      for (let i = 0; i < 200; i++) results.push(await store.putMessage(msg("Roll", { body: `${i}:${body}` })));
      expect(store.stats.segmentCount).toBeGreaterThan(2);
      const names = env.storage.list(joinPath(env.dataDir, "commitlog"));
      expect(names[1]).toBe("00000000000000065536");
      const seen: string[] = [];
      let offset = 0;
      while (true) {
        const got = store.getMessage("Roll", 0, offset, 32, undefined, 1 << 20);
        if (got.status !== "FOUND") break;
        for (const m of decodeRecords(got.body!)) seen.push(text.decode(m.body).split(":")[0]!);
        offset = got.nextBeginOffset;
      }
      expect(seen).toEqual(results.map((_, i) => String(i)));
      for (const r of results) expect(r.commitLogOffset % (64 * 1024) + 1000).toBeLessThan(64 * 1024);
    });

    test("putMessages() stores a batch with consecutive offsets in one go", async () => {
      const store = await openStore();
      await store.putMessage(msg("Batch"));
      const results = await store.putMessages([msg("Batch"), msg("Batch"), msg("Batch")]);
      expect(results.map((r) => r.queueOffset)).toEqual([1, 2, 3]);
      expect(results[1]!.commitLogOffset).toBe(results[0]!.commitLogOffset + 100);
      const mixed = await store.putMessages([msg("Batch"), msg("Batch", { queueId: 1 })]);
      expect(mixed.map((r) => r.status)).toEqual(["MESSAGE_ILLEGAL", "MESSAGE_ILLEGAL"]);
      expect(store.getMaxOffset("Batch", 0)).toBe(4);
    });

    test("illegal messages are refused with a reason", async () => {
      const store = await openStore({ maxMessageSize: 2000 });
      const tooBig = await store.putMessage(msg("T", { body: new Uint8Array(3000) }));
      expect(tooBig.status).toBe("MESSAGE_ILLEGAL");
      expect(tooBig.error).toContain("exceeds");
      expect((await store.putMessage(msg("bad/topic"))).status).toBe("MESSAGE_ILLEGAL");
      expect((await store.putMessage(msg("T", { queueId: -1 }))).status).toBe("MESSAGE_ILLEGAL");
      const props = await store.putMessage({ ...msg("T"), properties: `a\u0001${"b".repeat(40000)}\u0002` });
      expect(props.status).toBe("PROPERTIES_SIZE_EXCEEDED");
      expect(store.getMaxOffset("T", 0)).toBe(0);
    });

    test("getMessage() reports every offset status", async () => {
      const store = await openStore();
      expect(store.getMessage("Q", 0, 0, 10)).toMatchObject({ status: "NO_MESSAGE_IN_QUEUE", nextBeginOffset: 0 });
      for (let i = 0; i < 5; i++) await store.putMessage(msg("Q", { body: `m${i}` }));
      expect(store.getMessage("Q", 0, 5, 10)).toMatchObject({ status: "OFFSET_OVERFLOW_ONE", nextBeginOffset: 5 });
      expect(store.getMessage("Q", 0, 9, 10)).toMatchObject({ status: "OFFSET_OVERFLOW_BADLY", nextBeginOffset: 5 });
      const got = store.getMessage("Q", 0, 1, 2);
      expect(got).toMatchObject({ status: "FOUND", count: 2, nextBeginOffset: 3, minOffset: 0, maxOffset: 5 });
      expect(decodeRecords(got.body!).map((m) => text.decode(m.body))).toEqual(["m1", "m2"]);
      const raw = store.lookMessageBytesByOffset(decodeRecords(got.body!)[0]!.commitLogOffset)!;
      expect(got.body!.subarray(0, raw.length)).toEqual(raw);
      const limited = store.getMessage("Q", 0, 0, 10, undefined, raw.length + 1);
      expect(limited).toMatchObject({ status: "FOUND", count: 1, nextBeginOffset: 1 });
    });

    test("getMessage() filters by tag hash", async () => {
      const store = await openStore();
      for (let i = 0; i < 6; i++) await store.putMessage(msg("F", { tags: i % 3 === 0 ? "TagA" : "TagB", body: `${i}` }));
      const wanted = tagHash("TagA");
      const got = store.getMessage("F", 0, 0, 10, (h) => h === wanted);
      expect(got.status).toBe("FOUND");
      expect(got.tagHashes).toEqual([wanted, wanted]);
      expect(decodeRecords(got.body!).map((m) => text.decode(m.body))).toEqual(["0", "3"]);
      expect(got.nextBeginOffset).toBe(6);
      const none = store.getMessage("F", 0, 1, 10, (h) => h === tagHash("TagC"));
      expect(none).toMatchObject({ status: "NO_MATCHED_MESSAGE", nextBeginOffset: 6, count: 0 });
    });

    test("getMessage() stops at a ConsumeQueue file end and continues from there", async () => {
      const store = await openStore({ consumeQueueEntriesPerFile: 10 });
      await store.putMessages(Array.from({ length: 25 }, (_, i) => msg("CQ", { body: `${i}` })));
      const first = store.getMessage("CQ", 0, 5, 32);
      expect(first).toMatchObject({ count: 5, nextBeginOffset: 10 });
      const second = store.getMessage("CQ", 0, 10, 32);
      expect(decodeRecords(second.body!).map((m) => text.decode(m.body))[0]).toBe("10");
      expect(env.storage.list(joinPath(env.dataDir, "consumequeue", "CQ", "0"))).toEqual([
        "00000000000000000000",
        "00000000000000000200",
        "00000000000000000400",
      ]);
    });

    test("getOffsetByTime() finds the first message stored at or after a time", async () => {
      let clock = 1_000_000;
      const store = await openStore({ now: () => clock });
      for (let i = 0; i < 10; i++) {
        clock = 2_000_000 + i * 100;
        await store.putMessage(msg("Time"));
      }
      expect(store.getOffsetByTime("Time", 0, 0)).toBe(0);
      expect(store.getOffsetByTime("Time", 0, 2_000_000)).toBe(0);
      expect(store.getOffsetByTime("Time", 0, 2_000_450)).toBe(5);
      expect(store.getOffsetByTime("Time", 0, 2_000_500)).toBe(5);
      expect(store.getOffsetByTime("Time", 0, 9_000_000)).toBe(10);
      expect(store.getOffsetByTime("Nope", 0, 1)).toBe(0);
    });

    test("onArrive fires once per message as it becomes visible", async () => {
      const store = await openStore();
      const arrived: [string, number, number, number][] = [];
      store.onArrive = (topic, queueId, offset, hash) => arrived.push([topic, queueId, offset, hash]);
      await store.putMessages([msg("Arr", { tags: "TagA" }), msg("Arr", { tags: "TagA" })]);
      expect(arrived).toEqual([
        ["Arr", 0, 0, 2598919],
        ["Arr", 0, 1, 2598919],
      ]);
    });

    test("a reopened store continues offsets after a clean close", async () => {
      const store = await openStore();
      for (let i = 0; i < 150; i++) await store.putMessage(msg("Re", { queueId: i % 3, body: "y".repeat(800) }));
      const before = store.stats.commitLogMaxOffset;
      await store.close();
      const again = await openStore();
      expect(again.stats.commitLogMaxOffset).toBe(before);
      expect(again.stats.recovery.rebuiltEntries).toBe(0);
      expect([0, 1, 2].map((q) => again.getMaxOffset("Re", q))).toEqual([50, 50, 50]);
      const next = await again.putMessage(msg("Re", { queueId: 1 }));
      expect(next.queueOffset).toBe(50);
      expect(next.commitLogOffset).toBe(before);
      expect(again.getMessage("Re", 2, 49, 1).count).toBe(1);
    });

    test("open() refuses a segment size that does not match the existing log", async () => {
      const store = await openStore();
      for (let i = 0; i < 80; i++) await store.putMessage(msg("S", { body: "s".repeat(1000) }));
      await store.close();
      await expect(openStore({ commitLogSegmentSize: 32 * 1024 })).rejects.toThrow("segment size");
      await expect(openStore({ commitLogSegmentSize: 128 * 1024 })).rejects.toThrow("segment size");
      const again = await openStore();
      expect(again.getMaxOffset("S", 0)).toBe(80);
    });

    test("deleteTopic() removes its queues for good", async () => {
      const store = await openStore();
      await store.putMessage(msg("Gone"));
      await store.putMessage(msg("Kept"));
      await store.deleteTopic("Gone");
      expect(store.topics()).toEqual(["Kept"]);
      expect(store.getMessage("Gone", 0, 0, 1).status).toBe("NO_MESSAGE_IN_QUEUE");
      await store.close();
      const again = await openStore();
      expect(again.topics()).toEqual(["Kept"]);
      expect((await again.putMessage(msg("Gone"))).queueOffset).toBe(0);
    });

    test("deleteExpiredSegments() drops old segments and moves min offsets", async () => {
      let clock = 1_000;
      const store = await openStore({ now: () => clock, fileReservedTimeMs: 10_000 });
      for (let i = 0; i < 150; i++) await store.putMessage(msg("Old", { body: "z".repeat(1000) }));
      clock = 100_000;
      await store.putMessage(msg("Old", { body: "z".repeat(1000) }));
      const segments = store.stats.segmentCount;
      expect(store.deleteExpiredSegments()).toBe(segments - 1);
      expect(store.stats.commitLogMinOffset).toBe((segments - 1) * 64 * 1024);
      const min = store.getMinOffset("Old", 0);
      expect(min).toBeGreaterThan(100);
      expect(store.getMessage("Old", 0, 0, 1)).toMatchObject({ status: "OFFSET_TOO_SMALL", nextBeginOffset: min });
      expect(store.getMessage("Old", 0, min, 100).count).toBe(151 - min);
      await store.close();
      const again = await openStore({ now: () => clock, fileReservedTimeMs: 10_000 });
      expect(again.getMinOffset("Old", 0)).toBe(min);
      expect(again.getMaxOffset("Old", 0)).toBe(151);
    });
  });
}
