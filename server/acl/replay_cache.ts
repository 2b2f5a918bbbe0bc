/**
 * Remembers the signatures of accepted requests until their timestamp leaves the window, so a
 * captured request cannot be sent again. Memory is bounded: when `maxEntries` live signatures are
 * held, new requests are refused (retryably) rather than forgetting one early.
 *
 * @module
 */

/** Options of `ReplayCache`. */
export interface ReplayCacheOptions {
  /** Most signatures held. @default 1_000_000 */
  maxEntries?: number;
}

/** What `ReplayCache.admit` says. */
export type Admission = "fresh" | "replayed" | "full";

/** A bounded set of recent signatures, each kept until its expiry time. */
export class ReplayCache {
  readonly #maxEntries: number;
  /** Signature to the time (ms) after which the timestamp check rejects it anyway. */
  readonly #entries = new Map<string, number>();

  /** @param options The bound. */
  constructor(options: ReplayCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 1_000_000;
  }

  /** Signatures held. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Records a signature unless it was seen.
   *
   * @param signature The request's signature.
   * @param expiresAt When the request's timestamp leaves the window (ms).
   * @param now The current time (ms).
   * @returns "fresh" when recorded, "replayed" when seen before, "full" when there is no room.
   */
  admit(signature: string, expiresAt: number, now: number): Admission {
    const seen = this.#entries.get(signature);
    if (seen !== undefined && seen >= now) return "replayed";
    this.#pruneFront(now);
    if (this.#entries.size >= this.#maxEntries) {
      this.#pruneAll(now);
      if (this.#entries.size >= this.#maxEntries) return "full";
    }
    this.#entries.delete(signature);
    this.#entries.set(signature, expiresAt);
    return "fresh";
  }

  /** Drops expired entries from the oldest end (entries mostly arrive in expiry order). */
  #pruneFront(now: number): void {
    let budget = 64;
    for (const [signature, expiresAt] of this.#entries) {
      if (expiresAt >= now || budget-- === 0) break;
      this.#entries.delete(signature);
    }
  }

  #pruneAll(now: number): void {
    for (const [signature, expiresAt] of this.#entries) if (expiresAt < now) this.#entries.delete(signature);
  }
}
