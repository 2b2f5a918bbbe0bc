/**
 * Long polling: pull requests that found nothing wait here until a message arrives on their
 * queue or their suspend time runs out.
 *
 * @module
 */
import type { Command } from "../../core/protocol/command.ts";
import type { Connection } from "../../core/remoting/connection.ts";

/** A parked pull request. */
export interface HeldPull {
  request: Command;
  connection: Connection;
  /** Wall-clock ms when it must be answered regardless. */
  deadline: number;
  /** Matches a new message's tag hash; undefined = every message. */
  accepts?: (tagHash: number) => boolean;
  /** Re-evaluates the pull and answers it (never parks again). */
  wake(): void;
}

/** Options of `PullHoldService`. */
export interface PullHoldServiceOptions {
  /** How often expired holds are answered. @default 100 */
  checkIntervalMs?: number;
  /** Most held pulls at once; past it pulls are answered at once (0 disables long polling). @default 10000 */
  maxHeld?: number;
  now?: () => number;
}

/** Parks pull requests by `topic@queueId`. */
export class PullHoldService {
  readonly #held = new Map<string, HeldPull[]>();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #now: () => number;
  readonly #maxHeld: number;
  #count = 0;

  /** @param options Intervals and limits. */
  constructor(options: PullHoldServiceOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxHeld = options.maxHeld ?? 10_000;
    if (!Number.isSafeInteger(this.#maxHeld) || this.#maxHeld < 0) {
      throw new RangeError(`Invalid maxHeldPulls "${this.#maxHeld}": expected an integer of at least 0`);
    }
    this.#timer = setInterval(() => this.#expire(), options.checkIntervalMs ?? 100);
  }

  /** Pulls parked now. */
  get size(): number {
    return this.#count;
  }

  /**
   * Parks a pull.
   *
   * @param topic The topic.
   * @param queueId The queue.
   * @param pull The request and how to answer it.
   * @returns False when the service is full (answer the pull now instead).
   */
  hold(topic: string, queueId: number, pull: HeldPull): boolean {
    if (this.#count >= this.#maxHeld) return false;
    const key = `${topic}@${queueId}`;
    const list = this.#held.get(key);
    if (list === undefined) this.#held.set(key, [pull]);
    else list.push(pull);
    this.#count++;
    return true;
  }

  /**
   * Wakes the pulls waiting on a queue that can use the new message.
   *
   * @param topic The topic.
   * @param queueId The queue.
   * @param tagHash The new message's tag hash.
   */
  notify(topic: string, queueId: number, tagHash: number): void {
    if (this.#count === 0) return;
    const key = `${topic}@${queueId}`;
    const list = this.#held.get(key);
    if (list === undefined) return;
    const stay: HeldPull[] = [];
    const wake: HeldPull[] = [];
    for (const pull of list) {
      if (pull.connection.closed) continue;
      if (pull.accepts === undefined || pull.accepts(tagHash)) wake.push(pull);
      else stay.push(pull);
    }
    this.#count -= list.length - stay.length;
    if (stay.length === 0) this.#held.delete(key);
    else this.#held.set(key, stay);
    for (const pull of wake) pull.wake();
  }

  /** Answers every parked pull now and stops the timer. */
  shutdown(): void {
    clearInterval(this.#timer);
    const all = [...this.#held.values()].flat();
    this.#held.clear();
    this.#count = 0;
    for (const pull of all) if (!pull.connection.closed) pull.wake();
  }

  #expire(): void {
    if (this.#count === 0) return;
    const now = this.#now();
    const due: HeldPull[] = [];
    for (const [key, list] of this.#held) {
      const stay = list.filter((pull) => {
        if (pull.connection.closed) return false;
        if (pull.deadline <= now) {
          due.push(pull);
          return false;
        }
        return true;
      });
      this.#count -= list.length - stay.length;
      if (stay.length === 0) this.#held.delete(key);
      else if (stay.length !== list.length) this.#held.set(key, stay);
    }
    for (const pull of due) pull.wake();
  }
}
