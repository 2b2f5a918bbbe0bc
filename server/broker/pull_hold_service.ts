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

/** The queue id under which pops of any queue of a topic wait: they wake on a message to any of its queues. */
export const ANY_QUEUE = -1;
const ANY_QUEUE_SUFFIX = `@${ANY_QUEUE}`;

/** Options of `PullHoldService`. */
export interface PullHoldServiceOptions {
  /** How often expired holds are answered. @default 100 */
  checkIntervalMs?: number;
  /** Most held pulls at once; past it pulls are refused (0 disables long polling). @default 10000 */
  maxHeld?: number;
  /** Most held pulls of one connection, so one client cannot take every slot. @default 1000 */
  maxHeldPerConnection?: number;
  now?: () => number;
}

/**
 * What `hold` did: parked the pull, or refused it because every slot, or every slot its connection
 * may have, is taken, because the service shut down, or because the client gave up on the request
 * (`drop`).
 */
export type HoldResult = "HELD" | "FULL" | "CONNECTION_FULL" | "STOPPED" | "DROPPED";

/** Parks pull requests by `topic@queueId`, within a total and a per-connection number of slots. */
export class PullHoldService {
  /** Most held pulls at once. */
  readonly maxHeld: number;
  /** Most held pulls of one connection. */
  readonly maxHeldPerConnection: number;
  readonly #held = new Map<string, HeldPull[]>();
  readonly #byConnection = new Map<Connection, number>();
  /** Answers expired holds; runs from the first hold until `shutdown`. */
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #checkIntervalMs: number;
  readonly #now: () => number;
  #count = 0;
  /** Holds parked on a whole topic (pops of any queue). */
  #anyQueue = 0;
  #refused = 0;
  #stopped = false;
  /** Requests their clients gave up on: never parked again. */
  readonly #dropped = new WeakSet<Command>();

  /**
   * @param options Intervals and limits.
   * @throws {RangeError} When a limit is not a whole number in range.
   */
  constructor(options: PullHoldServiceOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.maxHeld = options.maxHeld ?? 10_000;
    if (!Number.isSafeInteger(this.maxHeld) || this.maxHeld < 0) {
      throw new RangeError(`Invalid maxHeldPulls "${this.maxHeld}": expected an integer of at least 0`);
    }
    this.maxHeldPerConnection = options.maxHeldPerConnection ?? 1000;
    if (!Number.isSafeInteger(this.maxHeldPerConnection) || this.maxHeldPerConnection < 1) {
      throw new RangeError(`Invalid maxHeldPullsPerConnection "${this.maxHeldPerConnection}": expected an integer of at least 1`);
    }
    this.#checkIntervalMs = options.checkIntervalMs ?? 100;
  }

  /** Whether `shutdown` ran: nothing parks any more. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Pulls parked now. */
  get size(): number {
    return this.#count;
  }

  /** Pulls refused so far because the slots (in all or of their connection) were taken. */
  get refused(): number {
    return this.#refused;
  }

  /**
   * @param connection A client connection.
   * @returns Its pulls parked now.
   */
  heldBy(connection: Connection): number {
    return this.#byConnection.get(connection) ?? 0;
  }

  /**
   * Parks a pull (or a pop), unless every slot or every slot of its connection is taken.
   *
   * @param topic The topic.
   * @param queueId The queue, or `ANY_QUEUE` to wake on a message to any queue of the topic.
   * @param pull The request and how to answer it.
   * @returns "HELD", or why not (then answer the pull now, as busy).
   */
  hold(topic: string, queueId: number, pull: HeldPull): HoldResult {
    const mine = this.#byConnection.get(pull.connection) ?? 0;
    if (this.#stopped) return "STOPPED";
    if (this.#dropped.has(pull.request)) return "DROPPED";
    if (this.#count >= this.maxHeld || mine >= this.maxHeldPerConnection) {
      this.#refused++;
      return this.#count >= this.maxHeld ? "FULL" : "CONNECTION_FULL";
    }
    const key = `${topic}@${queueId}`;
    const list = this.#held.get(key);
    if (list === undefined) this.#held.set(key, [pull]);
    else list.push(pull);
    this.#byConnection.set(pull.connection, mine + 1);
    this.#count++;
    if (queueId === ANY_QUEUE) this.#anyQueue++;
    this.#timer ??= setInterval(() => this.#expire(), this.#checkIntervalMs);
    return "HELD";
  }

  /**
   * Wakes the pulls waiting on a queue that can use the new message, and the pops waiting on its
   * topic (`ANY_QUEUE`).
   *
   * @param topic The topic.
   * @param queueId The queue.
   * @param tagHash The new message's tag hash.
   */
  notify(topic: string, queueId: number, tagHash: number): void {
    if (this.#count === 0) return;
    this.#wakeList(`${topic}@${queueId}`, tagHash);
    if (this.#anyQueue > 0) this.#wakeList(`${topic}@${ANY_QUEUE}`, tagHash);
  }

  /**
   * Wakes every pop waiting on a topic (held with `ANY_QUEUE`), whatever it filters: a message
   * became visible again, or a FIFO message group was freed.
   *
   * @param topic The topic.
   */
  wakeTopic(topic: string): void {
    if (this.#anyQueue > 0) this.#wakeList(`${topic}@${ANY_QUEUE}`, undefined);
  }

  #wakeList(key: string, tagHash: number | undefined): void {
    const list = this.#held.get(key);
    if (list === undefined) return;
    const stay: HeldPull[] = [];
    const wake: HeldPull[] = [];
    for (const pull of list) {
      if (pull.connection.closed) this.#release(pull, key);
      else if (tagHash === undefined || pull.accepts === undefined || pull.accepts(tagHash)) {
        this.#release(pull, key);
        wake.push(pull);
      } else stay.push(pull);
    }
    if (stay.length === 0) this.#held.delete(key);
    else this.#held.set(key, stay);
    for (const pull of wake) pull.wake();
  }

  /**
   * Takes a request back unanswered: its client gave up on it (a cancelled RocketMQ 5 receive, whose
   * client's other calls share the connection, so closing it is not an option). A parked request
   * frees its slot at once and is never woken; one being answered now (woken, not parked) is not
   * parked again, so its answer comes as soon as it is ready.
   *
   * @param request The request as its processor parked it.
   * @returns Whether it was parked (then no answer will come for it).
   */
  drop(request: Command): boolean {
    this.#dropped.add(request);
    for (const [key, list] of this.#held) {
      const i = list.findIndex((pull) => pull.request === request);
      if (i < 0) continue;
      const [pull] = list.splice(i, 1);
      if (list.length === 0) this.#held.delete(key);
      this.#release(pull!, key);
      return true;
    }
    return false;
  }

  /** Answers every parked pull now and parks no more. */
  shutdown(): void {
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    const all = [...this.#held.values()].flat();
    this.#held.clear();
    this.#byConnection.clear();
    this.#count = 0;
    this.#anyQueue = 0;
    for (const pull of all) if (!pull.connection.closed) pull.wake();
  }

  /** Frees a pull's slot (the pull has left its list, keyed `key`, or is about to). */
  #release(pull: HeldPull, key: string): void {
    this.#count--;
    if (key.endsWith(ANY_QUEUE_SUFFIX)) this.#anyQueue--;
    const mine = (this.#byConnection.get(pull.connection) ?? 1) - 1;
    if (mine <= 0) this.#byConnection.delete(pull.connection);
    else this.#byConnection.set(pull.connection, mine);
  }

  #expire(): void {
    if (this.#count === 0) return;
    const now = this.#now();
    const due: HeldPull[] = [];
    for (const [key, list] of this.#held) {
      const stay = list.filter((pull) => {
        if (pull.connection.closed) {
          this.#release(pull, key);
          return false;
        }
        if (pull.deadline <= now) {
          this.#release(pull, key);
          due.push(pull);
          return false;
        }
        return true;
      });
      if (stay.length === 0) this.#held.delete(key);
      else if (stay.length !== list.length) this.#held.set(key, stay);
    }
    for (const pull of due) pull.wake();
  }
}
