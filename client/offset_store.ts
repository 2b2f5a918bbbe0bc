/**
 * Where a consumer keeps the offsets it has consumed up to: on the broker for clustering groups,
 * with the member itself for broadcasting.
 *
 * @module
 */
import { type MessageQueue, messageQueueKey } from "../core/model/message_queue.ts";

/**
 * Consumed offsets of a consumer's queues. `update` is cheap and in memory; `persist` makes the
 * offsets durable (the broker, a file…), and `read` loads one.
 */
export interface OffsetStore {
  /**
   * Loads a queue's offset from durable storage, caching it.
   *
   * @param queue The queue.
   * @returns The next offset to consume, or -1 when none is stored.
   */
  read(queue: MessageQueue): Promise<number>;
  /**
   * The cached offset of a queue.
   *
   * @param queue The queue.
   * @returns The offset, or -1 when none is cached.
   */
  get(queue: MessageQueue): number;
  /**
   * Sets a queue's offset in memory.
   *
   * @param queue The queue.
   * @param offset The next offset to consume.
   * @param increaseOnly Ignore an offset below the cached one (consumption never moves back; a seek may).
   */
  update(queue: MessageQueue, offset: number, increaseOnly?: boolean): void;
  /**
   * Stores the cached offsets of some queues (those changed since their last persist).
   *
   * @param queues The queues.
   */
  persist(queues: readonly MessageQueue[]): Promise<void>;
  /**
   * Forgets a queue's cached offset (after it was released and persisted).
   *
   * @param queue The queue.
   */
  remove(queue: MessageQueue): void;
}

interface Entry {
  queue: MessageQueue;
  offset: number;
  /** The offset last made durable (-1: never). */
  persisted: number;
}

/** Offset bookkeeping shared by the stores: entries with dirty tracking. */
class OffsetCache {
  readonly entries = new Map<string, Entry>();

  get(queue: MessageQueue): number {
    return this.entries.get(messageQueueKey(queue))?.offset ?? -1;
  }

  update(queue: MessageQueue, offset: number, increaseOnly = false): void {
    if (!Number.isSafeInteger(offset) || offset < 0) return;
    const key = messageQueueKey(queue);
    const entry = this.entries.get(key);
    if (entry === undefined) this.entries.set(key, { queue, offset, persisted: -1 });
    else if (!increaseOnly || offset > entry.offset) entry.offset = offset;
  }

  /** Entries of `queues` whose offset changed since their last persist. */
  dirty(queues: readonly MessageQueue[]): Entry[] {
    const out: Entry[] = [];
    for (const queue of queues) {
      const entry = this.entries.get(messageQueueKey(queue));
      if (entry !== undefined && entry.offset !== entry.persisted) out.push(entry);
    }
    return out;
  }
}

/**
 * Offsets in memory only: the default for broadcasting consumers, which then start per
 * `consumeFromWhere` after a restart. Share one instance between restarts of a consumer in one
 * process to keep its place.
 *
 * @example Keep a broadcasting member's offsets across a restart in one process
 * ```ts ignore
 * const offsets = new MemoryOffsetStore();
 * const consumer = new PushConsumer({ nameServer, group: "cache", messageModel: "BROADCASTING", offsetStore: offsets });
 * ```
 */
export class MemoryOffsetStore implements OffsetStore {
  readonly #cache = new OffsetCache();
  /** Stored offsets by queue key; what `persist` wrote. */
  readonly #durable = new Map<string, number>();

  /**
   * The offset `persist` last stored for a queue, now also cached.
   *
   * @param queue The queue.
   * @returns The offset, or -1 when none was persisted.
   */
  read(queue: MessageQueue): Promise<number> {
    const offset = this.#durable.get(messageQueueKey(queue)) ?? -1;
    if (offset >= 0) this.#cache.update(queue, offset);
    return Promise.resolve(offset);
  }

  /**
   * The cached offset of a queue.
   *
   * @param queue The queue.
   * @returns The offset, or -1.
   */
  get(queue: MessageQueue): number {
    return this.#cache.get(queue);
  }

  /**
   * Sets a queue's cached offset.
   *
   * @param queue The queue.
   * @param offset The next offset to consume.
   * @param increaseOnly Ignore an offset below the cached one.
   */
  update(queue: MessageQueue, offset: number, increaseOnly = false): void {
    this.#cache.update(queue, offset, increaseOnly);
  }

  /**
   * Stores the cached offsets of some queues.
   *
   * @param queues The queues.
   */
  persist(queues: readonly MessageQueue[]): Promise<void> {
    for (const entry of this.#cache.dirty(queues)) {
      this.#durable.set(messageQueueKey(entry.queue), entry.offset);
      entry.persisted = entry.offset;
    }
    return Promise.resolve();
  }

  /**
   * Forgets a queue's cached offset (its persisted one stays).
   *
   * @param queue The queue.
   */
  remove(queue: MessageQueue): void {
    this.#cache.entries.delete(messageQueueKey(queue));
  }
}

/** The broker calls a `RemoteOffsetStore` makes. */
export interface RemoteOffsetBroker {
  /** QUERY_CONSUMER_OFFSET: -1 when the group has none for the queue. */
  query(queue: MessageQueue): Promise<number>;
  /** UPDATE_CONSUMER_OFFSET. */
  commit(queue: MessageQueue, offset: number): Promise<void>;
}

/**
 * Offsets kept by the broker for the whole group (clustering): every member sees the offsets the
 * others committed when a queue moves to it.
 */
export class RemoteOffsetStore implements OffsetStore {
  readonly #broker: RemoteOffsetBroker;
  readonly #cache = new OffsetCache();

  /** @param broker Queries and commits offsets on the broker holding each queue. */
  constructor(broker: RemoteOffsetBroker) {
    this.#broker = broker;
  }

  async read(queue: MessageQueue): Promise<number> {
    const offset = await this.#broker.query(queue);
    if (offset >= 0) {
      this.#cache.update(queue, offset);
      const entry = this.#cache.entries.get(messageQueueKey(queue))!;
      if (entry.offset === offset) entry.persisted = offset;
    }
    return offset;
  }

  get(queue: MessageQueue): number {
    return this.#cache.get(queue);
  }

  update(queue: MessageQueue, offset: number, increaseOnly = false): void {
    this.#cache.update(queue, offset, increaseOnly);
  }

  async persist(queues: readonly MessageQueue[]): Promise<void> {
    const results = await Promise.allSettled(this.#cache.dirty(queues).map(async (entry) => {
      const offset = entry.offset;
      await this.#broker.commit(entry.queue, offset);
      entry.persisted = offset;
    }));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed !== undefined) throw failed.reason;
  }

  remove(queue: MessageQueue): void {
    this.#cache.entries.delete(messageQueueKey(queue));
  }
}
