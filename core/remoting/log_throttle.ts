/**
 * Log lines about hostile or runaway peers, at most one per key (an IP, say) in a period: a flood
 * of refused connections must not become a flood of log lines.
 *
 * @module
 */

/** Options of `LogThrottle`. */
export interface LogThrottleOptions {
  /** Where lines go. */
  log: (line: string) => void;
  /** Shortest time between two lines of one key. @default 10000 */
  everyMs?: number;
  /** The clock. @default Date.now */
  now?: () => number;
}

/** Keys remembered at most; past it the memory of earlier reports is dropped (they may log again). */
const MAX_KEYS = 10_000;

/** Logs at most one line per key every `everyMs`, counting the reports it held back. */
export class LogThrottle {
  readonly #log: (line: string) => void;
  readonly #everyMs: number;
  readonly #now: () => number;
  readonly #keys = new Map<string, { lastLog: number; unlogged: number }>();

  /** @param options Where lines go and how often. */
  constructor(options: LogThrottleOptions) {
    this.#log = options.log;
    this.#everyMs = options.everyMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Reports an event: logs `line(unlogged)` unless this key logged less than `everyMs` ago.
   *
   * @param key What the event is about (an IP, an IP and a limit).
   * @param line The line, given how many reports of the key were held back since its last line.
   */
  report(key: string, line: (unlogged: number) => string): void {
    const now = this.#now();
    const state = this.#keys.get(key);
    if (state !== undefined && now - state.lastLog < this.#everyMs) {
      state.unlogged++;
      return;
    }
    this.#log(line(state?.unlogged ?? 0));
    this.#keys.set(key, { lastLog: now, unlogged: 0 });
    if (this.#keys.size > MAX_KEYS) this.#keys.clear();
  }
}
