/**
 * Figures several admin resources share: a broker's description for the cluster view, a topic's
 * per-queue offsets, and a consumer group's lag.
 *
 * @module
 */
import { statfsSync } from "node:fs";
import { readStoreTimestamp } from "../../core/model/record.ts";
import { DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX, SYSTEM_TOPICS } from "../../core/model/system_topics.ts";
import { TRACE_TOPIC } from "../../core/model/trace.ts";
import type { BrokerContext } from "../broker/context.ts";
import type { AdminState } from "./_state.ts";

/** What a topic is for. */
export type TopicKind = "normal" | "retry" | "dlq" | "system";

/**
 * @param topic A topic name.
 * @returns Whether it is a user topic, a group's retry or dead-letter topic, or a broker topic (the
 * trace topic too: its records are written by clients' trace producers and the broker, not users).
 */
export function topicKind(topic: string): TopicKind {
  if (topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)) return "retry";
  if (topic.startsWith(DLQ_GROUP_TOPIC_PREFIX)) return "dlq";
  if (SYSTEM_TOPICS.has(topic) || topic === TRACE_TOPIC) return "system";
  return "normal";
}

/** Offsets of one queue. */
export interface QueueFigures {
  queueId: number;
  minOffset: number;
  maxOffset: number;
  /** Messages still stored: max - min. */
  messages: number;
  /** Store time of the newest message, ms; null for an empty queue. */
  lastStoreTime: number | null;
}

/**
 * The queue ids a topic has on a broker: its configured read queues plus any the store still
 * holds data for (a topic shrunk after writes).
 *
 * @param ctx The broker.
 * @param topic The topic.
 * @returns Sorted queue ids.
 */
export function queueIdsOf(ctx: BrokerContext, topic: string): number[] {
  const ids = new Set(ctx.store.queueIds(topic));
  const config = ctx.topics.get(topic);
  if (config !== undefined) for (let i = 0; i < Math.max(config.readQueueNums, config.writeQueueNums); i++) ids.add(i);
  return [...ids].sort((a, b) => a - b);
}

/**
 * Offsets of one queue, with the store time of its newest message when asked.
 *
 * @param ctx The broker.
 * @param topic The topic.
 * @param queueId The queue.
 * @param withLastStoreTime Whether to read the newest record's store time (one record read).
 * @returns The figures.
 */
export function queueFigures(ctx: BrokerContext, topic: string, queueId: number, withLastStoreTime: boolean): QueueFigures {
  const minOffset = ctx.store.getMinOffset(topic, queueId);
  const maxOffset = ctx.store.getMaxOffset(topic, queueId);
  let lastStoreTime: number | null = null;
  if (withLastStoreTime && maxOffset > minOffset) {
    const last = ctx.store.getMessage(topic, queueId, maxOffset - 1, 1);
    if (last.body !== undefined && last.count > 0) lastStoreTime = readStoreTimestamp(last.body, 0);
  }
  return { queueId, minOffset, maxOffset, messages: Math.max(0, maxOffset - minOffset), lastStoreTime };
}

/** One queue's position of a consumer group. */
export interface QueueLag {
  topic: string;
  queueId: number;
  /** The queue's max offset. */
  brokerOffset: number;
  /** The group's committed offset; -1 when it has none. */
  consumerOffset: number;
  /** Messages the group has yet to consume. */
  lag: number;
}

/**
 * A consumer group's position on every queue of the topics it has offsets for.
 *
 * @param ctx The broker.
 * @param group The group.
 * @param topics Extra topics to include (the group's subscriptions), even without offsets.
 * @returns Per-queue positions sorted by topic and queue, and the total lag.
 */
export function groupLag(ctx: BrokerContext, group: string, topics: Iterable<string> = []): { queues: QueueLag[]; totalLag: number } {
  const committed = new Map<string, Map<number, number>>();
  for (const [topic, g, queueId, offset] of ctx.offsets.entries()) {
    if (g !== group) continue;
    let queues = committed.get(topic);
    if (queues === undefined) committed.set(topic, (queues = new Map()));
    queues.set(queueId, offset);
  }
  for (const topic of topics) if (!committed.has(topic)) committed.set(topic, new Map());
  const queues: QueueLag[] = [];
  let totalLag = 0;
  for (const topic of [...committed.keys()].sort()) {
    const offsets = committed.get(topic)!;
    const ids = new Set([...queueIdsOf(ctx, topic), ...offsets.keys()]);
    for (const queueId of [...ids].sort((a, b) => a - b)) {
      const brokerOffset = ctx.store.getMaxOffset(topic, queueId);
      const consumerOffset = offsets.get(queueId) ?? -1;
      const from = Math.max(consumerOffset, ctx.store.getMinOffset(topic, queueId));
      const lag = Math.max(0, brokerOffset - from);
      totalLag += lag;
      queues.push({ topic, queueId, brokerOffset, consumerOffset, lag });
    }
  }
  return { queues, totalLag };
}

/**
 * Free bytes of the file system holding a path.
 *
 * @param path A directory.
 * @returns The bytes an unprivileged user may still write, or undefined when unknown.
 */
export function freeDiskOf(path: string): number | undefined {
  try {
    const stats = statfsSync(path);
    return Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return undefined;
  }
}

/** The local broker as the cluster view shows it. */
export function describeLocalBroker(state: AdminState, ctx: BrokerContext, connections: number) {
  const store = ctx.store.stats;
  const now = state.now();
  const dataDir = state.options.dataDir;
  return {
    clusterName: ctx.clusterName,
    brokerName: ctx.brokerName,
    brokerId: ctx.brokerId,
    role: ctx.brokerId === 0 ? "master" : "slave",
    brokerRole: ctx.replication.role,
    address: ctx.advertisedAddress,
    local: true,
    alive: true,
    version: state.options.version,
    startedAt: ctx.startedAt,
    uptimeMs: now - ctx.startedAt,
    storeSize: store.commitLogMaxOffset - store.commitLogMinOffset,
    diskFree: dataDir === undefined ? null : (state.options.freeDisk ?? freeDiskOf)(dataDir) ?? null,
    commitLog: {
      minOffset: store.commitLogMinOffset,
      maxOffset: store.commitLogMaxOffset,
      flushedOffset: store.flushedOffset,
      visibleOffset: store.visibleOffset,
      segments: store.segmentCount,
    },
    writeFailure: store.writeFailure ?? null,
    tps: ctx.traffic.rates(now),
    totals: {
      messagesIn: ctx.stats.messagesIn,
      bytesIn: ctx.stats.bytesIn,
      messagesOut: ctx.stats.messagesOut,
      bytesOut: ctx.stats.bytesOut,
      sendErrors: ctx.stats.sendErrors,
    },
    connections,
    pendingLongPolls: ctx.holds.size,
    replication: ctx.replication.status(),
    timers: ctx.timers === undefined ? null : { ...ctx.timers.stats, lateness: { bounds: [...ctx.stats.timerLateness.bounds], counts: [...ctx.stats.timerLateness.counts], count: ctx.stats.timerLateness.count, sum: ctx.stats.timerLateness.sum } },
    dedup: { ids: ctx.dedup.size, duplicates: ctx.dedup.duplicates, evicted: ctx.dedup.evicted, windowMs: ctx.dedup.windowMs },
  };
}
