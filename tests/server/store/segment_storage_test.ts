import { describe, expect, test } from "bun:test";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { joinPath, parseSegmentName, segmentName } from "../../../server/store/segment_storage.ts";
import { BACKENDS } from "./_store_helpers.ts";

for (const backend of BACKENDS) {
  describe(`SegmentStorage: ${backend.name}`, () => {
    test("files are written and read at positions, sized and truncated", async () => {
      const env = backend.make();
      const dir = joinPath(env.dataDir, "a", "b");
      env.storage.mkdir(dir);
      const file = env.storage.open(joinPath(dir, "f"), { create: true });
      file.write(new Uint8Array([1, 2, 3, 4]), 0);
      file.write(new Uint8Array([9, 9]), 6);
      expect(file.size()).toBe(8);
      const out = new Uint8Array(10);
      expect(file.read(out, 0)).toBe(8);
      expect([...out]).toEqual([1, 2, 3, 4, 0, 0, 9, 9, 0, 0]);
      expect(file.read(out, 20)).toBe(0);
      file.truncate(3);
      expect(file.size()).toBe(3);
      expect(file.read(out, 0)).toBe(3);
      await file.sync();
      file.close();
      const reopened = env.storage.open(joinPath(dir, "f"));
      expect(reopened.size()).toBe(3);
      reopened.close();
      env.cleanup();
    });

    test("list, exists, rename and remove", async () => {
      const env = backend.make();
      const dir = joinPath(env.dataDir, "d");
      env.storage.mkdir(joinPath(dir, "sub"));
      env.storage.open(joinPath(dir, "x"), { create: true }).close();
      expect(env.storage.list(dir)).toEqual(["sub", "x"]);
      expect(env.storage.list(joinPath(env.dataDir, "missing"))).toEqual([]);
      expect(() => env.storage.open(joinPath(dir, "nope"))).toThrow();
      env.storage.rename(joinPath(dir, "x"), joinPath(dir, "y"));
      expect(env.storage.exists(joinPath(dir, "x"))).toBe(false);
      expect(env.storage.exists(joinPath(dir, "y"))).toBe(true);
      await env.storage.syncDir(dir);
      env.storage.remove(dir);
      expect(env.storage.exists(dir)).toBe(false);
      env.storage.remove(dir);
      env.cleanup();
    });
  });
}

test("MemorySegmentStorage counts a sync() only once it resolves: a crash() before that loses the bytes", async () => {
  const storage = new MemorySegmentStorage();
  const file = storage.open("/d/f", { create: true });
  file.write(new Uint8Array([1, 2, 3]), 0);
  const syncing = file.sync();
  storage.crash();
  expect(file.size()).toBe(0);
  await syncing;
  storage.crash();
  expect(file.size()).toBe(0);
  file.write(new Uint8Array([4, 5]), 0);
  await file.sync();
  file.write(new Uint8Array([6]), 2); // after the sync: not covered by it
  storage.crash();
  expect(file.size()).toBe(2);
  const out = new Uint8Array(2);
  file.read(out, 0);
  expect([...out]).toEqual([4, 5]);
});

test("segment names are 20-digit start offsets", () => {
  expect(segmentName(1073741824)).toBe("00000000001073741824");
  expect(parseSegmentName("00000000001073741824")).toBe(1073741824);
  expect(parseSegmentName("123")).toBeUndefined();
  expect(parseSegmentName("0000000000000000000x")).toBeUndefined();
});
