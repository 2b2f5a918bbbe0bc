import { describe, expect, test } from "bun:test";
import { JsonJournal } from "../../../server/store/json_journal.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";

const validate = (value: unknown): { n: number } => {
  if (typeof (value as { n?: unknown })?.n !== "number") throw new TypeError('expected { "n": number }');
  return value as { n: number };
};

function bytesOf(storage: MemorySegmentStorage, path: string): string {
  const file = storage.open(path);
  const bytes = new Uint8Array(file.size());
  file.read(bytes, 0);
  file.close();
  return new TextDecoder().decode(bytes);
}

function append(storage: MemorySegmentStorage, path: string, text: string): void {
  const file = storage.open(path, { create: true });
  file.write(new TextEncoder().encode(text), file.size());
  file.close();
}

describe("JsonJournal", () => {
  test("appends entries as lines and reads them back in order; reset empties it", async () => {
    const storage = new MemorySegmentStorage();
    const journal = new JsonJournal("/config/j.log", { storage, validate });
    expect(journal.read()).toEqual({ entries: [], tornTail: false });
    await journal.append([{ n: 1 }, { n: 2 }]);
    await journal.append([{ n: 3 }]);
    expect(bytesOf(storage, "/config/j.log").split("\n").map((line) => line.replace(/"#crc32":\d+,/, ""))).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', ""]);
    const again = new JsonJournal("/config/j.log", { storage, validate });
    expect(again.read()).toEqual({ entries: [{ n: 1 }, { n: 2 }, { n: 3 }], tornTail: false });
    expect(again.entries).toBe(3);
    await again.reset();
    expect(new JsonJournal("/config/j.log", { storage, validate }).read().entries).toEqual([]);
  });

  test("a torn last line (a crash mid-append) is ignored and overwritten by the next append", async () => {
    const storage = new MemorySegmentStorage();
    const journal = new JsonJournal("/j.log", { storage, validate });
    journal.read();
    await journal.append([{ n: 1 }]);
    append(storage, "/j.log", '{"n":2');
    const reopened = new JsonJournal("/j.log", { storage, validate });
    expect(reopened.read()).toEqual({ entries: [{ n: 1 }], tornTail: true });
    await reopened.append([{ n: 3 }]);
    expect(bytesOf(storage, "/j.log").replace(/"#crc32":\d+,/g, "")).toBe('{"n":1}\n{"n":3}\n');
  });

  test("a bad line before the last one is damage: read() names the line instead of dropping what follows", async () => {
    const storage = new MemorySegmentStorage();
    append(storage, "/j.log", '{"n":1}\n{"x":2}\n{"n":3}\n');
    expect(() => new JsonJournal("/j.log", { storage, validate }).read()).toThrow('Journal "/j.log" line 2 is not a valid entry: expected { "n": number }');
  });

  test("a flipped bit that still parses is caught by the line's checksum", async () => {
    const storage = new MemorySegmentStorage();
    const journal = new JsonJournal("/j.log", { storage, validate });
    journal.read();
    await journal.append([{ n: 1 }, { n: 27 }, { n: 3 }]);
    const text = bytesOf(storage, "/j.log").replace('"n":27', '"n":37');
    storage.remove("/j.log");
    append(storage, "/j.log", text);
    expect(() => new JsonJournal("/j.log", { storage, validate }).read()).toThrow(/Journal "\/j\.log" line 2 is not a valid entry: checksum \d+ does not match the content's \d+/);
  });
});
