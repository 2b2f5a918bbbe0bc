/**
 * `MessageStore.putBatch`: records as a client encoded them, copied and patched. They must be the
 * very bytes `putMessages` encodes for the same messages, get contiguous queue offsets (also when
 * single puts share the write, and across a segment end), reach the key index and survive a crash.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { type BatchRecordInput, encodeBatchRecords, type BatchScan, scanBatchRecords } from "../../../core/model/batch_records.ts";
import { decodeRecords, verifyRecord } from "../../../core/model/record.ts";
import { encodeProperties } from "../../../core/model/properties.ts";
import { tagHash } from "../../../core/model/tag_hash.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import type { KeyQueryResult, MessageStoreOptions, StoreInput } from "../../../server/store/store_types.ts";
import { BACKENDS, BORN, HOST, msg } from "./_store_helpers.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
const NOW = 1_760_000_000_000;
const BORN_AT = 1_700_000_000_123;

/** Messages with tags, keys, a unique key, user properties (one not ASCII) and flags. */
function messages(prefix: string, n: number, bodySize = 40): (BatchRecordInput & { properties: string })[] {
  return Array.from({ length: n }, (_, i) => {
    const properties: Record<string, string> = { UNIQ_KEY: `${prefix}-U${i}`, KEYS: `${prefix}-k${i} shared`, color: i % 2 ? "grün" : "red" };
    if (i % 3 !== 0) properties.TAGS = i % 3 === 1 ? "TagA" : "Tägß";
    return { body: enc.encode(`${prefix}-${i}:`.padEnd(bodySize, "x")), flag: i * 7 - 3, properties: encodeProperties(properties) };
  });
}

function scanOf(topic: string, batch: BatchRecordInput[]): BatchScan {
  const scan = scanBatchRecords(encodeBatchRecords(topic, batch, { bornTimestamp: BORN_AT }), { topic, count: batch.length, maxBodySize: 1 << 20, maxPropertiesSize: 32767 });
  if (typeof scan === "string") throw new Error(scan);
  return scan;
}

function inputs(topic: string, queueId: number, batch: (BatchRecordInput & { properties: string })[]): StoreInput[] {
  return batch.map((m) => ({ ...msg(topic, { queueId, body: m.body }), flag: m.flag, bornTimestamp: BORN_AT, properties: m.properties }));
}

/** Every stored record of a queue, back to back (reads stop at a segment end, so several are made). */
function readAll(store: MessageStore, topic: string, queueId: number, filter?: (hash: number) => boolean): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let offset = 0; offset < store.getMaxOffset(topic, queueId);) {
    const got = store.getMessage(topic, queueId, offset, 1000, filter, 1 << 20);
    if (got.body !== undefined) parts.push(got.body);
    if (got.nextBeginOffset <= offset) break;
    offset = got.nextBeginOffset;
  }
  return new Uint8Array(Buffer.concat(parts));
}

function bodies(result: KeyQueryResult): string[] {
  return result.body === undefined ? [] : decodeRecords(result.body).map((m) => dec.decode(m.body));
}

for (const backend of BACKENDS) {
  describe(`putBatch() on ${backend.name}`, () => {
    let envs = [backend.make(), backend.make()];
    const open: MessageStore[] = [];
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close().catch(() => {});
      for (const env of envs) env.cleanup();
      envs = [backend.make(), backend.make()];
    });

    async function openStore(which: number, options: Partial<MessageStoreOptions> = {}): Promise<MessageStore> {
      const env = envs[which]!;
      const store = await MessageStore.open({
        dataDir: env.dataDir,
        storage: env.storage,
        storeHost: HOST,
        commitLogSegmentSize: 8 * 1024,
        consumeQueueEntriesPerFile: 64,
        now: () => NOW,
        ...options,
      });
      open.push(store);
      return store;
    }

    test("stores the bytes putMessages() encodes, with contiguous queue offsets, across a segment end", async () => {
      const [patched, encoded] = [await openStore(0), await openStore(1)];
      // A single put first, then batches; the third crosses the end of the first 8 KiB segment.
      const batches = [messages("a", 5), messages("b", 32, 100), messages("c", 40, 120)];
      for (const store of [patched, encoded]) expect((await store.putMessage(msg("T", { queueId: 1, body: "first" }))).queueOffset).toBe(0);
      let next = 1;
      for (const batch of batches) {
        const result = await patched.putBatch({ topic: "T", queueId: 1, bornTimestamp: BORN_AT, bornHost: BORN, scan: scanOf("T", batch) });
        const expected = await encoded.putMessages(inputs("T", 1, batch));
        expect(result.status).toBe("PUT_OK");
        expect(result.queueOffset).toBe(next);
        expect(result.storeTimestamp).toBe(NOW);
        expect(result.commitLogOffsets).toEqual(expected.map((r) => r.commitLogOffset));
        expect(expected.map((r) => r.queueOffset)).toEqual(batch.map((_, i) => next + i));
        next += batch.length;
      }
      expect(patched.getMaxOffset("T", 1)).toBe(next);
      const a = readAll(patched, "T", 1);
      const b = readAll(encoded, "T", 1);
      expect(a.length).toBe(b.length);
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
      const stored = decodeRecords(a);
      expect(stored.map((m) => m.queueOffset)).toEqual(Array.from({ length: next }, (_, i) => i));
      const sent = batches.flat();
      expect(stored.slice(1).map((m) => dec.decode(m.body))).toEqual(sent.map((m) => dec.decode(m.body)));
      expect(stored.slice(1).map((m) => m.flag)).toEqual(sent.map((m) => m.flag));
      expect(stored[2]!.properties).toEqual({ UNIQ_KEY: "a-U1", KEYS: "a-k1 shared", color: "grün", TAGS: "TagA" });
      expect(stored.slice(1).map((m) => m.bornHost)).toEqual(sent.map(() => BORN));
      expect(stored.slice(1).map((m) => m.storeHost)).toEqual(sent.map(() => HOST));
      for (const m of stored) expect(m.bornTimestamp).toBe(m.queueOffset === 0 ? 1_700_000_000_000 : BORN_AT);
      // Every record checks out as recovery checks it, the CRC included.
      let pos = 0;
      for (const m of stored) {
        expect(verifyRecord(a, pos, a.length - pos)).toEqual({ ok: true, size: m.storeSize, blank: false });
        pos += m.storeSize;
      }
      // The ConsumeQueue's tag hashes are the tags'.
      const tagged = readAll(patched, "T", 1, (hash) => hash === tagHash("Tägß"));
      expect(decodeRecords(tagged).map((m) => m.tags)).toEqual(sent.filter((m) => m.properties.includes("Tägß")).map(() => "Tägß"));
    });

    test("single puts of the same queue in the same write keep queue offset order", async () => {
      const store = await openStore(0);
      const puts = [
        store.putMessage(msg("Q", { body: "s0" })),
        store.putBatch({ topic: "Q", queueId: 0, bornTimestamp: BORN_AT, bornHost: BORN, scan: scanOf("Q", messages("m", 3)) }),
        store.putMessage(msg("Q", { body: "s1" })),
        store.putBatch({ topic: "Q", queueId: 0, bornTimestamp: BORN_AT, bornHost: BORN, scan: scanOf("Q", messages("n", 2)) }),
        store.putMessages([msg("Q", { body: "s2" }), msg("Q", { body: "s3" })]),
      ];
      await Promise.all(puts);
      const got = decodeRecords(store.getMessage("Q", 0, 0, 100).body!);
      expect(got.map((m) => m.queueOffset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      expect(got.map((m) => dec.decode(m.body).split(":")[0])).toEqual(["s0", "m-0", "m-1", "m-2", "s1", "n-0", "n-1", "s2", "s3"]);
    });

    test("the key index finds batch messages by key and unique key", async () => {
      const store = await openStore(0);
      await store.putBatch({ topic: "K", queueId: 0, bornTimestamp: BORN_AT, bornHost: BORN, scan: scanOf("K", messages("k", 6)) });
      expect(bodies(store.queryMessage("K", "k-k4")).map((b) => b.split(":")[0])).toEqual(["k-4"]);
      expect(bodies(store.queryMessage("K", "k-U2")).map((b) => b.split(":")[0])).toEqual(["k-2"]);
      expect(bodies(store.queryMessage("K", "shared"))).toHaveLength(6);
    });

    test("refuses a record too large for the segment, and stores none of the batch", async () => {
      const store = await openStore(0);
      const batch: BatchRecordInput[] = [...messages("ok", 2), { body: new Uint8Array(9000).fill(1), flag: 0, properties: "" }];
      const result = await store.putBatch({ topic: "R", queueId: 0, bornTimestamp: BORN_AT, bornHost: BORN, scan: scanOf("R", batch) });
      expect(result.status).toBe("MESSAGE_ILLEGAL");
      expect(result.commitLogOffsets).toEqual([]);
      expect(store.getMaxOffset("R", 0)).toBe(0);
    });

    test("an IPv6 born host is stored message by message, as putMessages() would", async () => {
      const store = await openStore(0);
      const born6 = { address: "fe80::1", port: 40000 };
      const result = await store.putBatch({ topic: "V", queueId: 0, bornTimestamp: BORN_AT, bornHost: born6, scan: scanOf("V", messages("v", 3)) });
      expect(result.status).toBe("PUT_OK");
      const got = decodeRecords(store.getMessage("V", 0, 0, 10).body!);
      expect(got.map((m) => m.commitLogOffset)).toEqual(result.commitLogOffsets);
      expect(got.map((m) => m.bornHost.address)).toEqual(["fe80::1", "fe80::1", "fe80::1"]);
      expect(got.map((m) => m.properties.UNIQ_KEY)).toEqual(["v-U0", "v-U1", "v-U2"]);
    });
  });
}

describe("putBatch() and a power loss", () => {
  test("sync flush: acknowledged batch records are recovered, ConsumeQueue and key index rebuilt", async () => {
    const storage = new MemorySegmentStorage();
    const options = { dataDir: "/data", storage, storeHost: HOST, flushMode: "sync" as const, commitLogSegmentSize: 8 * 1024, flushIntervalMs: 60_000 };
    const store = await MessageStore.open(options);
    const acked: number[] = [];
    for (let round = 0; round < 6; round++) {
      const result = await store.putBatch({ topic: "P", queueId: 2, bornTimestamp: BORN_AT, bornHost: BORN, scan: scanOf("P", messages(`r${round}`, 10, 200)) });
      expect(result.status).toBe("PUT_OK");
      acked.push(...result.commitLogOffsets);
    }
    storage.crash();
    const again = await MessageStore.open(options);
    try {
      expect(again.getMaxOffset("P", 2)).toBe(60);
      const got = decodeRecords(readAll(again, "P", 2));
      expect(got.map((m) => m.commitLogOffset)).toEqual(acked);
      expect(got.map((m) => m.queueOffset)).toEqual(acked.map((_, i) => i));
      expect(bodies(again.queryMessage("P", "r5-U9")).map((b) => b.split(":")[0])).toEqual(["r5-9"]);
    } finally {
      await again.close();
    }
  });
});
