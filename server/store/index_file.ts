/**
 * One file of the key index, in the layout of RocketMQ's `IndexFile`: a header, a table of hash
 * slots and linked 20-byte entries (key hash, CommitLog offset, time delta, previous entry of the
 * same slot). A slot holds the newest entry whose key hash falls in it; each entry names the one
 * before it, so a lookup walks one chain newest first. See docs/STORAGE.md, "Key index".
 *
 * Unlike RocketMQ's memory-mapped file, the slot table of the file being written lives in memory
 * and reaches the disk when the file is sealed (full) or the store closes: entries are appended
 * with one write per batch and a put never costs a random 4-byte write. After a crash the table
 * is rebuilt from the entries, which are the truth (each names its predecessor). The header's
 * slot count says how many entries the stored table covers; it is trusted only when that is
 * exactly the number of entries kept.
 *
 * @module
 */

import { joinPath, type SegmentFile, type SegmentStorage, segmentName } from "./segment_storage.ts";

/** Bytes of the header. */
export const INDEX_HEADER_SIZE = 64;
/** Bytes of one hash slot. */
export const INDEX_SLOT_SIZE = 4;
/** Bytes of one entry. */
export const INDEX_ENTRY_SIZE = 20;

const MAGIC = 0x524d5149; // "RMQI"
const VERSION = 1;
/** Header flag: some entry's store time is below an earlier entry's (the clock went back). */
const FLAG_UNORDERED = 1;
/** Header flag: the file is full and complete; it takes no more entries. */
const FLAG_SEALED = 2;
const TWO_32 = 0x100000000;
const INT32_MAX = 0x7fffffff;
/** Entries buffered before one write. */
const WRITE_BATCH = 4096;
/** Entries read per step when rebuilding a slot table or searching by offset. */
const READ_BATCH = 65536;

/** What `IndexFile.create` needs. */
export interface IndexFileShape {
  /** Hash slots of the file. */
  slots: number;
  /** Entries the file holds at most. */
  capacity: number;
}

/** One entry as stored. */
export interface IndexEntry {
  /** Java `String.hashCode()` of `topic#key`. */
  hash: number;
  /** CommitLog offset of the record. */
  offset: number;
  /** Store time of the record, seconds after the file's base time (floor). */
  delta: number;
  /** Entry number of the previous entry of the same slot, 0 for none. */
  prev: number;
}

/**
 * One index file, named by the CommitLog offset of its first entry (20 digits). Entry numbers
 * start at 1; 0 means none.
 */
export class IndexFile {
  /** CommitLog offset of the first entry (the file name). */
  readonly firstOffset: number;
  /** Hash slots. */
  readonly slotCount: number;
  /** Most entries. */
  readonly capacity: number;
  /** Store time the entries' deltas count from (the first entry's). */
  readonly baseTimestamp: number;
  readonly #file: SegmentFile;
  readonly #storage: SegmentStorage;
  #count = 0;
  #minTimestamp = Number.MAX_SAFE_INTEGER;
  #maxTimestamp = 0;
  #lastOffset = -1;
  #ordered = true;
  /** The slot table while the file is written; undefined once sealed (read from the file). */
  #slots: Int32Array | undefined;
  /** `open`: taking entries; `slots-written`: table written, header not yet; `sealed`: complete on disk. */
  #state: "open" | "slots-written" | "sealed" = "open";
  /** Entries the slot table stored in an unsealed file covers (a clean close), 0 for none. */
  #savedCover = 0;
  #pending = new Uint8Array(WRITE_BATCH * INDEX_ENTRY_SIZE);
  #pendingView = new DataView(this.#pending.buffer);
  #pendingCount = 0;
  #dirty = false;
  #entry = new Uint8Array(INDEX_ENTRY_SIZE);
  #entryView = new DataView(this.#entry.buffer);

  private constructor(file: SegmentFile, storage: SegmentStorage, header: { firstOffset: number; slots: number; capacity: number; baseTimestamp: number }) {
    this.#file = file;
    this.#storage = storage;
    this.firstOffset = header.firstOffset;
    this.slotCount = header.slots;
    this.capacity = header.capacity;
    this.baseTimestamp = header.baseTimestamp;
  }

  /**
   * Creates an empty file for entries from `firstOffset` on and writes its header.
   *
   * @param dir The index directory.
   * @param options Storage, shape, and the first entry's CommitLog offset and store time.
   * @returns The file, taking entries.
   */
  static create(dir: string, options: IndexFileShape & { storage: SegmentStorage; firstOffset: number; baseTimestamp: number }): IndexFile {
    options.storage.mkdir(dir);
    const file = options.storage.open(joinPath(dir, segmentName(options.firstOffset)), { create: true });
    file.truncate(0);
    const index = new IndexFile(file, options.storage, options);
    index.#slots = new Int32Array(options.slots);
    index.#writeHeader(0, false);
    return index;
  }

  /**
   * Opens a file written before. A sealed file serves lookups from its stored slot table; any
   * other is opened with every whole entry it holds, and needs `activate` before use.
   *
   * @param path The file.
   * @param options Storage, and the start offset its name says.
   * @returns The file.
   * @throws {RangeError} When the header is not an index header, does not match the name, or the file is shorter than its header says.
   */
  static open(path: string, options: { storage: SegmentStorage; firstOffset: number }): IndexFile {
    const file = options.storage.open(path);
    try {
      const head = new Uint8Array(INDEX_HEADER_SIZE);
      if (file.read(head, 0) !== INDEX_HEADER_SIZE) throw new RangeError(`Index file "${path}" is shorter than its ${INDEX_HEADER_SIZE}-byte header`);
      const view = new DataView(head.buffer);
      if (view.getInt32(0) !== MAGIC || view.getInt32(4) !== VERSION) throw new RangeError(`Index file "${path}" has no index header`);
      const slots = view.getInt32(8);
      const capacity = view.getInt32(12);
      const firstOffset = getInt64(view, 40);
      if (slots < 1 || capacity < 1) throw new RangeError(`Index file "${path}" has a damaged header: ${slots} slots, ${capacity} entries`);
      if (firstOffset !== options.firstOffset) {
        throw new RangeError(`Index file "${path}" says its first entry is at offset ${firstOffset}, not at the ${options.firstOffset} its name says`);
      }
      const index = new IndexFile(file, options.storage, { firstOffset, slots, capacity, baseTimestamp: getInt64(view, 16) });
      const entriesAt = index.#entriesAt;
      const cover = view.getInt32(56);
      const flags = view.getInt32(60);
      if (cover < 0 || cover > capacity) throw new RangeError(`Index file "${path}" has a damaged header: its slot table covers ${cover} entries`);
      const held = Math.max(0, Math.min(capacity, Math.floor((file.size() - entriesAt) / INDEX_ENTRY_SIZE)));
      if (cover > 0) {
        index.#minTimestamp = getInt64(view, 24);
        index.#maxTimestamp = getInt64(view, 32);
        index.#lastOffset = getInt64(view, 48);
        index.#ordered = (flags & FLAG_UNORDERED) === 0;
      }
      if (flags & FLAG_SEALED) {
        if (cover === 0 || held < cover) throw new RangeError(`Index file "${path}" is sealed with ${cover} entries but holds ${held}`);
        index.#count = cover;
        index.#state = "sealed";
      } else {
        index.#count = held;
        index.#savedCover = cover;
      }
      return index;
    } catch (error) {
      file.close();
      throw error;
    }
  }

  /** Entries stored. */
  get count(): number {
    return this.#count;
  }

  /** Whether no entry fits any more. */
  get full(): boolean {
    return this.#count >= this.capacity;
  }

  /** Whether the slot table and header are complete on disk. */
  get sealed(): boolean {
    return this.#state === "sealed";
  }

  /** Whether the file takes entries (its slot table is in memory). */
  get active(): boolean {
    return this.#slots !== undefined;
  }

  /** CommitLog offset of the last entry, -1 when empty. */
  get lastOffset(): number {
    return this.#lastOffset;
  }

  /** Earliest store time of an entry (ms). */
  get minTimestamp(): number {
    return this.#minTimestamp;
  }

  /** Latest store time of an entry (ms). */
  get maxTimestamp(): number {
    return this.#maxTimestamp;
  }

  /** Bytes of the file when full. */
  get byteSize(): number {
    return this.#entriesAt + this.capacity * INDEX_ENTRY_SIZE;
  }

  get #entriesAt(): number {
    return INDEX_HEADER_SIZE + this.slotCount * INDEX_SLOT_SIZE;
  }

  /**
   * Makes the file take entries again: keeps its first `count` entries (all when not given) and
   * loads the slot table the last clean close stored when it covers exactly those, else rebuilds
   * it (and the time range) from the entries. Cutting entries or unsealing clears the stored table.
   *
   * @param count Entries to keep.
   */
  activate(count: number = this.#count): void {
    if (count < this.#count) {
      this.#count = count;
      this.#file.truncate(this.#entriesAt + count * INDEX_ENTRY_SIZE);
      this.#dirty = true;
    }
    if (this.#state !== "open" || this.#savedCover > this.#count) {
      // The stored table describes entries that are gone (or the file takes entries again).
      this.#state = "open";
      this.#savedCover = 0;
      this.#writeHeader(0, false);
    }
    if (this.#savedCover > 0 && this.#savedCover === this.#count) {
      this.#slots = this.#readSlots();
      return;
    }
    const slots = new Int32Array(this.slotCount);
    this.#minTimestamp = Number.MAX_SAFE_INTEGER;
    this.#maxTimestamp = 0;
    this.#lastOffset = -1;
    this.#ordered = true;
    this.#forEachEntry(1, this.#count, (n, view, pos) => {
      slots[(view.getInt32(pos) >>> 0) % this.slotCount] = n;
      // An entry keeps whole seconds: its record was stored within the 999 ms after them.
      const from = this.baseTimestamp + view.getInt32(pos + 12) * 1000;
      if (from < this.#maxTimestamp - 999) this.#ordered = false;
      if (from < this.#minTimestamp) this.#minTimestamp = from;
      if (from + 999 > this.#maxTimestamp) this.#maxTimestamp = from + 999;
      this.#lastOffset = view.getInt32(pos + 4) * TWO_32 + view.getUint32(pos + 8);
      return true;
    });
    this.#slots = slots;
  }

  /**
   * Appends an entry (buffered; see `writePending`).
   *
   * @param hash The key hash.
   * @param offset The record's CommitLog offset.
   * @param storeTimestamp The record's store time (ms).
   * @throws {RangeError} When the file is full or not taking entries.
   */
  add(hash: number, offset: number, storeTimestamp: number): void {
    const slots = this.#slots;
    if (slots === undefined || this.full) throw new RangeError(`Index file ${segmentName(this.firstOffset)} takes no more entries`);
    const slot = (hash >>> 0) % this.slotCount;
    const n = ++this.#count;
    const pos = this.#pendingCount++ * INDEX_ENTRY_SIZE;
    const view = this.#pendingView;
    const delta = Math.max(-INT32_MAX, Math.min(INT32_MAX, Math.floor((storeTimestamp - this.baseTimestamp) / 1000)));
    view.setInt32(pos, hash);
    view.setInt32(pos + 4, Math.floor(offset / TWO_32));
    view.setUint32(pos + 8, offset >>> 0);
    view.setInt32(pos + 12, delta);
    view.setInt32(pos + 16, slots[slot]!);
    slots[slot] = n;
    if (storeTimestamp < this.#maxTimestamp) this.#ordered = false;
    if (storeTimestamp < this.#minTimestamp) this.#minTimestamp = storeTimestamp;
    if (storeTimestamp > this.#maxTimestamp) this.#maxTimestamp = storeTimestamp;
    this.#lastOffset = offset;
    if (this.#pendingCount === WRITE_BATCH) this.writePending();
  }

  /** Writes the buffered entries with one write. */
  writePending(): void {
    if (this.#pendingCount === 0) return;
    const first = this.#count - this.#pendingCount + 1;
    this.#file.write(this.#pending.subarray(0, this.#pendingCount * INDEX_ENTRY_SIZE), this.#entryPos(first));
    this.#pendingCount = 0;
    this.#dirty = true;
  }

  /**
   * Writes the slot table (the file takes no more entries); `completeSeal` then makes it and the
   * header durable, in that order, so a header that says "sealed" always has its table behind it.
   */
  writeSlots(): void {
    const slots = this.#slots;
    if (slots === undefined) return;
    this.writePending();
    this.#file.write(slotBytes(slots), INDEX_HEADER_SIZE);
    this.#slots = undefined;
    this.#state = "slots-written";
    this.#dirty = true;
  }

  /** After `writeSlots`: fsyncs the table, writes the sealed header, fsyncs it. */
  async completeSeal(): Promise<void> {
    if (this.#state !== "slots-written") return;
    await this.#file.sync();
    this.#writeHeader(this.#count, true);
    await this.#file.sync();
    this.#state = "sealed";
    this.#dirty = false;
  }

  /**
   * At a clean close: stores the slot table of the file being written, then a header saying it
   * covers the entries written so far, each fsynced, so the next open loads it instead of reading
   * every entry. The file still takes entries afterwards.
   */
  async saveSlots(): Promise<void> {
    const slots = this.#slots;
    if (slots === undefined || this.#state !== "open") return;
    this.writePending();
    this.#file.write(slotBytes(slots), INDEX_HEADER_SIZE);
    await this.#file.sync();
    this.#writeHeader(this.#count, false);
    await this.#file.sync();
    this.#savedCover = this.#count;
    this.#dirty = false;
  }

  #readSlots(): Int32Array {
    const bytes = new Uint8Array(this.slotCount * INDEX_SLOT_SIZE);
    const got = this.#file.read(bytes, INDEX_HEADER_SIZE);
    const view = new DataView(bytes.buffer);
    const slots = new Int32Array(this.slotCount);
    for (let i = 0; i < Math.floor(got / INDEX_SLOT_SIZE); i++) slots[i] = view.getInt32(i * INDEX_SLOT_SIZE);
    return slots;
  }

  /** Fsyncs what was written (buffered entries are written first). */
  async flush(): Promise<void> {
    this.writePending();
    if (!this.#dirty) return;
    this.#dirty = false;
    try {
      await this.#file.sync();
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }

  /**
   * The first entry number whose CommitLog offset is at least `offset` (entries are in
   * CommitLog order), or `count + 1` when every entry is below it.
   *
   * @param offset A CommitLog offset.
   * @returns That entry number.
   */
  firstAtOrAfter(offset: number): number {
    this.writePending();
    let lo = 1;
    let hi = this.#count + 1;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.#read(mid).offset < offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Walks the chain of `hash`'s slot, newest first, calling `visit` with the offset of each entry
   * of that hash whose time may lie in `[begin, end]` (deltas are whole seconds, so it may lie a
   * little outside: callers check the record's own time). In a file whose times only rise the
   * walk stops at the first entry older than `begin`.
   *
   * @param hash The key hash.
   * @param range Store time bounds (ms, inclusive) and the most entries to read.
   * @param visit Returns false to stop.
   * @returns Entries read, and whether the budget ran out before the chain did.
   */
  lookup(hash: number, range: { begin: number; end: number; budget: number }, visit: (offset: number) => boolean): { read: number; exhausted: boolean } {
    this.writePending();
    let n = this.#slotHead((hash >>> 0) % this.slotCount);
    let read = 0;
    while (n > 0 && n <= this.#count) {
      if (read >= range.budget) return { read, exhausted: true };
      const entry = this.#read(n);
      read++;
      const from = this.baseTimestamp + entry.delta * 1000;
      if (entry.hash === hash && from + 999 >= range.begin && from <= range.end && !visit(entry.offset)) break;
      if (this.#ordered && from + 999 < range.begin) break;
      // A link must point back; anything else is damage, and ends the chain.
      if (entry.prev >= n) break;
      n = entry.prev;
    }
    return { read, exhausted: false };
  }

  #slotHead(slot: number): number {
    if (this.#slots !== undefined) return this.#slots[slot]!;
    const bytes = new Uint8Array(INDEX_SLOT_SIZE);
    if (this.#file.read(bytes, INDEX_HEADER_SIZE + slot * INDEX_SLOT_SIZE) !== INDEX_SLOT_SIZE) return 0;
    return new DataView(bytes.buffer).getInt32(0);
  }

  /**
   * Reads one entry.
   *
   * @param n Entry number, 1 to `count` (written ones: see `writePending`).
   * @returns The entry.
   */
  entry(n: number): IndexEntry {
    this.writePending();
    return { ...this.#read(n) };
  }

  #read(n: number): IndexEntry {
    const view = this.#entryView;
    if (this.#file.read(this.#entry, this.#entryPos(n)) !== INDEX_ENTRY_SIZE) return { hash: 0, offset: 0, delta: 0, prev: 0 };
    return {
      hash: view.getInt32(0),
      offset: view.getInt32(4) * TWO_32 + view.getUint32(8),
      delta: view.getInt32(12),
      prev: view.getInt32(16),
    };
  }

  #entryPos(n: number): number {
    return this.#entriesAt + (n - 1) * INDEX_ENTRY_SIZE;
  }

  #forEachEntry(from: number, to: number, visit: (n: number, view: DataView, pos: number) => boolean): void {
    const chunk = new Uint8Array(Math.min(READ_BATCH, Math.max(1, to - from + 1)) * INDEX_ENTRY_SIZE);
    const view = new DataView(chunk.buffer);
    for (let n = from; n <= to;) {
      const count = Math.min(READ_BATCH, to - n + 1);
      const got = Math.floor(this.#file.read(chunk.subarray(0, count * INDEX_ENTRY_SIZE), this.#entryPos(n)) / INDEX_ENTRY_SIZE);
      for (let i = 0; i < got; i++) if (!visit(n + i, view, i * INDEX_ENTRY_SIZE)) return;
      if (got < count) return;
      n += count;
    }
  }

  #writeHeader(slotsCover: number, sealed: boolean): void {
    const head = new Uint8Array(INDEX_HEADER_SIZE);
    const view = new DataView(head.buffer);
    view.setInt32(0, MAGIC);
    view.setInt32(4, VERSION);
    view.setInt32(8, this.slotCount);
    view.setInt32(12, this.capacity);
    setInt64(view, 16, this.baseTimestamp);
    setInt64(view, 24, slotsCover > 0 ? this.#minTimestamp : 0);
    setInt64(view, 32, slotsCover > 0 ? this.#maxTimestamp : 0);
    setInt64(view, 40, this.firstOffset);
    setInt64(view, 48, slotsCover > 0 ? this.#lastOffset : 0);
    view.setInt32(56, slotsCover);
    view.setInt32(60, (this.#ordered ? 0 : FLAG_UNORDERED) | (sealed ? FLAG_SEALED : 0));
    this.#file.write(head, 0);
    this.#dirty = true;
  }

  /** Closes the file (buffered entries are written first). */
  close(): void {
    this.writePending();
    this.#file.close();
  }

  /** Closes and deletes the file. */
  remove(): void {
    this.#file.close();
    this.#storage.remove(this.#file.path);
  }
}

/** A slot table as stored: big-endian int32s. */
function slotBytes(slots: Int32Array): Uint8Array {
  const bytes = new Uint8Array(slots.length * INDEX_SLOT_SIZE);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < slots.length; i++) if (slots[i] !== 0) view.setInt32(i * INDEX_SLOT_SIZE, slots[i]!);
  return bytes;
}

function getInt64(view: DataView, pos: number): number {
  return view.getInt32(pos) * TWO_32 + view.getUint32(pos + 4);
}

function setInt64(view: DataView, pos: number, value: number): void {
  view.setInt32(pos, Math.floor(value / TWO_32));
  view.setUint32(pos + 4, value >>> 0);
}
