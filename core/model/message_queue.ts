/**
 * Message queues: the unit a topic is split into, addressed by broker group and queue id.
 *
 * @module
 */

/** One queue of a topic on one broker group. */
export interface MessageQueue {
  /** The topic. */
  readonly topic: string;
  /** The broker group (master and its slaves) that holds the queue. */
  readonly brokerName: string;
  /** The queue's index on that broker, from 0. */
  readonly queueId: number;
}

/**
 * A stable text key for a queue, for use in maps.
 *
 * @param queue The queue.
 * @returns `topic@brokerName@queueId`.
 *
 * @example Keying a map by queue
 * ```ts
 * import { messageQueueKey } from "./message_queue.ts";
 * messageQueueKey({ topic: "orders", brokerName: "broker-a", queueId: 3 }); // "orders@broker-a@3"
 * ```
 */
export function messageQueueKey(queue: MessageQueue): string {
  return `${queue.topic}@${queue.brokerName}@${queue.queueId}`;
}

/**
 * Orders queues by topic, broker name and queue id, so every client sees a topic's queues in the
 * same order (ordered sends rely on this).
 *
 * @param a One queue.
 * @param b Another queue.
 * @returns A negative number, zero or a positive number, as `Array.prototype.sort` expects.
 *
 * @example Sorting queues
 * ```ts
 * import { compareMessageQueues } from "./message_queue.ts";
 * const queues = [
 *   { topic: "t", brokerName: "b", queueId: 0 },
 *   { topic: "t", brokerName: "a", queueId: 1 },
 * ];
 * queues.sort(compareMessageQueues); // broker "a" first
 * ```
 */
export function compareMessageQueues(a: MessageQueue, b: MessageQueue): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  if (a.brokerName !== b.brokerName) return a.brokerName < b.brokerName ? -1 : 1;
  return a.queueId - b.queueId;
}
