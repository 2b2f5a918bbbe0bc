import { describe, expect, test } from "bun:test";
import { selectQueue } from "../../client/_queue_select.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";

const queues: MessageQueue[] = [
  { topic: "t", brokerName: "a", queueId: 0 },
  { topic: "t", brokerName: "a", queueId: 1 },
  { topic: "t", brokerName: "b", queueId: 0 },
  { topic: "t", brokerName: "b", queueId: 1 },
];

describe("selectQueue()", () => {
  test("goes round robin by index", () => {
    const picked = Array.from({ length: 6 }, (_, i) => selectQueue(queues, i, () => false));
    expect(picked).toEqual([...queues, queues[0]!, queues[1]!]);
  });

  test("skips avoided brokers, wrapping around", () => {
    expect(selectQueue(queues, 0, (b) => b === "a")).toBe(queues[2]!);
    expect(selectQueue(queues, 3, (b) => b === "b")).toBe(queues[0]!);
  });

  test("falls back to the queue at the index when every broker is avoided", () => {
    expect(selectQueue(queues, 5, () => true)).toBe(queues[1]!);
  });

  test("rejects an empty list", () => {
    expect(() => selectQueue([], 0, () => false)).toThrow(RangeError);
  });
});
