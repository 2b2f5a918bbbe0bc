/**
 * Messages per second over a fixed trailing window, kept by the broker: a timer samples the
 * ever-growing counters once a second into a small ring, and a reading compares the live counters
 * with the sample from one window ago. So a rate says what happened in the last few seconds, no
 * matter how often (or how rarely) anyone asks, and falls to zero once traffic stops. The send
 * and pull paths only bump the counters, as before.
 *
 * @module
 */
import type { BrokerStats } from "./context.ts";

/** A rate reading. */
export interface TrafficRates {
  /** Messages stored per second. */
  in: number;
  /** Messages handed to consumers per second. */
  out: number;
  /** The span the rates were measured over, ms (the window, or less just after start). */
  windowMs: number;
}

/** Options of `TrafficWindow`. */
export interface TrafficWindowOptions {
  /** Width of the trailing window. @default 5000 */
  windowMs?: number;
  /** How often `sample()` is expected to run (the ring holds one window of samples and one more). @default 1000 */
  resolutionMs?: number;
  /** When the counters were zero (the broker's start), ms. */
  startedAt: number;
}

/** The broker's trailing-window rates, for the whole broker and per topic. */
export class TrafficWindow {
  readonly #stats: BrokerStats;
  readonly #windowMs: number;
  readonly #slots: number;
  /** Time of the sample in each slot. */
  readonly #at: Float64Array;
  /** `in`, `out` of the totals per slot (index `slot * 2`, `slot * 2 + 1`). */
  readonly #totals: Float64Array;
  /** The same per topic. */
  readonly #topics = new Map<string, Float64Array>();
  /** Samples taken, the construction's included. */
  #taken = 1;

  /**
   * @param stats The counters to sample.
   * @param options Window, resolution and start time.
   */
  constructor(stats: BrokerStats, options: TrafficWindowOptions) {
    this.#stats = stats;
    this.#windowMs = options.windowMs ?? 5000;
    this.#slots = Math.ceil(this.#windowMs / (options.resolutionMs ?? 1000)) + 2;
    this.#at = new Float64Array(this.#slots).fill(options.startedAt);
    this.#totals = new Float64Array(this.#slots * 2);
  }

  /**
   * Records the counters as they are now (the broker calls it once a second).
   *
   * @param now The time, ms.
   */
  sample(now: number): void {
    const slot = this.#taken++ % this.#slots;
    this.#at[slot] = now;
    const stats = this.#stats;
    this.#totals[slot * 2] = stats.messagesIn;
    this.#totals[slot * 2 + 1] = stats.messagesOut;
    for (const [topic, counters] of stats.byTopic) {
      let ring = this.#topics.get(topic);
      if (ring === undefined) {
        // A topic first seen now had zero before: its earlier slots stay 0.
        ring = new Float64Array(this.#slots * 2);
        this.#topics.set(topic, ring);
      }
      ring[slot * 2] = counters.messagesIn;
      ring[slot * 2 + 1] = counters.messagesOut;
    }
  }

  /**
   * The broker's rates over the window ending now.
   *
   * @param now The time, ms.
   * @returns Messages in and out per second.
   */
  rates(now: number): TrafficRates {
    return this.#read(now, this.#totals, this.#stats.messagesIn, this.#stats.messagesOut);
  }

  /**
   * A topic's rates over the window ending now.
   *
   * @param topic The topic.
   * @param now The time, ms.
   * @returns Messages in and out per second (zero for a topic without traffic).
   */
  topicRates(topic: string, now: number): TrafficRates {
    const counters = this.#stats.byTopic.get(topic);
    const ring = this.#topics.get(topic);
    if (counters === undefined) return this.#read(now, undefined, 0, 0);
    return this.#read(now, ring, counters.messagesIn, counters.messagesOut);
  }

  /** Live counters against the newest sample at least a window old (else the oldest one kept). */
  #read(now: number, ring: Float64Array | undefined, liveIn: number, liveOut: number): TrafficRates {
    const kept = Math.min(this.#taken, this.#slots);
    let pick = -1;
    let oldest = -1;
    for (let i = 0; i < kept; i++) {
      const slot = (this.#taken - 1 - i) % this.#slots;
      const at = this.#at[slot]!;
      oldest = slot;
      if (now - at >= this.#windowMs) {
        pick = slot;
        break;
      }
    }
    if (pick < 0) pick = oldest;
    const span = now - this.#at[pick]!;
    if (span <= 0) return { in: 0, out: 0, windowMs: 0 };
    // Spans under a second (just after start) would turn one message into a spike.
    const divisor = Math.max(span, 1000);
    const baseIn = ring?.[pick * 2] ?? 0;
    const baseOut = ring?.[pick * 2 + 1] ?? 0;
    return {
      in: round((liveIn - baseIn) * 1000 / divisor),
      out: round((liveOut - baseOut) * 1000 / divisor),
      windowMs: span,
    };
  }
}

function round(rate: number): number {
  return Math.max(0, Math.round(rate * 100) / 100);
}
