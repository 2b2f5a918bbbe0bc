/**
 * An append-only journal of JSON entries, one per line, beside a `JsonFile` snapshot: a change costs
 * one append and one fsync instead of rewriting the whole snapshot. Its owner replays the entries
 * over the snapshot at load, and writes a new snapshot then `reset()`s the journal once it grew.
 *
 * Each line carries the CRC-32 of its entry (`"#crc32"`, as `JsonFile` does), so a flipped bit that
 * still parses is found. Every append goes to two copies, the journal and `<path>.bak`, byte for
 * byte the same, and is acknowledged once both are fsynced: a line damaged in one copy is read
 * from the other (and the damaged copy is rewritten at the next append), so a flipped bit costs
 * nothing. A crash during an append leaves at most a torn last line in either copy (no newline yet,
 * or only one copy holding it), which was never acknowledged: `read()` ignores it and the next
 * append overwrites it. A whole line that no copy holds intact is damage, not a torn tail: `read()`
 * throws, naming the line and its byte offset. A journal written before the copy existed (no
 * `.bak`) is read as it is, and gets its copy at the next append.
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

/** What `JsonJournal.read()` found. */
export interface JournalRead<E> {
  /** Every whole entry, in order. */
  entries: E[];
  /** A torn last line (an append cut off by a crash, never acknowledged) was ignored. */
  tornTail: boolean;
  /** Lines damaged in one copy and read from the other. */
  repaired: number;
}

/** A journal line no copy holds intact. */
export class JournalDamageError extends Error {
  /** The damaged line's number, from 1. */
  readonly line: number;
  /** Where the damaged line starts: cutting the journal there keeps every change before it. */
  readonly offset: number;
  /** The files of the journal that exist (the journal and its copy). */
  readonly files: readonly string[];

  /**
   * @param message What is wrong.
   * @param details The line, its offset and the journal's files.
   * @param options The cause.
   */
  constructor(message: string, details: { line: number; offset: number; files: readonly string[] }, options?: ErrorOptions) {
    super(message, options);
    this.name = "JournalDamageError";
    this.line = details.line;
    this.offset = details.offset;
    this.files = details.files;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const NEWLINE = 0x0a;

/** A line of one copy at an offset. */
type Line<E> =
  | { kind: "end" }
  | { kind: "torn" }
  | { kind: "whole"; end: number; entry: E; error?: undefined }
  | { kind: "whole"; end: number; entry?: undefined; error: Error };

/** An append-only file of JSON lines, kept twice. Appends and resets must not overlap (the owner serialises them). */
export class JsonJournal<E> {
  /** The journal's path. */
  readonly path: string;
  /** The copy's path (`<path>.bak`). */
  readonly copyPath: string;
  readonly #storage: SegmentStorage;
  readonly #validate: (value: unknown) => E;
  /** Bytes of whole lines; an append writes here (over a torn tail, if any). */
  #end = 0;
  #entries = 0;
  /** The whole lines as read, while a copy differs from them (rewritten before the next append). */
  #good: Uint8Array | undefined;

  /**
   * @param path The journal file (created, with its copy, on the first append).
   * @param options Storage and entry validation.
   */
  constructor(path: string, options: JsonJournalOptions<E>) {
    this.path = path;
    this.copyPath = `${path}.bak`;
    this.#storage = options.storage;
    this.#validate = options.validate;
  }

  /** Entries in the journal (as read, plus appended since). */
  get entries(): number {
    return this.#entries;
  }

  /**
   * Reads every whole entry, in order, each from whichever copy holds it intact.
   *
   * @returns The entries, whether a torn last line was ignored, and how many lines the copy repaired.
   * @throws {JournalDamageError} When a whole line is intact in no copy.
   */
  read(): JournalRead<E> {
    this.#end = 0;
    this.#entries = 0;
    this.#good = undefined;
    const main = this.#bytes(this.path);
    const copy = this.#bytes(this.copyPath);
    const entries: E[] = [];
    /** The intact lines, each from the copy it was read from. */
    const lines: Uint8Array[] = [];
    let repaired = 0;
    let tornTail = false;
    let line = 0;
    // A copy that is missing (a journal from before copies, or one deleted) is written at the next append.
    let stale = (main === undefined) !== (copy === undefined);
    for (let pos = 0;;) {
      const a = this.#lineAt(main, pos);
      if (a.kind === "whole" && a.error === undefined) {
        // The usual case: the main copy's line is intact; the copy needs only to hold the same bytes.
        stale ||= copy === undefined || !sameBytes(main!, copy, pos, a.end);
        line++;
        entries.push(a.entry);
        lines.push(main!.subarray(pos, a.end));
        pos = this.#end = a.end;
        this.#entries++;
        continue;
      }
      const b = this.#lineAt(copy, pos);
      if (a.kind !== "whole" && b.kind !== "whole") {
        tornTail = a.kind === "torn" || b.kind === "torn";
        break;
      }
      line++;
      const taken = b.kind === "whole" && b.error === undefined ? b : undefined;
      if (taken === undefined) {
        // A whole line one copy holds where the other copy ends: that copy was never written, so the
        // append that wrote the line was never acknowledged (or a reset cut short had folded it into
        // the snapshot already). Without a copy at all, it is damage.
        if (main !== undefined && copy !== undefined && (a.kind !== "whole" || b.kind !== "whole")) {
          tornTail = true;
          stale = true;
          break;
        }
        const errors = [a, b].flatMap((l) => (l.kind === "whole" && l.error !== undefined ? [l.error.message] : []));
        const files = [main === undefined ? [] : [this.path], copy === undefined ? [] : [this.copyPath]].flat();
        const where = files.length > 1 ? ` in either copy ("${this.path}" and "${this.copyPath}")` : "";
        throw new JournalDamageError(
          `Journal "${this.path}" line ${line} (at byte ${pos}) is not a valid entry${where}: ${errors.join("; ")}`,
          { line, offset: pos, files },
        );
      }
      // The main copy's line is damaged (or missing): the copy's serves, and the main copy is rewritten.
      if (a.kind === "whole") repaired++;
      stale = true;
      entries.push(taken.entry);
      lines.push(copy!.subarray(pos, taken.end));
      pos = this.#end = taken.end;
      this.#entries++;
    }
    if (stale) {
      this.#good = new Uint8Array(this.#end);
      let at = 0;
      for (const bytes of lines) {
        this.#good.set(bytes, at);
        at += bytes.length;
      }
    }
    return { entries, tornTail, repaired };
  }

  /**
   * Appends entries to both copies and makes them durable (one write and one fsync per copy).
   *
   * @param entries What to add.
   */
  async append(entries: readonly E[]): Promise<void> {
    if (entries.length === 0) return;
    const bytes = encoder.encode(entries.map((entry) => `${JSON.stringify(withChecksum(entry))}\n`).join(""));
    const created = !this.#storage.exists(this.path) || !this.#storage.exists(this.copyPath);
    const dir = parentDir(this.path);
    if (created) this.#storage.mkdir(dir);
    const good = this.#good;
    const files = [this.path, this.copyPath].map((path) => this.#storage.open(path, { create: true }));
    try {
      for (const file of files) {
        if (good !== undefined) file.write(good, 0);
        if (file.size() > this.#end) file.truncate(this.#end);
        file.write(bytes, this.#end);
      }
      await Promise.all(files.map((file) => file.sync()));
    } finally {
      for (const file of files) file.close();
    }
    if (created) await this.#storage.syncDir(dir);
    this.#good = undefined;
    this.#end += bytes.length;
    this.#entries += entries.length;
  }

  /** Empties the journal (after its entries went into a durable snapshot): the copy first, so it is never the longer one. */
  async reset(): Promise<void> {
    for (const path of [this.copyPath, this.path]) {
      if (!this.#storage.exists(path)) continue;
      const file = this.#storage.open(path);
      try {
        file.truncate(0);
        await file.sync();
      } finally {
        file.close();
      }
    }
    this.#end = 0;
    this.#entries = 0;
    this.#good = undefined;
  }

  #bytes(path: string): Uint8Array | undefined {
    if (!this.#storage.exists(path)) return undefined;
    const file = this.#storage.open(path);
    try {
      const bytes = new Uint8Array(file.size());
      file.read(bytes, 0);
      return bytes;
    } finally {
      file.close();
    }
  }

  #lineAt(bytes: Uint8Array | undefined, pos: number): Line<E> {
    if (bytes === undefined || pos >= bytes.length) return { kind: "end" };
    const newline = bytes.indexOf(NEWLINE, pos);
    if (newline === -1) return { kind: "torn" };
    try {
      return { kind: "whole", end: newline + 1, entry: this.#validate(verifyChecksum(JSON.parse(decoder.decode(bytes.subarray(pos, newline))))) };
    } catch (error) {
      return { kind: "whole", end: newline + 1, error: error as Error };
    }
  }
}

/** Whether `b` holds the same bytes as `a` over `[start, end)`. */
function sameBytes(a: Uint8Array, b: Uint8Array, start: number, end: number): boolean {
  if (b.length < end) return false;
  for (let i = start; i < end; i++) if (a[i] !== b[i]) return false;
  return true;
}
