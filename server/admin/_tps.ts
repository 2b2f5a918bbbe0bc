/**
 * Messages per second from ever-growing counters, over a sliding window of samples.
 *
 * @module
 */

interface Sample {
  at: number;
  in: number;
  out: number;
}

/** Options of `TpsMeter`. */
export interface TpsMeterOptions {
  /** When the counters were zero (the broker's start). */
  startedAt: number;
  /** Width of the window rates are averaged over. @default 5000 */
  windowMs?: number;
}

/** A rate reading. */
export interface TpsReading {
  /** Messages stored per second. */
  in: number;
  /** Messages handed to consumers per second. */
  out: number;
  /** The span the rates were measured over, ms. */
  windowMs: number;
}

/**
 * Turns counter readings into rates. Each `sample()` adds a reading; the rate is the counter
 * growth since the oldest reading still inside the window (or the broker's start, before there is
 * one), so polling once a second gives a smooth moving average without a timer.
 */
export class TpsMeter {
  readonly #windowMs: number;
  #samples: Sample[];

  /** @param options Start time and window width. */
  constructor(options: TpsMeterOptions) {
    this.#windowMs = options.windowMs ?? 5000;
    this.#samples = [{ at: options.startedAt, in: 0, out: 0 }];
  }

  /**
   * Records the counters and answers the rates.
   *
   * @param now The time of the reading, ms.
   * @param messagesIn The in counter now.
   * @param messagesOut The out counter now.
   * @returns Rates over the window ending now.
   */
  sample(now: number, messagesIn: number, messagesOut: number): TpsReading {
    const samples = this.#samples;
    const last = samples[samples.length - 1]!;
    // Readings closer than 100 ms replace the newest one, so a burst of requests cannot fill memory.
    if (samples.length > 1 && now - last.at < 100) samples.pop();
    samples.push({ at: now, in: messagesIn, out: messagesOut });
    const from = now - this.#windowMs;
    while (samples.length > 2 && samples[1]!.at <= from) samples.shift();
    const first = samples[0]!;
    const span = now - first.at;
    if (span <= 0) return { in: 0, out: 0, windowMs: 0 };
    // Spans under a second (just after start) would turn one message into a spike.
    const divisor = Math.max(span, 1000);
    return {
      in: round((messagesIn - first.in) * 1000 / divisor),
      out: round((messagesOut - first.out) * 1000 / divisor),
      windowMs: span,
    };
  }
}

function round(rate: number): number {
  return Math.max(0, Math.round(rate * 100) / 100);
}
