/**
 * Timer messages: delivery at any time, kept on disk. A timer message is first stored in the
 * CommitLog under `rmq_sys_wheel_timer` (so it is durable and replicated like any record); this
 * service reads that topic's queue and links each record into a timer log entry of its wheel
 * second, then, second by second, loads the due chains, waits for each timer's exact time and
 * stores the message again under its real topic. Timers due beyond the wheel are carried forward
 * (stored again in the timer topic when the wheel reaches its last second), so a month-long timer
 * is not limited by the wheel and never pins old CommitLog segments for long. A recall is a record
 * in the timer topic too; it lands in the same second as its timer and stops it.
 *
 * Crash safety: the checkpoint names the queue offset and timer log position fully reflected in
 * the wheel file, and the first wheel second not fully delivered. On open the timer log's valid
 * tail is replayed into the wheel, enqueueing resumes after its last entry, and the CommitLog from
 * where the first undelivered second was loaded is scanned for copies this store already wrote
 * (they carry `TIMER_ID`), so a timer delivered just before a crash is not delivered again.
 * See docs/STORAGE.md ("Timer store").
 *
 * @module
 */

import { setImmediate } from "node:timers";
import * as v from "valibot";
import { MessageConst, type MessageExt } from "../../../core/model/message.ts";
import { decodeRecord, decodeRecords, readRecordOffsets } from "../../../core/model/record.ts";
import { TIMER_TOPIC } from "../../../core/model/system_topics.ts";
import { JsonFile } from "../json_file.ts";
import { readLogRecord, scanLog } from "../_log_scan.ts";
import type { MessageStore } from "../message_store.ts";
import { joinPath, type SegmentStorage } from "../segment_storage.ts";
import { FileSegmentStorage } from "../file_segment_storage.ts";
import { restoredInput } from "../store_input.ts";
import { FireQueue, type LoadedTimer } from "./_fire_queue.ts";
import { TIMER_ENTRY_SIZE, type TimerEntry, TimerKind, TimerLog } from "./timer_log.ts";
import { TimerWheel } from "./timer_wheel.ts";
import type { Log } from "../../logger.ts";
import { PAUSED_RECHECK_MS, type PausedWhile } from "../background_pause.ts";

const nonNeg = v.pipe(v.number(), v.safeInteger(), v.minValue(-1));

/** Schema of the timer checkpoint (`timer/checkpoint`). */
export const TimerCheckpoint = v.object({
  version: v.literal(1),
  /** Next timer topic queue offset to enqueue (entries before it are in the log up to `logEnd`). */
  enqueueOffset: nonNeg,
  /** Timer log position whose entries are all reflected in the wheel file. */
  logEnd: nonNeg,
  /** First wheel second not fully delivered. */
  readSecond: nonNeg,
  /** CommitLog offset from which copies of timers of `readSecond` on may lie. */
  scanFrom: nonNeg,
  /** Counters of the seconds before `readSecond` (later seconds are counted again when redone). */
  pending: v.number(),
  delivered: nonNeg,
  recalled: nonNeg,
  rolled: nonNeg,
  /** Per timer log segment: the last wheel second its entries use and the lowest CommitLog offset they need. */
  segments: v.record(v.string(), v.tuple([nonNeg, nonNeg])),
});
/** The timer checkpoint. */
export type TimerCheckpoint = v.InferOutput<typeof TimerCheckpoint>;

/** Options of `TimerMessageStore.open`. */
export interface TimerMessageStoreOptions {
  /** The message store timers wait in and are delivered to. */
  store: MessageStore;
  /** Where the timer files live (`<store>/timer`). */
  dir: string;
  /** Disk port. @default new FileSegmentStorage() */
  storage?: SegmentStorage;
  /** Seconds the wheel spans; later timers are carried forward. Fixed for an existing store. @default 86400 (one day) */
  wheelSlots?: number;
  /** Entries per timer log file (56 bytes each). @default 1048576 */
  logEntriesPerSegment?: number;
  /** Period of the checkpoint (timer log and wheel fsync). @default 1000 */
  flushIntervalMs?: number;
  /** How long before its second a slot's timers are loaded into memory. @default 250 */
  lookaheadMs?: number;
  /** Most timers held in memory at once; past it loading waits for firing. @default 200000 */
  maxLoaded?: number;
  /** Wait before trying a delivery again after the store refused it. @default 1000 */
  retryIntervalMs?: number;
  /** Gets each delivered timer's lateness (delivery stored minus due time, ms). */
  observeLateness?: (ms: number) => void;
  /** Where log lines go. @default no logging */
  log?: Log;
  /** Clock (ms since epoch); must match the store's. @default Date.now */
  now?: () => number;
  /** Deliveries wait while this holds (a fenced master): nothing is fired, due timers stay due. @default never */
  paused?: PausedWhile;
}

/** Counters of the timer store, for admin views and metrics. */
export interface TimerStats {
  /** Timers stored and not yet delivered or recalled. */
  pending: number;
  /** Timers delivered since the store was created. */
  delivered: number;
  /** Timers recalled since the store was created. */
  recalled: number;
  /** Times a far timer was carried forward. */
  rolled: number;
  /** Timers loaded in memory, waiting for their time. */
  loaded: number;
  /** First wheel second not fully delivered (ms since epoch: × 1000). */
  readSecond: number;
  /** Timer topic queue offset enqueueing has reached, and the queue's end. */
  enqueueOffset: number;
  enqueueMax: number;
  /** Timer log entries kept on disk. */
  logEntries: number;
  /** The last delivery or checkpoint error, if any. */
  lastError?: string;
}

/** Why a recall was refused. */
export type RecallRefusal = { code: "NOT_PENDING" | "UNAVAILABLE"; message: string };

interface Counters {
  pending: number;
  delivered: number;
  recalled: number;
  rolled: number;
}

interface SegmentInfo {
  maxSlot: number;
  minLogOffset: number;
}

const ENQUEUE_BATCH = 512;
const FIRE_BATCH = 500;
/** Records of due timers at most this far apart are read together… */
const RUN_GAP = 64 * 1024;
/** …in reads of at most this many bytes. */
const RUN_BYTES = 1024 * 1024;
/** Chain entries loaded between yields to other work. */
const LOAD_STEP = 8192;
const MAX_READ_BYTES = 8 * 1024 * 1024;
/** How long an idle timer store may leave its checkpoint's read second behind. */
const IDLE_SAVE_MS = 60_000;

/** The timer service of one master broker. Open it with `TimerMessageStore.open`. */
export class TimerMessageStore {
  readonly #store: MessageStore;
  readonly #log: TimerLog;
  readonly #wheel: TimerWheel;
  readonly #checkpoint: JsonFile<TimerCheckpoint>;
  readonly #flushIntervalMs: number;
  readonly #lookaheadMs: number;
  readonly #maxLoaded: number;
  readonly #retryIntervalMs: number;
  readonly #observeLateness: (ms: number) => void;
  readonly #say: Log;
  readonly #now: () => number;
  #enqueueOffset: number;
  #readSecond: number;
  #loadedSecond: number;
  /** Loaded seconds: timers of each not yet finished. */
  readonly #outstanding = new Map<number, number>();
  /** Loaded seconds: the CommitLog end when each was loaded (its copies lie after it). */
  readonly #loadOffset = new Map<number, number>();
  readonly #queue = new FireQueue();
  /** Recalled timer ids and the second after which the note can go. */
  readonly #recalls = new Map<number, number>();
  /** Timers of loaded seconds already acted on (to refuse a late recall), by id, with their second. */
  readonly #done = new Map<number, number>();
  /** Copies found in the CommitLog tail at open: `d:<id>:<rolls>` or `r:<id>:<rolls>` → offset. */
  readonly #copies = new Map<string, number>();
  /** The last wheel second pending at open; past it `#copies` can go. */
  #copiesUntil = 0;
  readonly #segments = new Map<number, SegmentInfo>();
  /** Counters of the seconds before `#readSecond`, and of enqueued timers. */
  readonly #base: Counters;
  /** What each loaded second changed, folded into `#base` once the second is done. */
  readonly #bySecond = new Map<number, Counters>();
  readonly #paused: PausedWhile;
  #lastError: string | undefined;
  #started = false;
  #closed = false;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;
  #pumpAt = Infinity;
  #pumping: Promise<void> | undefined;
  #enqueueScheduled = false;
  #flushTimer: ReturnType<typeof setInterval> | undefined;
  /** The last checkpoint saved, its read second and scan start left out, and when. */
  #savedKey: string | undefined;
  #savedAt = 0;
  #saving: Promise<void> = Promise.resolve();
  readonly #inFlight = new Set<Promise<unknown>>();

  private constructor(parts: { store: MessageStore; log: TimerLog; wheel: TimerWheel; checkpoint: JsonFile<TimerCheckpoint> }, options: TimerMessageStoreOptions, state: TimerCheckpoint) {
    this.#store = parts.store;
    this.#log = parts.log;
    this.#wheel = parts.wheel;
    this.#checkpoint = parts.checkpoint;
    this.#flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.#lookaheadMs = options.lookaheadMs ?? 250;
    this.#maxLoaded = options.maxLoaded ?? 200_000;
    this.#retryIntervalMs = options.retryIntervalMs ?? 1000;
    this.#observeLateness = options.observeLateness ?? (() => {});
    this.#say = options.log ?? (() => {});
    this.#now = options.now ?? Date.now;
    this.#paused = options.paused ?? (() => false);
    this.#enqueueOffset = state.enqueueOffset;
    this.#readSecond = state.readSecond;
    this.#loadedSecond = state.readSecond;
    this.#base = { pending: state.pending, delivered: state.delivered, recalled: state.recalled, rolled: state.rolled };
    for (const [start, [maxSlot, minLogOffset]] of Object.entries(state.segments)) this.#segments.set(Number(start), { maxSlot, minLogOffset });
  }

  /**
   * Opens the timer files under `options.dir`, replays the timer log's tail into the wheel and
   * scans the CommitLog for copies written after the checkpoint. Without a checkpoint (a new
   * store, or a slave's data promoted) everything is rebuilt from the timer topic.
   *
   * @param options Store, directory and tuning.
   * @returns The store, not yet started.
   * @throws {RangeError} When the wheel file has another number of slots.
   */
  static async open(options: TimerMessageStoreOptions): Promise<TimerMessageStore> {
    return await TimerMessageStore.#open(options, false);
  }

  static async #open(options: TimerMessageStoreOptions, rebuild: boolean): Promise<TimerMessageStore> {
    const storage = options.storage ?? new FileSegmentStorage();
    const now = (options.now ?? Date.now)();
    storage.mkdir(options.dir);
    const checkpoint = new JsonFile<TimerCheckpoint>(joinPath(options.dir, "checkpoint"), {
      storage,
      validate: (value) => {
        const parsed = v.safeParse(TimerCheckpoint, value);
        if (!parsed.success) throw new TypeError(v.summarize(parsed.issues));
        return parsed.output;
      },
    });
    let loaded: ReturnType<typeof checkpoint.load>;
    try {
      loaded = checkpoint.load();
    } catch (error) {
      options.log?.(`Warning: timer checkpoint unusable, rebuilding the timer index from the timer topic: ${(error as Error).message}`, "warn");
      loaded = undefined;
    }
    if (loaded?.source === "backup") options.log?.(`Warning: timer checkpoint restored from its backup: ${loaded.mainError?.message}`, "warn");
    if (rebuild) {
      storage.remove(joinPath(options.dir, "checkpoint"));
      storage.remove(joinPath(options.dir, "checkpoint.bak"));
      loaded = undefined;
    }
    if (loaded === undefined) {
      // Without a checkpoint nothing on disk can be trusted: rebuild from the timer topic.
      storage.remove(joinPath(options.dir, "timerlog"));
      storage.remove(joinPath(options.dir, "wheel"));
    }
    const log = new TimerLog(joinPath(options.dir, "timerlog"), {
      storage,
      entriesPerSegment: options.logEntriesPerSegment ?? 1_048_576,
    });
    const wheelPath = joinPath(options.dir, "wheel");
    let wheel: TimerWheel;
    let rebuildWheel = false;
    try {
      wheel = new TimerWheel(wheelPath, { storage, slots: options.wheelSlots ?? 86_400 });
      if (wheel.damaged > 0) {
        // Every slot is rebuilt from the timer log: its entries name their second and chain.
        options.log?.(`Warning: ${wheel.damaged} timer wheel slot(s) failed their check; rebuilding the wheel from the timer log`, "warn");
        wheel.close();
        storage.remove(wheelPath);
        wheel = new TimerWheel(wheelPath, { storage, slots: options.wheelSlots ?? 86_400 });
        rebuildWheel = true;
      }
    } catch (error) {
      log.close();
      throw error;
    }
    const minQueueOffset = options.store.getMinOffset(TIMER_TOPIC, 0);
    let state: TimerCheckpoint;
    if (loaded === undefined) {
      // Rebuild: every record of the timer topic is placed anew; copies written since its first
      // record (by this broker, or by the master a slave's data came from) are skipped.
      const first = options.store.getMessage(TIMER_TOPIC, 0, minQueueOffset, 1);
      // The first record's offset starts the copy scan (its own header suffices when it is damaged).
      const firstOffset = first.count > 0 ? readRecordOffsets(first.body!, 0).physicalOffset : options.store.stats.visibleOffset;
      state = {
        version: 1,
        enqueueOffset: minQueueOffset,
        logEnd: log.end,
        readSecond: Math.floor(now / 1000),
        scanFrom: firstOffset,
        pending: 0,
        delivered: 0,
        recalled: 0,
        rolled: 0,
        segments: {},
      };
    } else {
      state = { ...loaded.value };
    }
    const timers = new TimerMessageStore({ store: options.store, log, wheel, checkpoint }, options, state);
    timers.#replay(rebuildWheel ? log.start : state.logEnd, state.logEnd);
    if (log.end < state.logEnd) {
      // Entries the checkpoint counts on are damaged: nothing derived can be trusted.
      options.log?.(`Warning: the timer log is damaged before its checkpoint (valid up to ${log.end} of ${state.logEnd}); rebuilding the timer index from the timer topic`, "warn");
      log.close();
      wheel.close();
      return await TimerMessageStore.#open(options, true);
    }
    if (timers.#enqueueOffset < minQueueOffset) {
      options.log?.(`Warning: timer queue offset ${timers.#enqueueOffset} was deleted by retention, continuing at ${minQueueOffset}`, "warn");
      timers.#enqueueOffset = minQueueOffset;
    }
    timers.#scanCopies(state.scanFrom);
    await timers.#saveCheckpoint();
    return timers;
  }

  /** Replays timer log entries from `from` into the wheel, counting those from `countFrom` on (the checkpoint counted the rest). */
  #replay(from: number, countFrom: number): void {
    this.#log.recover(from, (entry, position) => {
      const second = this.#wheel.secondOf(entry.slot);
      // A newer wheel file already holds this entry, or the slot moved on to a later round.
      const reflected = second === entry.slot && this.#wheel.head(entry.slot) >= position;
      if (entry.kind !== TimerKind.SKIP && !reflected && second <= entry.slot) this.#wheel.setHead(entry.slot, position);
      if (position < countFrom) return;
      this.#noteSegment(position, entry);
      this.#enqueueOffset = Math.max(this.#enqueueOffset, entry.queueOffset + 1);
      if (entry.kind === TimerKind.DELIVER || entry.kind === TimerKind.ROLL) {
        if (entry.logOffset === entry.timerId) this.#base.pending++;
      }
    });
  }

  /** Notes the copies (deliveries and carried-forward timers) written from `from` on. */
  #scanCopies(from: number): void {
    this.#copiesUntil = this.#readSecond + this.#wheel.slots;
    scanLog(this.#store, from, (bytes, pos, offset) => {
      let message: MessageExt;
      try {
        message = decodeRecord(bytes, pos);
      } catch {
        return;
      }
      const id = message.properties[MessageConst.TIMER_ID];
      if (id === undefined) return;
      const rolls = message.properties[MessageConst.TIMER_ROLL_TIMES] ?? "0";
      const key = `${message.topic === TIMER_TOPIC ? "r" : "d"}:${id}:${rolls}`;
      if (!this.#copies.has(key)) this.#copies.set(key, offset);
    }, this.#say);
  }

  /** Starts enqueueing and delivering (a master only). */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#flushTimer = setInterval(() => {
      this.#saveCheckpoint().catch((error) => {
        this.#lastError = `Cannot save the timer checkpoint: ${(error as Error).message}`;
        this.#say(this.#lastError, "error");
      });
    }, this.#flushIntervalMs);
    (this.#flushTimer as { unref?: () => void }).unref?.();
    this.wake();
    this.#schedulePump(0);
  }

  /** New records arrived in the timer topic: enqueue them soon. */
  wake(): void {
    if (!this.#started || this.#closed || this.#enqueueScheduled) return;
    this.#enqueueScheduled = true;
    setTimeout(() => {
      this.#enqueueScheduled = false;
      this.#enqueue();
    }, 0);
  }

  /** Counters, for admin views and metrics. */
  get stats(): TimerStats {
    const counters = { ...this.#base };
    for (const changed of this.#bySecond.values()) {
      counters.pending += changed.pending;
      counters.delivered += changed.delivered;
      counters.recalled += changed.recalled;
      counters.rolled += changed.rolled;
    }
    const stats: TimerStats = {
      ...counters,
      loaded: this.#queue.size,
      readSecond: this.#readSecond,
      enqueueOffset: this.#enqueueOffset,
      enqueueMax: this.#store.getMaxOffset(TIMER_TOPIC, 0),
      logEntries: (this.#log.end - this.#log.start) / TIMER_ENTRY_SIZE,
    };
    if (this.#lastError !== undefined) stats.lastError = this.#lastError;
    return stats;
  }

  /**
   * The lowest CommitLog offset a pending timer still needs: retention must not delete the
   * segment holding it (`MessageStore.retentionFloor`).
   *
   * @returns That offset (the log's end when no timer is pending).
   */
  minOffsetNeeded(): number {
    let min = Infinity;
    for (const info of this.#segments.values()) if (info.minLogOffset < min) min = info.minLogOffset;
    // Records not yet enqueued are needed too.
    if (this.#enqueueOffset < this.#store.getMaxOffset(TIMER_TOPIC, 0)) {
      const next = this.#store.getMessage(TIMER_TOPIC, 0, this.#enqueueOffset, 1);
      if (next.count > 0) {
        try {
          min = Math.min(min, decodeRecord(next.body!, 0).commitLogOffset);
        } catch {
          // An undecodable record is skipped when enqueued: it needs no keeping.
        }
      }
    }
    return min === Infinity ? this.#store.stats.commitLogMaxOffset : min;
  }

  /**
   * Whether a timer may still be recalled, from what this store knows without reading the log:
   * refuses one whose second is delivered or that was already acted on.
   *
   * @param timerId The timer's id.
   * @param dueMs Its due time.
   * @returns Undefined when it may be pending, else why not.
   */
  checkRecall(timerId: number, dueMs: number): RecallRefusal | undefined {
    if (this.#closed) return { code: "UNAVAILABLE", message: "Timer store is closed" };
    if (this.#recalls.has(timerId)) return { code: "NOT_PENDING", message: `Timer ${timerId} was already recalled` };
    const second = Math.floor(dueMs / 1000);
    if (this.#done.has(timerId) || second < this.#readSecond) {
      return { code: "NOT_PENDING", message: `Timer ${timerId} is no longer pending: it was delivered (due ${new Date(dueMs).toISOString()})` };
    }
    return undefined;
  }

  /**
   * Notes a recall about to be stored: the timer is not delivered from now on, even if its second
   * is loaded before the recall record is enqueued. A second recall of a timer due later than the
   * seconds in memory is not noticed here (its record is harmless).
   *
   * @param timerId The timer's id.
   * @param dueMs Its due time.
   */
  noteRecall(timerId: number, dueMs: number): void {
    // Later seconds learn of the recall from its record when they are loaded; only seconds loaded
    // (or about to be) need the note, which keeps the notes bounded by what is in memory.
    const second = Math.floor(dueMs / 1000);
    if (second <= this.#loadedSecond + 2) this.#recalls.set(timerId, second);
  }

  /**
   * Takes back a note whose recall record could not be stored.
   *
   * @param timerId The timer's id.
   * @returns Whether the timer can still be delivered (false when it was already passed over).
   */
  forgetRecall(timerId: number): boolean {
    this.#recalls.delete(timerId);
    return !this.#done.has(timerId);
  }

  /** Stops, waits for deliveries under way and writes the checkpoint. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#flushTimer);
    clearTimeout(this.#pumpTimer);
    await this.#pumping?.catch(() => {});
    await Promise.allSettled([...this.#inFlight]);
    try {
      await this.#saveCheckpoint(true);
    } finally {
      this.#log.close();
      this.#wheel.close();
    }
  }

  // ---- enqueue: timer topic records → timer log entries ----

  #enqueue(): void {
    if (this.#closed) return;
    let rounds = 0;
    while (rounds++ < 8) {
      const result = this.#store.getMessage(TIMER_TOPIC, 0, this.#enqueueOffset, ENQUEUE_BATCH, undefined, MAX_READ_BYTES);
      if (result.status === "OFFSET_OVERFLOW_ONE" || result.status === "NO_MESSAGE_IN_QUEUE") return;
      if (result.status !== "FOUND") {
        this.#say(`Timer queue offset ${this.#enqueueOffset} is unreadable (${result.status}), continuing at ${result.nextBeginOffset}`, "warn");
        this.#enqueueOffset = result.nextBeginOffset;
        continue;
      }
      this.#link(this.#decodeQueued(result.body!, this.#enqueueOffset, result.nextBeginOffset));
      this.#enqueueOffset = result.nextBeginOffset;
    }
    // More to do: let sends and deliveries run in between.
    this.wake();
  }

  /**
   * The timer topic's records of a read; a record that cannot be decoded becomes a SKIP entry (one
   * entry per record, so a damaged entry's neighbours still name its record).
   */
  #decodeQueued(body: Uint8Array, from: number, to: number): (MessageExt | TimerEntry)[] {
    try {
      return decodeRecords(body);
    } catch {
      const out: (MessageExt | TimerEntry)[] = [];
      for (let offset = from; offset < to; offset++) {
        const one = this.#store.getMessage(TIMER_TOPIC, 0, offset, 1);
        if (one.count === 0) continue;
        try {
          out.push(decodeRecord(one.body!, 0));
        } catch {
          this.#say(`Warning: timer queue offset ${offset} holds a record that cannot be decoded: skipped`, "warn");
          out.push({ prev: -1, dueMs: 0, logOffset: -1, timerId: -1, queueOffset: offset, size: 0, kind: TimerKind.SKIP, slot: 0 });
        }
      }
      return out;
    }
  }

  /** Appends one entry per record and links it into its second; due timers of loaded seconds join the fire queue. */
  #link(messages: readonly (MessageExt | TimerEntry)[]): void {
    const entries: TimerEntry[] = [];
    for (const message of messages) entries.push("kind" in message ? message : this.#entryOf(message));
    let position = this.#log.end;
    for (const entry of entries) {
      if (entry.kind !== TimerKind.SKIP) {
        entry.prev = this.#wheel.head(entry.slot);
        this.#wheel.setHead(entry.slot, position);
      }
      position += TIMER_ENTRY_SIZE;
    }
    const first = this.#log.append(entries);
    for (const [i, entry] of entries.entries()) {
      this.#noteSegment(first + i * TIMER_ENTRY_SIZE, entry);
      if ((entry.kind === TimerKind.DELIVER || entry.kind === TimerKind.ROLL) && entry.logOffset === entry.timerId) this.#base.pending++;
      // A second already loaded missed this entry: act on it from memory.
      if (entry.kind !== TimerKind.SKIP && entry.slot < this.#loadedSecond) this.#load(entry, entry.slot);
    }
    this.#schedulePump(0);
  }

  #entryOf(message: MessageExt): TimerEntry {
    const properties = message.properties;
    const dueMs = Number(properties[MessageConst.TIMER_OUT_MS]);
    const entry: TimerEntry = {
      prev: -1,
      dueMs: Number.isSafeInteger(dueMs) ? dueMs : 0,
      logOffset: message.commitLogOffset,
      timerId: message.commitLogOffset,
      queueOffset: message.queueOffset,
      size: message.storeSize,
      kind: TimerKind.SKIP,
      slot: 0,
    };
    const deleteKey = properties[MessageConst.TIMER_DEL_UNIQKEY];
    const idText = deleteKey === undefined ? properties[MessageConst.TIMER_ID] : deleteKey.slice(deleteKey.lastIndexOf("+") + 1);
    if (idText !== undefined) entry.timerId = Number(idText);
    if (!Number.isSafeInteger(dueMs) || dueMs < 0 || !Number.isSafeInteger(entry.timerId) || properties[MessageConst.REAL_TOPIC] === undefined) {
      this.#say(`Timer record at CommitLog offset ${message.commitLogOffset} has no valid TIMER_OUT_MS, REAL_TOPIC or timer id: skipped`, "error");
      return entry;
    }
    const due = Math.floor(dueMs / 1000);
    const last = this.#readSecond + this.#wheel.slots - 1;
    const far = due > last;
    entry.slot = far ? last : Math.max(due, this.#readSecond);
    if (deleteKey !== undefined) entry.kind = far ? TimerKind.DELETE_ROLL : TimerKind.DELETE;
    else entry.kind = far ? TimerKind.ROLL : TimerKind.DELIVER;
    return entry;
  }

  #noteSegment(position: number, entry: TimerEntry): void {
    const start = position - (position % this.#log.segmentBytes);
    let info = this.#segments.get(start);
    if (info === undefined) {
      info = { maxSlot: 0, minLogOffset: Number.MAX_SAFE_INTEGER };
      this.#segments.set(start, info);
    }
    if (entry.kind === TimerKind.SKIP) return;
    if (entry.slot > info.maxSlot) info.maxSlot = entry.slot;
    if (entry.kind !== TimerKind.DELETE && entry.logOffset < info.minLogOffset) info.minLogOffset = entry.logOffset;
  }

  // ---- dequeue: load due seconds, fire at the exact time ----

  #schedulePump(delayMs: number): void {
    if (!this.#started || this.#closed) return;
    const at = this.#now() + Math.max(0, delayMs);
    if (this.#pumping !== undefined) {
      this.#pumpAt = Math.min(this.#pumpAt, at);
      return;
    }
    if (this.#pumpTimer !== undefined && this.#pumpAt <= at) return;
    clearTimeout(this.#pumpTimer);
    this.#pumpAt = at;
    this.#pumpTimer = setTimeout(() => {
      this.#pumpTimer = undefined;
      this.#pumpAt = Infinity;
      this.#pumping = this.#pump().catch((error) => {
        this.#lastError = `Timer delivery failed: ${(error as Error)?.stack ?? error}`;
        this.#say(this.#lastError, "error");
      }).finally(() => {
        this.#pumping = undefined;
        const next = this.#pumpAt;
        this.#pumpAt = Infinity;
        this.#schedulePump(this.#paused() ? PAUSED_RECHECK_MS : this.#nextWake(next) - this.#now());
      });
    }, Math.max(0, delayMs));
  }

  /** When the pump must run next: the earliest timer, the next second to load, or an earlier request. */
  #nextWake(requested: number): number {
    let at = requested;
    const top = this.#queue.peek();
    if (top !== undefined) at = Math.min(at, top.fireAt);
    if (this.#queue.size < this.#maxLoaded) at = Math.min(at, this.#loadedSecond * 1000 - this.#lookaheadMs);
    return at;
  }

  async #pump(): Promise<void> {
    for (;;) {
      if (this.#closed || this.#paused()) return;
      const now = this.#now();
      while (this.#queue.size < this.#maxLoaded && this.#loadedSecond * 1000 - this.#lookaheadMs <= now) {
        // Counted as loaded first: entries enqueued while its chain is read go to memory directly.
        await this.#loadSecond(this.#loadedSecond++);
      }
      const due: LoadedTimer[] = [];
      while (due.length < FIRE_BATCH && (this.#queue.peek()?.fireAt ?? Infinity) <= now) due.push(this.#queue.pop()!);
      if (due.length === 0) {
        this.#advanceRead();
        return;
      }
      const records = this.#readRecords(due);
      await Promise.all(due.map((timer) => this.#fire(timer, records.get(timer.logOffset))));
      this.#advanceRead();
      // Stores resolve in microtasks (async flush): let sockets and timers in between slices.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** Loads a second's chain into the fire queue, yielding to other work every `LOAD_STEP` entries. */
  async #loadSecond(second: number): Promise<void> {
    this.#loadOffset.set(second, this.#store.stats.commitLogMaxOffset);
    if (!this.#outstanding.has(second)) this.#outstanding.set(second, 0);
    let position = this.#wheel.head(second);
    const loaded = new Set<number>();
    // Recalls take effect when a timer fires, and nothing fires while the chain is read, so the
    // order of a second's entries does not matter.
    for (let walked = 1; position >= 0; walked++) {
      if (walked % LOAD_STEP === 0) await new Promise((resolve) => setImmediate(resolve));
      const entry = this.#log.read(position);
      if (entry === undefined || entry.slot !== second) {
        // A damaged entry breaks the chain: find the rest of the second by reading the whole log.
        this.#lastError = `Timer log entry at ${position} (second ${second}) is unreadable; the second's timers were found by a scan of the timer log`;
        this.#say(`Warning: ${this.#lastError}`, "warn");
        this.#log.scan((found, at) => {
          if (found.slot === second && found.kind !== TimerKind.SKIP && !loaded.has(at)) this.#load(found, second);
        });
        if (entry === undefined) this.#recoverEntry(position, second);
        return;
      }
      loaded.add(position);
      this.#load(entry, second);
      position = entry.prev;
    }
  }

  /**
   * Re-reads the timer topic record a damaged timer log entry stood for: entries are one per
   * record in queue order, so its neighbour's queue offset names it.
   */
  #recoverEntry(position: number, second: number): void {
    const before = position >= TIMER_ENTRY_SIZE ? this.#log.read(position - TIMER_ENTRY_SIZE) : undefined;
    const after = this.#log.read(position + TIMER_ENTRY_SIZE);
    const queueOffset = before !== undefined ? before.queueOffset + 1 : after !== undefined ? after.queueOffset - 1 : undefined;
    if (queueOffset === undefined || queueOffset < 0) return;
    const result = this.#store.getMessage(TIMER_TOPIC, 0, queueOffset, 1);
    if (result.count === 0) return;
    let entry: TimerEntry;
    try {
      entry = this.#entryOf(decodeRecord(result.body!, 0));
    } catch {
      return;
    }
    if (entry.kind === TimerKind.SKIP) return;
    this.#say(`Warning: timer log entry at ${position} restored from timer queue offset ${queueOffset}`, "warn");
    this.#load(entry, second);
  }

  #load(entry: TimerEntry, second: number): void {
    if (entry.kind === TimerKind.DELETE) {
      this.#recalls.set(entry.timerId, second);
      return;
    }
    const fireAt = entry.kind === TimerKind.DELIVER ? entry.dueMs : second * 1000;
    this.#queue.push({ fireAt, dueMs: entry.dueMs, slot: second, kind: entry.kind, logOffset: entry.logOffset, size: entry.size, timerId: entry.timerId });
    this.#outstanding.set(second, (this.#outstanding.get(second) ?? 0) + 1);
  }

  #advanceRead(): void {
    let moved = false;
    // A second is done once it is over and every timer of it was acted on.
    const current = Math.floor(this.#now() / 1000);
    while (this.#readSecond < this.#loadedSecond && this.#readSecond < current && (this.#outstanding.get(this.#readSecond) ?? 0) === 0) {
      this.#outstanding.delete(this.#readSecond);
      this.#loadOffset.delete(this.#readSecond);
      const changed = this.#bySecond.get(this.#readSecond);
      if (changed !== undefined) {
        this.#bySecond.delete(this.#readSecond);
        this.#base.pending += changed.pending;
        this.#base.delivered += changed.delivered;
        this.#base.recalled += changed.recalled;
        this.#base.rolled += changed.rolled;
      }
      this.#readSecond++;
      moved = true;
    }
    if (!moved) return;
    // Every second that was pending at open is done: copies never matched belong to nothing.
    if (this.#copies.size > 0 && this.#readSecond > this.#copiesUntil) this.#copies.clear();
    for (const [id, second] of this.#recalls) if (second < this.#readSecond) this.#recalls.delete(id);
    for (const [id, second] of this.#done) if (second < this.#readSecond) this.#done.delete(id);
    // Timer log files go oldest first, once every second their entries use is delivered.
    for (const start of this.#log.segmentStarts.slice(0, -1)) {
      const info = this.#segments.get(start);
      if (info !== undefined && info.maxSlot >= this.#readSecond) break;
      this.#log.deleteBelow(start + this.#log.segmentBytes);
      this.#segments.delete(start);
    }
  }

  #finish(timer: LoadedTimer): void {
    if (timer.kind === TimerKind.DELIVER) this.#done.set(timer.timerId, timer.slot);
    const left = (this.#outstanding.get(timer.slot) ?? 1) - 1;
    this.#outstanding.set(timer.slot, left);
  }

  /**
   * Reads the records of a batch of due timers with one read per run of records lying close
   * together in the CommitLog (timers sent together were stored together), instead of one or two
   * reads a record.
   */
  #readRecords(due: readonly LoadedTimer[]): Map<number, Uint8Array> {
    const records = new Map<number, Uint8Array>();
    const sorted = due.filter((t) => t.kind !== TimerKind.DELETE && t.size > 0).sort((a, b) => a.logOffset - b.logOffset);
    let i = 0;
    while (i < sorted.length) {
      const start = sorted[i]!.logOffset;
      let j = i + 1;
      let end = start + sorted[i]!.size;
      while (j < sorted.length && sorted[j]!.logOffset - end <= RUN_GAP && sorted[j]!.logOffset + sorted[j]!.size - start <= RUN_BYTES) {
        end = Math.max(end, sorted[j]!.logOffset + sorted[j]!.size);
        j++;
      }
      if (j - i > 1) {
        try {
          const chunk = this.#store.readReplica(start, end - start);
          for (let k = i; k < j; k++) {
            const timer = sorted[k]!;
            const at = timer.logOffset - chunk.offset;
            if (at + timer.size <= chunk.bytes.length) records.set(timer.logOffset, chunk.bytes.subarray(at, at + timer.size));
          }
        } catch {
          // Read one by one instead (`#fire` falls back).
        }
      }
      i = j;
    }
    return records;
  }

  async #fire(timer: LoadedTimer, prefetched?: Uint8Array): Promise<void> {
    const recalled = this.#recalls.has(timer.timerId);
    if (recalled && (timer.kind === TimerKind.DELIVER || timer.kind === TimerKind.ROLL)) {
      const changed = this.#changed(timer.slot);
      changed.recalled++;
      changed.pending--;
      this.#finish(timer);
      return;
    }
    const bytes = prefetched ?? readLogRecord(this.#store, timer.logOffset);
    let message: MessageExt | undefined;
    try {
      message = bytes === undefined ? undefined : decodeRecord(bytes, 0);
    } catch {
      message = undefined;
    }
    if (message === undefined || message.topic !== TIMER_TOPIC) {
      this.#lastError = `Timer ${timer.timerId}: its record at CommitLog offset ${timer.logOffset} is gone; not delivered`;
      this.#say(this.#lastError, "error");
      if (timer.kind === TimerKind.DELIVER) this.#changed(timer.slot).pending--;
      this.#finish(timer);
      return;
    }
    // From here on a recall is too late (a carried-forward timer can still be recalled).
    if (timer.kind === TimerKind.DELIVER) this.#done.set(timer.timerId, timer.slot);
    const copy = this.#copyOf(message, timer);
    const key = `${copy.topic === TIMER_TOPIC ? "r" : "d"}:${timer.timerId}:${copy.properties[MessageConst.TIMER_ROLL_TIMES] ?? "0"}`;
    // Copies of recalls are not noted (a second one is harmless).
    const earlier = timer.kind === TimerKind.DELETE_ROLL ? undefined : this.#copies.get(key);
    if (earlier !== undefined) {
      // Written before a crash: not again.
      this.#copies.delete(key);
      this.#count(timer);
      this.#finish(timer);
      return;
    }
    const put = this.#store.putMessage(restoredInput(message, copy));
    this.#inFlight.add(put);
    const result = await put;
    this.#inFlight.delete(put);
    switch (result.status) {
      case "PUT_OK":
        if (timer.kind === TimerKind.DELIVER) this.#observeLateness(result.storeTimestamp - timer.dueMs);
        this.#count(timer);
        this.#finish(timer);
        return;
      case "MESSAGE_ILLEGAL":
      case "PROPERTIES_SIZE_EXCEEDED":
        this.#lastError = `Timer ${timer.timerId} for "${copy.topic}" dropped: ${result.error ?? result.status}`;
        this.#say(this.#lastError, "error");
        if (timer.kind === TimerKind.DELIVER) this.#changed(timer.slot).pending--;
        this.#finish(timer);
        return;
      default:
        this.#lastError = `Timer ${timer.timerId}: cannot store it yet: ${result.error ?? result.status}`;
        this.#done.delete(timer.timerId);
        if (!this.#closed) {
          this.#say(this.#lastError, "warn");
          this.#queue.push({ ...timer, fireAt: this.#now() + this.#retryIntervalMs });
        }
    }
  }

  #count(timer: LoadedTimer): void {
    const changed = this.#changed(timer.slot);
    if (timer.kind === TimerKind.DELIVER) {
      changed.delivered++;
      changed.pending--;
    } else if (timer.kind === TimerKind.ROLL) changed.rolled++;
  }

  #changed(second: number): Counters {
    let changed = this.#bySecond.get(second);
    if (changed === undefined) {
      changed = { pending: 0, delivered: 0, recalled: 0, rolled: 0 };
      this.#bySecond.set(second, changed);
    }
    return changed;
  }

  /** What a due timer becomes: the message under its real topic, or a copy carried forward. */
  #copyOf(message: MessageExt, timer: LoadedTimer): { topic: string; queueId: number; properties: Record<string, string> } {
    const properties = { ...message.properties };
    properties[MessageConst.TIMER_ID] = String(timer.timerId);
    if (timer.kind === TimerKind.DELIVER) {
      const topic = properties[MessageConst.REAL_TOPIC]!;
      const queueId = Number(properties[MessageConst.REAL_QID] ?? 0);
      delete properties[MessageConst.REAL_TOPIC];
      delete properties[MessageConst.REAL_QID];
      properties[MessageConst.TIMER_DEQUEUE_MS] = String(this.#now());
      return { topic, queueId: Number.isSafeInteger(queueId) && queueId >= 0 ? queueId : 0, properties };
    }
    properties[MessageConst.TIMER_ROLL_TIMES] = String(Number(properties[MessageConst.TIMER_ROLL_TIMES] ?? 0) + 1);
    if (timer.kind === TimerKind.DELETE_ROLL) delete properties[MessageConst.TIMER_ID];
    return { topic: TIMER_TOPIC, queueId: 0, properties };
  }

  // ---- checkpoint ----

  #saveCheckpoint(always = false): Promise<void> {
    const run = async () => {
      // What the checkpoint says must hold once it is on disk: capture, then make it durable.
      const state: TimerCheckpoint = {
        version: 1,
        enqueueOffset: this.#enqueueOffset,
        logEnd: this.#log.end,
        readSecond: this.#readSecond,
        scanFrom: this.#loadOffset.get(this.#readSecond) ?? this.#store.stats.commitLogMaxOffset,
        ...this.#base,
        segments: Object.fromEntries([...this.#segments].map(([start, info]) => [String(start), [info.maxSlot, info.minLogOffset]])),
      };
      // Copies found at open and not yet matched must be found again after another crash.
      for (const offset of this.#copies.values()) if (offset < state.scanFrom) state.scanFrom = offset;
      await this.#log.flush();
      await this.#wheel.flush();
      // Idle (nothing enqueued, fired or stored since the last save), only the read second moves
      // on, over empty seconds: saved at most every IDLE_SAVE_MS, recovery reads those few slots again.
      const { readSecond: _read, scanFrom: _scan, ...rest } = state;
      const key = JSON.stringify([rest, this.#store.stats.commitLogMaxOffset]);
      const now = this.#now();
      if (!always && key === this.#savedKey && now - this.#savedAt < IDLE_SAVE_MS) return;
      await this.#checkpoint.save(state);
      this.#savedKey = key;
      this.#savedAt = now;
    };
    const next = this.#saving.then(run, run);
    this.#saving = next.catch(() => {});
    return next;
  }
}

/**
 * The properties of a timer message as stored in the timer topic.
 *
 * @param properties The message's properties (not modified), without the `TIMER_DELIVER_MS`,
 *   `TIMER_DELAY_MS` and `TIMER_DELAY_SEC` it was sent with.
 * @param destination Real topic and queue, due and enqueue times.
 * @returns The properties to store.
 */
export function timerProperties(
  properties: Readonly<Record<string, string>>,
  destination: { topic: string; queueId: number; dueMs: number; enqueueMs: number },
): Record<string, string> {
  const stored: Record<string, string> = { ...properties };
  delete stored[MessageConst.TIMER_DELIVER_MS];
  delete stored[MessageConst.TIMER_DELAY_MS];
  delete stored[MessageConst.TIMER_DELAY_SEC];
  stored[MessageConst.REAL_TOPIC] = destination.topic;
  stored[MessageConst.REAL_QID] = String(destination.queueId);
  stored[MessageConst.TIMER_OUT_MS] = String(destination.dueMs);
  stored[MessageConst.TIMER_ENQUEUE_MS] = String(destination.enqueueMs);
  return stored;
}

/**
 * The properties of a recall record.
 *
 * @param topic The timer's real topic.
 * @param timerId The timer's id.
 * @param dueMs Its due time.
 * @returns The properties to store in the timer topic.
 */
export function recallProperties(topic: string, timerId: number, dueMs: number): Record<string, string> {
  return {
    [MessageConst.REAL_TOPIC]: topic,
    [MessageConst.REAL_QID]: "0",
    [MessageConst.TIMER_OUT_MS]: String(dueMs),
    [MessageConst.TIMER_DEL_UNIQKEY]: `${topic}+${timerId}`,
  };
}
