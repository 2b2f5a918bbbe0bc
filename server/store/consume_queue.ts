/**
 * A ConsumeQueue: the index of one topic queue, fixed 20-byte entries (CommitLog offset int64,
 * record size int32, tag hash int64) in files named by their start byte offset (20 digits), as
 * in RocketMQ. Entry `n` of the queue is message `n` (its queue offset).
 *
 * @module
 */

import { Segment } from "./segment.ts";
import { joinPath, parseSegmentName, type SegmentStorage, segmentName } from "./segment_storage.ts";

/** Bytes per entry. */
export const CQ_ENTRY_SIZE = 20;
/**
 * Record size of a skipped entry: a queue offset whose record is known to be unreadable
 * (quarantined by recovery, or lost), so readers pass over it. An all-zero entry instead means
 * "never written", which in the middle of a queue is damage.
 */
export const SKIPPED_ENTRY_SIZE = -1;

const TWO_32 = 0x100000000;
/**
 * Most bytes of entries kept in memory past the file's end before one write takes them there (see
 * `ConsumeQueue.write`): a file write per 256 entries of a queue instead of one per store write.
 */
const TAIL_BYTES = 256 * CQ_ENTRY_SIZE;
/** First size of a queue's gathered entries: a queue written rarely keeps little memory. */
const FIRST_TAIL_BYTES = 16 * CQ_ENTRY_SIZE;

/** `buffer`, or a larger copy of its first `used` bytes, with room for `need` bytes (at most `TAIL_BYTES`). */
function roomFor(buffer: Uint8Array | undefined, used: number, need: number): Uint8Array {
  if (buffer !== undefined && buffer.length >= need) return buffer;
  let size = buffer?.length ?? FIRST_TAIL_BYTES;
  while (size < need) size *= 2;
  const grown = new Uint8Array(Math.min(size, TAIL_BYTES));
  if (buffer !== undefined) grown.set(buffer.subarray(0, used));
  return grown;
}

/** One decoded entry. */
export interface ConsumeQueueEntry {
  /** CommitLog offset of the record. */
  offset: number;
  /** Record size; 0 marks an entry never written, `SKIPPED_ENTRY_SIZE` one passed over on purpose. */
  size: number;
  /** Tag hash (Java `String.hashCode()` of `TAGS`). */
  tagHash: number;
}

/** Options of `ConsumeQueue.open`. */
export interface ConsumeQueueOptions {
  storage: SegmentStorage;
  /** Entries per file. */
  entriesPerFile: number;
}

/** One topic queue's index. */
export class ConsumeQueue {
  /** Directory holding this queue's files. */
  readonly dir: string;
  #storage: SegmentStorage;
  #fileSize: number;
  #files: Segment[] = [];
  #minOffset = 0;
  #maxOffset = 0;
  #dirty = new Set<Segment>();
  #dirDirty = false;
  /**
   * Entries written but not yet in a file: queue offsets `[#tailStart, #maxOffset)`, all in the
   * last file, right after its written bytes. Reads see them; `flush` writes them first.
   */
  #tail: Uint8Array | undefined;
  #tailStart = 0;
  #tailBytes = 0;
  /** What `open` found wrong with the files (a missing file in the middle, a torn entry). */
  readonly problems: string[] = [];

  private constructor(dir: string, options: ConsumeQueueOptions) {
    this.dir = dir;
    this.#storage = options.storage;
    this.#fileSize = options.entriesPerFile * CQ_ENTRY_SIZE;
  }

  /**
   * Opens (or creates) the queue in `dir`, dropping a partial or zeroed tail entry (what a crash
   * leaves). A missing file between two others, or a partial entry at the end of a file that is
   * not the last, is noted in `problems` (the store then rebuilds the queue); only the files up
   * to such a gap are opened.
   *
   * @param dir The queue directory (`consumequeue/<topic>/<queueId>`).
   * @param options Storage and file size.
   * @returns The queue.
   */
  static open(dir: string, options: ConsumeQueueOptions): ConsumeQueue {
    const queue = new ConsumeQueue(dir, options);
    let expected: number | undefined;
    for (const name of options.storage.list(dir)) {
      const start = parseSegmentName(name);
      if (start === undefined || start % queue.#fileSize !== 0) continue;
      if (expected !== undefined && start !== expected) {
        queue.problems.push(`file "${joinPath(dir, segmentName(expected))}" is missing before "${joinPath(dir, name)}"`);
        break;
      }
      const last = queue.#files.at(-1);
      if (last && last.wrote !== queue.#fileSize) {
        queue.problems.push(`file "${last.file.path}" holds ${last.wrote} bytes but is followed by "${joinPath(dir, name)}"`);
        break;
      }
      const file = options.storage.open(joinPath(dir, name));
      const segment = new Segment(file, { start, capacity: queue.#fileSize });
      if (segment.wrote % CQ_ENTRY_SIZE !== 0) segment.truncate(start + segment.wrote - (segment.wrote % CQ_ENTRY_SIZE));
      queue.#files.push(segment);
      expected = start + queue.#fileSize;
    }
    const first = queue.#files[0];
    queue.#minOffset = first ? first.start / CQ_ENTRY_SIZE : 0;
    queue.#maxOffset = queue.#files.length ? queue.#files.at(-1)!.end / CQ_ENTRY_SIZE : 0;
    while (queue.#maxOffset > queue.#minOffset && queue.entry(queue.#maxOffset - 1)?.size === 0) {
      queue.truncateTo(queue.#maxOffset - 1);
    }
    return queue;
  }

  /** Queue offset of the first entry still stored. */
  get minOffset(): number {
    return this.#minOffset;
  }

  /** Queue offset one past the last entry. */
  get maxOffset(): number {
    return this.#maxOffset;
  }

  /**
   * Writes consecutive entries starting at queue offset `first`. A gap before `first` is filled
   * with skipped entries (`SKIPPED_ENTRY_SIZE`) carrying the first new entry's CommitLog offset.
   * Small writes are gathered in memory and reach the file together (when the gathered entries
   * fill `TAIL_BYTES`, the file ends, or at `flush`): entries are derived data, rebuilt from
   * the CommitLog after a crash (recovery dispatches again from the checkpoint, which is saved only
   * after a `flush`), and readers see them at once. A failed file write throws before any of
   * `entries` is taken; the entries gathered before stay gathered.
   *
   * @param first Queue offset of the first entry.
   * @param entries `count * 20` bytes of encoded entries.
   */
  write(first: number, entries: Uint8Array): void {
    if (first < this.#maxOffset) {
      throw new RangeError(`Cannot write queue offset ${first} below the queue end ${this.#maxOffset}`);
    }
    if (this.#files.length === 0) {
      this.#minOffset = first;
      this.#maxOffset = first;
    } else if (first > this.#maxOffset) {
      const skipped = { offset: decodeEntry(entries, 0).offset, size: SKIPPED_ENTRY_SIZE, tagHash: 0 };
      const gap = new Uint8Array(Math.min(first - this.#maxOffset, 4096) * CQ_ENTRY_SIZE);
      for (let pos = 0; pos < gap.length; pos += CQ_ENTRY_SIZE) encodeEntry(gap, pos, skipped);
      while (this.#maxOffset < first) {
        this.write(this.#maxOffset, gap.subarray(0, Math.min(first - this.#maxOffset, 4096) * CQ_ENTRY_SIZE));
      }
    }
    let written = 0;
    let offset = first;
    while (written < entries.length) {
      const local = offset * CQ_ENTRY_SIZE % this.#fileSize;
      const n = Math.min(entries.length - written, this.#fileSize - local);
      const part = entries.subarray(written, written + n);
      // The gathered entries leave first when these do not fit after them, or start another file.
      if (this.#tailBytes > 0 && (this.#tailBytes + n > TAIL_BYTES || local === 0)) this.#writeTail();
      if (n > TAIL_BYTES) {
        const file = this.#fileFor(offset);
        file.file.write(part, local);
        file.wrote = Math.max(file.wrote, local + n);
        this.#dirty.add(file);
      } else {
        if (this.#tailBytes === 0) {
          this.#fileFor(offset);
          this.#tailStart = offset;
        }
        this.#tail = roomFor(this.#tail, this.#tailBytes, this.#tailBytes + n);
        this.#tail.set(part, this.#tailBytes);
        this.#tailBytes += n;
      }
      written += n;
      offset += n / CQ_ENTRY_SIZE;
      this.#maxOffset = offset;
    }
  }

  /** Writes the gathered entries to the end of the last file. */
  #writeTail(): void {
    if (this.#tailBytes === 0) return;
    const file = this.#files.at(-1)!;
    const local = this.#tailStart * CQ_ENTRY_SIZE - file.start;
    file.file.write(this.#tail!.subarray(0, this.#tailBytes), local);
    file.wrote = Math.max(file.wrote, local + this.#tailBytes);
    this.#dirty.add(file);
    this.#tailBytes = 0;
  }

  #fileFor(offset: number): Segment {
    const start = offset * CQ_ENTRY_SIZE - ((offset * CQ_ENTRY_SIZE) % this.#fileSize);
    const last = this.#files.at(-1);
    if (last && last.start === start) return last;
    this.#storage.mkdir(this.dir);
    const file = this.#storage.open(joinPath(this.dir, segmentName(start)), { create: true });
    file.truncate(0);
    const segment = new Segment(file, { start, capacity: this.#fileSize });
    this.#files.push(segment);
    this.#dirDirty = true;
    return segment;
  }

  /**
   * Reads entries from queue offset `from` into `target`, stopping at a file end.
   *
   * @param from First queue offset (at least `minOffset`).
   * @param target Receives whole entries; its length bounds the count.
   * @returns The number of entries read.
   */
  read(from: number, target: Uint8Array): number {
    if (from < this.#minOffset || from >= this.#maxOffset) return 0;
    const file = this.#files[this.#fileIndex(from)];
    if (!file) return 0;
    const byteOffset = from * CQ_ENTRY_SIZE;
    const want = Math.min(
      target.length - (target.length % CQ_ENTRY_SIZE),
      (this.#maxOffset - from) * CQ_ENTRY_SIZE,
      file.limit - byteOffset,
    );
    const tailAt = this.#tailBytes > 0 ? this.#tailStart * CQ_ENTRY_SIZE : Infinity;
    if (byteOffset + want <= tailAt) return Math.floor(file.read(byteOffset, target.subarray(0, want)) / CQ_ENTRY_SIZE);
    // The range reaches the gathered entries: the file's part, then theirs.
    const fromFile = Math.max(0, tailAt - byteOffset);
    if (fromFile > 0) {
      const got = file.read(byteOffset, target.subarray(0, fromFile));
      if (got < fromFile) return Math.floor(got / CQ_ENTRY_SIZE);
    }
    const skip = Math.max(0, byteOffset - tailAt);
    target.set(this.#tail!.subarray(skip, skip + want - fromFile), fromFile);
    return want / CQ_ENTRY_SIZE;
  }

  /**
   * Reads one entry.
   *
   * @param offset Queue offset.
   * @returns The entry, or undefined outside `[minOffset, maxOffset)`.
   */
  entry(offset: number): ConsumeQueueEntry | undefined {
    const bytes = new Uint8Array(CQ_ENTRY_SIZE);
    return this.read(offset, bytes) === 1 ? decodeEntry(bytes, 0) : undefined;
  }

  /**
   * Replaces one stored entry (a repair, or marking it skipped).
   *
   * @param offset Queue offset in `[minOffset, maxOffset)`.
   * @param entry The new entry.
   * @throws {RangeError} Outside the stored entries.
   */
  overwrite(offset: number, entry: ConsumeQueueEntry): void {
    const file = offset >= this.#minOffset && offset < this.#maxOffset ? this.#files[this.#fileIndex(offset)] : undefined;
    if (!file) throw new RangeError(`Cannot overwrite queue offset ${offset} outside [${this.#minOffset}, ${this.#maxOffset})`);
    const bytes = new Uint8Array(CQ_ENTRY_SIZE);
    encodeEntry(bytes, 0, entry);
    if (this.#tailBytes > 0 && offset >= this.#tailStart) {
      this.#tail!.set(bytes, (offset - this.#tailStart) * CQ_ENTRY_SIZE);
      return;
    }
    file.file.write(bytes, offset * CQ_ENTRY_SIZE - file.start);
    this.#dirty.add(file);
  }

  /**
   * The first queue offset whose entry points at or past a CommitLog offset, by binary search
   * (entries of a queue are in CommitLog order).
   *
   * @param commitLogOffset A CommitLog offset.
   * @returns That queue offset, or `maxOffset` when every entry points below it.
   */
  firstAtOrAfter(commitLogOffset: number): number {
    let lo = this.#minOffset;
    let hi = this.#maxOffset;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.entry(mid)!.offset < commitLogOffset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #fileIndex(offset: number): number {
    const first = this.#files[0];
    if (!first) return -1;
    return Math.floor((offset * CQ_ENTRY_SIZE - first.start) / this.#fileSize);
  }

  /**
   * Drops entries that point at or beyond `commitLogEnd` (they lost their records in a crash),
   * and zeroed entries before them.
   *
   * @param commitLogEnd The recovered CommitLog end.
   * @returns How many entries were dropped.
   */
  trimBeyond(commitLogEnd: number): number {
    const before = this.#maxOffset;
    const chunk = new Uint8Array(4096 * CQ_ENTRY_SIZE);
    while (this.#maxOffset > this.#minOffset) {
      const from = Math.max(this.#minOffset, this.#maxOffset - 4096);
      const start = Math.max(from, this.#files[this.#fileIndex(this.#maxOffset - 1)]!.start / CQ_ENTRY_SIZE);
      const count = this.read(start, chunk.subarray(0, (this.#maxOffset - start) * CQ_ENTRY_SIZE));
      let keep = start + count;
      for (let i = count - 1; i >= 0; i--) {
        const e = decodeEntry(chunk, i * CQ_ENTRY_SIZE);
        if (e.size !== 0 && e.offset + Math.max(e.size, 0) <= commitLogEnd) break;
        keep = start + i;
      }
      if (keep === this.#maxOffset) break;
      this.truncateTo(keep);
      if (keep > start) break;
    }
    return before - this.#maxOffset;
  }

  /**
   * Drops the entries from queue offset `offset` on (a torn tail, or a dispatch that failed part way).
   *
   * @param offset The new queue end (not below `minOffset`).
   */
  truncateTo(offset: number): void {
    if (this.#tailBytes > 0) this.#tailBytes = Math.min(this.#tailBytes, Math.max(0, offset - this.#tailStart) * CQ_ENTRY_SIZE);
    if (this.#tailBytes > 0) {
      // Only gathered entries go: the files stay as they are.
      this.#maxOffset = Math.max(offset, this.#minOffset);
      return;
    }
    while (this.#files.length > 1 && this.#files.at(-1)!.start >= offset * CQ_ENTRY_SIZE) {
      const file = this.#files.pop()!;
      file.file.close();
      this.#dirty.delete(file);
      this.#storage.remove(file.file.path);
      this.#dirDirty = true;
    }
    const last = this.#files.at(-1);
    if (last) {
      last.truncate(Math.max(last.start, offset * CQ_ENTRY_SIZE));
      this.#dirty.add(last);
    }
    this.#maxOffset = Math.max(offset, this.#minOffset);
  }

  /**
   * Moves `minOffset` to the first entry still pointing into the CommitLog (its records below
   * `commitLogMin` were deleted), deleting files holding only older entries.
   *
   * @param commitLogMin The CommitLog's first stored offset.
   */
  dropBelow(commitLogMin: number): void {
    this.advanceMin(this.firstAtOrAfter(commitLogMin));
  }

  /**
   * Stops serving the entries below queue offset `offset` (retention): `minOffset` moves there,
   * at most to `maxOffset`, and files holding only such entries are deleted (the last file stays,
   * so the queue keeps its end).
   *
   * @param offset The new first served queue offset; lower values change nothing.
   */
  advanceMin(offset: number): void {
    const target = Math.min(offset, this.#maxOffset);
    if (target <= this.#minOffset) return;
    while (this.#files.length > 1 && this.#files[0]!.limit / CQ_ENTRY_SIZE <= target) {
      const first = this.#files.shift()!;
      first.file.close();
      this.#dirty.delete(first);
      this.#storage.remove(first.file.path);
      this.#dirDirty = true;
    }
    this.#minOffset = target;
  }

  /** Writes the gathered entries, then fsyncs files with unsynced entries. */
  async flush(): Promise<void> {
    this.#writeTail();
    const files = [...this.#dirty];
    this.#dirty.clear();
    const syncs = files.map((f) => f.file.sync());
    if (this.#dirDirty) {
      this.#dirDirty = false;
      syncs.push(this.#storage.syncDir(this.dir));
    }
    try {
      await Promise.all(syncs);
    } catch (error) {
      for (const f of files) this.#dirty.add(f);
      throw error;
    }
  }

  /**
   * Writes the gathered entries and closes the files. A failed write leaves those entries out of
   * the files: recovery indexes them again from the CommitLog.
   */
  close(): void {
    try {
      this.#writeTail();
    } catch {
      // Not lost: see above.
    }
    this.#tailBytes = 0;
    for (const file of this.#files) file.file.close();
    this.#files = [];
  }
}

/**
 * Encodes one entry into `target` at `pos`.
 *
 * @param target Buffer with 20 bytes free at `pos`.
 * @param pos Where the entry starts.
 * @param entry The entry.
 */
export function encodeEntry(target: Uint8Array, pos: number, entry: ConsumeQueueEntry): void {
  // Written byte by byte, as `decodeEntry` reads: a DataView a call (one a message stored) made its
  // target's ArrayBuffer real, a copy and two objects for the collector each time.
  if (pos < 0 || pos + CQ_ENTRY_SIZE > target.length) throw new RangeError(`No room for a ConsumeQueue entry at ${pos} of ${target.length} bytes`);
  putInt32(target, pos, Math.floor(entry.offset / TWO_32));
  putInt32(target, pos + 4, entry.offset % TWO_32);
  putInt32(target, pos + 8, entry.size);
  putInt32(target, pos + 12, entry.tagHash < 0 ? -1 : 0);
  putInt32(target, pos + 16, entry.tagHash);
}

/** Writes the low 32 bits of `value` big-endian, as `setInt32` and `setUint32` would. */
function putInt32(target: Uint8Array, pos: number, value: number): void {
  target[pos] = value >>> 24;
  target[pos + 1] = value >>> 16;
  target[pos + 2] = value >>> 8;
  target[pos + 3] = value;
}

/**
 * Decodes the entry at `pos`.
 *
 * @param bytes Buffer holding the entry.
 * @param pos Where it starts.
 * @returns The entry.
 */
export function decodeEntry(bytes: Uint8Array, pos: number): ConsumeQueueEntry {
  // Read byte by byte (no DataView a call: a pull decodes an entry per message). `| 0` and `>>> 0`
  // make the words signed and unsigned as `getInt32` and `getUint32` would.
  if (pos < 0 || pos + CQ_ENTRY_SIZE > bytes.length) throw new RangeError(`No whole ConsumeQueue entry at ${pos} of ${bytes.length} bytes`);
  return {
    offset: int32(bytes, pos) * TWO_32 + (int32(bytes, pos + 4) >>> 0),
    size: int32(bytes, pos + 8),
    tagHash: int32(bytes, pos + 16),
  };
}

function int32(bytes: Uint8Array, pos: number): number {
  return (bytes[pos]! << 24) | (bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!;
}
