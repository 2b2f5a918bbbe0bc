/**
 * What POP knows of each (group, topic, queue): how far pops have read (the frontier), which
 * deliveries are in flight (popped, neither acked nor expired) and, for FIFO groups and pops undone,
 * which offsets wait to be delivered. Everything below the frontier that is neither in flight nor
 * waiting is settled; the lowest unsettled offset is the group's committed offset.
 *
 * The state is a function of the revive log's records (`applyCheckpoint`, `applyAck`), applied by
 * the broker as it writes them and replayed at start from the last snapshot (`snapshot`, `restore`),
 * so the live state and the rebuilt one agree.
 *
 * @module
 */
import * as v from "valibot";
import { GroupName, TopicName } from "../../../core/protocol/headers.ts";
import type { AckRecord, CheckpointRecord } from "./pop_records.ts";

/** One delivery in flight. */
export interface Delivery {
  /** Revive log offset of its checkpoint record; -1 while that record is being written. */
  ck: number;
  popTime: number;
  invisibleTime: number;
  /** Which delivery of the message this is (1 for the first). */
  attempt: number;
  /** Live only: an ack or revive of it is being written, so the revive timer leaves it alone. */
  busy?: boolean;
}

/** The POP state of one queue for one group. */
export class PopQueue {
  readonly group: string;
  /** The queue's topic: the topic itself, or the group's POP retry topic of `origin`. */
  readonly topic: string;
  readonly queueId: number;
  /** The topic consumers pop for: `topic`, or the original topic of a retry topic. */
  readonly origin: string;
  /** FIFO: one message of a message group in flight at a time, expired ones wait in place. */
  fifo: boolean;
  /** Offsets from here on were never read by a pop. */
  frontier: number;
  /** The frontier as the revive log (or the snapshot) knows it; `frontier` may be ahead of it. */
  durableFrontier: number;
  /** Offsets in flight whose checkpoint is being written. */
  readonly reserved: Set<number> = new Set();
  /** Deliveries in flight by queue offset. */
  readonly inflight: Map<number, Delivery> = new Map();
  /** Offsets read but not delivered now, with the deliveries each had so far. */
  readonly waiting: Map<number, number> = new Map();
  /** FIFO: message groups with a delivery in flight, and how many. */
  readonly busyGroups: Map<string, number> = new Map();
  /** FIFO: the message group of offsets read (a cache, rebuilt from the store when missing). */
  readonly messageGroups: Map<number, string> = new Map();
  /** Whether `inflight` was filled in ascending offset order (so its first key is its lowest). */
  #ascending = true;
  #lastInserted = -1;

  /**
   * @param key Group, topic, queue, original topic and mode.
   * @param frontier Where pops start reading.
   */
  constructor(key: { group: string; topic: string; queueId: number; origin: string; fifo: boolean }, frontier: number) {
    this.group = key.group;
    this.topic = key.topic;
    this.queueId = key.queueId;
    this.origin = key.origin;
    this.fifo = key.fifo;
    this.frontier = frontier;
    this.durableFrontier = frontier;
  }

  /** The lowest unsettled offset: what the group has consumed up to. */
  get settledUpTo(): number {
    let low = this.frontier;
    if (this.#ascending && this.inflight.size > 0) {
      const first = this.inflight.keys().next().value!;
      if (first < low) low = first;
    } else {
      for (const offset of this.inflight.keys()) if (offset < low) low = offset;
    }
    for (const offset of this.waiting.keys()) if (offset < low) low = offset;
    return low;
  }

  /** Offsets in flight or waiting. */
  get unsettled(): number {
    return this.inflight.size + this.waiting.size;
  }

  /**
   * Puts a delivery in flight (reserved while its checkpoint is written, or applied).
   *
   * @param offset The queue offset.
   * @param delivery The delivery.
   */
  deliver(offset: number, delivery: Delivery): void {
    this.waiting.delete(offset);
    const had = this.inflight.get(offset);
    if (had === undefined) {
      if (offset < this.#lastInserted) this.#ascending = false;
      this.#lastInserted = Math.max(this.#lastInserted, offset);
      if (this.fifo) this.#busy(offset, 1);
    }
    this.inflight.set(offset, delivery);
    if (delivery.ck < 0) this.reserved.add(offset);
    else this.reserved.delete(offset);
  }

  /**
   * Takes a delivery out of flight: settled, or (`wait`) back among the waiting offsets.
   *
   * @param offset The queue offset.
   * @param wait Deliveries so far, when the offset waits for another delivery.
   */
  settle(offset: number, wait?: number): void {
    if (!this.inflight.delete(offset)) return;
    this.reserved.delete(offset);
    if (this.fifo) this.#busy(offset, -1);
    if (wait !== undefined) this.waiting.set(offset, wait);
    if (this.inflight.size === 0) {
      this.#ascending = true;
      this.#lastInserted = -1;
    }
  }

  /**
   * The message group of an offset, when known.
   *
   * @param offset The queue offset.
   */
  messageGroupOf(offset: number): string | undefined {
    return this.messageGroups.get(offset);
  }

  /** Forgets cached message groups of settled offsets. */
  trimCache(): void {
    const low = this.settledUpTo;
    for (const offset of this.messageGroups.keys()) {
      if (offset < low || (offset < this.frontier && !this.inflight.has(offset) && !this.waiting.has(offset))) {
        this.messageGroups.delete(offset);
      }
    }
  }

  #busy(offset: number, delta: number): void {
    const group = this.messageGroups.get(offset) ?? "";
    const n = (this.busyGroups.get(group) ?? 0) + delta;
    if (n <= 0) this.busyGroups.delete(group);
    else this.busyGroups.set(group, n);
  }
}

/**
 * The key of a queue's state.
 *
 * @param group The group.
 * @param topic The queue's topic.
 * @param queueId The queue.
 * @returns `group@topic@queueId`.
 */
export function popQueueKey(group: string, topic: string, queueId: number): string {
  return `${group}@${topic}@${queueId}`;
}

const offset = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const count = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

/** A saved snapshot (fields as in `PopSnapshot`'s schema). */
export interface PopSnapshot {
  reviveOffset: number;
  queues: {
    g: string;
    t: string;
    q: number;
    ot: string;
    f: boolean;
    fr: number;
    i: [number, number, number, number, number][];
    w: [number, number][];
    m: [number, string][];
  }[];
}

/** Schema of a saved snapshot. */
export const PopSnapshot: v.GenericSchema<unknown, PopSnapshot> = v.object({
  /** Every revive log record below this offset is in the snapshot. */
  reviveOffset: offset,
  queues: v.array(v.object({
    g: GroupName,
    t: TopicName,
    q: count,
    ot: TopicName,
    f: v.boolean(),
    fr: offset,
    /** In flight: [offset, checkpoint, pop time, invisible time, attempt]. */
    i: v.array(v.tuple([offset, offset, count, count, count])),
    /** Waiting: [offset, deliveries so far]. */
    w: v.array(v.tuple([offset, count])),
    /** FIFO: message groups of unsettled offsets: [offset, group]. */
    m: v.optional(v.array(v.tuple([offset, v.pipe(v.string(), v.maxLength(1024))])), []),
  })),
});

/** Every queue's POP state. */
export class PopState {
  readonly queues: Map<string, PopQueue> = new Map();
  /** Revive log offset past the last record applied. */
  applied = 0;

  /**
   * The state of a queue, when there is one.
   *
   * @param group The group.
   * @param topic The queue's topic.
   * @param queueId The queue.
   */
  find(group: string, topic: string, queueId: number): PopQueue | undefined {
    return this.queues.get(popQueueKey(group, topic, queueId));
  }

  /**
   * Adds a queue's state.
   *
   * @param queue The new state.
   * @returns It.
   */
  add(queue: PopQueue): PopQueue {
    this.queues.set(popQueueKey(queue.group, queue.topic, queue.queueId), queue);
    return queue;
  }

  /**
   * Applies a checkpoint record: its offsets go in flight, the offsets it passed wait, the
   * frontier moves to where its scan ended.
   *
   * @param record The record.
   * @param at Its revive log offset.
   * @returns The queue's state.
   */
  applyCheckpoint(record: CheckpointRecord, at: number): PopQueue {
    const queue = this.find(record.g, record.t, record.q) ??
      this.add(new PopQueue({ group: record.g, topic: record.t, queueId: record.q, origin: record.ot ?? record.t, fifo: record.f }, record.b));
    queue.fifo = record.f;
    for (const [o, deliveries, group] of record.w) {
      if (queue.inflight.has(o)) continue;
      queue.messageGroups.set(o, group);
      queue.waiting.set(o, deliveries);
    }
    for (let i = 0; i < record.o.length; i++) {
      const o = record.o[i]!;
      const group = record.mg[i];
      if (group !== undefined && !queue.inflight.has(o)) queue.messageGroups.set(o, group);
      queue.deliver(o, { ck: at, popTime: record.pt, invisibleTime: record.it, attempt: record.a[i] ?? 1 });
    }
    if (record.n > queue.frontier) queue.frontier = record.n;
    if (record.n > queue.durableFrontier) queue.durableFrontier = record.n;
    this.#advance(at);
    return queue;
  }

  /**
   * Applies an ack record: each delivery it names, when still the one in flight, is settled.
   *
   * @param record The record.
   * @param at Its revive log offset.
   * @returns For each entry, whether it settled a delivery in flight.
   */
  applyAck(record: AckRecord, at: number): boolean[] {
    const queue = this.find(record.g, record.t, record.q);
    this.#advance(at);
    return record.e.map(([ck, o]) => {
      const delivery = queue?.inflight.get(o);
      if (delivery === undefined || delivery.ck !== ck) return false;
      queue!.settle(o);
      return true;
    });
  }

  #advance(at: number): void {
    if (at + 1 > this.applied) this.applied = at + 1;
  }

  /**
   * The state as a snapshot: deliveries whose checkpoint is still being written count as waiting
   * (their record, once written, lies past `reviveOffset` and is replayed).
   *
   * @returns The snapshot.
   */
  snapshot(): PopSnapshot {
    const queues: PopSnapshot["queues"] = [];
    for (const queue of this.queues.values()) {
      const inflight: PopSnapshot["queues"][number]["i"] = [];
      const waiting: PopSnapshot["queues"][number]["w"] = [...queue.waiting];
      for (const [o, d] of queue.inflight) {
        if (d.ck < 0) waiting.push([o, d.attempt - 1]);
        else inflight.push([o, d.ck, d.popTime, d.invisibleTime, d.attempt]);
      }
      const groups: [number, string][] = [];
      if (queue.fifo) {
        for (const [o] of [...inflight, ...waiting]) {
          const group = queue.messageGroups.get(o);
          if (group !== undefined) groups.push([o, group]);
        }
      }
      queues.push({
        g: queue.group,
        t: queue.topic,
        q: queue.queueId,
        ot: queue.origin,
        f: queue.fifo,
        fr: queue.frontier,
        i: inflight,
        w: waiting,
        m: groups,
      });
    }
    return { reviveOffset: this.applied, queues };
  }

  /**
   * Loads a snapshot into an empty state.
   *
   * @param snapshot What `snapshot()` returned.
   */
  restore(snapshot: PopSnapshot): void {
    this.applied = snapshot.reviveOffset;
    for (const saved of snapshot.queues) {
      const queue = this.add(new PopQueue({ group: saved.g, topic: saved.t, queueId: saved.q, origin: saved.ot, fifo: saved.f }, saved.fr));
      for (const [o, group] of saved.m) queue.messageGroups.set(o, group);
      for (const [o, deliveries] of saved.w) queue.waiting.set(o, deliveries);
      for (const [o, ck, popTime, invisibleTime, attempt] of saved.i) queue.deliver(o, { ck, popTime, invisibleTime, attempt });
    }
  }
}
