import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { fastPullHeader, fastSendBatchHeader, fastSendHeader } from "../../../core/protocol/fast_headers.ts";
import { PullMessageHeader, SendBatchHeader, SendMessageHeader } from "../../../core/protocol/headers.ts";

const NASTY: unknown[] = [
  undefined, null, "", "x", "bad topic", "%RETRY%g", "a".repeat(127), "a".repeat(128), "a".repeat(256), -2, -1, 0, 1, 0.5,
  1024, 1025, 120_000, 120_001, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53, Number.NaN, Infinity, true,
  {}, [], new Uint8Array(1), { a: "b" }, "TAGS\u0001a\u0002", "x".repeat(65536), "__proto__",
];

function pick<T>(items: readonly T[]): T {
  return items[Math.floor(Math.random() * items.length)]!;
}

/** Random mutations of a valid header: fields dropped, replaced with odd values, or added. */
function mutate(base: Record<string, unknown>): unknown {
  if (Math.random() < 0.05) return pick([null, "header", [], 7]);
  const h: Record<string, unknown> = { ...base };
  const keys = Object.keys(base);
  for (let n = Math.floor(Math.random() * 3); n > 0; n--) {
    const roll = Math.random();
    if (roll < 0.3) delete h[pick(keys)];
    else if (roll < 0.9) h[pick(keys)] = pick(NASTY);
    else h[pick(["extra", "__proto__x", "Topic"])] = pick(NASTY);
  }
  return h;
}

function agree(fast: (h: unknown) => unknown, schema: v.GenericSchema, base: Record<string, unknown>, runs: number): number {
  let fastHits = 0;
  for (let i = 0; i < runs; i++) {
    const header = i === 0 ? base : mutate(base);
    const quick = fast(header);
    if (quick === undefined) continue;
    fastHits++;
    const slow = v.safeParse(schema, header);
    if (!slow.success) throw new Error(`Fast parser accepted what the schema rejects: ${JSON.stringify(header)}`);
    expect(quick).toEqual(slow.output as object);
  }
  return fastHits;
}

describe("fast header parsers agree with their schemas", () => {
  test("fastSendHeader() on 20,000 mutated send headers", () => {
    const base = {
      producerGroup: "p", topic: "orders", queueId: 2, bornTimestamp: Date.now(), flag: 0, sysFlag: 0,
      properties: "TAGS\u0001a\u0002", reconsumeTimes: 0, maxReconsumeTimes: 16, defaultTopicQueueNums: 4,
    };
    const hits = agree(fastSendHeader, SendMessageHeader, base, 20_000);
    expect(hits).toBeGreaterThan(1000); // the fast path is really taken
    expect(agree(fastSendHeader, SendMessageHeader, { topic: "t", queueId: -1, bornTimestamp: 1 }, 5000)).toBeGreaterThan(100);
  });

  test("fastPullHeader() on 20,000 mutated pull headers", () => {
    const base = {
      consumerGroup: "g", topic: "orders", queueId: 1, queueOffset: 10, maxMsgNums: 32, sysFlag: 6,
      commitOffset: -1, suspendTimeoutMillis: 15000, subscription: "a || b",
    };
    expect(agree(fastPullHeader, PullMessageHeader, base, 20_000)).toBeGreaterThan(1000);
    expect(agree(fastPullHeader, PullMessageHeader, { consumerGroup: "g", topic: "t", queueId: 0, queueOffset: 0, maxMsgNums: 1 }, 5000)).toBeGreaterThan(100);
  });

  test("fastSendBatchHeader() on 20,000 mutated batch headers (and mutated entries)", () => {
    const entry = () => ({ size: 10, flag: 0, properties: "TAGS\u0001a\u0002" });
    const base = { producerGroup: "p", topic: "orders", queueId: 2, bornTimestamp: Date.now(), messages: [entry(), entry(), entry()], defaultTopicQueueNums: 4 };
    expect(agree(fastSendBatchHeader, SendBatchHeader, base, 20_000)).toBeGreaterThan(1000);
    let hits = 0;
    for (let i = 0; i < 5000; i++) {
      const messages: unknown[] = [entry(), entry(), entry()];
      const at = Math.floor(Math.random() * messages.length);
      messages[at] = mutate(messages[at] as Record<string, unknown>);
      hits += agree(fastSendBatchHeader, SendBatchHeader, { ...base, messages }, 1);
    }
    expect(hits).toBeGreaterThan(100);
    expect(agree(fastSendBatchHeader, SendBatchHeader, { topic: "t", queueId: -1, bornTimestamp: 1, messages: [{ size: 0 }] }, 5000)).toBeGreaterThan(100);
  });

  test("a map of properties is left to the schema", () => {
    expect(fastSendHeader({ topic: "t", queueId: 0, bornTimestamp: 1, properties: { TAGS: "a" } })).toBeUndefined();
  });
});
