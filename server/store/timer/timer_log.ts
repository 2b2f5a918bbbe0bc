/**
 * The timer log: an append-only file of fixed 56-byte entries, one per record of the timer topic
 * (a timer, a carried-forward timer, a recall), each linked to the previous entry of its wheel slot.
 * Segmented like the CommitLog (files named by their first byte's position); derived data that
 * can be rebuilt from the timer topic.
 *
 * Entry layout (big-endian):
 * ```
 *  0 prev       int64   position of the previous entry of the same slot, -1 for none
 *  8 dueMs      int64   when the timer is due (ms since epoch)
 * 16 logOffset  int64   CommitLog offset of the timer topic record, -1 for none
 * 24 timerId    int64   the timer's id (for a recall: the id it cancels)
 * 32 queueOffset int64  the record's offset in the timer topic's queue (where enqueueing resumes)
 * 40 size       int32   the record's size
 * 44 kind       int32   TimerKind
 * 48 slot       uint32  the wheel second the entry is linked into
 * 52 crc        uint32  CRC-32 of bytes 0..51 (a torn or zeroed entry fails it)
 * ```
 *
 * @module
 */

import { crc32 } from "../../../core/model/crc32.ts";
import { joinPath, parseSegmentName, type SegmentFile, type SegmentStorage, segmentName } from "../segment_storage.ts";

/** Bytes per entry. */
export const TIMER_ENTRY_SIZE = 56;

/** What an entry asks for when its slot comes due. */
export const TimerKind = {
  /** The record could not be read as a timer: counted, never fired. */
  SKIP: 0,
  /** Deliver the message to its topic. */
  DELIVER: 1,
  /** Due beyond the wheel: store the record again in the timer topic, to be placed anew. */
  ROLL: 2,
  /** A recall: the timer `timerId` of this slot is not delivered. */
  DELETE: 3,
  /** A recall of a timer due beyond the wheel: carried forward like ROLL. */
  DELETE_ROLL: 4,
} as const;
/** One of the `TimerKind` values. */
export type TimerKind = typeof TimerKind[keyof typeof TimerKind];

/** One timer log entry. */
export interface TimerEntry {
  prev: number;
  dueMs: number;
  logOffset: number;
  timerId: number;
  queueOffset: number;
  size: number;
  kind: TimerKind;
  /** The wheel second (ms / 1000) the entry is linked into. */
  slot: number;
}

const READ_BLOCK = 64 * 1024;

function getInt64(view: DataView, pos: number): number {
  return view.getInt32(pos) * 0x1_0000_0000 + view.getUint32(pos + 4);
}

function setInt64(view: DataView, pos: number, value: number): void {
  view.setInt32(pos, Math.floor(value / 0x1_0000_0000));
  view.setUint32(pos + 4, value >>> 0);
}

/**
 * Writes an entry into `target` at `pos`.
 *
 * @param target The buffer.
 * @param pos Where the entry starts.
 * @param entry The entry.
 */
export function encodeTimerEntry(target: Uint8Array, pos: number, entry: TimerEntry): void {
  const view = new DataView(target.buffer, target.byteOffset + pos, TIMER_ENTRY_SIZE);
  setInt64(view, 0, entry.prev);
  setInt64(view, 8, entry.dueMs);
  setInt64(view, 16, entry.logOffset);
  setInt64(view, 24, entry.timerId);
  setInt64(view, 32, entry.queueOffset);
  view.setInt32(40, entry.size);
  view.setInt32(44, entry.kind);
  view.setUint32(48, entry.slot);
  view.setUint32(52, crc32(target, pos, pos + 52));
}

/**
 * Reads the entry at `pos` of `bytes`.
 *
 * @param bytes The buffer.
 * @param pos Where the entry starts.
 * @returns The entry, or undefined when its CRC or kind is wrong (torn, zeroed or foreign bytes).
 */
export function decodeTimerEntry(bytes: Uint8Array, pos: number): TimerEntry | undefined {
  if (bytes.length - pos < TIMER_ENTRY_SIZE) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset + pos, TIMER_ENTRY_SIZE);
  if (view.getUint32(52) !== crc32(bytes, pos, pos + 52)) return undefined;
  const kind = view.getInt32(44);
  if (kind < 0 || kind > 4) return undefined;
  return {
    prev: getInt64(view, 0),
    dueMs: getInt64(view, 8),
    logOffset: getInt64(view, 16),
    timerId: getInt64(view, 24),
    queueOffset: getInt64(view, 32),
    size: view.getInt32(40),
    kind: kind as TimerKind,
    slot: view.getUint32(48),
  };
}

interface LogSegment {
  start: number;
  file: SegmentFile;
  wrote: number;
}

/** The segmented timer log. */
export class TimerLog {
  /** Bytes per segment file (a multiple of the entry size). */
  readonly segmentBytes: number;
  readonly #dir: string;
  readonly #storage: SegmentStorage;
  #segments: LogSegment[] = [];
  #flushed = 0;
  #dirDirty = false;
  /** The last block read, for walking chains whose entries lie close together. */
  #block: { start: number; bytes: Uint8Array } | undefined;

  /**
   * Opens (creating) the log under `dir`.
   *
   * @param dir The directory.
   * @param options Storage and entries per segment file.
   */
  constructor(dir: string, options: { storage: SegmentStorage; entriesPerSegment: number }) {
    this.#dir = dir;
    this.#storage = options.storage;
    this.segmentBytes = options.entriesPerSegment * TIMER_ENTRY_SIZE;
    this.#storage.mkdir(dir);
    for (const name of this.#storage.list(dir)) {
      const start = parseSegmentName(name);
      if (start === undefined) continue;
      const file = this.#storage.open(joinPath(dir, name));
      this.#segments.push({ start, file, wrote: Math.min(file.size(), this.segmentBytes) });
    }
    this.#flushed = this.end;
  }

  /** Position of the first entry still kept. */
  get start(): number {
    return this.#segments[0]?.start ?? 0;
  }

  /** Position one past the last entry written. */
  get end(): number {
    const last = this.#segments.at(-1);
    return last === undefined ? 0 : last.start + last.wrote;
  }

  /** Start positions of the segment files, oldest first. */
  get segmentStarts(): number[] {
    return this.#segments.map((s) => s.start);
  }

  /**
   * Appends entries (their `prev` already set) in one write per segment touched.
   *
   * @param entries The entries.
   * @returns The position of the first.
   */
  append(entries: readonly TimerEntry[]): number {
    const first = this.end;
    let i = 0;
    while (i < entries.length) {
      let segment = this.#segments.at(-1);
      if (segment === undefined || segment.wrote >= this.segmentBytes) {
        const start = segment === undefined ? 0 : segment.start + this.segmentBytes;
        segment = { start, file: this.#storage.open(joinPath(this.#dir, segmentName(start)), { create: true }), wrote: 0 };
        this.#segments.push(segment);
        this.#dirDirty = true;
      }
      const n = Math.min(entries.length - i, (this.segmentBytes - segment.wrote) / TIMER_ENTRY_SIZE);
      const bytes = new Uint8Array(n * TIMER_ENTRY_SIZE);
      for (let k = 0; k < n; k++) encodeTimerEntry(bytes, k * TIMER_ENTRY_SIZE, entries[i + k]!);
      segment.file.write(bytes, segment.wrote);
      segment.wrote += bytes.length;
      i += n;
    }
    this.#block = undefined;
    return first;
  }

  /**
   * Reads the entry at a position.
   *
   * @param position An entry's position.
   * @returns The entry, or undefined when none valid is there.
   */
  read(position: number): TimerEntry | undefined {
    const block = this.#block;
    if (block !== undefined && position >= block.start && position + TIMER_ENTRY_SIZE <= block.start + block.bytes.length) {
      return decodeTimerEntry(block.bytes, position - block.start);
    }
    const segment = this.#segmentAt(position);
    if (segment === undefined) return undefined;
    const local = position - segment.start;
    // Read the block ending at the entry: chains walk backwards through the log.
    const from = Math.max(0, local + TIMER_ENTRY_SIZE - READ_BLOCK);
    const length = Math.min(segment.wrote, local + TIMER_ENTRY_SIZE) - from;
    if (length < TIMER_ENTRY_SIZE) return undefined;
    const bytes = new Uint8Array(length);
    const n = segment.file.read(bytes, from);
    this.#block = { start: segment.start + from, bytes: bytes.subarray(0, n) };
    return decodeTimerEntry(this.#block.bytes, position - this.#block.start);
  }

  /**
   * Visits valid entries from `position` in order and cuts the log at the first invalid one
   * (a torn or zeroed tail after a crash).
   *
   * @param position Where to start (an entry boundary at or after `start`).
   * @param visit Called with each entry and its position.
   * @returns The log's end after the cut.
   */
  recover(position: number, visit: (entry: TimerEntry, position: number) => void): number {
    let at = Math.max(position, this.start);
    for (const segment of this.#segments) {
      const segmentEnd = segment.start + segment.wrote;
      if (segmentEnd <= at) continue;
      const buffer = new Uint8Array(READ_BLOCK - (READ_BLOCK % TIMER_ENTRY_SIZE));
      while (at < segmentEnd) {
        const n = segment.file.read(buffer.subarray(0, Math.min(buffer.length, segmentEnd - at)), at - segment.start);
        let pos = 0;
        for (; pos + TIMER_ENTRY_SIZE <= n; pos += TIMER_ENTRY_SIZE) {
          const entry = decodeTimerEntry(buffer, pos);
          if (entry === undefined) {
            this.#cut(at + pos);
            return this.end;
          }
          visit(entry, at + pos);
        }
        at += pos;
        if (pos === 0) break;
      }
      if (at < segmentEnd) {
        this.#cut(at);
        return this.end;
      }
    }
    return this.end;
  }

  /**
   * Visits every valid entry from the log's start, skipping invalid ones (the fallback when a
   * wheel slot or a chain is damaged).
   *
   * @param visit Called with each valid entry and its position.
   */
  scan(visit: (entry: TimerEntry, position: number) => void): void {
    const buffer = new Uint8Array(READ_BLOCK - (READ_BLOCK % TIMER_ENTRY_SIZE));
    for (const segment of this.#segments) {
      for (let local = 0; local < segment.wrote; local += buffer.length) {
        const n = segment.file.read(buffer.subarray(0, Math.min(buffer.length, segment.wrote - local)), local);
        for (let pos = 0; pos + TIMER_ENTRY_SIZE <= n; pos += TIMER_ENTRY_SIZE) {
          const entry = decodeTimerEntry(buffer, pos);
          if (entry !== undefined) visit(entry, segment.start + local + pos);
        }
      }
    }
  }

  #cut(position: number): void {
    this.#block = undefined;
    while (this.#segments.length > 0 && this.#segments.at(-1)!.start >= position && this.#segments.length > 1) {
      const segment = this.#segments.pop()!;
      segment.file.close();
      this.#storage.remove(segment.file.path);
      this.#dirDirty = true;
    }
    const last = this.#segments.at(-1);
    if (last !== undefined && last.start + last.wrote > position) {
      const local = Math.max(0, position - last.start);
      last.file.truncate(local);
      last.wrote = local;
    }
    this.#flushed = Math.min(this.#flushed, this.end);
  }

  /**
   * Deletes whole segment files that end at or before `position` (never the last one).
   *
   * @param position Entries below it are no longer needed.
   * @returns How many files were deleted.
   */
  deleteBelow(position: number): number {
    let deleted = 0;
    while (this.#segments.length > 1 && this.#segments[0]!.start + this.segmentBytes <= position) {
      const segment = this.#segments.shift()!;
      segment.file.close();
      this.#storage.remove(segment.file.path);
      deleted++;
      this.#dirDirty = true;
    }
    if (deleted > 0) this.#block = undefined;
    return deleted;
  }

  /**
   * Fsyncs what was written (and the directory after files came or went).
   *
   * @returns The position up to which entries are durable.
   */
  async flush(): Promise<number> {
    const end = this.end;
    if (end > this.#flushed) {
      await Promise.all(this.#segments.filter((s) => s.start + s.wrote > this.#flushed).map((s) => s.file.sync()));
    }
    if (this.#dirDirty) {
      this.#dirDirty = false;
      await this.#storage.syncDir(this.#dir);
    }
    this.#flushed = Math.max(this.#flushed, end);
    return end;
  }

  /** Closes the files. */
  close(): void {
    for (const segment of this.#segments) segment.file.close();
    this.#segments = [];
  }

  #segmentAt(position: number): LogSegment | undefined {
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const segment = this.#segments[i]!;
      if (position >= segment.start) return position < segment.start + segment.wrote ? segment : undefined;
    }
    return undefined;
  }
}
