/**
 * The client's cache of one queue's pulled, not yet finished messages.
 *
 * @module
 */
import type { MessageExt } from "../core/model/message.ts";
import type { MessageQueue } from "../core/model/message_queue.ts";

/** What a `ProcessQueue` looks like now, for monitoring. */
export interface ProcessQueueStats {
  /** The queue. */
  queue: MessageQueue;
  /** Messages pulled and not yet finished. */
  cachedCount: number;
  /** Their body bytes. */
  cachedBytes: number;
  /** The offset the next pull asks for (-1 before the first). */
  nextPullOffset: number;
  /** The offset that would be committed now (-1 when unknown). */
  commitOffset: number;
  /** When the last pull answered (ms since the epoch, 0 for never). */
  lastPullTime: number;
  /** When a handler last finished a message of this queue (0 for never). */
  lastConsumeTime: number;
  /** Orderly mode: whether this member holds the broker's lock on the queue. */
  locked: boolean;
}

/**
 * Pulled messages of one queue, kept in offset order until their handler finishes. The offset
 * committed for the queue is the lowest one still here, so a crash redelivers rather than loses.
 *
 * @example Offsets advance only past finished messages
 * ```ts ignore
 * const pq = new ProcessQueue({ topic: "t", brokerName: "b", queueId: 0 });
 * pq.add([m0, m1, m2]); // offsets 0, 1, 2
 * pq.remove([m1]); // 0: message 0 is still in process
 * pq.remove([m0]); // 2
 * ```
 */
export class ProcessQueue {
  /** The queue. */
  readonly queue: MessageQueue;
  /** Queue offset to message; insertion order is offset order because pulls only move forward. */
  readonly #messages = new Map<number, MessageExt>();
  #bytes = 0;
  #maxOffset = -1;
  /** Every message below this offset was added or filtered out (the pulls reached it). */
  #floor = -1;
  #dropped = false;
  #inFlight = 0;
  #idleWaiters: (() => void)[] = [];
  /** The offset the next pull asks for (-1 before the first). */
  nextPullOffset = -1;
  /** When the last pull answered. */
  lastPullTime = 0;
  /** When a handler last finished a message of this queue. */
  lastConsumeTime = 0;
  /** Orderly mode: the broker lock is held. */
  locked = false;
  /** Orderly mode: when the lock was last taken or renewed. */
  lastLockTime = 0;
  /** Orderly mode: a consume task is running or scheduled for this queue. */
  consuming = false;

  /** @param queue The queue this cache belongs to. */
  constructor(queue: MessageQueue) {
    this.queue = queue;
  }

  /** Messages held. */
  get count(): number {
    return this.#messages.size;
  }

  /** Body bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Whether the queue was released: no more pulls, and results of running handlers are not committed. */
  get dropped(): boolean {
    return this.#dropped;
  }

  /** Handlers running on messages of this queue. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Adds pulled messages (in offset order, after any held ones).
   *
   * @param messages The messages.
   */
  add(messages: readonly MessageExt[]): void {
    for (const message of messages) {
      if (this.#messages.has(message.queueOffset)) continue;
      this.#messages.set(message.queueOffset, message);
      this.#bytes += message.body.length;
      if (message.queueOffset > this.#maxOffset) this.#maxOffset = message.queueOffset;
    }
  }

  /**
   * Removes finished messages.
   *
   * @param messages The messages.
   * @returns The offset to commit now (see `commitOffset`).
   */
  remove(messages: readonly MessageExt[]): number {
    for (const message of messages) {
      const held = this.#messages.get(message.queueOffset);
      if (held === undefined) continue;
      this.#messages.delete(message.queueOffset);
      this.#bytes -= held.body.length;
    }
    return this.commitOffset;
  }

  /**
   * Records that pulls reached an offset: every message below it was added or filtered out.
   *
   * @param offset The pull's next begin offset.
   */
  advanceTo(offset: number): void {
    if (offset > this.#floor) this.#floor = offset;
  }

  /**
   * The offset that is safe to commit: the lowest message still held, or else where the pulls have
   * reached (past filtered-out messages too); -1 when nothing is known yet.
   */
  get commitOffset(): number {
    for (const offset of this.#messages.keys()) return offset;
    return Math.max(this.#maxOffset < 0 ? -1 : this.#maxOffset + 1, this.#floor);
  }

  /**
   * The first held messages, in offset order (orderly mode consumes these and removes them when done).
   *
   * @param max How many at most.
   * @returns The messages.
   */
  peek(max: number): MessageExt[] {
    const out: MessageExt[] = [];
    for (const message of this.#messages.values()) {
      if (out.length >= max) break;
      out.push(message);
    }
    return out;
  }

  /** Forgets every held message (after a seek or an illegal offset). */
  clear(): void {
    this.#messages.clear();
    this.#bytes = 0;
    this.#maxOffset = -1;
    this.#floor = -1;
  }

  /** Marks the queue released. */
  drop(): void {
    this.#dropped = true;
  }

  /** Counts a handler starting on messages of this queue. */
  begin(): void {
    this.#inFlight++;
  }

  /** Counts a handler finishing; wakes `idle()` waiters at zero. */
  end(): void {
    this.#inFlight--;
    this.lastConsumeTime = Date.now();
    if (this.#inFlight === 0) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  /**
   * Resolves when no handler runs on this queue, or after a timeout.
   *
   * @param timeoutMs The longest wait.
   * @returns Whether the queue became idle in time.
   */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.#inFlight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#idleWaiters = this.#idleWaiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#idleWaiters.push(wake);
    });
  }

  /** @returns A snapshot for monitoring. */
  stats(): ProcessQueueStats {
    return {
      queue: this.queue,
      cachedCount: this.count,
      cachedBytes: this.#bytes,
      nextPullOffset: this.nextPullOffset,
      commitOffset: this.commitOffset,
      lastPullTime: this.lastPullTime,
      lastConsumeTime: this.lastConsumeTime,
      locked: this.locked,
    };
  }
}
