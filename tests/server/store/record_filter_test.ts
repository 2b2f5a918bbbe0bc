/**
 * Reads with a record filter (a SQL92 filter on each stored record's properties): matches are
 * gathered across the records that do not match, up to the count and byte budget, without
 * skipping one; the scan is bounded; and a damaged ConsumeQueue entry is mended before its record
 * is judged, so the filter never decides on the wrong record.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { decodeRecords } from "../../../core/model/record.ts";
import { encodeProperties } from "../../../core/model/properties.ts";
import { compileSqlFilter } from "../../../core/model/sql_filter.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import { joinPath } from "../../../server/store/segment_storage.ts";
import { BACKENDS, HOST, msg } from "./_store_helpers.ts";

const text = new TextDecoder();

for (const backend of BACKENDS) {
  describe(`record-filtered reads on ${backend.name}`, () => {
    let env = backend.make();
    afterEach(() => {
      env.cleanup();
      env = backend.make();
    });

    const open = () => MessageStore.open({ dataDir: env.dataDir, storage: env.storage, storeHost: HOST, commitLogSegmentSize: 1 << 20, consumeQueueEntriesPerFile: 64 });

    /** Puts `count` messages to queue 0 of "F", message i with `seq` i and `region` eu when `eu(i)`. */
    async function fill(store: MessageStore, count: number, eu: (i: number) => boolean): Promise<void> {
      for (let i = 0; i < count; i++) {
        const message = msg("F", { body: `m${i}` });
        message.properties = encodeProperties({ seq: String(i), region: eu(i) ? "eu" : "us" });
        const result = await store.putMessage(message);
        expect(result.status).toBe("PUT_OK");
      }
    }

    const bodiesOf = (body: Uint8Array | undefined) => (body === undefined ? [] : decodeRecords(body).map((m) => text.decode(m.body)));

    test("a read gathers matches across the records that do not match, and the next one starts past them but not past a match left", async () => {
      const store = await open();
      await fill(store, 500, (i) => i % 10 === 3);
      const filter = compileSqlFilter("region = 'eu'");
      const first = store.getMessage("F", 0, 0, 32, filter);
      expect(first.status).toBe("FOUND");
      expect(bodiesOf(first.body)).toEqual(Array.from({ length: 32 }, (_, i) => `m${i * 10 + 3}`));
      expect(first.nextBeginOffset).toBeGreaterThan(313);
      expect(first.nextBeginOffset).toBeLessThanOrEqual(323);
      const rest = store.getMessage("F", 0, first.nextBeginOffset, 32, filter);
      expect(bodiesOf(rest.body)).toEqual(Array.from({ length: 18 }, (_, i) => `m${(i + 32) * 10 + 3}`));
      expect(rest.nextBeginOffset).toBe(500);
      expect(store.getMessage("F", 0, 500, 32, filter).status).toBe("OFFSET_OVERFLOW_ONE");
      await store.close();
    });

    test("a read that finds no match moves past what it scanned, at most 2,000 entries", async () => {
      const store = await open();
      await fill(store, 2100, (i) => i === 2050);
      const filter = compileSqlFilter("region = 'eu'");
      const first = store.getMessage("F", 0, 0, 32, filter);
      expect(first).toMatchObject({ status: "NO_MATCHED_MESSAGE", nextBeginOffset: 2000, count: 0 });
      const second = store.getMessage("F", 0, 2000, 32, filter);
      expect(second.status).toBe("FOUND");
      expect(bodiesOf(second.body)).toEqual(["m2050"]);
      expect(second.nextBeginOffset).toBe(2100);
      const none = compileSqlFilter("region = 'asia'");
      expect(store.getMessage("F", 0, 2000, 32, none)).toMatchObject({ status: "NO_MATCHED_MESSAGE", nextBeginOffset: 2100 });
      await store.close();
    });

    test("the byte budget counts only the records kept", async () => {
      const store = await open();
      await fill(store, 100, (i) => i % 2 === 0);
      const filter = compileSqlFilter("region = 'eu'");
      const size = decodeRecords(store.getMessage("F", 0, 0, 1).body!)[0]!.storeSize;
      const got = store.getMessage("F", 0, 0, 32, filter, size * 5 + 10);
      expect(bodiesOf(got.body)).toEqual(["m0", "m2", "m4", "m6", "m8"]);
      expect(got.nextBeginOffset).toBe(10);
      await store.close();
    });

    test("a damaged ConsumeQueue entry is mended before its record is judged", async () => {
      const store = await open();
      await fill(store, 40, () => true);
      const twenty = store.getMessage("F", 0, 20, 1);
      const twentyOne = store.getMessage("F", 0, 21, 1);
      const offsetOf = (body: Uint8Array) => decodeRecords(body)[0]!.commitLogOffset;
      const sizeOf = (body: Uint8Array) => decodeRecords(body)[0]!.storeSize;
      await store.close();
      // Entry 20 now points at record 21 (a whole, valid record, but not the one it names).
      const file = env.storage.open(joinPath(env.dataDir, "consumequeue", "F", "0", String(0).padStart(20, "0")));
      const entry = new Uint8Array(20);
      const view = new DataView(entry.buffer);
      view.setBigInt64(0, BigInt(offsetOf(twentyOne.body!)));
      view.setInt32(8, sizeOf(twentyOne.body!));
      file.write(entry.subarray(0, 12), 20 * 20);
      file.close();
      expect(offsetOf(twenty.body!)).not.toBe(offsetOf(twentyOne.body!));
      const again = await open();
      const got = again.getMessage("F", 0, 0, 32, compileSqlFilter("seq = 20"));
      expect(bodiesOf(got.body)).toEqual(["m20"]);
      expect(again.stats.repairedEntries).toBe(1);
      await again.close();
    });
  });
}
