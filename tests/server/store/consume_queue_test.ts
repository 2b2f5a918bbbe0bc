import { describe, expect, test } from "bun:test";
import { ConsumeQueue, CQ_ENTRY_SIZE, type ConsumeQueueEntry, decodeEntry, encodeEntry } from "../../../server/store/consume_queue.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import type { SegmentFile } from "../../../server/store/segment_storage.ts";

/** Memory storage that counts the writes made to its files, and can refuse them. */
class CountingStorage extends MemorySegmentStorage {
  writes = 0;
  failWrites = false;

  override open(path: string, options?: { create?: boolean }): SegmentFile {
    const file = super.open(path, options);
    const writeFile = file.write.bind(file);
    file.write = (data, position) => {
      if (this.failWrites) throw new Error("Injected write failure");
      this.writes++;
      writeFile(data, position);
    };
    return file;
  }
}

const DIR = "/data/consumequeue/T/0";

function entryOf(n: number): ConsumeQueueEntry {
  return { offset: 1000 + n * 100, size: 100, tagHash: n };
}

function writeOne(queue: ConsumeQueue, n: number): void {
  const bytes = new Uint8Array(CQ_ENTRY_SIZE);
  encodeEntry(bytes, 0, entryOf(n));
  queue.write(n, bytes);
}

function readAll(queue: ConsumeQueue, from: number, count: number): ConsumeQueueEntry[] {
  const out: ConsumeQueueEntry[] = [];
  const target = new Uint8Array(count * CQ_ENTRY_SIZE);
  for (let at = from; at < from + count;) {
    const got = queue.read(at, target.subarray(0, (from + count - at) * CQ_ENTRY_SIZE));
    if (got === 0) break;
    for (let i = 0; i < got; i++) out.push(decodeEntry(target, i * CQ_ENTRY_SIZE));
    at += got;
  }
  return out;
}

const expected = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => entryOf(from + i));

describe("ConsumeQueue entry layout", () => {
  test("an entry is its offset as a big-endian 64-bit integer, its size, and its tag hash sign-extended to 64 bits", () => {
    const cases: ConsumeQueueEntry[] = [
      { offset: 0, size: 1, tagHash: 0 },
      { offset: 0xffff_ffff, size: 0x7fff_ffff, tagHash: -1 },
      { offset: 6 * 2 ** 32 + 0x8000_0001, size: 1234, tagHash: -0x7fff_ffff },
      { offset: 2 ** 52 + 17, size: -2, tagHash: 0x7fff_ffff },
    ];
    for (const entry of cases) {
      const expected = new DataView(new ArrayBuffer(CQ_ENTRY_SIZE));
      expected.setBigInt64(0, BigInt(entry.offset));
      expected.setInt32(8, entry.size);
      expected.setBigInt64(12, BigInt(entry.tagHash));
      const bytes = new Uint8Array(CQ_ENTRY_SIZE + 3).fill(0xee);
      encodeEntry(bytes, 3, entry);
      expect([...bytes.subarray(3)]).toEqual([...new Uint8Array(expected.buffer)]);
      expect([...bytes.subarray(0, 3)]).toEqual([0xee, 0xee, 0xee]);
      expect(decodeEntry(bytes, 3)).toEqual(entry);
    }
    expect(() => encodeEntry(new Uint8Array(CQ_ENTRY_SIZE + 3), 4, cases[0]!)).toThrow(RangeError);
  });
});

describe("ConsumeQueue gathered writes", () => {
  test("entries written one at a time reach the file together, and reads see them before they do", async () => {
    const storage = new CountingStorage();
    const queue = ConsumeQueue.open(DIR, { storage, entriesPerFile: 100_000 });
    for (let n = 0; n < 100; n++) {
      writeOne(queue, n);
      expect(queue.entry(n)).toEqual(entryOf(n));
    }
    expect(storage.writes).toBe(0);
    expect(queue.maxOffset).toBe(100);
    expect(readAll(queue, 0, 100)).toEqual(expected(0, 100));
    await queue.flush();
    expect(storage.writes).toBe(1);
    queue.close();
    const again = ConsumeQueue.open(DIR, { storage, entriesPerFile: 100_000 });
    expect(again.maxOffset).toBe(100);
    expect(readAll(again, 0, 100)).toEqual(expected(0, 100));
  });

  test("a read spanning the file and the gathered entries returns both, in order", async () => {
    const storage = new CountingStorage();
    const queue = ConsumeQueue.open(DIR, { storage, entriesPerFile: 100_000 });
    for (let n = 0; n < 300; n++) writeOne(queue, n);
    // More than the gathered entries hold: part of them is in the file already.
    expect(storage.writes).toBeGreaterThan(0);
    expect(storage.writes).toBeLessThan(5);
    expect(readAll(queue, 200, 100)).toEqual(expected(200, 300));
    expect(queue.read(150, new Uint8Array(150 * CQ_ENTRY_SIZE))).toBe(150);
    expect(readAll(queue, 0, 300)).toEqual(expected(0, 300));
    expect(queue.firstAtOrAfter(entryOf(290).offset)).toBe(290);
    await queue.flush();
    expect(readAll(ConsumeQueue.open(DIR, { storage, entriesPerFile: 100_000 }), 0, 300)).toEqual(expected(0, 300));
  });

  test("entries crossing file ends land in their own files", async () => {
    const storage = new CountingStorage();
    const queue = ConsumeQueue.open(DIR, { storage, entriesPerFile: 10 });
    for (let n = 0; n < 25; n++) writeOne(queue, n);
    expect(readAll(queue, 0, 25)).toEqual(expected(0, 25));
    await queue.flush();
    expect(storage.list(DIR).length).toBe(3);
    const again = ConsumeQueue.open(DIR, { storage, entriesPerFile: 10 });
    expect(again.problems).toEqual([]);
    expect(again.maxOffset).toBe(25);
    expect(readAll(again, 0, 25)).toEqual(expected(0, 25));
  });

  test("truncating and overwriting gathered entries changes what is read and what reaches the file", async () => {
    const storage = new CountingStorage();
    const queue = ConsumeQueue.open(DIR, { storage, entriesPerFile: 100_000 });
    for (let n = 0; n < 40; n++) writeOne(queue, n);
    await queue.flush();
    for (let n = 40; n < 60; n++) writeOne(queue, n);
    queue.truncateTo(50);
    expect(queue.maxOffset).toBe(50);
    expect(queue.entry(50)).toBeUndefined();
    queue.overwrite(45, { offset: 7, size: -1, tagHash: 0 });
    expect(queue.entry(45)).toEqual({ offset: 7, size: -1, tagHash: 0 });
    queue.truncateTo(30);
    expect(queue.maxOffset).toBe(30);
    for (let n = 30; n < 35; n++) writeOne(queue, n);
    await queue.flush();
    queue.close();
    const again = ConsumeQueue.open(DIR, { storage, entriesPerFile: 100_000 });
    expect(again.maxOffset).toBe(35);
    expect(readAll(again, 0, 35)).toEqual(expected(0, 35));
  });

  test("a failed file write takes none of the new entries and keeps the gathered ones", async () => {
    const storage = new CountingStorage();
    const queue = ConsumeQueue.open(DIR, { storage, entriesPerFile: 100_000 });
    // As many as are gathered before a write: the next entry makes them leave first.
    for (let n = 0; n < 256; n++) writeOne(queue, n);
    expect(storage.writes).toBe(0);
    storage.failWrites = true;
    expect(() => writeOne(queue, 256)).toThrow("Injected write failure");
    expect(queue.maxOffset).toBe(256);
    expect(readAll(queue, 0, 256)).toEqual(expected(0, 256));
    storage.failWrites = false;
    writeOne(queue, 256);
    await queue.flush();
    queue.close();
    expect(readAll(ConsumeQueue.open(DIR, { storage, entriesPerFile: 100_000 }), 0, 257)).toEqual(expected(0, 257));
  });
});
