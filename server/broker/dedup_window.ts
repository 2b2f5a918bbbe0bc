/**
 * Idempotent sends (JetStream's dedup window): a send with a `DEDUP_ID` is stored once per
 * (topic, dedup id) within `windowMs`; a repeat is answered with the first send's result. Repeats
 * that arrive while the first is still being stored wait for it. The window is bounded by
 * `maxEntries` (the oldest go first) and rebuilt at start from the CommitLog records stored within
 * the window, so it survives a restart and a crash.
 *
 * @module
 */
import { MessageConst } from "../../core/model/message.ts";
import { decodeRecord, readStoreTimestamp } from "../../core/model/record.ts";
import { DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX, SCHEDULE_TOPIC, TIMER_TOPIC } from "../../core/model/system_topics.ts";
import { readLogRecord, scanLog } from "../store/_log_scan.ts";
import type { MessageStore } from "../store/message_store.ts";
import type { Log } from "../logger.ts";

/** What a repeat is answered with. */
export interface DedupResult {
  /** The queue the message was (or will be) delivered to. */
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  /** A timer message's due time, to issue its recall handle again. */
  dueMs?: number;
}

/** Options of `DedupWindow`. */
export interface DedupWindowOptions {
  /** How long a dedup id is remembered; 0 turns dedup off. @default 120000 */
  windowMs?: number;
  /** Most ids remembered; past it the oldest are forgotten early. @default 100000 */
  maxEntries?: number;
  /** Clock (ms since epoch). @default Date.now */
  now?: () => number;
}

interface Entry {
  at: number;
  result: DedupResult | undefined;
  waiters: ((result: DedupResult | undefined) => void)[] | undefined;
}

/** The dedup ids of the last `windowMs`. */
export class DedupWindow {
  /** How long an id is remembered (0: dedup is off). */
  readonly windowMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** Insertion order is arrival order, so the oldest are first. */
  readonly #entries = new Map<string, Entry>();
  /** Repeats answered from the window. */
  duplicates = 0;
  /** Ids forgotten before their window ended because the window was full. */
  evicted = 0;

  /** @param options Window length, size bound and clock. */
  constructor(options: DedupWindowOptions = {}) {
    this.windowMs = options.windowMs ?? 120_000;
    this.#maxEntries = options.maxEntries ?? 100_000;
    this.#now = options.now ?? Date.now;
  }

  /** Ids remembered now. */
  get size(): number {
    return this.#entries.size;
  }

  #expire(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (entry.at > now - this.windowMs) break;
      if (entry.waiters !== undefined) break;
      this.#entries.delete(key);
    }
  }

  /**
   * Looks an id up.
   *
   * @param topic The topic sent to.
   * @param id The dedup id.
   * @returns The first send's result, a promise of it while that send is being stored (undefined
   *   if it failed), or undefined when the id is new.
   */
  lookup(topic: string, id: string): DedupResult | Promise<DedupResult | undefined> | undefined {
    const now = this.#now();
    this.#expire(now);
    const entry = this.#entries.get(`${topic}\u0000${id}`);
    if (entry === undefined || entry.at <= now - this.windowMs) return undefined;
    if (entry.result !== undefined) return entry.result;
    return new Promise((resolve) => (entry.waiters ??= []).push(resolve));
  }

  /**
   * Claims a new id for a send about to be stored.
   *
   * @param topic The topic sent to.
   * @param id The dedup id.
   * @returns Call with the stored result, or undefined when the send failed (the id is freed).
   */
  begin(topic: string, id: string): (result: DedupResult | undefined) => void {
    const key = `${topic}\u0000${id}`;
    const entry: Entry = { at: this.#now(), result: undefined, waiters: [] };
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    this.#bound();
    return (result) => {
      const waiters = entry.waiters ?? [];
      entry.waiters = undefined;
      if (result === undefined) {
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
      } else entry.result = result;
      for (const resolve of waiters) resolve(result);
    };
  }

  #bound(): void {
    while (this.#entries.size > this.#maxEntries) {
      const [key] = this.#entries.keys();
      this.#entries.delete(key!);
      this.evicted++;
    }
  }

  /**
   * Refills the window from the CommitLog records stored in the last `windowMs` (at start).
   *
   * @param store The store.
   * @param log Told when damaged CommitLog bytes end the scan early.
   * @returns How many ids were restored.
   */
  rebuild(store: MessageStore, log?: Log): number {
    if (this.windowMs === 0) return 0;
    const since = this.#now() - this.windowMs;
    let restored = 0;
    scanLog(store, windowStart(store, since), (bytes, pos) => {
      if (readStoreTimestamp(bytes, pos) < since) return;
      let message;
      try {
        message = decodeRecord(bytes, pos);
      } catch {
        return;
      }
      const id = message.properties[MessageConst.DEDUP_ID];
      // Copies a timer or retry wrote are not sends; the first record of an id wins.
      if (id === undefined || MessageConst.TIMER_ID in message.properties) return;
      if (message.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX) || message.topic.startsWith(DLQ_GROUP_TOPIC_PREFIX)) return;
      const waiting = message.topic === TIMER_TOPIC || message.topic === SCHEDULE_TOPIC;
      if (message.topic === TIMER_TOPIC && MessageConst.TIMER_DEL_UNIQKEY in message.properties) return;
      const topic = waiting ? message.properties[MessageConst.REAL_TOPIC] : message.topic;
      if (topic === undefined) return;
      const key = `${topic}\u0000${id}`;
      if (this.#entries.has(key)) return;
      const result: DedupResult = {
        queueId: waiting ? Number(message.properties[MessageConst.REAL_QID] ?? 0) : message.queueId,
        queueOffset: message.queueOffset,
        commitLogOffset: message.commitLogOffset,
      };
      if (message.topic === TIMER_TOPIC) result.dueMs = Number(message.properties[MessageConst.TIMER_OUT_MS]);
      this.#entries.set(key, { at: message.storeTimestamp, result, waiters: undefined });
      restored++;
    }, log);
    this.#bound();
    return restored;
  }
}

/** The start of the CommitLog segment holding the first record stored at or after `since`. */
function windowStart(store: MessageStore, since: number): number {
  const { commitLogMinOffset, commitLogMaxOffset } = store.stats;
  const segment = store.commitLogSegmentSize;
  let start = commitLogMinOffset;
  // Every segment starts with a record; keep the last whose first record is older than `since`.
  for (let offset = commitLogMinOffset; offset < commitLogMaxOffset; offset += segment) {
    const first = readLogRecord(store, offset);
    if (first === undefined) continue;
    if (readStoreTimestamp(first, 0) >= since) break;
    start = offset;
  }
  return start;
}
