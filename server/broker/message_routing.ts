/**
 * Where the broker stores a message that is not simply appended to the queue it names: delayed
 * messages wait in the schedule topic, retries past their limit go to the group's dead-letter
 * topic. Also creates the per-group retry and dead-letter topics.
 *
 * @module
 */
import { MessageConst, type MessageExt } from "../../core/model/message.ts";
import { encodeProperties } from "../../core/model/properties.ts";
import { dlqTopic, RETRY_GROUP_TOPIC_PREFIX, TIMER_TOPIC } from "../../core/model/system_topics.ts";
import { timerProperties } from "../store/timer/timer_message_store.ts";
import type { StoreInput } from "../store/store_types.ts";
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
  /** A timer message: when it is due (ms since epoch). */
  dueMs?: number;
}

const TIMER_PROPERTIES = [MessageConst.TIMER_DELIVER_MS, MessageConst.TIMER_DELAY_MS, MessageConst.TIMER_DELAY_SEC] as const;

/**
 * Reads a message's timer properties (`TIMER_DELIVER_MS`, `TIMER_DELAY_MS` or `TIMER_DELAY_SEC`).
 *
 * @param properties The message's properties.
 * @param limits The time now and the longest delay allowed.
 * @returns The due time (ms since epoch), undefined for none, or why the properties are invalid.
 *   A due time not after `now` is returned as is: the message is delivered at once.
 */
export function timerDueOf(properties: Readonly<Record<string, string>>, limits: { now: number; maxDelayMs: number }): number | undefined | { error: string } {
  let due: number | undefined;
  let named: string | undefined;
  for (const name of TIMER_PROPERTIES) {
    const text = properties[name];
    if (text === undefined) continue;
    if (named !== undefined) return { error: `Properties "${named}" and "${name}" cannot both be set` };
    named = name;
    if (!/^\d{1,16}$/.test(text) || !Number.isSafeInteger(Number(text))) {
      return { error: `Property "${name}" must be a non-negative integer, got "${text.slice(0, 32)}"` };
    }
    const value = Number(text);
    due = name === MessageConst.TIMER_DELIVER_MS ? value : limits.now + value * (name === MessageConst.TIMER_DELAY_SEC ? 1000 : 1);
  }
  if (due === undefined) return undefined;
  if (MessageConst.DELAY in properties) return { error: `A timer message ("${named}") cannot also have a delay level ("DELAY")` };
  if (!Number.isSafeInteger(due) || due - limits.now > limits.maxDelayMs) {
    return {
      error: `Delivery time ${Number.isSafeInteger(due) ? new Date(due).toISOString() : `"${due}"`} is more than timerMaxDelayMs ` +
        `(${limits.maxDelayMs} ms) ahead`,
    };
  }
  return due;
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
 * - with a delivery time (`TIMER_DELIVER_MS`, `TIMER_DELAY_MS`, `TIMER_DELAY_SEC`) in the future:
 *   `rmq_sys_wheel_timer` queue 0 with `TIMER_OUT_MS` and the real destination; one in the past is
 *   stored where it was sent, at once (as RocketMQ 5 does);
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
  const now = Date.now();
  const due = timerDueOf(properties, { now, maxDelayMs: ctx.timerMaxDelayMs });
  if (typeof due === "object") return { code: ResponseCode.MESSAGE_ILLEGAL, remark: due.error };
  if (due !== undefined) {
    const stored = timerProperties(properties, { topic, queueId, dueMs: due, enqueueMs: now });
    if (due <= now) {
      for (const name of [MessageConst.REAL_TOPIC, MessageConst.REAL_QID, MessageConst.TIMER_ENQUEUE_MS]) delete stored[name];
      return { topic, queueId, properties: stored, realQueueId: queueId };
    }
    return { topic: TIMER_TOPIC, queueId: 0, properties: stored, realQueueId: queueId, dueMs: due };
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
    const refused = TIMER_PROPERTIES.find((name) => name in p) ?? (MessageConst.DEDUP_ID in p ? MessageConst.DEDUP_ID : undefined);
    if (refused !== undefined) {
      return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Message ${i} of the batch: property "${refused}" is not supported in a batch; send the message alone` };
    }
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

/**
 * The properties of a message stored again for its group (in a retry or dead-letter topic): no
 * delay or real destination left over, `RETRY_TOPIC` the topic it was first sent to and
 * `ORIGIN_MESSAGE_ID` its first message id.
 *
 * @param original The message as stored.
 * @returns The new properties.
 */
export function redeliveryProperties(original: MessageExt): Record<string, string> {
  const properties = { ...original.properties };
  delete properties[MessageConst.DELAY];
  delete properties[MessageConst.REAL_TOPIC];
  delete properties[MessageConst.REAL_QID];
  properties[MessageConst.RETRY_TOPIC] ??= original.topic;
  properties[MessageConst.ORIGIN_MESSAGE_ID] ||= original.msgId;
  return properties;
}

/**
 * The record that stores a message again: body, flag, sysflag, born time and host kept.
 *
 * @param original The message as stored.
 * @param target Where it goes and its properties (from `redeliveryProperties`, maybe scheduled).
 * @param reconsumeTimes Its redelivery count from now on.
 * @returns What to put.
 */
export function redeliveryInput(
  original: MessageExt,
  target: { topic: string; queueId: number; properties: Record<string, string> },
  reconsumeTimes: number,
): StoreInput {
  return {
    topic: target.topic,
    queueId: target.queueId,
    flag: original.flag,
    sysFlag: original.sysFlag,
    bornTimestamp: original.bornTimestamp,
    bornHost: original.bornHost,
    reconsumeTimes,
    preparedTransactionOffset: 0,
    body: original.body,
    properties: encodeProperties(target.properties),
  };
}
