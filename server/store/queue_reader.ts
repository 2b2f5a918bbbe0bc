/**
 * Reads of one topic queue: a pull (`readQueue`) and a time lookup (`findOffsetByTime`).
 *
 * @module
 */

import { readRecordOffsets, readStoreTimestamp, recordMatches, type RecordIdentity } from "../../core/model/record.ts";
import type { CommitLog } from "./commit_log.ts";
import { type ConsumeQueue, CQ_ENTRY_SIZE, decodeEntry, SKIPPED_ENTRY_SIZE } from "./consume_queue.ts";
import type { QueueState } from "./queue_table.ts";
import { copyBytes, uninitialisedBytes } from "./node/bytes.ts";
import type { GetResult } from "./store_types.ts";

/** Most ConsumeQueue entries one filtered pull scans. */
const MAX_SCAN_ENTRIES = 2000;
/** Most bytes of records one pull with a record filter reads looking for matches. */
const MAX_SCAN_BYTES = 4 * 1024 * 1024;
/** Default byte budget of one pull. */
export const DEFAULT_MAX_BYTES = 256 * 1024;
/** Bytes of a record head that hold its store timestamp (IPv6 born host included). */
export const RECORD_HEAD = 80;

/** A queue and the log its entries point into. */
export interface QueueSource {
  cq: ConsumeQueue | undefined;
  commitLog: CommitLog;
}

/** A queue to read, with what to do when a record read is not the one its entry names. */
export interface CheckedQueueSource extends QueueSource {
  /** The queue: each record read must carry its topic, queue id, queue offset, size and offset. */
  state: QueueState;
  /**
   * Given queue offsets whose records did not match their entries, mends what it can and says
   * whether to read again; records that still do not match are left out.
   */
  repair: (queueOffsets: number[]) => boolean;
  /** Told how many records were left out. */
  unreadable: (count: number) => void;
}

/** Decides on a record by its stored bytes. */
export interface RecordFilter {
  /**
   * @param bytes Holds the record.
   * @param pos Where it starts.
   * @param size Its size.
   * @returns Whether to keep it.
   */
  matchesRecord(bytes: Uint8Array, pos: number, size: number): boolean;
}

/** What a pull asks for. */
export interface ReadRequest {
  /** First queue offset to read. */
  offset: number;
  /** Most messages to return. */
  maxMsgNums: number;
  /** Keeps a message when it returns true for its tag hash. */
  filter?: ((tagHash: number) => boolean) | undefined;
  /**
   * Keeps a message when it returns true for its stored record (read from the CommitLog and
   * checked against its entry first), e.g. a SQL92 filter on its properties. Records it refuses
   * are neither returned nor counted against `maxMsgNums` or `maxBytes`; a pull scans at most
   * `MAX_SCAN_ENTRIES` entries and `MAX_SCAN_BYTES` of records for matches.
   */
  recordFilter?: RecordFilter | undefined;
  /** Byte budget (at least one message is returned). @default 262144 */
  maxBytes?: number | undefined;
  /**
   * Reads the body into this buffer's memory instead of new memory: the body is lent, and valid
   * until its holder gives it back (`BodyBuffer#release`). @default new memory, the caller's to keep
   */
  into?: BodyBuffer | undefined;
}

/** Bytes a `BodyBuffer` grows by at least, so bodies a little larger than the last reuse it. */
const BODY_BUFFER_STEP = 64 * 1024;

/**
 * Memory that read bodies are lent from, for a reader that is done with each body soon (a pull,
 * whose reply is written into the connection's frame buffer at once): a body in new memory costs
 * more than reading it (a pull of 128 messages of 1 KiB touches 140 KB of fresh pages). A body is
 * lent until `release`; while it is, or when it is given back by no one (its reply kept by a caller
 * that makes no socket write of it, a gRPC call), the next body is read into new memory, which is
 * kept for those after it. So memory is never read into while a body still lent points into it.
 */
export class BodyBuffer {
  #bytes: Uint8Array | undefined;
  #lent = false;
  readonly #maxKept: number;

  /** @param maxKept Largest memory kept between bodies; larger bodies get memory of their own. @default 4 MiB */
  constructor(maxKept: number = 4 * 1024 * 1024) {
    this.#maxKept = maxKept;
  }

  /**
   * Lends `length` bytes, not zeroed: the caller writes every one before anyone sees it.
   *
   * @param length Their size.
   * @returns The bytes (a view of this buffer's memory, or new memory).
   */
  lend(length: number): Uint8Array {
    let bytes = this.#bytes;
    if (this.#lent || bytes === undefined || bytes.length < length) {
      const size = Math.ceil(length / BODY_BUFFER_STEP) * BODY_BUFFER_STEP;
      bytes = uninitialisedBytes(size);
      this.#bytes = size <= this.#maxKept ? bytes : undefined;
    }
    this.#lent = true;
    return bytes.subarray(0, length);
  }

  /**
   * Gives back a body lent by `lend` (or one that holds no part of it: then this does nothing), so
   * its memory may be read into again.
   *
   * @param body The body; its bytes must not be read after this.
   */
  release(body: Uint8Array): void {
    if (this.#bytes !== undefined && body.buffer === this.#bytes.buffer) this.#lent = false;
  }
}

/** Largest distance between two records of a run read at once. */
const MAX_GAP_BYTES = 16 * 1024;
/**
 * Largest span read at once, as large as a pull's byte budget (`MAX_PULL_BYTES`): a pull of 512
 * messages of 1 KiB over 4 interleaved queues spans 2.2 MB of the log, and a span cut at 1 MiB left
 * the window holding only its last part, so each of the 4 pulls read the whole stretch again.
 */
const MAX_SPAN_BYTES = 4 * 1024 * 1024;

/**
 * Reads matching records of a queue, with RocketMQ's statuses for offsets out of range.
 * Records back to back, or a few other records apart, are read from the CommitLog in one read.
 * Each record read is checked to be the one its entry names (`recordMatches`: a few field
 * comparisons); one that is not is mended through `source.repair` or left out, so a damaged
 * ConsumeQueue never hands a consumer the wrong bytes.
 *
 * @param source The queue (its `cq` undefined when it does not exist) and the CommitLog.
 * @param request Offset, count, filter and byte budget.
 * @returns The status, next offset and the records as stored.
 */
export function readQueue(source: CheckedQueueSource, request: ReadRequest): GetResult {
  if (request.recordFilter !== undefined) return readFiltered(source, request, request.recordFilter);
  return readChecked(source, request);
}

/**
 * `readQueue` with a record filter: reads the queue in steps (each checked as a plain read is),
 * keeps the records the filter takes, and goes on until it has `maxMsgNums` of them, the byte
 * budget is spent, the queue ends or the scan limits are reached.
 */
function readFiltered(source: CheckedQueueSource, request: ReadRequest, filter: RecordFilter): GetResult {
  const want = Math.max(1, Math.floor(request.maxMsgNums));
  const maxBytes = request.maxBytes ?? DEFAULT_MAX_BYTES;
  const kept: Uint8Array[] = [];
  const tagHashes: number[] = [];
  let keptBytes = 0;
  let scannedEntries = 0;
  let scannedBytes = 0;
  let refused = 0;
  let steps = 0;
  let offset = request.offset;
  let last: GetResult | undefined;
  let full = false;
  while (!full && scannedEntries < MAX_SCAN_ENTRIES && scannedBytes < MAX_SCAN_BYTES) {
    // The first step reads as many as are wanted (every one may match); later ones as many as the
    // match rate so far says should yield the rest, plus a quarter.
    const remaining = want - kept.length;
    const estimate = scannedEntries === 0 ? remaining : Math.ceil((remaining * scannedEntries * 1.25) / Math.max(kept.length, 1));
    const step = readChecked(source, {
      offset,
      maxMsgNums: Math.min(MAX_SCAN_ENTRIES - scannedEntries, Math.max(remaining, estimate)),
      filter: request.filter,
      recordFilter: undefined,
      maxBytes: MAX_SCAN_BYTES - scannedBytes,
      into: undefined,
    });
    last = step;
    steps++;
    if (step.status !== "FOUND") break;
    const body = step.body!;
    let pos = 0;
    let next = step.nextBeginOffset;
    for (let i = 0; i < step.count; i++) {
      const size = (body[pos]! << 24) | (body[pos + 1]! << 16) | (body[pos + 2]! << 8) | body[pos + 3]!;
      if (filter.matchesRecord(body, pos, size)) {
        if (kept.length === want || (kept.length > 0 && keptBytes + size > maxBytes)) {
          // Full: the next pull starts at this record.
          next = readRecordOffsets(body, pos).queueOffset;
          full = true;
          break;
        }
        kept.push(body.subarray(pos, pos + size));
        tagHashes.push(step.tagHashes![i]!);
        keptBytes += size;
      } else {
        refused++;
      }
      pos += size;
    }
    scannedEntries += next - offset;
    scannedBytes += pos;
    offset = next;
    if (kept.length === want) full = true;
  }
  const { minOffset, maxOffset } = last!;
  if (kept.length === 0) {
    // Nothing matched: move past what was scanned (to the end, when the queue ran out).
    if (refused === 0) return last!;
    return { status: "NO_MATCHED_MESSAGE", nextBeginOffset: offset, minOffset, maxOffset, count: 0 };
  }
  // One read kept whole (every record matched): its body is the answer as it is.
  if (steps === 1 && refused === 0 && kept.length === last!.count) return last!;
  const body = new Uint8Array(keptBytes);
  let at = 0;
  for (const record of kept) {
    body.set(record, at);
    at += record.length;
  }
  return { status: "FOUND", nextBeginOffset: offset, minOffset, maxOffset, body, count: kept.length, tagHashes };
}

/** `readQueue` without a record filter: one read, its records checked against their entries. */
function readChecked(source: CheckedQueueSource, request: ReadRequest): GetResult {
  let read = readEntries(source, request);
  let bad = mismatches(source.state, read);
  if (bad.length > 0 && source.repair(bad.map((i) => read.picked[i]!.queueOffset))) {
    read = readEntries(source, request);
    bad = mismatches(source.state, read);
  }
  if (bad.length > 0) {
    source.unreadable(bad.length);
    return leaveOut(read, bad);
  }
  return read.result;
}

interface Picked {
  offset: number;
  size: number;
  tagHash: number;
  queueOffset: number;
}

/** A read and the entries of the records in its body. */
interface EntriesRead {
  result: GetResult;
  picked: Picked[];
}

/**
 * Indexes of the picked records that are not what their entries name: those in the body that do
 * not match, and the one whose bytes could not be read at all (the entry points past the data).
 */
function mismatches(state: QueueState, read: EntriesRead): number[] {
  const { result, picked } = read;
  const unread = result.count < picked.length ? [result.count] : [];
  if (result.count === 0) return unread;
  const body = result.body!;
  const identity: RecordIdentity = { size: 0, physicalOffset: 0, queueId: state.queueId, queueOffset: 0, topic: state.topicBytes };
  const bad: number[] = [];
  let pos = 0;
  for (let i = 0; i < result.count; i++) {
    const p = picked[i]!;
    identity.size = p.size;
    identity.physicalOffset = p.offset;
    identity.queueOffset = p.queueOffset;
    if (!recordMatches(body, pos, identity)) bad.push(i);
    pos += p.size;
  }
  return bad.concat(unread);
}

/** The read without the records at `bad`; the next read goes on after an unreadable one. */
function leaveOut(read: EntriesRead, bad: number[]): GetResult {
  const { result, picked } = read;
  const skip = new Set(bad);
  const { status: _status, body: all, count: _count, tagHashes: _hashes, ...offsets } = result;
  if (skip.has(result.count)) offsets.nextBeginOffset = picked[result.count]!.queueOffset + 1;
  if (bad.filter((i) => i < result.count).length === result.count) return { ...offsets, status: "OFFSET_FOUND_NULL", count: 0 };
  const kept = picked.slice(0, result.count).filter((_, i) => !skip.has(i));
  const body = new Uint8Array(kept.reduce((n, p) => n + p.size, 0));
  let from = 0;
  let to = 0;
  for (let i = 0; i < result.count; i++) {
    const size = picked[i]!.size;
    if (!skip.has(i)) {
      body.set(all!.subarray(from, from + size), to);
      to += size;
    }
    from += size;
  }
  return { ...offsets, status: "FOUND", body, count: kept.length, tagHashes: kept.map((p) => p.tagHash) };
}

/** `readQueue` before the records are checked against their entries. */
function readEntries(source: QueueSource, request: ReadRequest): EntriesRead {
  const { cq, commitLog } = source;
  const { offset, maxMsgNums, filter, maxBytes = DEFAULT_MAX_BYTES, into } = request;
  const minOffset = cq?.minOffset ?? 0;
  const maxOffset = cq?.maxOffset ?? 0;
  const base = { minOffset, maxOffset, count: 0 };
  const none: Picked[] = [];
  if (!cq || maxOffset === 0) return { result: { status: "NO_MESSAGE_IN_QUEUE", nextBeginOffset: 0, ...base }, picked: none };
  if (offset < minOffset) return { result: { status: "OFFSET_TOO_SMALL", nextBeginOffset: minOffset, ...base }, picked: none };
  if (offset === maxOffset) return { result: { status: "OFFSET_OVERFLOW_ONE", nextBeginOffset: offset, ...base }, picked: none };
  if (offset > maxOffset) return { result: { status: "OFFSET_OVERFLOW_BADLY", nextBeginOffset: maxOffset, ...base }, picked: none };
  const want = Math.max(1, Math.floor(maxMsgNums));
  const scan = Math.min(maxOffset - offset, filter ? Math.max(want, MAX_SCAN_ENTRIES) : want);
  const entries = new Uint8Array(scan * CQ_ENTRY_SIZE);
  const read = cq.read(offset, entries);
  const logMin = commitLog.minOffset;
  const logMax = commitLog.maxOffset;
  const segmentSize = commitLog.segmentSize;
  const picked: Picked[] = [];
  let bytes = 0;
  let filtered = 0;
  let next = offset;
  for (let i = 0; i < read && picked.length < want; i++) {
    const e = decodeEntry(entries, i * CQ_ENTRY_SIZE);
    // Skipped entries and records deleted by retention are passed over. An entry never written
    // (all zero) or with an impossible size is damage: picked with nothing to read, so the
    // check of what was read sends it to repair.
    if (e.size !== SKIPPED_ENTRY_SIZE && !(e.size > 0 && e.offset >= 0 && e.offset < logMin)) {
      // An entry pointing before the log's start (a flipped sign bit) or past its end (a flipped
      // high bit can make it beyond 2^53, where `offset + size` is `offset` again) has nothing to
      // read either.
      const size = e.size > 0 && e.offset >= 0 && e.offset + e.size <= logMax && (e.offset % segmentSize) + e.size <= segmentSize ? e.size : 0;
      if (filter && !filter(e.tagHash)) {
        filtered++;
      } else {
        if (picked.length > 0 && bytes + size > maxBytes) break;
        picked.push({ offset: e.offset, size, tagHash: e.tagHash, queueOffset: offset + i });
        bytes += size;
      }
    }
    next = offset + i + 1;
  }
  if (picked.length === 0) {
    return { result: { status: filtered > 0 ? "NO_MATCHED_MESSAGE" : "OFFSET_FOUND_NULL", nextBeginOffset: next, ...base }, picked };
  }
  // Not zeroed: every byte is read into, and what a short read left unwritten is zeroed below.
  const body = into === undefined ? uninitialisedBytes(bytes) : into.lend(bytes);
  let pos = 0;
  let count = 0;
  for (let i = 0; i < picked.length;) {
    // A run of records to read at once: back to back, or a few other records apart (queues
    // written in the same ticks interleave in the log), in which case the span is read whole.
    const start = picked[i]!.offset;
    let end = start + picked[i]!.size;
    // Reads stop at a segment's end, so a run does not cross one.
    const segmentEnd = start - (start % commitLog.segmentSize) + commitLog.segmentSize;
    let contiguous = true;
    let j = i + 1;
    while (j < picked.length) {
      const next = picked[j]!;
      const gap = next.offset - end;
      if (gap < 0 || gap > MAX_GAP_BYTES || next.offset + next.size - start > MAX_SPAN_BYTES || next.offset >= segmentEnd) break;
      if (gap > 0) contiguous = false;
      end = next.offset + next.size;
      j++;
    }
    if (contiguous) {
      const got = commitLog.read(start, body.subarray(pos, pos + end - start));
      let whole = 0;
      while (i < j && whole + picked[i]!.size <= got) whole += picked[i++]!.size;
      pos += whole;
      count = i;
      if (whole < end - start) break;
      continue;
    }
    // Through the log's read window, read a gap's length further: the pulls of the queues whose
    // records lie interleaved with these find their spans in it.
    const span = end - start;
    const window = commitLog.readWindow(start, span, Math.min(MAX_GAP_BYTES, segmentEnd - end));
    const got = Math.min(window.available, span);
    const from = window.pos - start;
    while (i < j) {
      const { offset: at, size } = picked[i]!;
      if (at + size - start > got) break;
      copyBytes(window.bytes, from + at, from + at + size, body, pos);
      pos += size;
      i++;
    }
    count = i;
    if (i < j) break;
  }
  // A read that came back short stops the batch; `readQueue` deals with that record.
  if (count < picked.length) next = picked[count]!.queueOffset;
  if (pos < body.length) body.fill(0, pos);
  if (count === 0) return { result: { status: "OFFSET_FOUND_NULL", nextBeginOffset: next, ...base }, picked };
  const result: GetResult = {
    status: "FOUND",
    nextBeginOffset: next,
    minOffset,
    maxOffset,
    body: pos === body.length ? body : body.subarray(0, pos),
    count,
    tagHashes: picked.slice(0, count).map((p) => p.tagHash),
  };
  return { result, picked };
}

/**
 * Binary-searches a queue for the first message stored at or after `timestampMs`.
 *
 * @param source The queue and the CommitLog.
 * @param timestampMs Time in ms since epoch.
 * @returns That queue offset, or the max offset when every message is older.
 */
export function findOffsetByTime(source: QueueSource & { cq: ConsumeQueue }, timestampMs: number): number {
  const { cq, commitLog } = source;
  const head = new Uint8Array(RECORD_HEAD);
  const logMin = commitLog.minOffset;
  let lo = cq.minOffset;
  let hi = cq.maxOffset;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    const e = cq.entry(mid);
    let older = true;
    if (e && e.size > 0 && e.offset >= logMin && commitLog.read(e.offset, head) === head.length) {
      older = readStoreTimestamp(head, 0) < timestampMs;
    }
    if (older) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
