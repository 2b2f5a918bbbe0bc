/**
 * The CommitLog: one append-only log of message records for every topic, kept in fixed-size
 * segments named by their 20-digit start offset.
 *
 * @module
 */

import {
  BLANK_MARKER_SIZE,
  encodeBlankMarker,
  encodeRecord,
  PHYSICAL_OFFSET_POS,
  type PreparedRecord,
  readRecordOffsets,
  verifyRecord,
} from "../../core/model/record.ts";
import { Segment } from "./segment.ts";
import { joinPath, parseSegmentName, type SegmentStorage, segmentName } from "./segment_storage.ts";

/** Options of `CommitLog.open`. */
export interface CommitLogOptions {
  storage: SegmentStorage;
  /** Segment capacity in bytes. */
  segmentSize: number;
}

/** Where recovery stopped and why. */
export interface CommitLogRecovery {
  /** The log's end after recovery. */
  end: number;
  /** Offset where an invalid record was cut, if any. */
  cutAt?: number;
  /** Why it was cut. */
  reason?: string;
}

const SCAN_WINDOW = 4 * 1024 * 1024;
const KEEP_BUFFER_LIMIT = 16 * 1024 * 1024;

/** The segmented message log. Writes are synchronous file writes; `flush()` fsyncs. */
export class CommitLog {
  /** Directory holding the segments. */
  readonly dir: string;
  /** Capacity of each segment. */
  readonly segmentSize: number;
  #storage: SegmentStorage;
  #segments: Segment[] = [];
  #maxOffset = 0;
  #flushedOffset = 0;
  #dirDirty = false;
  #buffer = new Uint8Array(64 * 1024);

  private constructor(dir: string, options: CommitLogOptions) {
    this.dir = dir;
    this.segmentSize = options.segmentSize;
    this.#storage = options.storage;
  }

  /**
   * Opens the segments under `dir` without verifying them (see `recover`).
   *
   * @param dir The commitlog directory.
   * @param options Storage and segment size.
   * @returns The log, positioned at the end of its last segment's data.
   * @throws {Error} When segment names do not match the segment size or leave gaps.
   */
  static open(dir: string, options: CommitLogOptions): CommitLog {
    const log = new CommitLog(dir, options);
    options.storage.mkdir(dir);
    let expected: number | undefined;
    for (const name of options.storage.list(dir)) {
      const start = parseSegmentName(name);
      if (start === undefined) continue;
      if (start % options.segmentSize !== 0 || (expected !== undefined && start !== expected)) {
        log.close();
        throw new Error(
          `Commit log segment "${joinPath(dir, name)}" does not fit a segment size of ${options.segmentSize} bytes`,
        );
      }
      const file = options.storage.open(joinPath(dir, name));
      const size = file.size();
      if (size > options.segmentSize) {
        file.close();
        log.close();
        throw new Error(
          `Commit log segment "${joinPath(dir, name)}" holds ${size} bytes, more than a segment size of ${options.segmentSize} bytes`,
        );
      }
      log.#segments.push(new Segment(file, { start, capacity: options.segmentSize }));
      expected = start + options.segmentSize;
    }
    const last = log.#segments.at(-1);
    log.#maxOffset = last ? last.end : 0;
    log.#flushedOffset = log.#maxOffset;
    return log;
  }

  /** Offset of the first byte still stored. */
  get minOffset(): number {
    return this.#segments[0]?.start ?? this.#maxOffset;
  }

  /** Offset one past the last byte written. */
  get maxOffset(): number {
    return this.#maxOffset;
  }

  /** Offset up to which everything is fsynced. */
  get flushedOffset(): number {
    return this.#flushedOffset;
  }

  /** Number of segment files. */
  get segmentCount(): number {
    return this.#segments.length;
  }

  /** Start offset of the last segment, or `maxOffset` when there is none. */
  get lastSegmentStart(): number {
    return this.#segments.at(-1)?.start ?? this.#maxOffset;
  }

  /**
   * Verifies records from `from` to the end and cuts the log at the first invalid one (torn
   * write, bad CRC, wrong physical offset, missing blank marker), deleting later segments.
   *
   * @param from A record boundary to start at; clamped into the stored range.
   * @param visit Called for each valid record with a buffer, its position and its offset.
   * @returns Where the log now ends and, if it was cut, where and why.
   */
  recover(
    from: number,
    visit: (bytes: Uint8Array, pos: number, offset: number) => void,
  ): CommitLogRecovery {
    if (this.#segments.length === 0) return { end: this.#maxOffset };
    let index = this.#segmentIndex(Math.max(from, this.minOffset));
    if (index < 0 || index >= this.#segments.length) index = this.#segments.length - 1;
    let offset = Math.max(from, this.#segments[index]!.start);
    if (offset > this.#segments[index]!.end) offset = this.#segments[index]!.start;
    const scanStart = offset;
    this.#flushedOffset = scanStart;
    let window = new Uint8Array(SCAN_WINDOW);
    let windowStart = -1;
    let windowLength = 0;
    while (true) {
      const segment = this.#segments[index]!;
      const isLast = index === this.#segments.length - 1;
      if (offset === segment.end) {
        if (isLast) return this.#recovered(offset, scanStart);
        return this.#cut(index, offset, "segment ends without a blank marker");
      }
      if (windowStart < 0 || offset < windowStart || offset + 8 > windowStart + windowLength) {
        windowStart = offset;
        windowLength = segment.read(offset, window);
      }
      let pos = offset - windowStart;
      let check = verifyRecord(window, pos, windowLength - pos);
      if (!check.ok && windowLength - pos >= 8) {
        const size = new DataView(window.buffer).getInt32(pos);
        const available = segment.end - offset;
        if (size > windowLength - pos && size <= available) {
          if (size > window.length) window = new Uint8Array(size);
          windowStart = offset;
          windowLength = segment.read(offset, window);
          pos = 0;
          check = verifyRecord(window, pos, windowLength);
        }
      }
      if (!check.ok) return this.#cut(index, offset, check.reason);
      if (check.blank) {
        if (check.size !== segment.limit - offset) {
          return this.#cut(index, offset, `blank marker size ${check.size} does not reach the segment end`);
        }
        if (isLast) return this.#recovered(segment.limit, scanStart);
        index++;
        offset = segment.limit;
        continue;
      }
      const stored = readRecordOffsets(window, pos).physicalOffset;
      if (stored !== offset) {
        return this.#cut(index, offset, `record claims physical offset ${stored}`);
      }
      visit(window, pos, offset);
      offset += check.size;
    }
  }

  #recovered(end: number, scanStart: number): CommitLogRecovery {
    this.#maxOffset = end;
    this.#flushedOffset = Math.min(scanStart, end);
    return { end };
  }

  #cut(index: number, offset: number, reason: string): CommitLogRecovery {
    const segment = this.#segments[index]!;
    segment.truncate(offset);
    for (const later of this.#segments.splice(index + 1)) {
      later.file.close();
      this.#storage.remove(later.file.path);
      this.#dirDirty = true;
    }
    this.#maxOffset = offset;
    this.#flushedOffset = Math.min(this.#flushedOffset, offset);
    return { end: offset, cutAt: offset, reason };
  }

  /**
   * Encodes and writes records at the end of the log with one write per touched segment.
   * A record that does not fit in the current segment leaves a blank marker there and starts
   * the next one. Callers ensure each record is at most `segmentSize - 8` bytes.
   *
   * @param records Prepared records, in order.
   * @param placement Queue offsets (parallel to `records`) and the store timestamp.
   * @returns The physical offset of each record.
   */
  append(
    records: readonly PreparedRecord[],
    placement: { queueOffsets: readonly number[]; storeTimestamp: number },
  ): number[] {
    const offsets: number[] = new Array(records.length);
    let total = 0;
    for (const record of records) total += record.size;
    const buffer = total + BLANK_MARKER_SIZE <= this.#buffer.length
      ? this.#buffer
      : new Uint8Array(total + BLANK_MARKER_SIZE);
    let segment = this.#writableSegment();
    let chunkStart = this.#maxOffset;
    let pos = 0;
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      const offset = chunkStart + pos;
      if (offset + record.size + BLANK_MARKER_SIZE > segment.limit) {
        encodeBlankMarker(buffer, pos, segment.limit - offset);
        segment.append(buffer.subarray(0, pos + BLANK_MARKER_SIZE));
        this.#maxOffset = segment.limit;
        segment = this.#writableSegment();
        chunkStart = this.#maxOffset;
        pos = 0;
      }
      offsets[i] = chunkStart + pos;
      pos += encodeRecord(
        record,
        buffer,
        pos,
        placement.queueOffsets[i]!,
        chunkStart + pos,
        placement.storeTimestamp,
      );
    }
    if (pos > 0) {
      segment.append(buffer.subarray(0, pos));
      this.#maxOffset = chunkStart + pos;
    }
    if (buffer !== this.#buffer && buffer.length <= KEEP_BUFFER_LIMIT) this.#buffer = buffer;
    return offsets;
  }

  #writableSegment(): Segment {
    const last = this.#segments.at(-1);
    if (last && this.#maxOffset < last.limit) return last;
    const start = last ? last.limit : this.#maxOffset - (this.#maxOffset % this.segmentSize);
    const file = this.#storage.open(joinPath(this.dir, segmentName(start)), { create: true });
    file.truncate(0);
    const segment = new Segment(file, { start, capacity: this.segmentSize });
    this.#segments.push(segment);
    this.#maxOffset = start;
    this.#dirDirty = true;
    return segment;
  }

  /**
   * Cuts the log back to `offset` after a write that failed part way (a full disk): the segment
   * holding `offset` is truncated there and segments starting at or after it are deleted. Only
   * for bytes no reader has been shown; the store calls it with the end of the last good batch.
   *
   * @param offset A record boundary at or below the end of the log.
   * @throws {Error} When the file system refuses the truncation (the store then stops writing).
   */
  truncateTo(offset: number): void {
    if (offset > this.#maxOffset) throw new RangeError(`Cannot truncate the commit log to ${offset}, past its end ${this.#maxOffset}`);
    while (this.#segments.length > 0 && this.#segments.at(-1)!.start >= offset) {
      const segment = this.#segments.pop()!;
      segment.file.close();
      this.#storage.remove(segment.file.path);
      this.#dirDirty = true;
    }
    const last = this.#segments.at(-1);
    if (last && last.start + last.file.size() > offset) last.truncate(offset);
    this.#maxOffset = offset;
    if (this.#flushedOffset > offset) this.#flushedOffset = offset;
  }

  /**
   * Replication (slave): writes bytes received from the master at exactly `offset`, which must
   * be the log's end — or, for an empty log, any segment start (a slave joining a master whose
   * older segments retention deleted). The bytes never cross a segment; see `server/store/replica.ts`.
   *
   * @param offset Where the bytes go.
   * @param data Verified whole records, possibly ending with a blank marker.
   * @param end The log's end afterwards (the segment end after a blank marker).
   * @throws {RangeError} When `offset` is not where the log ends or the bytes do not fit the segment.
   */
  appendAt(offset: number, data: Uint8Array, end: number): void {
    if (data.length === 0) return;
    if (this.#segments.length === 0 && this.#maxOffset === 0 && offset % this.segmentSize === 0) this.#maxOffset = offset;
    if (offset !== this.#maxOffset) {
      throw new RangeError(`Cannot write replicated bytes at CommitLog offset ${offset}: the log ends at ${this.#maxOffset}`);
    }
    const segment = this.#writableSegment();
    segment.append(data);
    this.#maxOffset = end;
  }

  /**
   * Fsyncs every segment holding bytes past the flushed offset.
   *
   * @returns The new flushed offset (the log end when the flush started).
   */
  async flush(): Promise<number> {
    const target = this.#maxOffset;
    if (target <= this.#flushedOffset && !this.#dirDirty) return this.#flushedOffset;
    const syncs: Promise<void>[] = [];
    for (const segment of this.#segments) {
      if (segment.limit > this.#flushedOffset && segment.start < target) syncs.push(segment.file.sync());
    }
    if (this.#dirDirty) {
      this.#dirDirty = false;
      syncs.push(this.#storage.syncDir(this.dir));
    }
    await Promise.all(syncs);
    if (target > this.#flushedOffset) this.#flushedOffset = target;
    return this.#flushedOffset;
  }

  /**
   * Reads bytes at `offset` into `target`; a read never crosses a segment end.
   *
   * @param offset Global offset.
   * @param target Receives the bytes.
   * @returns Bytes read; 0 when the offset is not stored.
   */
  read(offset: number, target: Uint8Array): number {
    const segment = this.#segments[this.#segmentIndex(offset)];
    if (!segment || offset >= segment.end) return 0;
    return segment.read(offset, target);
  }

  /**
   * Reads the size field of the record at `offset`.
   *
   * @param offset Global offset of a record.
   * @returns The record size, or 0 when nothing valid is there.
   */
  sizeAt(offset: number): number {
    const head = new Uint8Array(PHYSICAL_OFFSET_POS + 8);
    if (this.read(offset, head) < head.length) return 0;
    const view = new DataView(head.buffer);
    if (readRecordOffsets(head, 0).physicalOffset !== offset) return 0;
    return view.getInt32(0);
  }

  #segmentIndex(offset: number): number {
    const first = this.#segments[0];
    if (!first || offset < first.start) return -1;
    return Math.floor((offset - first.start) / this.segmentSize);
  }

  /**
   * Deletes whole segments, oldest first, while `expired` says so; the last segment is kept.
   *
   * @param expired Given a segment's start and the offset where the next segment starts.
   * @returns How many segments were deleted.
   */
  deleteSegments(expired: (start: number, nextStart: number) => boolean): number {
    let deleted = 0;
    while (this.#segments.length > 1) {
      const first = this.#segments[0]!;
      if (!expired(first.start, first.limit)) break;
      this.#segments.shift();
      first.file.close();
      this.#storage.remove(first.file.path);
      this.#dirDirty = true;
      deleted++;
    }
    return deleted;
  }

  /** Closes every segment file. */
  close(): void {
    for (const segment of this.#segments) segment.file.close();
    this.#segments = [];
  }
}
