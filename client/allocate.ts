/**
 * Queue allocation strategies: how the members of a consumer group split a topic's queues. Every
 * member runs the same strategy on the same sorted inputs, so they agree without talking.
 *
 * @module
 */
import { type MessageQueue, messageQueueKey } from "../core/model/message_queue.ts";

/**
 * Picks the queues one member consumes.
 *
 * @param queues Every queue of the topic, sorted (`sortQueues`).
 * @param clientIds Every member's client id, sorted.
 * @param clientId The member asking.
 * @returns Its queues; empty when it is not one of `clientIds`.
 */
export type AllocateStrategy = (queues: readonly MessageQueue[], clientIds: readonly string[], clientId: string) => MessageQueue[];

/** Names of the built-in strategies. */
export type AllocateStrategyName = "AVERAGE" | "CONSISTENT_HASH";

/**
 * Contiguous blocks, as RocketMQ's `AllocateMessageQueueAveragely`: with 8 queues and 3 members,
 * the first gets queues 0-2, the second 3-5, the third 6-7.
 *
 * @param queues Every queue, sorted.
 * @param clientIds Every member, sorted.
 * @param clientId The member asking.
 * @returns Its queues.
 *
 * @example Three members, eight queues
 * ```ts
 * import { allocateAveragely } from "./allocate.ts";
 * const queues = Array.from({ length: 8 }, (_, queueId) => ({ topic: "t", brokerName: "b", queueId }));
 * allocateAveragely(queues, ["a", "b", "c"], "b").map((q) => q.queueId); // [3, 4, 5]
 * ```
 */
export function allocateAveragely(queues: readonly MessageQueue[], clientIds: readonly string[], clientId: string): MessageQueue[] {
  const index = clientIds.indexOf(clientId);
  if (index < 0 || queues.length === 0) return [];
  const total = queues.length;
  const members = clientIds.length;
  const mod = total % members;
  const averageSize = total <= members ? 1 : mod > 0 && index < mod ? Math.floor(total / members) + 1 : Math.floor(total / members);
  const startIndex = mod > 0 && index < mod ? index * averageSize : index * averageSize + mod;
  const range = Math.min(averageSize, total - startIndex);
  const result: MessageQueue[] = [];
  for (let i = 0; i < range; i++) result.push(queues[(startIndex + i) % total]!);
  return result;
}

/** Virtual nodes per member on the hash ring. */
const VIRTUAL_NODES = 10;

/**
 * Consistent hashing: each member owns the ring arcs ending at its virtual nodes, so a member
 * joining or leaving moves only about `1 / members` of the queues.
 *
 * @param queues Every queue, sorted.
 * @param clientIds Every member, sorted.
 * @param clientId The member asking.
 * @returns Its queues.
 *
 * @example Every queue goes to exactly one member
 * ```ts
 * import { allocateByConsistentHash } from "./allocate.ts";
 * const queues = Array.from({ length: 8 }, (_, queueId) => ({ topic: "t", brokerName: "b", queueId }));
 * const counts = ["a", "b"].map((id) => allocateByConsistentHash(queues, ["a", "b"], id).length);
 * counts[0]! + counts[1]!; // 8
 * ```
 */
export function allocateByConsistentHash(queues: readonly MessageQueue[], clientIds: readonly string[], clientId: string): MessageQueue[] {
  if (!clientIds.includes(clientId) || queues.length === 0) return [];
  const ring: { hash: number; clientId: string }[] = [];
  for (const id of clientIds) {
    for (let i = 0; i < VIRTUAL_NODES; i++) ring.push({ hash: hash32(`${id}-${i}`), clientId: id });
  }
  ring.sort((a, b) => a.hash - b.hash || (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  return queues.filter((queue) => {
    const h = hash32(messageQueueKey(queue));
    let lo = 0;
    let hi = ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ring[mid]!.hash < h) lo = mid + 1;
      else hi = mid;
    }
    return ring[lo % ring.length]!.clientId === clientId;
  });
}

/** The built-in strategies by name. */
export const ALLOCATE_STRATEGIES: Readonly<Record<AllocateStrategyName, AllocateStrategy>> = {
  AVERAGE: allocateAveragely,
  CONSISTENT_HASH: allocateByConsistentHash,
};

/**
 * Sorts queues by topic, broker name and queue id, the order allocation expects.
 *
 * @param queues The queues.
 * @returns A sorted copy.
 */
export function sortQueues(queues: readonly MessageQueue[]): MessageQueue[] {
  return [...queues].sort((a, b) =>
    a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : a.queueId - b.queueId
  );
}

/** FNV-1a over UTF-16 code units, then a murmur3 finalizer to spread nearby keys. */
function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
