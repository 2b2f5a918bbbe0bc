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
