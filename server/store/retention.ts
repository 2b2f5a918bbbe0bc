/**
 * Retention by time: which messages a queue still serves, when CommitLog segments may go, and the
 * hours of the day deletions run in (RocketMQ's `deleteWhen`). See docs/STORAGE.md, "Retention".
 *
 * @module
 */

import type { CommitLog } from "./commit_log.ts";
import { CQ_ENTRY_SIZE, decodeEntry } from "./consume_queue.ts";
import { RECORD_HEAD } from "./queue_reader.ts";
import type { QueueState } from "./queue_table.ts";
import { readStoreTimestamp } from "../../core/model/record.ts";

/** Most leading holes (entries never written) one expiry pass skips in a queue. */
const MAX_HOLES = 4096;

/**
 * Parses a deletion window: hours of the day (local time, 0 to 23) separated by `;`, as
 * RocketMQ's `deleteWhen` (`"04"`, `"01;02;03"`), or `*` for every hour.
 *
 * @param text The window.
 * @returns The hours, sorted.
 * @throws {RangeError} When the text is not such a list.
 *
 * @example Night hours
 * ```ts
 * import { parseDeleteWhen } from "./retention.ts";
 * parseDeleteWhen("01;02;03"); // [1, 2, 3]
 * ```
 */
export function parseDeleteWhen(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === "*") return Array.from({ length: 24 }, (_, h) => h);
  const parts = trimmed.split(";").map((p) => p.trim());
  if (parts.some((p) => !/^\d{1,2}$/.test(p) || Number(p) > 23)) {
    throw new RangeError(`Invalid deleteWhen "${text}": expected hours 0 to 23 separated by ";" (e.g. "04" or "01;02;03"), or "*"`);
  }
  return [...new Set(parts.map(Number))].sort((a, b) => a - b);
}

/**
 * Stops serving a queue's messages stored before `deadline`: its min offset moves to the first
 * message stored at or after it (past holes, entries never written), or to its max offset when
 * every message is older. Entries are in CommitLog order, so store times rise along the queue.
 *
 * @param state The queue.
 * @param commitLog The log its entries point into.
 * @param deadline Store time (ms) below which messages have expired.
 * @returns Whether the min offset moved.
 */
export function expireQueue(state: QueueState, commitLog: CommitLog, deadline: number): boolean {
  const cq = state.cq;
  if (cq === undefined || cq.minOffset >= cq.maxOffset) return false;
  const before = cq.minOffset;
  const head = new Uint8Array(RECORD_HEAD);
  /** Expired: deleted with its segment, or stored before the deadline. A hole (never written, or skipped) or an unreadable record is not. */
  const expired = (offset: number): boolean => {
    const e = cq.entry(offset);
    if (e === undefined || e.size <= 0) return false;
    if (e.offset < commitLog.minOffset) return true;
    return commitLog.read(e.offset, head) === head.length && readStoreTimestamp(head, 0) < deadline;
  };
  const first = cq.entry(before);
  if (first !== undefined && first.size > 0 && !expired(before)) return false;
  let lo = before;
  let hi = cq.maxOffset;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (expired(mid)) lo = mid + 1;
    else hi = mid;
  }
  cq.advanceMin(lo);
  skipHoles(state);
  return cq.minOffset !== before;
}

/** Moves a queue's min offset past entries never written or skipped (they are never served). */
function skipHoles(state: QueueState): void {
  const cq = state.cq!;
  if (cq.minOffset >= cq.maxOffset || !(cq.entry(cq.minOffset)!.size <= 0)) return;
  const chunk = new Uint8Array(Math.min(MAX_HOLES, cq.maxOffset - cq.minOffset) * CQ_ENTRY_SIZE);
  const read = cq.read(cq.minOffset, chunk);
  let holes = 0;
  while (holes < read && decodeEntry(chunk, holes * CQ_ENTRY_SIZE).size <= 0) holes++;
  cq.advanceMin(cq.minOffset + holes);
}

/**
 * The lowest CommitLog offset any queue still serves: segments wholly below it hold only
 * expired messages (or messages of deleted topics) and may be deleted.
 *
 * @param states Every queue.
 * @param end What to answer when no queue serves anything (the visible end of the log).
 * @returns That offset.
 */
export function lowestServedOffset(states: Iterable<QueueState>, end: number): number {
  let lowest = end;
  for (const state of states) {
    const cq = state.cq;
    if (state.deleted || cq === undefined || cq.minOffset >= cq.maxOffset) continue;
    const entry = cq.entry(cq.minOffset);
    if (entry !== undefined && entry.size > 0 && entry.offset < lowest) lowest = entry.offset;
  }
  return lowest;
}

/**
 * Whether a moment falls in a deletion window.
 *
 * @param hours From `parseDeleteWhen`.
 * @param now The moment, ms since the epoch.
 * @returns True when its local hour is one of `hours`.
 */
export function inDeleteWindow(hours: readonly number[], now: number): boolean {
  return hours.includes(new Date(now).getHours());
}
