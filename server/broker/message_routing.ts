/**
 * Where the broker stores a message that is not simply appended to the queue it names: delayed
 * messages wait in the schedule topic, retries past their limit go to the group's dead-letter
 * topic. Also creates the per-group retry and dead-letter topics.
 *
 * @module
 */
import { MessageConst } from "../../core/model/message.ts";
import { dlqTopic, RETRY_GROUP_TOPIC_PREFIX } from "../../core/model/system_topics.ts";
import { TOPIC_MAX_LENGTH, type TopicConfig } from "../../core/protocol/headers.ts";
import { Perm, ResponseCode } from "../../core/protocol/request_code.ts";
import type { Reply } from "../../core/remoting/dispatcher.ts";
import type { BrokerContext } from "./context.ts";

/** Queues of a group's retry and dead-letter topics. */
export const GROUP_TOPIC_QUEUE_NUMS = 1;

/** Where to store a message. */
export interface Route {
  topic: string;
  queueId: number;
  properties: Record<string, string>;
  /** The queue the message is (eventually) delivered to, for the send reply. */
  realQueueId: number;
}

/** A message as sent, its topic and queue resolved. */
export interface SentMessage {
  topic: string;
  queueId: number;
  properties: Record<string, string>;
  reconsumeTimes: number;
  /** Set by consumers re-sending a failed message to the retry topic themselves. */
  maxReconsumeTimes?: number;
}

/**
 * Creates a group's retry (`%RETRY%<group>`) or dead-letter (`%DLQ%<group>`) topic unless it
 * exists: one queue, readable and writable.
 *
 * @param ctx The broker.
 * @param topic The retry or dead-letter topic.
 * @returns Its config, or an error reply when the name is too long or it is not writable.
 */
export async function ensureGroupTopic(ctx: BrokerContext, topic: string): Promise<TopicConfig | Reply> {
  if (topic.length > TOPIC_MAX_LENGTH) {
    return {
      code: ResponseCode.MESSAGE_ILLEGAL,
      remark: `Topic "${topic}" would be longer than ${TOPIC_MAX_LENGTH} characters: use a shorter consumer group name`,
    };
  }
  let config: TopicConfig;
  try {
    config = await ctx.topics.ensure(topic, GROUP_TOPIC_QUEUE_NUMS, Perm.READ | Perm.WRITE);
  } catch (error) {
    if (error instanceof RangeError) return { code: ResponseCode.SYSTEM_ERROR, remark: error.message };
    throw error;
  }
  if ((config.perm & Perm.WRITE) === 0 || config.writeQueueNums === 0) {
    return { code: ResponseCode.NO_PERMISSION, remark: `Topic "${topic}" is not writable on broker "${ctx.brokerName}"` };
  }
  return config;
}

/**
 * Routes a message a producer (or a consumer's fallback retry) sent to `topic`/`queueId`:
 * - to a `%RETRY%<group>` topic with `reconsumeTimes` above `maxReconsumeTimes`: the group's
 *   dead-letter topic, queue 0, without `DELAY`;
 * - with a `DELAY` level ≥ 1: `SCHEDULE_TOPIC_XXXX` queue `level - 1`, the real destination in
 *   `REAL_TOPIC`/`REAL_QID`;
 * - otherwise where it was sent.
 *
 * @param ctx The broker.
 * @param message The resolved topic and queue, properties and redelivery counts.
 * @returns Where to store it, or an error reply; a promise only when a dead-letter topic is involved.
 */
export function routeSend(ctx: BrokerContext, message: SentMessage): Route | Reply | Promise<Route | Reply> {
  const { topic, queueId, properties } = message;
  if (
    message.maxReconsumeTimes !== undefined && message.reconsumeTimes > message.maxReconsumeTimes &&
    topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)
  ) {
    return toDeadLetter(ctx, topic.slice(RETRY_GROUP_TOPIC_PREFIX.length), properties);
  }
  const level = ctx.schedule.delayLevelOf(properties);
  if (typeof level === "string") return { code: ResponseCode.MESSAGE_ILLEGAL, remark: level };
  if (level === 0) return { topic, queueId, properties, realQueueId: queueId };
  return { ...ctx.schedule.toScheduled(message, level), realQueueId: queueId };
}

async function toDeadLetter(ctx: BrokerContext, group: string, properties: Record<string, string>): Promise<Route | Reply> {
  const dlq = dlqTopic(group);
  const config = await ensureGroupTopic(ctx, dlq);
  if ("code" in config) return config;
  const rest = { ...properties };
  delete rest[MessageConst.DELAY];
  return { topic: dlq, queueId: 0, properties: rest, realQueueId: 0 };
}

/** A batch's topic, queue and each message's properties. */
export interface BatchRoute {
  topic: string;
  queueId: number;
  properties: Record<string, string>[];
}

/**
 * Routes a batch: delayed only when every message has the same `DELAY` level.
 *
 * @param ctx The broker.
 * @param batch The resolved topic and queue, and each message's properties.
 * @returns The common topic and queue and each message's properties, or an error reply.
 */
export function routeBatch(ctx: BrokerContext, batch: BatchRoute): BatchRoute | Reply {
  const { topic, queueId, properties } = batch;
  const levels = new Set<number>();
  for (const [i, p] of properties.entries()) {
    const level = ctx.schedule.delayLevelOf(p);
    if (typeof level === "string") return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Message ${i} of the batch: ${level}` };
    levels.add(level);
  }
  if (levels.size > 1) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, remark: "Messages of one batch must share one delay level" };
  }
  const [level] = levels;
  if (level === undefined || level === 0) return batch;
  const scheduled = properties.map((p) => ctx.schedule.toScheduled({ topic, queueId, properties: p }, level));
  return { topic: scheduled[0]!.topic, queueId: scheduled[0]!.queueId, properties: scheduled.map((s) => s.properties) };
}
