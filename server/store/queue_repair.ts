/**
 * ConsumeQueue entries checked against the CommitLog, and mended from it. Recovery checks a few
 * entries per queue at start; the read path checks every record it serves (`recordMatches`), and
 * when one does not match its entry, `repairEntries` looks for the right record between the
 * nearest entries that do match and rewrites the entry, or marks it skipped when the record is
 * gone. So a damaged entry costs one search, and a consumer never gets a record that is not the
 * one its queue offset names.
 *
 * @module
 */

import { readRecordIndexFields, recordMatches } from "../../core/model/record.ts";
import { tagHash } from "../../core/model/tag_hash.ts";
import type { CommitLog } from "./commit_log.ts";
import { type ConsumeQueue, type ConsumeQueueEntry, SKIPPED_ENTRY_SIZE } from "./consume_queue.ts";
import type { QueueState } from "./queue_table.ts";

/** Entries looked at on each side of a damaged run for one that still matches its record. */
const BOUND_SEARCH = 64;
/** Most CommitLog bytes searched for the records of one damaged run. */
const MAX_SEARCH_BYTES = 64 * 1024 * 1024;

/**
 * Whether the CommitLog holds, where `entry` points, the record of queue offset `queueOffset` of
 * the queue (its size, offsets, queue id and topic).
 *
 * @param log The CommitLog.
 * @param state The queue.
 * @param queueOffset The entry's queue offset.
 * @param entry The entry.
 * @returns True when the entry and its record agree.
 */
export function entryMatches(log: CommitLog, state: QueueState, queueOffset: number, entry: ConsumeQueueEntry): boolean {
  if (entry.size <= 0 || entry.size > log.segmentSize) return false;
  const bytes = new Uint8Array(entry.size);
  if (log.read(entry.offset, bytes) !== entry.size) return false;
  return recordMatches(bytes, 0, {
    size: entry.size,
    physicalOffset: entry.offset,
    queueId: state.queueId,
    queueOffset,
    topic: state.topicBytes,
  });
}

/** What `repairEntries` did. */
export interface RepairOutcome {
  /** Entries rewritten to point at their records. */
  repaired: number;
  /** Entries marked skipped: their records are not in the CommitLog where they must be. */
  skipped: number;
  /** Entries left as they were: no matching entry near enough to bound a search. */
  unresolved: number;
  /** What was done, for a log line. */
  description: string;
}

/**
 * Mends the entries `[from, to)` of a queue that do not match their records: searches the
 * CommitLog between the end of the nearest earlier entry that matches and the nearest later one
 * for the queue's records with those queue offsets.
 *
 * @param log The CommitLog.
 * @param state The queue (its `cq` set).
 * @param range The queue offsets, `from` inclusive, `to` exclusive.
 * @param visibleEnd Records at or past it are not visible yet.
 * @returns What was done.
 */
export function repairEntries(
  log: CommitLog,
  state: QueueState,
  range: { from: number; to: number },
  visibleEnd: number,
): RepairOutcome {
  const cq = state.cq as ConsumeQueue;
  const { from, to } = range;
  const name = `queue ${state.queueId} of "${state.topic}"`;
  let lo: number | undefined;
  for (let qo = from - 1; qo >= Math.max(cq.minOffset, from - BOUND_SEARCH); qo--) {
    const entry = cq.entry(qo)!;
    if (entryMatches(log, state, qo, entry)) {
      lo = entry.offset + entry.size;
      break;
    }
  }
  if (lo === undefined && from - BOUND_SEARCH <= cq.minOffset) lo = log.minOffset;
  let hi: number | undefined;
  for (let qo = to; qo < Math.min(cq.maxOffset, to + BOUND_SEARCH); qo++) {
    const entry = cq.entry(qo)!;
    if (entryMatches(log, state, qo, entry)) {
      hi = entry.offset;
      break;
    }
  }
  if (hi === undefined && to + BOUND_SEARCH >= cq.maxOffset) hi = visibleEnd;
  if (lo === undefined || hi === undefined || hi < lo || hi - lo > MAX_SEARCH_BYTES) {
    return {
      repaired: 0,
      skipped: 0,
      unresolved: to - from,
      description: `ConsumeQueue entries ${from} to ${to - 1} of ${name} do not match their records, and no matching entries near them bound a search for the right ones; their records are passed over`,
    };
  }
  const found = new Map<number, ConsumeQueueEntry>();
  log.forEachRecord(lo, hi, (bytes, pos, offset) => {
    const fields = readRecordIndexFields(bytes, pos);
    if (fields.queueId === state.queueId && fields.queueOffset >= from && fields.queueOffset < to && fields.topic === state.topic) {
      found.set(fields.queueOffset, { offset, size: fields.size, tagHash: tagHash(fields.tags) });
    }
    return true;
  });
  let repaired = 0;
  let skipped = 0;
  let previous = lo;
  for (let qo = from; qo < to; qo++) {
    const entry = found.get(qo);
    if (entry) {
      cq.overwrite(qo, entry);
      previous = entry.offset;
      repaired++;
    } else {
      cq.overwrite(qo, { offset: previous, size: SKIPPED_ENTRY_SIZE, tagHash: 0 });
      skipped++;
    }
  }
  return {
    repaired,
    skipped,
    unresolved: 0,
    description: `ConsumeQueue entries ${from} to ${to - 1} of ${name} did not match their records: ${repaired} rewritten from the CommitLog (searched offsets ${lo} to ${hi}), ${skipped} whose records are gone marked skipped`,
  };
}
