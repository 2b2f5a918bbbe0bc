/**
 * POP consumption (RocketMQ 5's model): message-level receive with receipt handles, ack, changed
 * invisible time, redelivery of what was neither acked nor extended, dead letters past the group's
 * limit, and FIFO groups that hand out one message of a message group at a time.
 *
 * Durable state lives in the CommitLog: every pop that delivers writes a checkpoint record and
 * every ack an ack record to the revive log (`pop_records.ts`); the state they describe
 * (`pop_state.ts`) is applied as they are written, saved as a snapshot every few seconds, and
 * rebuilt at start from the snapshot and the records after it. A message whose invisible time runs
 * out is stored again in the group's POP retry topic with its redelivery count one higher (a FIFO
 * message waits in place instead, so its group's order holds), or in the dead-letter topic past
 * `retryMaxTimes`. The group's committed offset follows the lowest unsettled message of each queue.
 *
 * @module
 */
import { MessageConst } from "../../../core/model/message.ts";
import { propertyValue } from "../../../core/model/properties.ts";
import {
  decodeRecord,
  readReconsumeTimes,
  readRecordOffsets,
  readRecordProperties,
} from "../../../core/model/record.ts";
import { dlqTopic, popRetryTopic } from "../../../core/model/system_topics.ts";
import type { TopicConfig } from "../../../core/protocol/headers.ts";
import { Perm, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Reply } from "../../../core/remoting/dispatcher.ts";
import type { JsonFile } from "../../store/json_file.ts";
import type { MessageStore } from "../../store/message_store.ts";
import type { PutResult, StoreInput } from "../../store/store_types.ts";
import type { RecordFilter } from "../../store/queue_reader.ts";
import type { ConsumerOffsetManager } from "../consumer_offset_manager.ts";
import { redeliveryInput, redeliveryProperties } from "../message_routing.ts";
import type { PullHoldService } from "../pull_hold_service.ts";
import type { SubscriptionGroupManager } from "../subscription_group_manager.ts";
import type { TopicConfigManager } from "../topic_config_manager.ts";
import { type AckReason, type AckRecord, type CheckpointRecord, decodePopRecord, encodePopRecord, type PopRecord } from "./pop_records.ts";
import { type Delivery, PopQueue, PopSnapshot, PopState } from "./pop_state.ts";
import { FIFO_REVIVE_QUEUE_ID, type ReceiptHandle, ReceiptHandleError, type ReceiptHandles } from "./receipt_handle.ts";
import type { Log } from "../../logger.ts";
import type { PausedWhile } from "../../store/background_pause.ts";

/**
 * Which messages a pop wants: what the store filters by (a ConsumeQueue tag hash, or a record
 * filter such as SQL92 evaluated on the stored record), then the record's property text (the exact
 * tag: two tags can share a hash).
 */
export interface PopFilter {
  /** Handed to the store's read; undefined: every entry. */
  store?: ((tagHash: number) => boolean) | RecordFilter;
  /** Keeps a record by its property text; undefined: every record the store kept. */
  byProperties?: (properties: string) => boolean;
}

/** What one pop asks for. */
export interface PopRequest {
  group: string;
  topic: string;
  /** A queue of the topic, or -1 for any. */
  queueId: number;
  maxMsgNums: number;
  invisibleTime: number;
  /** Where a queue the group never consumed starts: 0 its first message, 1 its end. */
  initMode: number;
  filter: PopFilter;
}

/** What a pop found. */
export interface PopResult {
  /** The records, back to back as stored (absent when none). */
  body: Uint8Array | undefined;
  /** One receipt handle per record, in order. */
  handles: string[];
  /** Which delivery of its message each record is (1 for the first). */
  attempts: number[];
  popTime: number;
  invisibleTime: number;
  /** Messages left in the queues looked at (not yet read by any pop). */
  restNum: number;
}

/** A refusal of a POP request, with the code and remark to answer. */
export class PopRefusal extends Error {
  /**
   * @param code The response code.
   * @param message The remark.
   */
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = "PopRefusal";
  }
}

/** What became of one handle of an ack. */
export type AckOutcome = { ok: true } | { ok: false; code: number; remark: string };

/** Options of `PopService`. */
export interface PopServiceOptions {
  store: MessageStore;
  topics: TopicConfigManager;
  offsets: ConsumerOffsetManager;
  holds: PullHoldService;
  groups: SubscriptionGroupManager;
  brokerName: string;
  /** The revive log's topic (`reviveTopic(clusterName)`). */
  reviveTopic: string;
  /** Issues and checks receipt handles. */
  handles: ReceiptHandles;
  /** Where the state snapshot lives (`config/pop_state.json`). */
  snapshot: JsonFile<PopSnapshot>;
  /** Creates a group's retry or dead-letter topic unless it exists. */
  ensureTopic: (topic: string) => Promise<TopicConfig | Reply>;
  /** Counts a message moved to a dead-letter topic (its stored copy and the copy's offset message id given, for the trace). */
  deadLettered: (group: string, topic: string, copy: StoreInput, msgId: string) => void;
  /** How often the state snapshot is saved when it changed. @default 5000 */
  persistIntervalMs?: number;
  /** How often expired deliveries are looked for. @default 100 */
  reviveIntervalMs?: number;
  log: Log;
  /** The clock. @default Date.now */
  now?: () => number;
  /** Revives wait while this holds (a fenced master): looked at again at each revive tick. @default never */
  paused?: PausedWhile;
}

/** Invisible times a pop or change may ask for, ms. */
export const MIN_INVISIBLE_TIME_MS = 100;
/** The longest invisible time (12 hours, RocketMQ's limit for SimpleConsumer). */
export const MAX_INVISIBLE_TIME_MS = 43_200_000;
/** Most messages one pop returns. */
export const MAX_POP_BATCH = 32;
/** FIFO: offsets of one queue that may wait behind busy message groups; past it, scans stop. */
export const FIFO_WINDOW = 2000;
/** Most ConsumeQueue entries one FIFO pop reads ahead on one queue. */
const FIFO_SCAN_LIMIT = 512;
/** Most record bytes one pop returns. */
const MAX_POP_BYTES = 4 * 1024 * 1024;
/** A revive that failed (the store refused) is tried again after this long. */
const REVIVE_RETRY_MS = 1000;

/** One queue's part of a pop, reserved in the state while its checkpoint is written. */
interface Pick {
  queue: PopQueue;
  record: CheckpointRecord;
  bytes: Uint8Array[];
  retry: boolean;
}

/** A delivery whose invisible time ends at `deadline`. */
interface Due {
  deadline: number;
  queue: PopQueue;
  offset: number;
  ck: number;
}

/** The broker's POP service. */
export class PopService {
  readonly state: PopState = new PopState();
  readonly #options: PopServiceOptions;
  readonly #now: () => number;
  readonly #due = new DueHeap();
  /** Whether the state changed since the last snapshot. */
  #dirty = false;
  #rotation = 0;
  #timers: ReturnType<typeof setInterval>[] = [];
  #reviving: Promise<void> | undefined;
  #closed = false;
  /** Counters for admin views. */
  readonly counters = { popped: 0, acked: 0, revived: 0, deadLettered: 0, changed: 0 };

  /** @param options Store, managers, key and files. */
  constructor(options: PopServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Rebuilds the state: the snapshot (when its file and backup are unusable, the whole revive log),
   * then every revive log record after it.
   *
   * @returns Warnings for the log.
   */
  open(): string[] {
    const warnings: string[] = [];
    const { store, reviveTopic } = this.#options;
    try {
      const loaded = this.#options.snapshot.load();
      if (loaded !== undefined) {
        this.state.restore(loaded.value);
        if (loaded.source === "backup") warnings.push(`POP state restored from its backup: ${loaded.mainError?.message}`);
      }
    } catch (error) {
      warnings.push(`POP state snapshot is unusable (${(error as Error).message}); rebuilding it from the whole revive log`);
    }
    let offset = this.state.applied;
    const min = store.getMinOffset(reviveTopic, 0);
    if (offset < min) {
      if (offset > 0) warnings.push(`Revive log records ${offset} to ${min} were deleted by retention before the POP state saved them; deliveries they held may be repeated`);
      offset = min;
    }
    let replayed = 0;
    let bad = 0;
    for (;;) {
      const result = store.getMessage(reviveTopic, 0, offset, 256, undefined, MAX_POP_BYTES);
      if (result.count === 0 || result.body === undefined) break;
      const body = result.body;
      for (let pos = 0; pos < body.length;) {
        const size = new DataView(body.buffer, body.byteOffset + pos, 4).getInt32(0);
        const at = readRecordOffsets(body, pos).queueOffset;
        try {
          this.#apply(decodePopRecord(decodeRecord(body, pos, { copyBody: false }).body), at);
          replayed++;
        } catch {
          bad++;
        }
        pos += size;
      }
      if (result.nextBeginOffset <= offset) break;
      offset = result.nextBeginOffset;
    }
    if (offset > this.state.applied) this.state.applied = offset;
    if (bad > 0) warnings.push(`${bad} revive log records could not be read and were skipped`);
    for (const queue of this.state.queues.values()) {
      for (const [o, d] of queue.inflight) this.#due.push({ deadline: d.popTime + d.invisibleTime, queue, offset: o, ck: d.ck });
      this.#commit(queue);
    }
    if (replayed > 0 || this.state.queues.size > 0) {
      let inflight = 0;
      for (const queue of this.state.queues.values()) inflight += queue.inflight.size;
      this.#options.log(`POP state rebuilt: ${this.state.queues.size} queues, ${inflight} deliveries in flight, ${replayed} revive log records replayed`, "info");
    }
    return warnings;
  }

  /** Starts the revive timer and the snapshot saves. */
  start(): void {
    const persist = this.#options.persistIntervalMs ?? 5000;
    const revive = this.#options.reviveIntervalMs ?? 100;
    const t1 = setInterval(() => void this.#reviveDue(), revive);
    const t2 = setInterval(() => void this.persist().catch((error) => this.#options.log(`Cannot save the POP state: ${(error as Error).message}`, "error")), persist);
    for (const t of [t1, t2]) (t as { unref?: () => void }).unref?.();
    this.#timers.push(t1, t2);
  }

  /** Stops the timers, waits for a revive in progress and saves the snapshot. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    await this.#reviving?.catch(() => {});
    await this.persist();
  }

  /** Saves the snapshot when the state changed since the last save. */
  async persist(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    try {
      await this.#options.snapshot.save(this.state.snapshot());
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }

  /**
   * Pops up to `maxMsgNums` messages of a topic (and of the group's POP retry topic): they become
   * invisible to other pops of the group for `invisibleTime`. Never waits for new messages; the
   * processor parks an empty pop.
   *
   * @param request What to pop.
   * @returns The records with their handles (none when nothing is deliverable now).
   * @throws {PopRefusal} When the group may not consume, or the checkpoint cannot be written.
   */
  async pop(request: PopRequest): Promise<PopResult> {
    const { topics, groups, store } = this.#options;
    const config = groups.get(request.group);
    if (!config.consumeEnable) throw new PopRefusal(ResponseCode.NO_PERMISSION, `Consumer group "${request.group}" may not consume (consumeEnable is false)`);
    const fifo = config.consumeMessageOrderly;
    const topicConfig = topics.get(request.topic)!;
    const now = this.#now();
    const sources = this.#sources(request, topicConfig, fifo);
    const picks: Pick[] = [];
    let want = Math.min(request.maxMsgNums, MAX_POP_BATCH);
    let budget = MAX_POP_BYTES;
    let restNum = 0;
    for (const source of sources) {
      if (want <= 0 || budget <= 0) break;
      const queue = this.#queueFor(request, source, fifo);
      const pick = this.#scan(queue, { want, budget, now, invisibleTime: request.invisibleTime, filter: request.filter, retry: source.retry });
      restNum += Math.max(0, store.getMaxOffset(queue.topic, queue.queueId) - queue.frontier);
      if (pick === undefined) continue;
      picks.push(pick);
      want -= pick.record.o.length;
      for (const b of pick.bytes) budget -= b.length;
    }
    const delivering = picks.filter((p) => p.record.o.length > 0);
    if (delivering.length === 0) {
      for (const pick of picks) this.#dropPick(pick);
      return { body: undefined, handles: [], attempts: [], popTime: now, invisibleTime: request.invisibleTime, restNum };
    }
    const results = await this.#write(picks.map((p) => p.record));
    const failed = results.find((r) => r.status !== "PUT_OK");
    if (failed !== undefined) {
      for (const pick of picks) this.#undo(pick);
      throw new PopRefusal(ResponseCode.SYSTEM_ERROR, `Cannot write the POP checkpoint: ${failed.error ?? failed.status}`);
    }
    const handles: string[] = [];
    const attempts: number[] = [];
    const bodies: Uint8Array[] = [];
    for (let i = 0; i < picks.length; i++) {
      const pick = picks[i]!;
      const ck = results[i]!.queueOffset;
      this.#applyCheckpoint(pick.record, ck);
      const record = pick.record;
      handles.push(...this.#options.handles.issueAll(request.group, request.topic, {
        ckOffset: ck,
        popTime: record.pt,
        invisibleTime: record.it,
        reviveQueueId: fifo ? FIFO_REVIVE_QUEUE_ID : 0,
        retry: pick.retry,
        brokerName: this.#options.brokerName,
        queueId: record.q,
      }, record.o));
      attempts.push(...record.a);
      bodies.push(...pick.bytes);
    }
    this.counters.popped += handles.length;
    return { body: concat(bodies), handles, attempts, popTime: now, invisibleTime: request.invisibleTime, restNum };
  }

  /**
   * Acks deliveries: each handle is checked (issued by this broker for this group and topic, still
   * the delivery in flight), then the valid ones are settled with one ack record per queue.
   *
   * @param group The group.
   * @param topic The topic popped.
   * @param handles The receipt handles.
   * @returns One outcome per handle.
   */
  async ack(group: string, topic: string, handles: readonly unknown[]): Promise<AckOutcome[]> {
    const outcomes: AckOutcome[] = new Array(handles.length);
    const byQueue = new Map<PopQueue, { index: number; handle: ReceiptHandle; delivery: Delivery }[]>();
    handles.forEach((text, index) => {
      const checked = this.#check(group, topic, text);
      if ("code" in checked) {
        outcomes[index] = { ok: false, ...checked };
        return;
      }
      checked.delivery.busy = true;
      const list = byQueue.get(checked.queue);
      const entry = { index, handle: checked.handle, delivery: checked.delivery };
      if (list === undefined) byQueue.set(checked.queue, [entry]);
      else list.push(entry);
    });
    if (byQueue.size === 0) return outcomes;
    const queues = [...byQueue.keys()];
    const records: AckRecord[] = queues.map((queue) => ({
      k: "ack",
      g: queue.group,
      t: queue.topic,
      q: queue.queueId,
      e: byQueue.get(queue)!.map((e) => [e.handle.ckOffset, e.handle.queueOffset] as [number, number]),
      r: "ack",
    }));
    const results = await this.#write(records);
    for (let i = 0; i < queues.length; i++) {
      const entries = byQueue.get(queues[i]!)!;
      const result = results[i]!;
      if (result.status !== "PUT_OK") {
        for (const e of entries) {
          e.delivery.busy = false;
          outcomes[e.index] = { ok: false, code: ResponseCode.SYSTEM_ERROR, remark: `Cannot write the ack: ${result.error ?? result.status}` };
        }
        continue;
      }
      const applied = this.#applyAck(records[i]!, result.queueOffset);
      entries.forEach((e, j) => {
        e.delivery.busy = false;
        outcomes[e.index] = applied[j] ? { ok: true } : { ok: false, ...expired(e.handle) };
      });
      this.counters.acked += applied.filter(Boolean).length;
      if (queues[i]!.fifo) this.#options.holds.wakeTopic(queues[i]!.origin);
    }
    return outcomes;
  }

  /**
   * Changes how long a delivery stays invisible, from now: a new checkpoint for its message and an
   * ack of the old one, in one write. The old handle stops working; the answer carries the new one.
   *
   * @param group The group.
   * @param topic The topic popped.
   * @param text The receipt handle.
   * @param invisibleTime The new invisible time, ms from now.
   * @returns The new handle, pop time and invisible time.
   * @throws {PopRefusal} When the handle is refused or the records cannot be written.
   */
  async changeInvisibleTime(group: string, topic: string, text: unknown, invisibleTime: number): Promise<{ handle: string; popTime: number; invisibleTime: number }> {
    const checked = this.#check(group, topic, text);
    if ("code" in checked) throw new PopRefusal(checked.code, checked.remark);
    const { queue, handle, delivery } = checked;
    delivery.busy = true;
    const now = this.#now();
    const ck: CheckpointRecord = {
      k: "ck",
      g: queue.group,
      t: queue.topic,
      ...(queue.origin === queue.topic ? {} : { ot: queue.origin }),
      q: queue.queueId,
      pt: now,
      it: invisibleTime,
      o: [handle.queueOffset],
      a: [delivery.attempt],
      mg: queue.fifo ? [queue.messageGroupOf(handle.queueOffset) ?? ""] : [],
      b: queue.durableFrontier,
      n: queue.durableFrontier,
      w: [],
      f: queue.fifo,
    };
    const ack: AckRecord = { k: "ack", g: queue.group, t: queue.topic, q: queue.queueId, e: [[handle.ckOffset, handle.queueOffset]], r: "change" };
    const [written, acked] = await this.#write([ck, ack]);
    delivery.busy = false;
    // Both records are one write: stored together or not at all.
    if (written!.status !== "PUT_OK") {
      throw new PopRefusal(ResponseCode.SYSTEM_ERROR, `Cannot change the invisible time: ${written!.error ?? written!.status}`);
    }
    this.#applyCheckpoint(ck, written!.queueOffset);
    this.#applyAck(ack, acked!.queueOffset);
    this.counters.changed++;
    return {
      handle: this.#options.handles.issue(group, topic, { ...handle, ckOffset: written!.queueOffset, popTime: now, invisibleTime }),
      popTime: now,
      invisibleTime,
    };
  }

  /**
   * Moves a delivery to the group's dead-letter topic now (a consumer gave up on it: RocketMQ 5's
   * ForwardMessageToDeadLetterQueue), as a delivery past `retryMaxTimes` is moved when its
   * invisible time runs out; the handle is spent.
   *
   * @param group The group.
   * @param topic The topic popped.
   * @param text The receipt handle.
   * @throws {PopRefusal} When the handle is refused, or the copy or its ack cannot be written (the
   *   delivery then stays in flight and is redelivered when its invisible time runs out).
   */
  async deadLetter(group: string, topic: string, text: unknown): Promise<void> {
    const checked = this.#check(group, topic, text);
    if ("code" in checked) throw new PopRefusal(checked.code, checked.remark);
    const { queue, handle, delivery } = checked;
    const entry: Due = { deadline: delivery.popTime + delivery.invisibleTime, queue, offset: handle.queueOffset, ck: handle.ckOffset };
    if (!(await this.#reviveQueue(queue, [entry], true))) {
      throw new PopRefusal(ResponseCode.SYSTEM_ERROR, `Cannot move queue offset ${handle.queueOffset} (queue ${handle.queueId}) to the dead-letter topic now: it is redelivered when its invisible time runs out`);
    }
  }

  /** Per group: queues, deliveries in flight and messages waiting, for admin views. */
  groupStats(): Map<string, { queues: number; inflight: number; waiting: number }> {
    const out = new Map<string, { queues: number; inflight: number; waiting: number }>();
    for (const queue of this.state.queues.values()) {
      const stats = out.get(queue.group) ?? { queues: 0, inflight: 0, waiting: 0 };
      stats.queues++;
      stats.inflight += queue.inflight.size;
      stats.waiting += queue.waiting.size;
      out.set(queue.group, stats);
    }
    return out;
  }

  /** The queues a pop reads: the topic's (all, rotating, or the one asked for), and its retry topic's. */
  #sources(request: PopRequest, config: TopicConfig, fifo: boolean): { topic: string; queueId: number; retry: boolean }[] {
    const out: { topic: string; queueId: number; retry: boolean }[] = [];
    const n = config.readQueueNums;
    const start = this.#rotation++;
    if (request.queueId >= 0) out.push({ topic: request.topic, queueId: request.queueId, retry: false });
    else for (let i = 0; i < n; i++) out.push({ topic: request.topic, queueId: (start + i) % n, retry: false });
    if (!fifo) {
      const retry = popRetryTopic(request.group, request.topic);
      const retryConfig = this.#options.topics.get(retry);
      if (retryConfig !== undefined && (retryConfig.perm & Perm.READ) !== 0) {
        // Retries first on one pop in five, last otherwise: neither starves the other.
        const sources = Array.from({ length: retryConfig.readQueueNums }, (_, queueId) => ({ topic: retry, queueId, retry: true }));
        if (start % 5 === 0) out.unshift(...sources);
        else out.push(...sources);
      }
    }
    return out;
  }

  /** A queue's state, created at the group's committed offset or (none) where `initMode` says. */
  #queueFor(request: PopRequest, source: { topic: string; queueId: number; retry: boolean }, fifo: boolean): PopQueue {
    const existing = this.state.find(request.group, source.topic, source.queueId);
    if (existing !== undefined) {
      existing.fifo = fifo;
      return existing;
    }
    const { offsets, store } = this.#options;
    const committed = offsets.query(request.group, source.topic, source.queueId);
    const start = committed >= 0
      ? committed
      : source.retry || request.initMode === 0
      ? store.getMinOffset(source.topic, source.queueId)
      : store.getMaxOffset(source.topic, source.queueId);
    const queue = this.state.add(new PopQueue({ group: request.group, topic: source.topic, queueId: source.queueId, origin: request.topic, fifo }, start));
    offsets.commit(request.group, source.topic, source.queueId, start);
    this.#dirty = true;
    return queue;
  }

  /**
   * Finds a queue's deliverable messages and reserves them: waiting offsets first (ascending),
   * then new ones from the frontier. FIFO: a message whose message group has a delivery in flight
   * (or already in this pop) is passed and waits.
   */
  #scan(
    queue: PopQueue,
    options: { want: number; budget: number; now: number; invisibleTime: number; filter: PopFilter; retry: boolean },
  ): Pick | undefined {
    const { store } = this.#options;
    const fifo = queue.fifo;
    const filter = options.filter;
    const record: CheckpointRecord = {
      k: "ck",
      g: queue.group,
      t: queue.topic,
      ...(queue.origin === queue.topic ? {} : { ot: queue.origin }),
      q: queue.queueId,
      pt: options.now,
      it: options.invisibleTime,
      o: [],
      a: [],
      mg: [],
      b: queue.durableFrontier,
      n: queue.frontier,
      w: [],
      f: fifo,
    };
    const bytes: Uint8Array[] = [];
    let budget = options.budget;
    const taken = new Set<string>();
    const free = (group: string) => !fifo || (!queue.busyGroups.has(group) && !taken.has(group));
    const take = (offset: number, attempt: number, group: string, record_: Uint8Array) => {
      record.o.push(offset);
      record.a.push(attempt);
      if (fifo) {
        record.mg.push(group);
        taken.add(group);
        queue.messageGroups.set(offset, group);
      }
      bytes.push(record_);
      budget -= record_.length;
    };
    // Waiting offsets: FIFO messages whose group was busy or whose time ran out, undone pops.
    if (queue.waiting.size > 0) {
      for (const offset of [...queue.waiting.keys()].sort((x, y) => x - y)) {
        if (record.o.length >= options.want || budget <= 0) break;
        const known = queue.messageGroupOf(offset);
        if (known !== undefined && !free(known)) continue;
        const read = this.#readOne(queue, offset);
        if (read === undefined) {
          // Gone with retention (or damaged): nothing left to deliver.
          queue.waiting.delete(offset);
          this.#dirty = true;
          continue;
        }
        const properties = fifo || filter.byProperties !== undefined ? readRecordProperties(read, 0) : "";
        const group = fifo ? messageGroupIn(properties) : "";
        queue.messageGroups.set(offset, group);
        if (!free(group)) continue;
        if (filter.byProperties !== undefined && !filter.byProperties(properties)) continue;
        take(offset, fifo ? queue.waiting.get(offset)! + 1 : readReconsumeTimes(read, 0) + 1, group, read);
      }
    }
    // New messages from the frontier.
    let next = queue.frontier;
    let scanned = 0;
    let passes = 0;
    while (record.o.length < options.want && budget > 0 && passes++ < 4) {
      if (fifo && (queue.waiting.size + record.w.length >= FIFO_WINDOW || scanned >= FIFO_SCAN_LIMIT)) break;
      const ask = fifo ? Math.min(64, FIFO_SCAN_LIMIT - scanned) : options.want - record.o.length;
      const result = store.getMessage(queue.topic, queue.queueId, next, ask, filter.store, budget);
      if (result.count === 0 || result.body === undefined) {
        // Nothing (more) here: past filtered-out entries, past what retention deleted, or (a queue
        // cut back by recovery) back at its end.
        if (result.nextBeginOffset > next || result.status === "OFFSET_OVERFLOW_BADLY") next = result.nextBeginOffset;
        break;
      }
      const body = result.body;
      let stoppedAt = -1;
      for (let pos = 0; pos < body.length;) {
        const size = new DataView(body.buffer, body.byteOffset + pos, 4).getInt32(0);
        const offset = readRecordOffsets(body, pos).queueOffset;
        if (record.o.length >= options.want) {
          stoppedAt = offset;
          break;
        }
        scanned++;
        const view = body.subarray(pos, pos + size);
        pos += size;
        const properties = fifo || filter.byProperties !== undefined ? readRecordProperties(view, 0) : "";
        if (filter.byProperties !== undefined && !filter.byProperties(properties)) continue;
        const group = fifo ? messageGroupIn(properties) : "";
        if (!free(group)) {
          record.w.push([offset, 0, group]);
          queue.messageGroups.set(offset, group);
          continue;
        }
        take(offset, fifo ? 1 : readReconsumeTimes(view, 0) + 1, group, view);
      }
      next = stoppedAt >= 0 ? stoppedAt : result.nextBeginOffset;
      if (stoppedAt >= 0 || result.count < ask) break;
    }
    // Reserve: what this pop delivers is in flight, what it passed waits, the frontier moves on.
    for (let i = 0; i < record.o.length; i++) {
      queue.deliver(record.o[i]!, { ck: -1, popTime: options.now, invisibleTime: options.invisibleTime, attempt: record.a[i]! });
    }
    for (const [offset, deliveries] of record.w) queue.waiting.set(offset, deliveries);
    if (next !== queue.frontier) {
      queue.frontier = next;
      this.#dirty = true;
    }
    record.n = queue.frontier;
    // Everything unsettled from the durable frontier on that this record does not deliver goes in
    // it as waiting, so that replaying it (frontier to `n`) settles only what was settled.
    const delivered = new Set(record.o);
    const passed = new Set(record.w.map(([o]) => o));
    for (const [offset, deliveries] of queue.waiting) {
      if (offset >= record.b && !passed.has(offset)) record.w.push([offset, deliveries, queue.messageGroupOf(offset) ?? ""]);
    }
    for (const offset of queue.reserved) {
      if (offset >= record.b && !delivered.has(offset)) record.w.push([offset, queue.inflight.get(offset)!.attempt - 1, queue.messageGroupOf(offset) ?? ""]);
    }
    if (record.o.length === 0 && record.w.length === 0) {
      this.#commit(queue);
      return undefined;
    }
    return { queue, record, bytes, retry: options.retry };
  }

  /** A pick that delivers nothing (FIFO messages passed) is not written: the frontier it moved is not yet durable. */
  #dropPick(pick: Pick): void {
    this.#commit(pick.queue);
  }

  /** Takes back a pick whose checkpoint could not be written: its deliveries wait to be made again. */
  #undo(pick: Pick): void {
    const queue = pick.queue;
    for (let i = 0; i < pick.record.o.length; i++) queue.settle(pick.record.o[i]!, pick.record.a[i]! - 1);
    this.#dirty = true;
  }

  /** The record at one queue offset, or undefined when the queue no longer serves it. */
  #readOne(queue: PopQueue, offset: number): Uint8Array | undefined {
    const result = this.#options.store.getMessage(queue.topic, queue.queueId, offset, 1, undefined, MAX_POP_BYTES);
    if (result.count === 0 || result.body === undefined) return undefined;
    return readRecordOffsets(result.body, 0).queueOffset === offset ? result.body : undefined;
  }

  /** Checks a handle against the group, topic and the delivery in flight. */
  #check(group: string, topic: string, text: unknown): { queue: PopQueue; handle: ReceiptHandle; delivery: Delivery } | { code: number; remark: string } {
    let handle: ReceiptHandle;
    try {
      handle = this.#options.handles.verify(group, topic, text);
    } catch (error) {
      if (error instanceof ReceiptHandleError) return { code: ResponseCode.INVALID_RECEIPT_HANDLE, remark: error.message };
      throw error;
    }
    if (handle.brokerName !== this.#options.brokerName) {
      return {
        code: ResponseCode.INVALID_RECEIPT_HANDLE,
        remark: `Receipt handle was issued by broker "${handle.brokerName}", not "${this.#options.brokerName}": send it to that broker`,
      };
    }
    const realTopic = handle.retry ? popRetryTopic(group, topic) : topic;
    const queue = this.state.find(group, realTopic, handle.queueId);
    const delivery = queue?.inflight.get(handle.queueOffset);
    if (queue === undefined || delivery === undefined || delivery.ck !== handle.ckOffset || delivery.busy) {
      return expired(handle, delivery !== undefined && delivery.ck !== handle.ckOffset);
    }
    return { queue, handle, delivery };
  }

  /** Appends records to the revive log in one write. */
  #write(records: readonly PopRecord[]): Promise<PutResult[]> {
    const now = this.#now();
    const inputs: StoreInput[] = records.map((record) => ({
      topic: this.#options.reviveTopic,
      queueId: 0,
      flag: 0,
      sysFlag: 0,
      bornTimestamp: now,
      bornHost: { address: "127.0.0.1", port: 0 },
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body: encodePopRecord(record),
      properties: `${MessageConst.TAGS}\u0001${record.k}\u0002`,
    }));
    return this.#options.store.putMessages(inputs);
  }

  #apply(record: PopRecord, at: number): void {
    if (record.k === "ck") this.#applyCheckpoint(record, at, false);
    else this.#applyAck(record, at);
  }

  #applyCheckpoint(record: CheckpointRecord, at: number, live = true): void {
    const queue = this.state.applyCheckpoint(record, at);
    if (live) {
      for (const o of record.o) this.#due.push({ deadline: record.pt + record.it, queue, offset: o, ck: at });
    }
    this.#dirty = true;
    if (live) this.#commit(queue);
  }

  #applyAck(record: AckRecord, at: number): boolean[] {
    const applied = this.state.applyAck(record, at);
    this.#dirty = true;
    const queue = this.state.find(record.g, record.t, record.q);
    if (queue !== undefined) {
      queue.trimCache();
      this.#commit(queue);
    }
    return applied;
  }

  /** Moves the group's committed offset of a queue to its lowest unsettled message. */
  #commit(queue: PopQueue): void {
    this.#options.offsets.commit(queue.group, queue.topic, queue.queueId, queue.settledUpTo);
  }

  /** Handles deliveries whose invisible time ran out (one pass at a time). */
  #reviveDue(): void {
    if (this.#reviving !== undefined || this.#closed || this.#options.paused?.() === true) return;
    const now = this.#now();
    const due: Due[] = [];
    while (this.#due.size > 0 && this.#due.peek()!.deadline <= now) {
      const entry = this.#due.pop()!;
      const d = entry.queue.inflight.get(entry.offset);
      if (d === undefined || d.ck !== entry.ck || d.popTime + d.invisibleTime !== entry.deadline) continue;
      if (d.busy) {
        this.#due.push({ ...entry, deadline: now + REVIVE_RETRY_MS });
        continue;
      }
      due.push(entry);
    }
    if (due.length === 0) return;
    this.#reviving = this.#revive(due).catch((error) => this.#options.log(`POP revive failed: ${(error as Error).message}`, "error"))
      .finally(() => (this.#reviving = undefined));
  }

  async #revive(due: Due[]): Promise<void> {
    const byQueue = new Map<PopQueue, Due[]>();
    for (const entry of due) {
      const list = byQueue.get(entry.queue);
      if (list === undefined) byQueue.set(entry.queue, [entry]);
      else list.push(entry);
    }
    for (const [queue, entries] of byQueue) await this.#reviveQueue(queue, entries);
  }

  /**
   * Redelivers a queue's expired deliveries: FIFO ones wait in place (or, past `retryMaxTimes`, go
   * to the dead-letter topic), others are stored again in the POP retry topic (or the dead-letter
   * topic); then an ack record settles them. `deadLetter` sends every one to the dead-letter topic.
   *
   * @returns Whether every entry was settled (false: some are tried again later).
   */
  async #reviveQueue(queue: PopQueue, entries: Due[], deadLetter = false): Promise<boolean> {
    const { groups, store } = this.#options;
    const maxTimes = groups.get(queue.group).retryMaxTimes;
    const settled: { entry: Due; reason: AckReason }[] = [];
    const copies = new Map<string, { inputs: StoreInput[]; entries: Due[]; reason: AckReason }>();
    let freed = false;
    let complete = true;
    for (const entry of entries) {
      const d = queue.inflight.get(entry.offset);
      // Settled since the entry was taken, or being acked, changed or moved: looked at again later.
      if (d === undefined || d.ck !== entry.ck) continue;
      if (d.busy && !deadLetter) {
        this.#due.push({ ...entry, deadline: this.#now() + REVIVE_RETRY_MS });
        continue;
      }
      if (!deadLetter && queue.fifo && d.attempt <= maxTimes) {
        queue.settle(entry.offset, d.attempt);
        this.#dirty = true;
        freed = true;
        continue;
      }
      // Acks and changes of it are refused from here on: it is being moved.
      d.busy = true;
      const read = this.#readOne(queue, entry.offset);
      if (read === undefined) {
        settled.push({ entry, reason: "gone" });
        continue;
      }
      const original = decodeRecord(read, 0);
      const reconsumeTimes = queue.fifo ? d.attempt - 1 : original.reconsumeTimes;
      const toDlq = deadLetter || queue.fifo || reconsumeTimes >= maxTimes;
      const target = toDlq ? dlqTopic(queue.group) : popRetryTopic(queue.group, queue.origin);
      let copy = copies.get(target);
      if (copy === undefined) copies.set(target, copy = { inputs: [], entries: [], reason: toDlq ? "dlq" : "revive" });
      copy.inputs.push(redeliveryInput(original, { topic: target, queueId: 0, properties: redeliveryProperties(original) }, reconsumeTimes + 1));
      copy.entries.push(entry);
    }
    for (const [topic, copy] of copies) {
      const config = await this.#options.ensureTopic(topic);
      const results = "code" in config ? [] : await store.putMessages(copy.inputs);
      if ("code" in config || results.some((r) => r.status !== "PUT_OK")) {
        const why = "code" in config ? config.remark : results.find((r) => r.status !== "PUT_OK")!.error;
        this.#options.log(`Cannot store ${copy.inputs.length} expired POP messages of group "${queue.group}" in "${topic}": ${why}; trying again`, "warn");
        complete = false;
        for (const entry of copy.entries) {
          const d = queue.inflight.get(entry.offset);
          if (d !== undefined) d.busy = false;
          this.#due.push({ ...entry, deadline: this.#now() + REVIVE_RETRY_MS });
        }
        continue;
      }
      for (const entry of copy.entries) settled.push({ entry, reason: copy.reason });
      if (copy.reason === "dlq") {
        for (let i = 0; i < copy.entries.length; i++) this.#options.deadLettered(queue.group, queue.origin, copy.inputs[i]!, results[i]!.msgId);
        this.counters.deadLettered += copy.entries.length;
      } else {
        this.counters.revived += copy.entries.length;
        freed = true;
      }
    }
    if (settled.length > 0) {
      const byReason = new Map<AckReason, Due[]>();
      for (const { entry, reason } of settled) {
        const list = byReason.get(reason);
        if (list === undefined) byReason.set(reason, [entry]);
        else list.push(entry);
      }
      const records: AckRecord[] = [...byReason].map(([reason, list]) => ({
        k: "ack",
        g: queue.group,
        t: queue.topic,
        q: queue.queueId,
        e: list.map((e) => [e.ck, e.offset] as [number, number]),
        r: reason,
      }));
      const results = await this.#write(records);
      records.forEach((record, i) => {
        const result = results[i]!;
        if (result.status === "PUT_OK") {
          this.#applyAck(record, result.queueOffset);
          return;
        }
        // The copies exist; without the ack the deliveries are revived again later (a duplicate, never a loss).
        complete = false;
        for (const [ck, offset] of record.e) {
          const d = queue.inflight.get(offset);
          if (d !== undefined && d.ck === ck) d.busy = false;
          this.#due.push({ deadline: this.#now() + REVIVE_RETRY_MS, queue, offset, ck });
        }
      });
      if (queue.fifo) freed = true;
    }
    this.#commit(queue);
    if (freed) this.#options.holds.wakeTopic(queue.origin);
    return complete;
  }
}

/** The message group in a record's property text ("" for none). */
function messageGroupIn(properties: string): string {
  return propertyValue(properties, MessageConst.SHARDING_KEY) ?? "";
}

/** The refusal of a handle whose delivery is no longer the one in flight. */
function expired(handle: ReceiptHandle, superseded = false): { code: number; remark: string } {
  return {
    code: ResponseCode.RECEIPT_HANDLE_EXPIRED,
    remark: superseded
      ? `Receipt handle of queue offset ${handle.queueOffset} (queue ${handle.queueId}) is stale: a later change of its invisible time or a later delivery replaced it`
      : `Receipt handle of queue offset ${handle.queueOffset} (queue ${handle.queueId}) has expired: the message was acked, or its invisible time ran out and it is delivered again`,
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A binary min-heap of deliveries by deadline. */
class DueHeap {
  readonly #items: Due[] = [];

  get size(): number {
    return this.#items.length;
  }

  peek(): Due | undefined {
    return this.#items[0];
  }

  push(item: Due): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.deadline <= item.deadline) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }

  pop(): Due | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= items.length) break;
      const r = l + 1;
      const child = r < items.length && items[r]!.deadline < items[l]!.deadline ? r : l;
      if (items[child]!.deadline >= last.deadline) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
