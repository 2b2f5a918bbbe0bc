/**
 * An append-only journal of JSON entries, one per line, beside a `JsonFile` snapshot: a change costs
 * one append and one fsync instead of rewriting the whole snapshot. Its owner replays the entries
 * over the snapshot at load, and writes a new snapshot then `reset()`s the journal once it grew.
 *
 * Each line carries the CRC-32 of its entry (`"#crc32"`, as `JsonFile` does), so a flipped bit that
 * still parses is found. A crash during an append leaves at most a torn last line (no newline yet),
 * which was never acknowledged: `read()` ignores it and the next append overwrites it. Any whole
 * line that is not a valid entry is damage, not a torn tail: `read()` throws, naming the line.
 *
 * @module
 */
import { verifyChecksum, withChecksum } from "./json_file.ts";
import { parentDir, type SegmentStorage } from "./segment_storage.ts";

/** Options of `JsonJournal`. */
export interface JsonJournalOptions<E> {
  storage: SegmentStorage;
  /** Checks a parsed entry and returns it typed; throw to reject it. */
  validate: (value: unknown) => E;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const NEWLINE = 0x0a;

/** An append-only file of JSON lines. Appends and resets must not overlap (the owner serialises them). */
export class JsonJournal<E> {
  /** The journal's path. */
  readonly path: string;
  readonly #storage: SegmentStorage;
  readonly #validate: (value: unknown) => E;
  /** Bytes of whole lines; an append writes here (over a torn tail, if any). */
  #end = 0;
  #entries = 0;

  /**
   * @param path The journal file (created on the first append).
   * @param options Storage and entry validation.
   */
  constructor(path: string, options: JsonJournalOptions<E>) {
    this.path = path;
    this.#storage = options.storage;
    this.#validate = options.validate;
  }

  /** Entries in the journal (as read, plus appended since). */
  get entries(): number {
    return this.#entries;
  }

  /**
   * Reads every whole entry, in order.
   *
   * @returns The entries, and whether a torn last line was ignored.
   * @throws {Error} When a line before the last one is not a valid entry.
   */
  read(): { entries: E[]; tornTail: boolean } {
    this.#end = 0;
    this.#entries = 0;
    if (!this.#storage.exists(this.path)) return { entries: [], tornTail: false };
    const file = this.#storage.open(this.path);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(file.size());
      file.read(bytes, 0);
    } finally {
      file.close();
    }
    const entries: E[] = [];
    let start = 0;
    let line = 0;
    while (start < bytes.length) {
      const newline = bytes.indexOf(NEWLINE, start);
      line++;
      if (newline === -1) return { entries, tornTail: true }; // a crash mid-append: never acknowledged
      let entry: E;
      try {
        entry = this.#validate(verifyChecksum(JSON.parse(decoder.decode(bytes.subarray(start, newline)))));
      } catch (error) {
        throw new Error(`Journal "${this.path}" line ${line} is not a valid entry: ${(error as Error).message}`, { cause: error });
      }
      entries.push(entry);
      start = newline + 1;
      this.#end = start;
      this.#entries++;
    }
    return { entries, tornTail: false };
  }

  /**
   * Appends entries and makes them durable (one write, one fsync).
   *
   * @param entries What to add.
   */
  async append(entries: readonly E[]): Promise<void> {
    if (entries.length === 0) return;
    const bytes = encoder.encode(entries.map((entry) => `${JSON.stringify(withChecksum(entry))}\n`).join(""));
    const created = !this.#storage.exists(this.path);
    const dir = parentDir(this.path);
    if (created) this.#storage.mkdir(dir);
    const file = this.#storage.open(this.path, { create: true });
    try {
      if (file.size() > this.#end) file.truncate(this.#end);
      file.write(bytes, this.#end);
      await file.sync();
    } finally {
      file.close();
    }
    if (created) await this.#storage.syncDir(dir);
    this.#end += bytes.length;
    this.#entries += entries.length;
  }

  /** Empties the journal (after its entries went into a durable snapshot). */
  async reset(): Promise<void> {
    if (!this.#storage.exists(this.path)) return;
    const file = this.#storage.open(this.path);
    try {
      file.truncate(0);
      await file.sync();
    } finally {
      file.close();
    }
    this.#end = 0;
    this.#entries = 0;
  }
}
