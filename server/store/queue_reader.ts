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

/**
 * Reads matching records of a queue, with RocketMQ's statuses for offsets out of range.
 * Contiguous records are read from the CommitLog in one read.
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
    let j = i + 1;
    let length = picked[i]!.size;
    while (j < picked.length && picked[j]!.offset === picked[j - 1]!.offset + picked[j - 1]!.size) {
      length += picked[j]!.size;
      j++;
    }
    const got = commitLog.read(picked[i]!.offset, body.subarray(pos, pos + length));
    let whole = 0;
    while (i < j && whole + picked[i]!.size <= got) whole += picked[i++]!.size;
    pos += whole;
    count = i;
    if (whole < length) break;
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
