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
  /** Messages pulled whose bytes failed their check (body CRC): not delivered, logged. */
  corruptMessages: number;
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
  /** The pulled batches, in offset order (pulls only move forward); those before `#head` are finished. */
  #windows: Window[] = [];
  #head = 0;
  #count = 0;
  #bytes = 0;
  #maxOffset = -1;
  /** Every message below this offset was added or filtered out (the pulls reached it). */
  #floor = -1;
  #dropped = false;
  #inFlight = 0;
  #idleWaiters: (() => void)[] = [];
  /** Flow control: the pull loop waiting for the queue to hold fewer than `count` messages and `bytes` bytes. */
  #room: { count: number; bytes: number; wake: () => void } | undefined;
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
  /** Orderly mode: the master the lock is held at (another master of the group, after a failover, holds no lock of it). */
  lockAddress: string | undefined = undefined;
  /** Orderly mode: a consume task is running or scheduled for this queue. */
  consuming = false;
  /** Messages pulled whose bytes failed their check: not delivered. */
  corruptMessages = 0;

  /** @param queue The queue this cache belongs to. */
  constructor(queue: MessageQueue) {
    this.queue = queue;
  }

  /** Messages held. */
  get count(): number {
    return this.#count;
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
   * Adds pulled messages (in offset order, after any held ones; offsets already seen are skipped).
   *
   * @param messages The messages.
   */
  add(messages: readonly MessageExt[]): void {
    let fresh = messages;
    if (messages.length > 0 && messages[0]!.queueOffset <= this.#maxOffset) {
      fresh = messages.filter((m) => m.queueOffset > this.#maxOffset);
    }
    if (fresh.length === 0) return;
    let bytes = 0;
    for (let i = 0; i < fresh.length; i++) bytes += fresh[i]!.body.length;
    this.#windows.push(new Window(fresh));
    this.#count += fresh.length;
    this.#bytes += bytes;
    this.#maxOffset = fresh[fresh.length - 1]!.queueOffset;
  }

  /**
   * Removes finished messages.
   *
   * @param messages The messages.
   * @returns The offset to commit now (see `commitOffset`).
   */
  remove(messages: readonly MessageExt[]): number {
    this.removeRange(messages, 0, messages.length);
    return this.commitOffset;
  }

  /**
   * Removes one finished message (see `remove`).
   *
   * @param message The message.
   */
  removeOne(message: MessageExt): void {
    ONE[0] = message;
    this.removeRange(ONE, 0, 1);
    ONE[0] = undefined;
  }

  /**
   * Removes the finished messages `from` to `to` (exclusive) of `messages` at once: each pull's
   * window is looked up once for a run of its messages, and counts, flow control and the finished
   * windows are settled once for the run.
   *
   * @param messages The messages, in any order (offset order is cheapest).
   * @param from The first index.
   * @param to The index after the last.
   */
  removeRange(messages: readonly (MessageExt | undefined)[], from: number, to: number): void {
    const windows = this.#windows;
    let window: Window | undefined;
    let removed = 0;
    let bytes = 0;
    for (let i = from; i < to; i++) {
      const offset = messages[i]!.queueOffset;
      if (window === undefined || offset < window.firstOffset || offset > window.lastOffset) {
        // Binary search for the last window starting at or below the offset.
        let lo = this.#head;
        let hi = windows.length - 1;
        while (lo < hi) {
          const mid = (lo + hi + 1) >>> 1;
          if (windows[mid]!.firstOffset <= offset) lo = mid;
          else hi = mid - 1;
        }
        window = windows[lo];
        if (window === undefined) continue;
      }
      const index = window.finish(offset);
      if (index < 0) continue;
      removed++;
      bytes += window.messages[index]!.body.length;
    }
    if (removed === 0) return;
    this.#count -= removed;
    this.#bytes -= bytes;
    const room = this.#room;
    if (room !== undefined && this.#count < room.count && this.#bytes < room.bytes) room.wake();
    while (this.#head < windows.length && windows[this.#head]!.remaining === 0) this.#head++;
    if (this.#head === windows.length) {
      this.#windows = [];
      this.#head = 0;
    } else if (this.#head > 64 && this.#head * 2 > windows.length) {
      this.#windows = windows.slice(this.#head);
      this.#head = 0;
    }
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
    const window = this.#windows[this.#head];
    if (window !== undefined) return window.messages[window.first]!.queueOffset;
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
    for (let w = this.#head; w < this.#windows.length && out.length < max; w++) {
      const window = this.#windows[w]!;
      for (let i = window.first; i < window.messages.length && out.length < max; i++) {
        if (window.done[i] === 0) out.push(window.messages[i]!);
      }
    }
    return out;
  }

  /** Forgets every held message (after a seek or an illegal offset). */
  clear(): void {
    this.#windows = [];
    this.#head = 0;
    this.#count = 0;
    this.#bytes = 0;
    this.#maxOffset = -1;
    this.#floor = -1;
    this.#room?.wake();
  }

  /** Marks the queue released. */
  drop(): void {
    this.#dropped = true;
    this.#room?.wake();
  }

  /**
   * Flow control: resolves once the queue holds fewer than `count` messages and fewer than `bytes`
   * body bytes (the handlers or polls finished some), when it is dropped or cleared, or after
   * `timeoutMs`, whichever comes first. A pull loop waits on this rather than sleeping a fixed
   * pause, so it pulls again as soon as there is room. One waiter at a time (the queue's pull loop).
   *
   * @param count Messages held below which there is room.
   * @param bytes Body bytes held below which there is room.
   * @param timeoutMs The longest wait.
   */
  room(count: number, bytes: number, timeoutMs: number): Promise<void> {
    if ((this.#count < count && this.#bytes < bytes) || this.#dropped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        if (this.#room?.wake === wake) this.#room = undefined;
        resolve();
      };
      const timer = setTimeout(wake, timeoutMs);
      (timer as { unref?: () => void }).unref?.();
      this.#room = { count, bytes, wake };
    });
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
      corruptMessages: this.corruptMessages,
    };
  }

  /**
   * Counts and reports the corrupt records of a pull (left out of its messages; the offset moves
   * past them with the rest).
   *
   * @param errors `PullResult.corrupt`.
   * @param log Where to report each.
   */
  noteCorrupt(errors: readonly Error[], log: (line: string) => void): void {
    for (const error of errors) {
      this.corruptMessages++;
      log(error.message);
    }
  }
}

/** `removeOne`'s argument, as a run of one for `removeRange` (no array a call). */
const ONE: (MessageExt | undefined)[] = [undefined];

/** The messages of one pull and which of them are finished. */
class Window {
  readonly messages: readonly MessageExt[];
  readonly firstOffset: number;
  readonly lastOffset: number;
  readonly done: Uint8Array;
  /** Whether the offsets have no gaps, so a message's index is its offset minus the first. */
  readonly #dense: boolean;
  remaining: number;
  /** Index of the first message not finished. */
  first = 0;

  constructor(messages: readonly MessageExt[]) {
    this.messages = messages;
    this.firstOffset = messages[0]!.queueOffset;
    this.lastOffset = messages[messages.length - 1]!.queueOffset;
    this.done = new Uint8Array(messages.length);
    this.#dense = this.lastOffset - this.firstOffset === messages.length - 1;
    this.remaining = messages.length;
  }

  /** Marks the message at `offset` finished; returns its index, or -1 when it is not here or was already. */
  finish(offset: number): number {
    const messages = this.messages;
    let i: number;
    if (this.#dense) {
      i = offset - this.firstOffset;
    } else {
      let lo = 0;
      let hi = messages.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (messages[mid]!.queueOffset < offset) lo = mid + 1;
        else hi = mid;
      }
      i = lo;
    }
    if (i < 0 || i >= messages.length || messages[i]!.queueOffset !== offset || this.done[i] === 1) return -1;
    this.done[i] = 1;
    this.remaining--;
    if (i === this.first) {
      let next = i + 1;
      while (next < messages.length && this.done[next] === 1) next++;
      this.first = next;
    }
    return i;
  }
}
