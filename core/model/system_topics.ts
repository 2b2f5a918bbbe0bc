/**
 * Names of the topics the broker keeps for consumer groups and delayed delivery, and RocketMQ's
 * delay levels.
 *
 * @module
 */

import { AUTO_CREATE_TOPIC_KEY } from "../protocol/request_code.ts";

/** Prefix of a group's retry topic. */
export const RETRY_GROUP_TOPIC_PREFIX = "%RETRY%";
/** Prefix of a group's dead-letter topic. */
export const DLQ_GROUP_TOPIC_PREFIX = "%DLQ%";
/** Where delayed messages wait, one queue per delay level (queue id = level - 1). */
export const SCHEDULE_TOPIC = "SCHEDULE_TOPIC_XXXX";
/** Where transactional half messages wait (RocketMQ's name). */
export const TRANSACTION_HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC";
/** Where timer messages (any delivery time) and recall records wait: queue 0, as in RocketMQ 5. */
export const TIMER_TOPIC = "rmq_sys_wheel_timer";
/** What became of each half message: its op records, body the half's queue offset (RocketMQ's name). */
export const TRANSACTION_OP_TOPIC = "RMQ_SYS_TRANS_OP_HALF_TOPIC";
/** The system consumer group whose offsets on the half and op topics say where their reading resumes (RocketMQ's name). */
export const TRANSACTION_GROUP = "CID_RMQ_SYS_TRANS";
/**
 * Topics only the broker itself writes to and nobody may create or delete: the auto-create
 * template (`TBW102`), the schedule topic, the timer topic and the transaction half and op topics.
 */
export const SYSTEM_TOPICS: ReadonlySet<string> = new Set([AUTO_CREATE_TOPIC_KEY, SCHEDULE_TOPIC, TIMER_TOPIC, TRANSACTION_HALF_TOPIC, TRANSACTION_OP_TOPIC]);
/** RocketMQ's default delay levels; level 1 is the first. */
export const DEFAULT_DELAY_LEVELS = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/**
 * @param cluster The broker cluster.
 * @returns `<cluster>_REPLY_TOPIC`, where a cluster's brokers store replies to request messages (RocketMQ's name).
 */
export function replyTopic(cluster: string): string {
  return `${cluster}_REPLY_TOPIC`;
}

/**
 * @param group The consumer group.
 * @returns `%RETRY%<group>`.
 */
export function retryTopic(group: string): string {
  return RETRY_GROUP_TOPIC_PREFIX + group;
}

/**
 * The retry topic POP consumers of a group use for one topic (RocketMQ's first form,
 * `%RETRY%<group>_<topic>`): a message whose invisible time ran out is stored there again.
 *
 * @param group The consumer group.
 * @param topic The topic popped.
 * @returns `%RETRY%<group>_<topic>`.
 */
export function popRetryTopic(group: string, topic: string): string {
  return `${RETRY_GROUP_TOPIC_PREFIX}${group}_${topic}`;
}

/**
 * @param group The consumer group.
 * @returns `%DLQ%<group>`.
 */
export function dlqTopic(group: string): string {
  return DLQ_GROUP_TOPIC_PREFIX + group;
}

/**
 * Parses a delay level list such as `1s 5s 10s 30s 1m 2h`.
 *
 * @param levels Durations separated by spaces, each a number and one of `ms`, `s`, `m`, `h`, `d`.
 * @returns Milliseconds per level; index 0 is level 1.
 * @throws {SyntaxError} When a duration cannot be read.
 */
export function parseDelayLevels(levels: string): number[] {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  return levels.trim().split(/\s+/).map((text) => {
    const match = /^(\d+)(ms|s|m|h|d)$/.exec(text);
    if (match === null) throw new SyntaxError(`Delay level "${text}" is not a number followed by ms, s, m, h or d`);
    return Number(match[1]) * unit[match[2]!]!;
  });
}
