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

function replace(storage: MemorySegmentStorage, path: string, text: string): void {
  storage.remove(path);
  append(storage, path, text);
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
    expect(journal.read()).toEqual({ entries: [], tornTail: false, repaired: 0 });
    await journal.append([{ n: 1 }, { n: 2 }]);
    await journal.append([{ n: 3 }]);
    expect(bytesOf(storage, "/config/j.log").split("\n").map((line) => line.replace(/"#crc32":\d+,/, ""))).toEqual(['{"n":1}', '{"n":2}', '{"n":3}', ""]);
    const again = new JsonJournal("/config/j.log", { storage, validate });
    expect(again.read()).toEqual({ entries: [{ n: 1 }, { n: 2 }, { n: 3 }], tornTail: false, repaired: 0 });
    expect(bytesOf(storage, "/config/j.log.bak")).toBe(bytesOf(storage, "/config/j.log"));
    expect(again.entries).toBe(3);
    await again.reset();
    expect(new JsonJournal("/config/j.log", { storage, validate }).read().entries).toEqual([]);
    expect(bytesOf(storage, "/config/j.log.bak")).toBe("");
  });

  test("a torn last line (a crash mid-append) is ignored and overwritten by the next append", async () => {
    const storage = new MemorySegmentStorage();
    const journal = new JsonJournal("/j.log", { storage, validate });
    journal.read();
    await journal.append([{ n: 1 }]);
    append(storage, "/j.log", '{"n":2');
    const reopened = new JsonJournal("/j.log", { storage, validate });
    expect(reopened.read()).toEqual({ entries: [{ n: 1 }], tornTail: true, repaired: 0 });
    await reopened.append([{ n: 3 }]);
    expect(bytesOf(storage, "/j.log").replace(/"#crc32":\d+,/g, "")).toBe('{"n":1}\n{"n":3}\n');
    expect(bytesOf(storage, "/j.log.bak")).toBe(bytesOf(storage, "/j.log"));
  });

  test("a bad line before the last one is damage: read() names the line instead of dropping what follows", async () => {
    const storage = new MemorySegmentStorage();
    append(storage, "/j.log", '{"n":1}\n{"x":2}\n{"n":3}\n');
    expect(() => new JsonJournal("/j.log", { storage, validate }).read()).toThrow('Journal "/j.log" line 2 (at byte 8) is not a valid entry: expected { "n": number }');
  });

  test("a flipped bit that still parses is caught by the line's checksum, and a line damaged in one copy is read from the other", async () => {
    const storage = new MemorySegmentStorage();
    const journal = new JsonJournal("/j.log", { storage, validate });
    journal.read();
    await journal.append([{ n: 1 }, { n: 27 }, { n: 3 }]);
    const good = bytesOf(storage, "/j.log");
    // In the journal, then in its copy: the other copy serves the line, and the next append mends it.
    for (const [damaged, intact] of [["/j.log", "/j.log.bak"], ["/j.log.bak", "/j.log"]]) {
      replace(storage, damaged!, good.replace('"n":27', '"n":37'));
      const reopened = new JsonJournal("/j.log", { storage, validate });
      expect(reopened.read()).toEqual({ entries: [{ n: 1 }, { n: 27 }, { n: 3 }], tornTail: false, repaired: damaged === "/j.log" ? 1 : 0 });
      expect(bytesOf(storage, intact!)).toBe(good);
      await reopened.append([{ n: 4 }]);
      expect(bytesOf(storage, "/j.log").startsWith(good)).toBe(true);
      expect(bytesOf(storage, "/j.log.bak")).toBe(bytesOf(storage, "/j.log"));
      await reopened.reset();
      await reopened.append([{ n: 1 }, { n: 27 }, { n: 3 }]);
    }
    // Damaged in both copies: the line is lost, and read() says where to cut.
    replace(storage, "/j.log", good.replace('"n":27', '"n":37'));
    replace(storage, "/j.log.bak", good.replace('"n":27', '"n":28'));
    expect(() => new JsonJournal("/j.log", { storage, validate }).read()).toThrow(
      /Journal "\/j\.log" line 2 \(at byte \d+\) is not a valid entry in either copy \("\/j\.log" and "\/j\.log\.bak"\): checksum \d+ does not match the content's \d+; checksum/,
    );
  });

  test("a flipped newline (two lines merged, or one split) in one copy is read from the other", async () => {
    const storage = new MemorySegmentStorage();
    const journal = new JsonJournal("/j.log", { storage, validate });
    journal.read();
    await journal.append([{ n: 1 }, { n: 2 }, { n: 3 }]);
    const good = bytesOf(storage, "/j.log");
    const first = good.indexOf("\n");
    replace(storage, "/j.log", `${good.slice(0, first)}\u000b${good.slice(first + 1)}`);
    expect(new JsonJournal("/j.log", { storage, validate }).read()).toMatchObject({ entries: [{ n: 1 }, { n: 2 }, { n: 3 }], repaired: 1 });
    replace(storage, "/j.log", `${good.slice(0, 3)}\n${good.slice(4)}`);
    expect(new JsonJournal("/j.log", { storage, validate }).read()).toMatchObject({ entries: [{ n: 1 }, { n: 2 }, { n: 3 }], repaired: 1 });
  });

  test("a journal without its copy (written before copies) is read as it is and gets the copy at the next append", async () => {
    const storage = new MemorySegmentStorage();
    const journal = new JsonJournal("/j.log", { storage, validate });
    journal.read();
    await journal.append([{ n: 1 }, { n: 2 }]);
    storage.remove("/j.log.bak");
    const reopened = new JsonJournal("/j.log", { storage, validate });
    expect(reopened.read()).toEqual({ entries: [{ n: 1 }, { n: 2 }], tornTail: false, repaired: 0 });
    await reopened.append([{ n: 3 }]);
    expect(bytesOf(storage, "/j.log.bak")).toBe(bytesOf(storage, "/j.log"));
    expect(new JsonJournal("/j.log", { storage, validate }).read().entries).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  test("a line only one copy holds (a crash between the two writes, never acknowledged) is a torn tail, even if damaged", async () => {
    const storage = new MemorySegmentStorage();
    const journal = new JsonJournal("/j.log", { storage, validate });
    journal.read();
    await journal.append([{ n: 1 }]);
    const one = bytesOf(storage, "/j.log");
    await journal.append([{ n: 2 }]);
    const two = bytesOf(storage, "/j.log");
    // The copy never got line 2: a whole line 2 in the journal is taken; a damaged one is the torn tail.
    replace(storage, "/j.log.bak", one);
    expect(new JsonJournal("/j.log", { storage, validate }).read()).toEqual({ entries: [{ n: 1 }, { n: 2 }], tornTail: false, repaired: 0 });
    replace(storage, "/j.log", two.replace('"n":2', '"n":3'));
    const reopened = new JsonJournal("/j.log", { storage, validate });
    expect(reopened.read()).toEqual({ entries: [{ n: 1 }], tornTail: true, repaired: 0 });
    await reopened.append([{ n: 4 }]);
    expect(new JsonJournal("/j.log", { storage, validate }).read().entries).toEqual([{ n: 1 }, { n: 4 }]);
    expect(bytesOf(storage, "/j.log.bak")).toBe(bytesOf(storage, "/j.log"));
  });
});
