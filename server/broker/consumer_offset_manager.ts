/**
 * Committed consumer offsets per (group, topic, queue), persisted atomically on an interval; and,
 * in memory only, how far pulls delivered each queue to each group (what CONSUMER_SEND_MSG_BACK
 * may send back).
 *
 * @module
 */
import * as v from "valibot";
import type { JsonFile } from "../store/json_file.ts";

/** The persisted offset table: offsets by `topic@group`, then queue id. */
export interface OffsetTable {
  offsets: Record<string, Record<string, number>>;
}

/** Schema of the persisted offset table. */
export const OffsetTable: v.GenericSchema<unknown, OffsetTable> = v.object({
  offsets: v.record(v.string(), v.record(v.string(), v.pipe(v.number(), v.safeInteger()))),
});

/** Offsets of consumer groups, keyed `topic@group`. */
export class ConsumerOffsetManager {
  readonly #file: JsonFile<OffsetTable>;
  readonly #table = new Map<string, Map<number, number>>();
  /** `topic@group` → queue id → the offset after the last message a pull returned. */
  readonly #delivered = new Map<string, Map<number, number>>();
  #dirty = false;

  /** @param file Where offsets live. */
  constructor(file: JsonFile<OffsetTable>) {
    this.#file = file;
  }

  /**
   * Loads the persisted offsets (a missing file is an empty table).
   *
   * @returns A warning when the last-good backup had to be used.
   */
  load(): string | undefined {
    const loaded = this.#file.load();
    if (loaded === undefined) return undefined;
    for (const [key, queues] of Object.entries(loaded.value.offsets)) {
      this.#table.set(key, new Map(Object.entries(queues).map(([q, o]) => [Number(q), o])));
    }
    if (loaded.source === "backup") return `Consumer offsets restored from their backup: ${loaded.mainError?.message}`;
    return undefined;
  }

  /**
   * Stores a group's next offset to consume. Negative offsets never overwrite (some clients send -1
   * for "none").
   *
   * @param group The consumer group.
   * @param topic The topic.
   * @param queueId The queue.
   * @param offset The next logical offset to consume.
   */
  commit(group: string, topic: string, queueId: number, offset: number): void {
    if (offset < 0) return;
    const key = `${topic}@${group}`;
    let queues = this.#table.get(key);
    if (queues === undefined) this.#table.set(key, (queues = new Map()));
    if (queues.get(queueId) === offset) return;
    queues.set(queueId, offset);
    this.#dirty = true;
  }

  /**
   * @returns The committed offset, or -1 when there is none.
   */
  query(group: string, topic: string, queueId: number): number {
    return this.#table.get(`${topic}@${group}`)?.get(queueId) ?? -1;
  }

  /**
   * Records that a pull delivered a queue's messages below `nextOffset` to a group.
   *
   * @param group The consumer group.
   * @param topic The topic.
   * @param queueId The queue.
   * @param nextOffset The pull's next begin offset.
   */
  delivered(group: string, topic: string, queueId: number, nextOffset: number): void {
    const key = `${topic}@${group}`;
    let queues = this.#delivered.get(key);
    if (queues === undefined) this.#delivered.set(key, (queues = new Map()));
    if ((queues.get(queueId) ?? -1) < nextOffset) queues.set(queueId, nextOffset);
  }

  /**
   * Whether a pull of this broker delivered a message to a group (since the broker started).
   *
   * @param group The consumer group.
   * @param topic The message's topic.
   * @param queueId Its queue.
   * @param queueOffset Its queue offset.
   * @returns Whether the group was handed it.
   */
  wasDelivered(group: string, topic: string, queueId: number, queueOffset: number): boolean {
    return queueOffset < (this.#delivered.get(`${topic}@${group}`)?.get(queueId) ?? 0);
  }

  /** Every `[topic, group, queueId, offset]`, for admin views. */
  *entries(): Generator<[string, string, number, number]> {
    for (const [key, queues] of this.#table) {
      const at = key.lastIndexOf("@");
      for (const [queueId, offset] of queues) yield [key.slice(0, at), key.slice(at + 1), queueId, offset];
    }
  }

  /**
   * Forgets every group's offsets of a topic.
   *
   * @param topic The deleted topic.
   */
  deleteTopic(topic: string): void {
    for (const key of [...this.#delivered.keys()]) {
      if (key.slice(0, key.lastIndexOf("@")) === topic) this.#delivered.delete(key);
    }
    for (const key of [...this.#table.keys()]) {
      if (key.slice(0, key.lastIndexOf("@")) === topic) {
        this.#table.delete(key);
        this.#dirty = true;
      }
    }
  }

  /**
   * Replaces every offset with a master's table (a slave's periodic copy); saved by the next
   * `persist()` when anything changed.
   *
   * @param offsets The master's offsets: `topic@group` → queue id → offset.
   */
  replaceAll(offsets: OffsetTable["offsets"]): void {
    const next = new Map<string, Map<number, number>>();
    for (const [key, queues] of Object.entries(offsets)) {
      next.set(key, new Map(Object.entries(queues).map(([q, o]) => [Number(q), o])));
    }
    const same = next.size === this.#table.size && [...next].every(([key, queues]) => {
      const mine = this.#table.get(key);
      return mine !== undefined && mine.size === queues.size && [...queues].every(([q, o]) => mine.get(q) === o);
    });
    if (same) return;
    this.#table.clear();
    for (const [key, queues] of next) this.#table.set(key, queues);
    this.#dirty = true;
  }

  /** Saves the table if it changed. */
  async persist(): Promise<void> {
    if (!this.#dirty) return;
    this.#dirty = false;
    const offsets: Record<string, Record<string, number>> = {};
    for (const [key, queues] of this.#table) offsets[key] = Object.fromEntries(queues);
    try {
      await this.#file.save({ offsets });
    } catch (error) {
      this.#dirty = true;
      throw error;
    }
  }
}
