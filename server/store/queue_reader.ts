/**
 * Reads of one topic queue: a pull (`readQueue`) and a time lookup (`findOffsetByTime`).
 *
 * @module
 */

import { readStoreTimestamp } from "../../core/model/record.ts";
import type { CommitLog } from "./commit_log.ts";
import { type ConsumeQueue, CQ_ENTRY_SIZE, decodeEntry } from "./consume_queue.ts";
import type { GetResult } from "./store_types.ts";

/** Most ConsumeQueue entries one filtered pull scans. */
const MAX_SCAN_ENTRIES = 2000;
/** Default byte budget of one pull. */
export const DEFAULT_MAX_BYTES = 256 * 1024;
/** Bytes of a record head that hold its store timestamp (IPv6 born host included). */
export const RECORD_HEAD = 80;

/** A queue and the log its entries point into. */
export interface QueueSource {
  cq: ConsumeQueue | undefined;
  commitLog: CommitLog;
}

/** What a pull asks for. */
export interface ReadRequest {
  /** First queue offset to read. */
  offset: number;
  /** Most messages to return. */
  maxMsgNums: number;
  /** Keeps a message when it returns true for its tag hash. */
  filter?: ((tagHash: number) => boolean) | undefined;
  /** Byte budget (at least one message is returned). @default 262144 */
  maxBytes?: number | undefined;
}

/** Largest distance between two records of a run read at once. */
const MAX_GAP_BYTES = 16 * 1024;
/** Largest span read at once. */
const MAX_SPAN_BYTES = 1024 * 1024;
let spanBytes = new Uint8Array(64 * 1024);

/** A view of `length` bytes of the shared span buffer (reads are synchronous, so one is enough). */
function spanBuffer(length: number): Uint8Array {
  if (spanBytes.length < length) spanBytes = new Uint8Array(Math.min(MAX_SPAN_BYTES, Math.max(length, spanBytes.length * 2)));
  return spanBytes.subarray(0, length);
}

/**
 * Reads matching records of a queue, with RocketMQ's statuses for offsets out of range.
 * Records back to back, or a few other records apart, are read from the CommitLog in one read.
 *
 * @param source The queue (undefined when it does not exist) and the CommitLog.
 * @param request Offset, count, filter and byte budget.
 * @returns The status, next offset and the records as stored.
 */
export function readQueue(source: QueueSource, request: ReadRequest): GetResult {
  const { cq, commitLog } = source;
  const { offset, maxMsgNums, filter, maxBytes = DEFAULT_MAX_BYTES } = request;
  const minOffset = cq?.minOffset ?? 0;
  const maxOffset = cq?.maxOffset ?? 0;
  const base = { minOffset, maxOffset, count: 0 };
  if (!cq || maxOffset === 0) return { status: "NO_MESSAGE_IN_QUEUE", nextBeginOffset: 0, ...base };
  if (offset < minOffset) return { status: "OFFSET_TOO_SMALL", nextBeginOffset: minOffset, ...base };
  if (offset === maxOffset) return { status: "OFFSET_OVERFLOW_ONE", nextBeginOffset: offset, ...base };
  if (offset > maxOffset) return { status: "OFFSET_OVERFLOW_BADLY", nextBeginOffset: maxOffset, ...base };
  const want = Math.max(1, Math.floor(maxMsgNums));
  const scan = Math.min(maxOffset - offset, filter ? Math.max(want, MAX_SCAN_ENTRIES) : want);
  const entries = new Uint8Array(scan * CQ_ENTRY_SIZE);
  const read = cq.read(offset, entries);
  const logMin = commitLog.minOffset;
  const picked: { offset: number; size: number; tagHash: number; queueOffset: number }[] = [];
  let bytes = 0;
  let filtered = 0;
  let next = offset;
  for (let i = 0; i < read && picked.length < want; i++) {
    const e = decodeEntry(entries, i * CQ_ENTRY_SIZE);
    if (e.size > 0 && e.offset >= logMin) {
      if (filter && !filter(e.tagHash)) {
        filtered++;
      } else {
        if (picked.length > 0 && bytes + e.size > maxBytes) break;
        picked.push({ ...e, queueOffset: offset + i });
        bytes += e.size;
      }
    }
    next = offset + i + 1;
  }
  if (picked.length === 0) {
    return { status: filtered > 0 ? "NO_MATCHED_MESSAGE" : "OFFSET_FOUND_NULL", nextBeginOffset: next, ...base };
  }
  const body = new Uint8Array(bytes);
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
    const span = spanBuffer(end - start);
    const got = commitLog.read(start, span);
    while (i < j) {
      const { offset: at, size } = picked[i]!;
      if (at + size - start > got) break;
      body.set(span.subarray(at - start, at - start + size), pos);
      pos += size;
      i++;
    }
    count = i;
    if (i < j) break;
  }
  if (count === 0) return { status: "OFFSET_FOUND_NULL", nextBeginOffset: picked[0]!.queueOffset + 1, ...base };
  if (count < picked.length) next = picked[count]!.queueOffset;
  return {
    status: "FOUND",
    nextBeginOffset: next,
    minOffset,
    maxOffset,
    body: pos === body.length ? body : body.subarray(0, pos),
    count,
    tagHashes: picked.slice(0, count).map((p) => p.tagHash),
  };
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
