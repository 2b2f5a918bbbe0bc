/**
 * The CommitLog: one append-only log of message records for every topic, kept in fixed-size
 * segments named by their 20-digit start offset.
 *
 * @module
 */

import {
  BLANK_MAGIC,
  BLANK_MARKER_SIZE,
  encodeBlankMarker,
  encodeRecord,
  MESSAGE_MAGIC,
  PHYSICAL_OFFSET_POS,
  type PreparedRecord,
  readRecordOffsets,
  verifyRecord,
  type VerifyResult,
} from "../../core/model/record.ts";
import { type BatchScan, patchBatchRecord, type RecordPatch } from "../../core/model/batch_records.ts";
import { Segment } from "./segment.ts";
import { joinPath, parseSegmentName, type SegmentStorage, segmentName } from "./segment_storage.ts";

/** Options of `CommitLog.open`. */
export interface CommitLogOptions {
  storage: SegmentStorage;
  /** Segment capacity in bytes. */
  segmentSize: number;
}

/** A stretch of the CommitLog that recovery could not read as records. */
export interface DamagedRegion {
  /** CommitLog offset of its first byte. */
  from: number;
  /** Where valid records resume; for a damaged tail, the end of the data on disk. */
  to: number;
  /** Bytes of the stretch present in segment files (fewer than `to - from` when a segment file is short). */
  bytes: number;
  /** Record headers inside it that still name their own offset: messages whose bodies or fields are damaged. */
  records: number;
  /** What was wrong where the stretch starts. */
  reason: string;
}

/** What `CommitLog.recover` found. */
export interface CommitLogRecovery {
  /** Where the valid records end (the start of `tail` when there is one). */
  end: number;
  /** Bytes scanned, from the scan start to the end of the data. */
  scannedBytes: number;
  /** Valid records scanned. */
  scannedRecords: number;
  /** Damaged stretches with valid records after them: left in place and skipped. */
  damaged: DamagedRegion[];
  /** A damaged stretch with no valid record after it, reaching the end of the data (see `cutTail`, `keepTail`). */
  tail?: DamagedRegion;
}
/**
 * Records a client encoded (a checked batch), appended by copying its bytes and writing the
 * broker's fields into the copy. `patch` holds the fields shared by the batch; `append` sets the
 * per-record ones and fills `offsets` with each record's CommitLog offset.
 */
export interface EncodedBatch {
  scan: BatchScan;
  patch: RecordPatch;
  offsets: number[];
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
  /** A view of `#buffer`, made when a batch is first patched in it. */
  #view: DataView | undefined;
  /** The bytes the last `readWindow` read, from `#windowStart`, `#windowLength` of them. */
  #window = new Uint8Array(0);
  #windowStart = 0;
  #windowLength = 0;

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
      if (expected !== undefined && start > expected && start % options.segmentSize === 0) {
        log.close();
        throw new Error(
          `Commit log segment "${joinPath(dir, segmentName(expected))}" is missing: the log goes on at "${joinPath(dir, name)}". ` +
            `Refusing to start without the records it held; restore it (from a backup or a slave), or move the later segments aside to start without them`,
        );
      }
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
   * Verifies records from `from` to the end of the data without changing any file. A record that
   * fails (torn, bad CRC, a layout that does not add up, a wrong physical offset, a blank marker
   * that does not reach its segment's end, a segment ending without one) starts a damaged
   * stretch; the scan resynchronises at the next offset holding a valid record that names that
   * very offset as its own (or a segment start, or a blank marker reaching exactly to its
   * segment's end), so what follows a damaged record is kept. Random bytes cannot pass for such a
   * record: magic, layout, body CRC and the self-reference must all agree.
   *
   * Afterwards the log ends at `end`, or, with a damaged `tail`, at the end of the data until the
   * caller decides: `cutTail` or `keepTail`.
   *
   * @param from A record boundary to start at; clamped into the stored range.
   * @param visit Called for each valid record with a buffer, its position and its offset.
   * @returns The valid end, damaged stretches, and what was scanned.
   */
  recover(
    from: number,
    visit: (bytes: Uint8Array, pos: number, offset: number) => void,
  ): CommitLogRecovery {
    this.#windowLength = 0;
    const result: CommitLogRecovery = { end: this.#maxOffset, scannedBytes: 0, scannedRecords: 0, damaged: [] };
    if (this.#segments.length === 0) return result;
    const walk = this.#walk(from, Infinity, (bytes, pos, offset) => {
      visit(bytes, pos, offset);
      result.scannedRecords++;
      return true;
    }, (region) => result.damaged.push(region));
    result.scannedBytes = walk.end - walk.start;
    if (walk.open) {
      result.tail = this.#closeRegion(walk.open, walk.end);
      result.end = walk.open.from;
    } else {
      result.end = walk.end;
    }
    this.#maxOffset = walk.end;
    this.#flushedOffset = Math.min(walk.start, result.end);
    return result;
  }

  /**
   * Visits the valid records from `from` (a record boundary) up to `to`, passing over damaged
   * stretches as `recover` does; nothing is changed.
   *
   * @param from Where to start.
   * @param to Records starting at or past it are not visited.
   * @param visit Called per valid record; returning false stops the walk.
   */
  forEachRecord(from: number, to: number, visit: (bytes: Uint8Array, pos: number, offset: number) => boolean): void {
    if (this.#segments.length > 0) this.#walk(from, to, visit, () => {});
  }

  /** The scan behind `recover` and `forEachRecord`. */
  #walk(
    from: number,
    to: number,
    visit: (bytes: Uint8Array, pos: number, offset: number) => boolean,
    damaged: (region: DamagedRegion) => void,
  ): { start: number; end: number; open: DamagedRegion | undefined } {
    let index = this.#segmentIndex(Math.max(from, this.minOffset));
    if (index < 0 || index >= this.#segments.length) index = this.#segments.length - 1;
    let offset = Math.max(from, this.#segments[index]!.start);
    if (offset > this.#segments[index]!.end) offset = this.#segments[index]!.start;
    const start = offset;
    const window = new ScanWindow();
    let open: DamagedRegion | undefined;
    while (offset < to) {
      const segment = this.#segments[index]!;
      const isLast = index === this.#segments.length - 1;
      if (offset >= segment.end) {
        if (isLast) break;
        // A writer always closes a segment with a blank marker: the rest of this one is missing.
        open ??= newRegion(offset, `segment "${segment.file.path}" ends at offset ${offset} without a blank marker`);
        index++;
        offset = this.#segments[index]!.start;
        continue;
      }
      const check = checkAt(window, segment, offset);
      if (check.ok) {
        if (open) {
          damaged(this.#closeRegion(open, offset));
          open = undefined;
        }
        if (check.blank) {
          offset = segment.limit;
          if (isLast) break;
          index++;
          continue;
        }
        if (!visit(window.bytes, check.pos, offset)) break;
        offset += check.size;
        continue;
      }
      if (open === undefined) {
        open = newRegion(offset, check.reason);
        if (namesItself(window, segment, offset)) open.records++;
      }
      const next = resync(window, segment, offset + 1, open);
      if (next !== undefined) {
        offset = next;
        continue;
      }
      if (isLast) {
        offset = segment.end;
        break;
      }
      index++;
      offset = this.#segments[index]!.start;
    }
    return { start, end: offset, open };
  }

  #closeRegion(region: DamagedRegion, to: number): DamagedRegion {
    region.to = to;
    region.bytes = 0;
    for (const segment of this.#segments) {
      region.bytes += Math.max(0, Math.min(to, segment.end) - Math.max(region.from, segment.start));
    }
    return region;
  }

  /**
   * After `recover` found a damaged tail it may cut (one it can prove was never acknowledged as
   * durable, copied aside first): cuts the log at its start, deleting segments after it.
   *
   * @param offset The damaged tail's start.
   */
  cutTail(offset: number): void {
    this.truncateTo(offset);
  }

  /**
   * After `recover` found a damaged tail it may not cut: keeps its bytes in place, and new records
   * follow them. When fewer than 8 bytes would be left in the segment (no room for the blank
   * marker that closes it), the segment is zero-filled to its end so writing goes on in the next.
   */
  keepTail(): void {
    this.#windowLength = 0;
    const last = this.#segments.at(-1);
    if (!last) return;
    const left = last.limit - last.end;
    if (left > 0 && left < BLANK_MARKER_SIZE) {
      last.truncate(last.limit);
      this.#maxOffset = last.limit;
    }
  }

  /**
   * Whether a record, a blank marker that ends its segment, a segment or the log's end starts at
   * `offset`, checked against the bytes (a valid record naming that offset as its own).
   *
   * @param offset A CommitLog offset.
   * @returns True when a scan may start at `offset`.
   */
  isBoundary(offset: number): boolean {
    if (offset === this.#maxOffset) return true;
    const segment = this.#segments[this.#segmentIndex(offset)];
    if (!segment || offset >= segment.end) return false;
    if (offset === segment.start) return true;
    return checkAt(new ScanWindow(), segment, offset).ok;
  }

  /**
   * Copies the bytes of `[from, to)` that segment files hold, back to back.
   *
   * @param from First offset.
   * @param to One past the last offset.
   * @returns The bytes.
   */
  readRange(from: number, to: number): Uint8Array {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (const segment of this.#segments) {
      const start = Math.max(from, segment.start);
      const stop = Math.min(to, segment.end);
      if (stop <= start) continue;
      const part = new Uint8Array(stop - start);
      parts.push(part.subarray(0, segment.read(start, part)));
      total += parts.at(-1)!.length;
    }
    const out = new Uint8Array(total);
    let pos = 0;
    for (const part of parts) {
      out.set(part, pos);
      pos += part.length;
    }
    return out;
  }
  /**
   * Encodes and writes records at the end of the log with one write per touched segment.
   * A record that does not fit in the current segment leaves a blank marker there and starts
   * the next one. Callers ensure each record is at most `segmentSize - 8` bytes. An encoded batch
   * is copied as it is and patched (see `EncodedBatch`); its records follow each other.
   *
   * @param records Prepared records and encoded batches, in order.
   * @param placement Queue offsets (parallel to `records`; a batch's first record's) and the store timestamp.
   * @returns The physical offset of each record (a batch's first record's; `offsets` holds them all).
   */
  append(
    records: readonly (PreparedRecord | EncodedBatch)[],
    placement: { queueOffsets: readonly number[]; storeTimestamp: number },
  ): number[] {
    const offsets: number[] = new Array(records.length);
    let total = 0;
    for (const record of records) total += "scan" in record ? record.scan.bytes.length : record.size;
    if (total + BLANK_MARKER_SIZE > this.#buffer.length) {
      const grown = new Uint8Array(total + BLANK_MARKER_SIZE);
      if (grown.length <= KEEP_BUFFER_LIMIT) {
        this.#buffer = grown;
        this.#view = undefined;
      }
    }
    const buffer = total + BLANK_MARKER_SIZE <= this.#buffer.length ? this.#buffer : new Uint8Array(total + BLANK_MARKER_SIZE);
    let segment = this.#writableSegment();
    let chunkStart = this.#maxOffset;
    let pos = 0;
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!;
      if ("scan" in record) {
        const view = buffer === this.#buffer ? (this.#view ??= new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength)) : new DataView(buffer.buffer);
        const { scan, patch, offsets: at } = record;
        const { bytes, starts, sizes, crcs } = scan;
        const first = placement.queueOffsets[i]!;
        patch.storeTimestamp = placement.storeTimestamp;
        if (chunkStart + pos + bytes.length + BLANK_MARKER_SIZE <= segment.limit) {
          // The whole batch fits the segment: one copy, then each record's fields.
          buffer.set(bytes, pos);
          for (let k = 0; k < starts.length; k++) {
            const p = pos + starts[k]!;
            patch.queueOffset = first + k;
            patch.physicalOffset = chunkStart + p;
            patch.bodyCrc = crcs[k]!;
            patchBatchRecord(buffer, view, p, patch);
            at[k] = chunkStart + p;
          }
          pos += bytes.length;
        } else {
          for (let k = 0; k < starts.length; k++) {
            const size = sizes[k]!;
            if (chunkStart + pos + size + BLANK_MARKER_SIZE > segment.limit) {
              encodeBlankMarker(buffer, pos, segment.limit - chunkStart - pos);
              segment.append(buffer.subarray(0, pos + BLANK_MARKER_SIZE));
              this.#maxOffset = segment.limit;
              segment = this.#writableSegment();
              chunkStart = this.#maxOffset;
              pos = 0;
            }
            buffer.set(bytes.subarray(starts[k]!, starts[k]! + size), pos);
            patch.queueOffset = first + k;
            patch.physicalOffset = chunkStart + pos;
            patch.bodyCrc = crcs[k]!;
            patchBatchRecord(buffer, view, pos, patch);
            at[k] = chunkStart + pos;
            pos += size;
          }
        }
        offsets[i] = at[0]!;
        continue;
      }
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
    this.#windowLength = 0;
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
   * The bytes of `[offset, offset + length)` through a read window kept between calls: when the
   * last window read holds them, no read is made. Pulls of a topic's queues, whose records lie
   * interleaved in the log, each need a span of it; one read of a little more than one span serves
   * the others (the window is read `ahead` bytes past what was asked, as far as the segment holds
   * data). Stored bytes never change but by a truncation, a recovery or a segment's deletion, which
   * forget the window.
   *
   * @param offset Global offset.
   * @param length Bytes wanted (a read never crosses a segment end).
   * @param ahead Bytes to read past them when the window does not hold them.
   * @returns The window and where `offset` is in it; `length` may exceed the bytes it holds from
   *   there (`available`) when the segment has fewer. Valid until the next call.
   */
  readWindow(offset: number, length: number, ahead: number): { bytes: Uint8Array; pos: number; available: number } {
    const start = this.#windowStart;
    if (offset < start || offset + length > start + this.#windowLength) {
      const want = length + ahead;
      if (this.#window.length < want) this.#window = new Uint8Array(want);
      this.#windowStart = offset;
      this.#windowLength = 0;
      this.#windowLength = this.read(offset, this.#window.subarray(0, want));
    }
    const pos = offset - this.#windowStart;
    return { bytes: this.#window, pos, available: this.#windowLength - pos };
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
    this.#windowLength = 0;
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
    this.#windowLength = 0;
    for (const segment of this.#segments) segment.file.close();
    this.#segments = [];
  }
}
function newRegion(from: number, reason: string): DamagedRegion {
  return { from, to: from, bytes: 0, records: 0, reason };
}

/** A read buffer over one segment at a time, for the recovery scan. */
class ScanWindow {
  bytes = new Uint8Array(SCAN_WINDOW);
  /** Global offset of `bytes[0]`. */
  start = -1;
  /** Bytes of `bytes` holding data. */
  length = 0;
  #segment: Segment | undefined;

  /**
   * Makes `need` bytes from `offset` available (as far as the segment has them), reading from
   * `offset` when the window does not hold them.
   *
   * @returns The position of `offset` in `bytes`.
   */
  at(segment: Segment, offset: number, need: number): number {
    const held = segment === this.#segment && offset >= this.start && offset <= this.start + this.length;
    if (!held || (offset + need > this.start + this.length && this.start + this.length < segment.end)) {
      if (need > this.bytes.length) this.bytes = new Uint8Array(need);
      this.#segment = segment;
      this.start = offset;
      this.length = segment.read(offset, this.bytes);
    }
    return offset - this.start;
  }
}

type ScanCheck = (VerifyResult & { ok: false }) | { ok: true; size: number; blank: boolean; pos: number };

/** Verifies the record or blank marker at `offset`, including that a record names `offset` as its own. */
function checkAt(window: ScanWindow, segment: Segment, offset: number): ScanCheck {
  let pos = window.at(segment, offset, 8);
  let available = Math.min(window.length - pos, segment.end - offset);
  if (available >= 8) {
    const size = new DataView(window.bytes.buffer).getInt32(pos);
    if (size > available && offset + size <= segment.end) {
      pos = window.at(segment, offset, size);
      available = Math.min(window.length - pos, segment.end - offset);
    }
  }
  const check = verifyRecord(window.bytes, pos, available);
  if (!check.ok) return check;
  if (check.blank) {
    if (check.size !== segment.limit - offset) {
      return { ok: false, reason: `blank marker size ${check.size} does not reach the segment end` };
    }
    return { ...check, pos };
  }
  const stored = readRecordOffsets(window.bytes, pos).physicalOffset;
  if (stored !== offset) return { ok: false, reason: `record claims physical offset ${stored}` };
  return { ...check, pos };
}

/** Whether the bytes at `offset` carry the message magic and name `offset` as their physical offset. */
function namesItself(window: ScanWindow, segment: Segment, offset: number): boolean {
  const pos = window.at(segment, offset, PHYSICAL_OFFSET_POS + 8);
  if (window.length - pos < PHYSICAL_OFFSET_POS + 8) return false;
  const view = new DataView(window.bytes.buffer);
  return view.getInt32(pos + 4) === MESSAGE_MAGIC && readRecordOffsets(window.bytes, pos).physicalOffset === offset;
}

const MAGIC_FIRST = MESSAGE_MAGIC >>> 24;
const BLANK_FIRST = BLANK_MAGIC >>> 24;

/**
 * Finds the first offset from `from` in the segment where a valid record (naming that offset) or
 * a blank marker reaching the segment's end starts, counting the damaged record headers passed
 * on the way into `region.records`.
 *
 * @returns That offset, or undefined when the rest of the segment holds none.
 */
function resync(window: ScanWindow, segment: Segment, from: number, region: DamagedRegion): number | undefined {
  let p = from;
  while (p + 8 <= segment.end) {
    const base = window.at(segment, p, 8);
    const last = window.length - 8;
    let found = -1;
    // Where each magic's first byte occurs next (-1: nowhere), searched again only once passed.
    let a = -2;
    let b = -2;
    for (let i = base; i <= last;) {
      if (a !== -1 && a < i + 4) a = window.bytes.indexOf(MAGIC_FIRST, i + 4);
      if (b !== -1 && b < i + 4) b = window.bytes.indexOf(BLANK_FIRST, i + 4);
      const hit = a < 0 ? b : b < 0 ? a : Math.min(a, b);
      if (hit < 0 || hit - 4 > last) break;
      const candidate = hit - 4;
      const magic = new DataView(window.bytes.buffer).getInt32(candidate + 4);
      if (magic === MESSAGE_MAGIC || magic === BLANK_MAGIC) {
        found = candidate;
        break;
      }
      i = candidate + 1;
    }
    if (found < 0) {
      if (window.start + window.length >= segment.end) return undefined;
      p = window.start + Math.max(last + 1, base + 1);
      continue;
    }
    const offset = window.start + found;
    if (checkAt(window, segment, offset).ok) return offset;
    if (namesItself(window, segment, offset)) region.records++;
    p = offset + 1;
  }
  return undefined;
}
