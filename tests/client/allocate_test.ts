import { describe, expect, test } from "bun:test";
import { allocateAveragely, allocateByConsistentHash, sortQueues } from "../../client/allocate.ts";
import { type MessageQueue, messageQueueKey } from "../../core/model/message_queue.ts";

function queues(count: number, brokers = ["broker-a"]): MessageQueue[] {
  const out: MessageQueue[] = [];
  for (const brokerName of brokers) for (let queueId = 0; queueId < count; queueId++) out.push({ topic: "T", brokerName, queueId });
  return sortQueues(out);
}
const ids = (n: number) => Array.from({ length: n }, (_, i) => `client-${i}`);

/** Every queue exactly once over all members. */
function expectPartition(all: MessageQueue[], parts: MessageQueue[][]): void {
  const seen = parts.flat().map(messageQueueKey).sort();
  expect(seen).toEqual(all.map(messageQueueKey).sort());
}

describe("allocateAveragely()", () => {
  test("gives contiguous blocks like RocketMQ: 8 queues over 3 members is 3, 3, 2", () => {
    const all = queues(8);
    const parts = ids(3).map((id) => allocateAveragely(all, ids(3), id).map((q) => q.queueId));
    expect(parts).toEqual([[0, 1, 2], [3, 4, 5], [6, 7]]);
  });

  test("gives one queue each and nothing to extra members when members outnumber queues", () => {
    const all = queues(2);
    const parts = ids(4).map((id) => allocateAveragely(all, ids(4), id).map((q) => q.queueId));
    expect(parts).toEqual([[0], [1], [], []]);
  });

  test("partitions every queue for any member count", () => {
    for (let members = 1; members <= 9; members++) {
      for (const count of [1, 4, 7, 8, 16]) {
        const all = queues(count, ["a", "b"]);
        expectPartition(all, ids(members).map((id) => allocateAveragely(all, ids(members), id)));
      }
    }
  });

  test("gives nothing to a client that is not a member", () => {
    expect(allocateAveragely(queues(8), ids(2), "stranger")).toEqual([]);
  });
});

describe("allocateByConsistentHash()", () => {
  test("partitions every queue for any member count", () => {
    for (let members = 1; members <= 6; members++) {
      const all = queues(16, ["a", "b"]);
      expectPartition(all, ids(members).map((id) => allocateByConsistentHash(all, ids(members), id)));
    }
  });

  test("moves only the leaving member's queues when a member leaves", () => {
    const all = queues(64);
    const before = new Map<string, string>();
    for (const id of ids(4)) for (const q of allocateByConsistentHash(all, ids(4), id)) before.set(messageQueueKey(q), id);
    const remaining = ids(4).filter((id) => id !== "client-2");
    for (const id of remaining) {
      for (const q of allocateByConsistentHash(all, remaining, id)) {
        const owner = before.get(messageQueueKey(q))!;
        expect(owner === id || owner === "client-2").toBe(true);
      }
    }
  });
});

describe("sortQueues()", () => {
  test("orders by topic, broker name, then queue id numerically", () => {
    const sorted = sortQueues([
      { topic: "b", brokerName: "x", queueId: 0 },
      { topic: "a", brokerName: "y", queueId: 1 },
      { topic: "a", brokerName: "x", queueId: 10 },
      { topic: "a", brokerName: "x", queueId: 2 },
    ]);
    expect(sorted.map(messageQueueKey)).toEqual(["a@x@2", "a@x@10", "a@y@1", "b@x@0"]);
  });
});
