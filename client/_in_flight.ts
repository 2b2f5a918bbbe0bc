/**
 * Bounds the sends a producer has in flight, by count and by bytes.
 *
 * @module
 */
import { RequestTimeoutError } from "../core/errors.ts";

interface Waiter {
  bytes: number;
  resolve(): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * A FIFO semaphore over two budgets. A request larger than the whole byte budget is let through
 * alone, so one big message never waits forever.
 */
export class InFlightLimiter {
  readonly #maxCount: number;
  readonly #maxBytes: number;
  readonly #waiters: Waiter[] = [];
  readonly #idle: (() => void)[] = [];
  #count = 0;
  #bytes = 0;

  /**
   * @param maxCount Most holders at once.
   * @param maxBytes Most bytes held at once.
   */
  constructor(maxCount: number, maxBytes: number) {
    if (!Number.isInteger(maxCount) || maxCount < 1) throw new RangeError(`maxInFlight "${maxCount}" must be a positive integer`);
    if (!(maxBytes >= 1)) throw new RangeError(`maxInFlightBytes "${maxBytes}" must be positive`);
    this.#maxCount = maxCount;
    this.#maxBytes = maxBytes;
  }

  /** Holders now. */
  get count(): number {
    return this.#count;
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Callers waiting for room. */
  get waiting(): number {
    return this.#waiters.length;
  }

  /**
   * Takes room for `bytes`, waiting in line while the budgets are used up.
   *
   * @param bytes Size of what is sent.
   * @param timeoutMs Longest wait.
   * @throws {RequestTimeoutError} When no room frees up in time.
   */
  acquire(bytes: number, timeoutMs: number): Promise<void> {
    if (this.tryAcquire(bytes)) return Promise.resolve();
    return this.#wait(bytes, timeoutMs);
  }

  /**
   * Takes room for `bytes` if there is some now and nobody waits.
   *
   * @param bytes Size of what is sent.
   * @returns Whether the room was taken (else call `acquire`).
   */
  tryAcquire(bytes: number): boolean {
    if (this.#waiters.length === 0 && this.#fits(bytes)) {
      this.#take(bytes);
      return true;
    }
    return false;
  }

  #wait(bytes: number, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { bytes, resolve, reject, timer: undefined };
      waiter.timer = setTimeout(() => {
        const index = this.#waiters.indexOf(waiter);
        if (index < 0) return;
        this.#waiters.splice(index, 1);
        reject(new RequestTimeoutError(
          `Send waited ${timeoutMs} ms for room among ${this.#count} sends (${this.#bytes} bytes) in flight`,
        ));
        this.#pump();
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /**
   * Gives back room taken with `acquire`.
   *
   * @param bytes The size passed to `acquire`.
   */
  release(bytes: number): void {
    this.#count--;
    this.#bytes -= bytes;
    this.#pump();
    if (this.#count === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  /**
   * Waits until nothing is held.
   *
   * @returns Resolves when the count drops to zero (at once when it is zero).
   */
  idle(): Promise<void> {
    if (this.#count === 0 && this.#waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #fits(bytes: number): boolean {
    return this.#count < this.#maxCount && (this.#count === 0 || this.#bytes + bytes <= this.#maxBytes);
  }

  #take(bytes: number): void {
    this.#count++;
    this.#bytes += bytes;
  }

  #pump(): void {
    while (this.#waiters.length > 0 && this.#fits(this.#waiters[0]!.bytes)) {
      const waiter = this.#waiters.shift()!;
      clearTimeout(waiter.timer);
      this.#take(waiter.bytes);
      waiter.resolve();
    }
  }
}
