/**
 * Round-robin queue choice that steers around brokers to avoid.
 *
 * @module
 */
import type { MessageQueue } from "../core/model/message_queue.ts";

/**
 * Picks the first queue at or after `index` (wrapping) whose broker is not avoided; when every
 * broker is avoided, the queue at `index`.
 *
 * @param queues The candidates; not empty.
 * @param index A round-robin counter (any non-negative integer).
 * @param avoid Tells which brokers to skip.
 * @returns The queue.
 */
export function selectQueue(
  queues: readonly MessageQueue[],
  index: number,
  avoid: (brokerName: string) => boolean,
): MessageQueue {
  const n = queues.length;
  if (n === 0) throw new RangeError("Cannot select a queue from an empty list");
  const start = index % n;
  for (let i = 0; i < n; i++) {
    const queue = queues[(start + i) % n]!;
    if (!avoid(queue.brokerName)) return queue;
  }
  return queues[start]!;
}
