/**
 * One key index file on memory and file storage: chains walked newest first, the read budget,
 * sealing and reopening, the slot table a clean close stores (and when it may not be trusted),
 * and damaged headers.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { IndexFile } from "../../../server/store/index_file.ts";
import { joinPath, segmentName } from "../../../server/store/segment_storage.ts";
import { BACKENDS } from "./_store_helpers.ts";

const T0 = 1_750_000_000_000;
const ALL = { begin: 0, end: Number.MAX_SAFE_INTEGER, budget: 1_000_000 };

function walk(file: IndexFile, hash: number, range = ALL): { offsets: number[]; exhausted: boolean } {
  const offsets: number[] = [];
  const { exhausted } = file.lookup(hash, range, (offset) => offsets.push(offset) > 0);
  return { offsets, exhausted };
}

for (const backend of BACKENDS) {
  describe(`IndexFile on ${backend.name}`, () => {
    let env = backend.make();
    afterEach(() => {
      env.cleanup();
      env = backend.make();
    });
    const dir = () => joinPath(env.dataDir, "index");
    const create = (firstOffset = 1000, shape = { slots: 4, capacity: 200 }) =>
      IndexFile.create(dir(), { storage: env.storage, ...shape, firstOffset, baseTimestamp: T0 });
    const reopen = (firstOffset = 1000) => IndexFile.open(joinPath(dir(), segmentName(firstOffset)), { storage: env.storage, firstOffset });

    test("walks a slot's chain newest first, passing over other hashes of the slot, within a read budget", () => {
      const file = create();
      // Hashes 1, 5 and 9 share slot 1 of 4.
      for (let i = 0; i < 30; i++) file.add([1, 5, 9][i % 3]!, 1000 + i * 10, T0 + i * 1000);
      expect(walk(file, 5).offsets).toEqual([1280, 1250, 1220, 1190, 1160, 1130, 1100, 1070, 1040, 1010]);
      expect(walk(file, 2).offsets).toEqual([]);
      const cut = walk(file, 1, { ...ALL, budget: 7 });
      expect(cut).toEqual({ offsets: [1270, 1240], exhausted: true });
      // Whole seconds: an entry may lie up to 999 ms after its second, so the bounds are generous by that.
      expect(walk(file, 9, { begin: T0 + 20_000, end: T0 + 26_500, budget: 100 }).offsets).toEqual([1260, 1230, 1200]);
      file.close();
    });

    test("a sealed file serves from its stored slot table after a reopen, and keeps its time range", async () => {
      const file = create(1000, { slots: 16, capacity: 128 });
      for (let i = 0; i < 128; i++) file.add(i % 20, 1000 + i, T0 + i * 1000);
      expect(file.full).toBe(true);
      file.writeSlots();
      await file.completeSeal();
      file.close();
      const again = reopen();
      expect(again).toMatchObject({ sealed: true, active: false, count: 128, lastOffset: 1127, minTimestamp: T0, maxTimestamp: T0 + 127_000 });
      expect(walk(again, 3).offsets).toEqual([1123, 1103, 1083, 1063, 1043, 1023, 1003]);
      expect(() => again.add(1, 2000, T0)).toThrow("takes no more entries");
      again.close();
    });

    test("a stored slot table is trusted only for exactly the entries it covers, and not after entries were cut and written again", async () => {
      const file = create(1000, { slots: 8, capacity: 200 });
      for (let i = 0; i < 10; i++) file.add(100 + i, 1000 + i, T0);
      await file.saveSlots();
      file.close();
      let again = reopen();
      again.activate();
      expect(walk(again, 107).offsets).toEqual([1007]);
      // Cut back to 5 entries and written on with other keys, then a crash before any clean close.
      again.activate(5);
      for (let i = 0; i < 5; i++) again.add(200 + i, 2000 + i, T0);
      await again.flush();
      again.close();
      again = reopen();
      again.activate();
      expect(again.count).toBe(10);
      expect(walk(again, 203).offsets).toEqual([2003]);
      expect(walk(again, 107).offsets).toEqual([]);
      expect(walk(again, 102).offsets).toEqual([1002]);
      again.close();
    });

    test("a damaged header or a name that does not match it is refused with a clear error", () => {
      create(1000).close();
      const path = joinPath(dir(), segmentName(1000));
      expect(() => IndexFile.open(path, { storage: env.storage, firstOffset: 2000 })).toThrow(
        `Index file "${path}" says its first entry is at offset 1000, not at the 2000 its name says`,
      );
      const f = env.storage.open(path);
      f.write(new Uint8Array(4), 0);
      f.close();
      expect(() => reopen()).toThrow(`Index file "${path}" has no index header`);
      const short = joinPath(dir(), segmentName(5000));
      env.storage.open(short, { create: true }).close();
      expect(() => reopen(5000)).toThrow("is shorter than its 64-byte header");
    });
  });
}
