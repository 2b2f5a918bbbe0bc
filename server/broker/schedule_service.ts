/**
 * Delayed delivery, RocketMQ's way: a message with delay level n waits in queue n-1 of
 * `SCHEDULE_TOPIC_XXXX` with its real destination in `REAL_TOPIC`/`REAL_QID`. One reader per level
 * walks its queue in order (every message of a level has the same delay, so the queue is sorted
 * by due time) and, once the head is due (store time + the level's delay), stores it again under
 * its real topic and queue. Progress per level is persisted, so pending messages survive a restart.
 *
 * @module
 */
import { MessageConst, type MessageExt } from "../../core/model/message.ts";
import { restoredInput } from "../store/store_input.ts";
import { decodeRecords } from "../../core/model/record.ts";
import { DEFAULT_DELAY_LEVELS, parseDelayLevels, SCHEDULE_TOPIC } from "../../core/model/system_topics.ts";
import type { JsonFile } from "../store/json_file.ts";
import type { MessageStore } from "../store/message_store.ts";
import type { DelayOffsetTable } from "../../core/protocol/headers.ts";
import type { Log } from "../logger.ts";
import { PAUSED_RECHECK_MS, type PausedWhile } from "../store/background_pause.ts";

/** Options of `ScheduleMessageService`. */
export interface ScheduleMessageServiceOptions {
  /** The store delayed messages wait in and are delivered to. */
  store: MessageStore;
  /** Where progress is saved (`config/delay_offsets.json`). */
  file: JsonFile<DelayOffsetTable>;
  /** Delay per level, e.g. `1s 5s 10s`; level 1 is the first. @default DEFAULT_DELAY_LEVELS */
  delayLevels?: string;
  /** How often progress is saved when it moved. @default 5000 */
  persistIntervalMs?: number;
  /** Wait before trying again after the store refused a delivery. @default 1000 */
  retryIntervalMs?: number;
  /** Where log lines go. @default no logging */
  log?: Log;
  /** Clock (ms since epoch); must match the store's. @default Date.now */
  now?: () => number;
  /** Deliveries wait while this holds (a fenced master). @default never */
  paused?: PausedWhile;
}

/** A topic, queue and message properties: where a message goes, or waits. */
export interface ScheduledDestination {
  topic: string;
  queueId: number;
  properties: Record<string, string>;
}

/** One level's progress, for admin views. */
export interface DelayLevelProgress {
  level: number;
  delayMs: number;
  /** Next queue offset to deliver. */
  offset: number;
  /** Queue offset the next delayed message of this level will get. */
  maxOffset: number;
}

interface LevelState {
  level: number;
  delayMs: number;
  offset: number;
  /** Set while waiting for the head to become due (or to retry). */
  timer: ReturnType<typeof setTimeout> | undefined;
  draining: Promise<void> | undefined;
  /** A message arrived while draining: read again before going idle. */
  again: boolean;
}

type Outcome = "delivered" | "skipped" | "retry";

/** Records read per step of a level. */
const READ_BATCH = 32;

/** Delivers delayed messages when they are due. */
export class ScheduleMessageService {
  /** Delay of each level in ms; index 0 is level 1. */
  readonly delays: readonly number[];
  readonly #store: MessageStore;
  readonly #file: JsonFile<DelayOffsetTable>;
  readonly #levels: LevelState[];
  readonly #persistIntervalMs: number;
  readonly #retryIntervalMs: number;
  readonly #log: Log;
  readonly #now: () => number;
  readonly #paused: PausedWhile;
  #persistTimer: ReturnType<typeof setInterval> | undefined;
  #saving: Promise<void> = Promise.resolve();
  #dirty = false;
  #started = false;
  #closed = false;

  /**
   * @param options Store, progress file and levels.
   * @throws {SyntaxError} When the delay levels cannot be read.
   */
  constructor(options: ScheduleMessageServiceOptions) {
    this.delays = parseDelayLevels(options.delayLevels ?? DEFAULT_DELAY_LEVELS);
    this.#store = options.store;
    this.#file = options.file;
    this.#persistIntervalMs = options.persistIntervalMs ?? 5000;
    this.#retryIntervalMs = options.retryIntervalMs ?? 1000;
    this.#log = options.log ?? (() => {});
    this.#now = options.now ?? Date.now;
    this.#paused = options.paused ?? (() => false);
    this.#levels = this.delays.map((delayMs, i) => ({
      level: i + 1,
      delayMs,
      offset: 0,
      timer: undefined,
      draining: undefined,
      again: false,
    }));
  }

  /** The highest level; larger requested levels are clamped to it. */
  get maxLevel(): number {
    return this.delays.length;
  }

  /**
   * Loads the saved progress (a missing file means nothing was delivered yet) and corrects
   * offsets the store no longer has.
   *
   * @returns A warning when the backup copy was used or an offset had to be corrected.
   */
  load(): string | undefined {
    const loaded = this.#file.load();
    const warnings: string[] = [];
    if (loaded?.source === "backup") warnings.push(`Delay offsets restored from their backup: ${loaded.mainError?.message}`);
    for (const state of this.#levels) {
      const saved = loaded?.value.offsets[String(state.level)] ?? 0;
      const min = this.#store.getMinOffset(SCHEDULE_TOPIC, state.level - 1);
      const max = this.#store.getMaxOffset(SCHEDULE_TOPIC, state.level - 1);
      state.offset = Math.min(Math.max(saved, min), max);
      if (state.offset !== saved) {
        warnings.push(`Delay level ${state.level}: saved offset ${saved} is outside the queue [${min}, ${max}], using ${state.offset}`);
        this.#dirty = true;
      }
    }
    for (const key of Object.keys(loaded?.value.offsets ?? {})) {
      const level = Number(key);
      if (level > this.maxLevel && this.#store.getMaxOffset(SCHEDULE_TOPIC, level - 1) > (loaded!.value.offsets[key] ?? 0)) {
        warnings.push(`Delay level ${level} has undelivered messages but only ${this.maxLevel} levels are configured`);
      }
    }
    return warnings.length === 0 ? undefined : warnings.join("; ");
  }

  /** Starts delivering: every level is scanned once, then runs on arrivals and timers. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#persistTimer = setInterval(() => {
      this.persist().catch((error) => this.#log(`Cannot save delay offsets: ${(error as Error).message}`, "error"));
    }, this.#persistIntervalMs);
    (this.#persistTimer as { unref?: () => void }).unref?.();
    for (const state of this.#levels) this.#kick(state);
  }

  /**
   * Reads the `DELAY` property of a message being sent.
   *
   * @param properties The message's properties.
   * @returns The level to wait at (clamped to `maxLevel`; 0 for none or a level ≤ 0), or why the
   *   property is invalid.
   */
  delayLevelOf(properties: Readonly<Record<string, string>>): number | string {
    const text = properties[MessageConst.DELAY];
    if (text === undefined) return 0;
    if (!/^\s*[-+]?\d{1,9}\s*$/.test(text)) return `Property "DELAY" must be an integer delay level, got "${text}"`;
    const level = Number(text);
    return level <= 0 ? 0 : Math.min(level, this.maxLevel);
  }

  /**
   * Where a message with a delay level waits: queue `level - 1` of `SCHEDULE_TOPIC_XXXX`, with
   * `DELAY`, `REAL_TOPIC` and `REAL_QID` set.
   *
   * @param destination The real topic and queue, and the message's properties (not modified).
   * @param level A level from 1 to `maxLevel` (clamped into that range).
   * @returns The schedule topic, queue and properties to store.
   */
  toScheduled(destination: ScheduledDestination, level: number): ScheduledDestination {
    const { topic, queueId, properties } = destination;
    const clamped = Math.min(Math.max(level, 1), this.maxLevel);
    return {
      topic: SCHEDULE_TOPIC,
      queueId: clamped - 1,
      properties: {
        ...properties,
        [MessageConst.DELAY]: String(clamped),
        [MessageConst.REAL_TOPIC]: topic,
        [MessageConst.REAL_QID]: String(queueId),
      },
    };
  }

  /**
   * A delayed message became visible in queue `queueId` of the schedule topic.
   *
   * @param queueId The schedule queue (level - 1).
   */
  wake(queueId: number): void {
    const state = this.#levels[queueId];
    // A pending timer waits for an older head, due no later than the new message.
    if (state !== undefined && state.timer === undefined) this.#kick(state);
  }

  /** Every level's delay, progress and end, for admin views. */
  progress(): DelayLevelProgress[] {
    return this.#levels.map((s) => ({
      level: s.level,
      delayMs: s.delayMs,
      offset: s.offset,
      maxOffset: this.#store.getMaxOffset(SCHEDULE_TOPIC, s.level - 1),
    }));
  }

  /**
   * Takes a master's delivery progress (a slave's periodic copy; a slave never delivers itself).
   * Saved by the next `persist()`.
   *
   * @param offsets Next queue offset to deliver, by level (as text).
   */
  replaceOffsets(offsets: DelayOffsetTable["offsets"]): void {
    for (const state of this.#levels) {
      const offset = offsets[String(state.level)];
      if (offset !== undefined) this.#advance(state, offset);
    }
  }

  /** Saves the progress if it moved. */
  persist(): Promise<void> {
    this.#saving = this.#saving.catch(() => {}).then(async () => {
      if (!this.#dirty) return;
      this.#dirty = false;
      const offsets: Record<string, number> = {};
      for (const state of this.#levels) offsets[String(state.level)] = state.offset;
      try {
        await this.#file.save({ offsets });
      } catch (error) {
        this.#dirty = true;
        throw error;
      }
    });
    return this.#saving;
  }

  /** Stops delivering, waits for deliveries under way and saves the progress. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#persistTimer);
    for (const state of this.#levels) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
    await Promise.all(this.#levels.map((s) => s.draining));
    await this.persist();
  }

  #kick(state: LevelState): void {
    if (this.#closed) return;
    if (state.draining !== undefined) {
      state.again = true;
      return;
    }
    clearTimeout(state.timer);
    state.timer = undefined;
    state.again = false;
    state.draining = this.#drain(state)
      .catch((error) => {
        this.#log(`Delay level ${state.level}: delivery failed: ${(error as Error)?.stack ?? error}`, "error");
        this.#wait(state, this.#retryIntervalMs);
      })
      .finally(() => {
        state.draining = undefined;
        if (state.again && state.timer === undefined) this.#kick(state);
      });
  }

  #wait(state: LevelState, ms: number): void {
    if (this.#closed) return;
    clearTimeout(state.timer);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      this.#kick(state);
    }, Math.max(0, ms));
    (state.timer as { unref?: () => void }).unref?.();
  }

  #advance(state: LevelState, offset: number): void {
    if (state.offset === offset) return;
    state.offset = offset;
    this.#dirty = true;
  }

  /** Delivers every due message of a level, then waits for the head's due time or an arrival. */
  async #drain(state: LevelState): Promise<void> {
    const queueId = state.level - 1;
    while (!this.#closed) {
      if (this.#paused()) {
        this.#wait(state, PAUSED_RECHECK_MS);
        return;
      }
      const result = this.#store.getMessage(SCHEDULE_TOPIC, queueId, state.offset, READ_BATCH);
      switch (result.status) {
        case "FOUND":
          break;
        case "OFFSET_OVERFLOW_ONE": // caught up
          return;
        case "NO_MESSAGE_IN_QUEUE":
          this.#advance(state, 0);
          return;
        default: // retention removed messages, or the queue is shorter than the saved offset
          this.#log(`Delay level ${state.level}: offset ${state.offset} is unreadable (${result.status}), continuing at ${result.nextBeginOffset}`, "warn");
          this.#advance(state, result.nextBeginOffset);
          continue;
      }
      const now = this.#now();
      const due: MessageExt[] = [];
      let headDueAt: number | undefined;
      for (const message of decodeRecords(result.body!)) {
        const dueAt = message.storeTimestamp + state.delayMs;
        if (dueAt > now) {
          headDueAt = dueAt;
          break;
        }
        due.push(message);
      }
      // Puts issued together are appended in order, in one write.
      const outcomes = await Promise.all(due.map((message) => this.#deliver(state, message)));
      for (const [i, outcome] of outcomes.entries()) {
        if (outcome === "retry") {
          this.#wait(state, this.#retryIntervalMs);
          return;
        }
        this.#advance(state, due[i]!.queueOffset + 1);
      }
      if (headDueAt !== undefined) {
        this.#wait(state, headDueAt - this.#now());
        return;
      }
    }
  }

  /** Stores a due message under its real topic and queue. */
  async #deliver(state: LevelState, message: MessageExt): Promise<Outcome> {
    const properties = { ...message.properties };
    const topic = properties[MessageConst.REAL_TOPIC];
    const queueId = Number(properties[MessageConst.REAL_QID]);
    if (topic === undefined || !Number.isSafeInteger(queueId) || queueId < 0) {
      this.#log(`Delay level ${state.level}: dropping message ${message.msgId} at offset ${message.queueOffset}: no valid REAL_TOPIC/REAL_QID`, "error");
      return "skipped";
    }
    delete properties[MessageConst.REAL_TOPIC];
    delete properties[MessageConst.REAL_QID];
    delete properties[MessageConst.DELAY];
    const result = await this.#store.putMessage(restoredInput(message, { topic, queueId, properties }));
    switch (result.status) {
      case "PUT_OK":
        return "delivered";
      case "MESSAGE_ILLEGAL":
      case "PROPERTIES_SIZE_EXCEEDED":
        this.#log(`Delay level ${state.level}: dropping message ${message.msgId} for "${topic}" queue ${queueId}: ${result.error ?? result.status}`, "error");
        return "skipped";
      default:
        if (!this.#closed) this.#log(`Delay level ${state.level}: cannot deliver message ${message.msgId} yet: ${result.error ?? result.status}`, "warn");
        return "retry";
    }
  }
}
