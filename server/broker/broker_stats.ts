/**
 * The broker's counters for admin views and Prometheus metrics: totals, per-topic figures and a
 * send latency histogram. Plain numbers bumped on the hot path, read by the admin app.
 *
 * @module
 */
import type { BrokerStats } from "./context.ts";

/** Messages and bytes of one topic, since the broker started. */
export interface TopicCounters {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
}

/** Upper bounds (ms) of the timer lateness buckets; a last, unbounded bucket follows. */
export const TIMER_LATENESS_BUCKETS_MS: readonly number[] = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, 30_000];
/** Upper bounds (ms) of the send latency buckets; a last, unbounded bucket follows. */
export const SEND_LATENCY_BUCKETS_MS: readonly number[] = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500];

/** A fixed-bucket latency histogram in milliseconds (Prometheus-style, non-cumulative storage). */
export class LatencyHistogram {
  /** Upper bounds of the buckets, ascending. */
  readonly bounds: readonly number[];
  /** Observations per bucket; `counts[bounds.length]` is the unbounded bucket. */
  readonly counts: number[];
  /** Number of observations. */
  count = 0;
  /** Sum of the observed values, ms. */
  sum = 0;

  /** @param bounds Upper bounds of the buckets, ascending. @default SEND_LATENCY_BUCKETS_MS */
  constructor(bounds: readonly number[] = SEND_LATENCY_BUCKETS_MS) {
    this.bounds = bounds;
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /**
   * Records one value.
   *
   * @param ms The latency in milliseconds.
   */
  observe(ms: number): void {
    let i = 0;
    while (i < this.bounds.length && ms > this.bounds[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sum += ms;
  }
}

/**
 * Fresh counters for a starting broker.
 *
 * @returns Zeroed stats.
 */
export function createBrokerStats(): BrokerStats {
  return {
    messagesIn: 0,
    bytesIn: 0,
    messagesOut: 0,
    bytesOut: 0,
    sendErrors: 0,
    byTopic: new Map(),
    sendLatency: new LatencyHistogram(),
    deadLetters: new Map(),
    timerLateness: new LatencyHistogram(TIMER_LATENESS_BUCKETS_MS),
  };
}

/**
 * Counts a message stored in a group's dead-letter topic.
 *
 * @param stats The broker's stats.
 * @param group The consumer group that gave up on it.
 * @param topic The topic it was first sent to.
 */
export function countDeadLetter(stats: BrokerStats, group: string, topic: string): void {
  let byTopic = stats.deadLetters.get(group);
  if (byTopic === undefined) {
    byTopic = new Map();
    stats.deadLetters.set(group, byTopic);
  }
  byTopic.set(topic, (byTopic.get(topic) ?? 0) + 1);
}

/**
 * The counters of a topic, created on first use.
 *
 * @param stats The broker's stats.
 * @param topic The topic.
 * @returns Its counters (live; bump them in place).
 */
export function topicCounters(stats: BrokerStats, topic: string): TopicCounters {
  let counters = stats.byTopic.get(topic);
  if (counters === undefined) {
    counters = { messagesIn: 0, bytesIn: 0, messagesOut: 0, bytesOut: 0 };
    stats.byTopic.set(topic, counters);
  }
  return counters;
}

/**
 * Counts stored messages of a topic, in the totals and the topic's counters.
 *
 * @param stats The broker's stats.
 * @param topic The topic written to.
 * @param messages How many messages were stored.
 * @param bytes Their body bytes.
 */
export function countIn(stats: BrokerStats, topic: string, messages: number, bytes: number): void {
  stats.messagesIn += messages;
  stats.bytesIn += bytes;
  const counters = topicCounters(stats, topic);
  counters.messagesIn += messages;
  counters.bytesIn += bytes;
}

/**
 * Counts messages handed to consumers, in the totals and the topic's counters.
 *
 * @param stats The broker's stats.
 * @param topic The topic read from.
 * @param messages How many messages were returned.
 * @param bytes Their stored bytes.
 */
export function countOut(stats: BrokerStats, topic: string, messages: number, bytes: number): void {
  stats.messagesOut += messages;
  stats.bytesOut += bytes;
  const counters = topicCounters(stats, topic);
  counters.messagesOut += messages;
  counters.bytesOut += bytes;
}
