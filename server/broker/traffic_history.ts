/**
 * Messages per second over the last hour, kept by the broker for the whole broker and per topic,
 * so a chart of a topic's traffic survives a dashboard reload: two bounded rings per topic, one
 * point a second for the last few minutes and one point every ten seconds for the last hour.
 * The broker's once-a-second traffic timer calls `sample()`, which adds what the ever-growing
 * counters grew by since the last sample to the current point of both rings; the send and pull
 * paths only bump the counters, as before.
 *
 * Memory is bounded by the topics with traffic in the kept span: a topic silent for longer than
 * both rings span gives its rings back (and reads as zeros), so topics that saw one message long
 * ago cost only their two last counter values.
 *
 * @module
 */
import type { BrokerStats } from "./context.ts";

/** Width of a coarse point, ms. */
export const COARSE_INTERVAL_MS = 10_000;
/** Width of a fine point, ms. */
export const FINE_INTERVAL_MS = 1000;

/** One resolution of a history: rates of whole intervals, oldest first. */
export interface TrafficSeries {
  /** Width of each point, ms. */
  intervalMs: number;
  /** Start of the first point, ms since epoch (points follow every `intervalMs`). */
  start: number;
  /** Messages stored per second in each interval. */
  in: number[];
  /** Messages handed to consumers per second in each interval. */
  out: number[];
}

/** Both resolutions of a history. */
export interface TrafficHistoryReading {
  /** One point a second over the last `fineSeconds`. */
  fine: TrafficSeries;
  /** One point every ten seconds over the last `coarseMinutes`. */
  coarse: TrafficSeries;
}

/** Options of `TrafficHistory`. */
export interface TrafficHistoryOptions {
  /** Seconds of one-second points kept. @default 300 */
  fineSeconds?: number;
  /** Minutes of ten-second points kept. @default 60 */
  coarseMinutes?: number;
  /** When the counters were zero (the broker's start), ms. */
  startedAt: number;
}

/** A topic's (or the broker's) last counter values and its rings. */
interface Track {
  lastIn: number;
  lastOut: number;
  /** Fine counts (`in`, `out` per slot), then coarse counts; undefined while silent. */
  counts: Uint32Array | undefined;
  /** When it last had traffic, ms. */
  activeAt: number;
}

/** The broker's per-second and per-ten-seconds traffic over the last hour, totals and per topic. */
export class TrafficHistory {
  readonly #stats: BrokerStats;
  readonly #fineSlots: number;
  readonly #coarseSlots: number;
  /** The first whole interval of each resolution (the broker started inside the one before). */
  readonly #firstFine: number;
  readonly #firstCoarse: number;
  /** Interval numbers (time / width) of the latest sample. */
  #fine: number;
  #coarse: number;
  readonly #total: Track;
  readonly #topics = new Map<string, Track>();

  /**
   * @param stats The counters to sample.
   * @param options How much to keep, and the start time.
   */
  constructor(stats: BrokerStats, options: TrafficHistoryOptions) {
    this.#stats = stats;
    // One slot more than the whole intervals kept: the interval still filling.
    this.#fineSlots = Math.max(1, Math.round((options.fineSeconds ?? 300) * 1000 / FINE_INTERVAL_MS)) + 1;
    this.#coarseSlots = Math.max(1, Math.round((options.coarseMinutes ?? 60) * 60_000 / COARSE_INTERVAL_MS)) + 1;
    this.#fine = Math.floor(options.startedAt / FINE_INTERVAL_MS);
    this.#coarse = Math.floor(options.startedAt / COARSE_INTERVAL_MS);
    this.#firstFine = this.#fine + 1;
    this.#firstCoarse = this.#coarse + 1;
    this.#total = { lastIn: 0, lastOut: 0, counts: this.#newCounts(), activeAt: options.startedAt };
  }

  /** Topics whose rings are held (traffic within the kept span). */
  get trackedTopics(): number {
    let n = 0;
    for (const track of this.#topics.values()) if (track.counts !== undefined) n++;
    return n;
  }

  /**
   * Adds what the counters grew by since the last sample to the points of `now`.
   *
   * @param now The time, ms.
   */
  sample(now: number): void {
    const fine = Math.floor(now / FINE_INTERVAL_MS);
    const coarse = Math.floor(now / COARSE_INTERVAL_MS);
    // Intervals passed since the last sample start from zero (at most one ring's worth to clear).
    // A clock step back clears nothing and adds to the latest points.
    const fineFrom = Math.max(this.#fine + 1, fine - this.#fineSlots + 1);
    const coarseFrom = Math.max(this.#coarse + 1, coarse - this.#coarseSlots + 1);
    if (fine > this.#fine) this.#fine = fine;
    if (coarse > this.#coarse) this.#coarse = coarse;
    const stats = this.#stats;
    this.#add(this.#total, stats.messagesIn, stats.messagesOut, now, fineFrom, coarseFrom);
    const silentFor = Math.max(this.#fineSlots * FINE_INTERVAL_MS, this.#coarseSlots * COARSE_INTERVAL_MS);
    for (const [topic, counters] of stats.byTopic) {
      let track = this.#topics.get(topic);
      if (track === undefined) {
        // A topic first seen now had zero at the last sample.
        track = { lastIn: 0, lastOut: 0, counts: undefined, activeAt: now };
        this.#topics.set(topic, track);
      }
      this.#add(track, counters.messagesIn, counters.messagesOut, now, fineFrom, coarseFrom);
      if (track.counts !== undefined && now - track.activeAt > silentFor) track.counts = undefined;
    }
  }

  /**
   * The broker's rates, or a topic's.
   *
   * @param topic The topic; the broker's totals when undefined.
   * @returns Both resolutions, whole intervals only, oldest first (zeros for a silent topic).
   */
  read(topic?: string): TrafficHistoryReading {
    const counts = topic === undefined ? this.#total.counts : this.#topics.get(topic)?.counts;
    return {
      fine: this.#series(counts, 0, this.#fineSlots, this.#fine, this.#firstFine, FINE_INTERVAL_MS),
      coarse: this.#series(counts, this.#fineSlots * 2, this.#coarseSlots, this.#coarse, this.#firstCoarse, COARSE_INTERVAL_MS),
    };
  }

  #newCounts(): Uint32Array {
    return new Uint32Array((this.#fineSlots + this.#coarseSlots) * 2);
  }

  #add(track: Track, liveIn: number, liveOut: number, now: number, fineFrom: number, coarseFrom: number): void {
    const dIn = Math.max(0, liveIn - track.lastIn);
    const dOut = Math.max(0, liveOut - track.lastOut);
    track.lastIn = liveIn;
    track.lastOut = liveOut;
    let counts = track.counts;
    if (counts !== undefined) {
      for (let i = fineFrom; i <= this.#fine; i++) clear(counts, (i % this.#fineSlots) * 2);
      const base = this.#fineSlots * 2;
      for (let i = coarseFrom; i <= this.#coarse; i++) clear(counts, base + (i % this.#coarseSlots) * 2);
    }
    if (dIn === 0 && dOut === 0) return;
    track.activeAt = now;
    if (counts === undefined) track.counts = counts = this.#newCounts();
    const fineAt = (this.#fine % this.#fineSlots) * 2;
    const coarseAt = this.#fineSlots * 2 + (this.#coarse % this.#coarseSlots) * 2;
    counts[fineAt] += dIn;
    counts[fineAt + 1] += dOut;
    counts[coarseAt] += dIn;
    counts[coarseAt + 1] += dOut;
  }

  #series(counts: Uint32Array | undefined, base: number, slots: number, latest: number, first: number, intervalMs: number): TrafficSeries {
    // The latest sample's interval is still filling: only those before it are whole.
    const last = latest - 1;
    const from = Math.max(first, last - slots + 2);
    const n = Math.max(0, last - from + 1);
    const rates = { in: new Array<number>(n), out: new Array<number>(n) };
    for (let k = 0; k < n; k++) {
      const at = base + ((from + k) % slots) * 2;
      rates.in[k] = counts === undefined ? 0 : rate(counts[at]!, intervalMs);
      rates.out[k] = counts === undefined ? 0 : rate(counts[at + 1]!, intervalMs);
    }
    return { intervalMs, start: from * intervalMs, ...rates };
  }
}

function clear(counts: Uint32Array, at: number): void {
  counts[at] = 0;
  counts[at + 1] = 0;
}

function rate(count: number, intervalMs: number): number {
  return Math.round(count * 1000 / intervalMs * 100) / 100;
}
