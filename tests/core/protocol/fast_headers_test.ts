import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { fastPullHeader, fastSendBatchHeader, fastSendBatchRecordsHeader, fastSendBatchV2Header, fastSendHeader, fastSendV2Header } from "../../../core/protocol/fast_headers.ts";
import { PullMessageHeader, SendBatchHeader, SendBatchRecordsHeader, SendBatchV2Header, SendMessageHeader, SendMessageV2Header } from "../../../core/protocol/headers.ts";
import { type Random, replayable } from "../../_helpers/random.ts";

const NASTY: unknown[] = [
  undefined, null, "", "x", "bad topic", "%RETRY%g", "a".repeat(127), "a".repeat(128), "a".repeat(256), -2, -1, 0, 1, 0.5,
  1024, 1025, 120_000, 120_001, 2 ** 31 - 1, 2 ** 31, -(2 ** 31), -(2 ** 31) - 1, 2 ** 53, Number.NaN, Infinity, true,
  {}, [], new Uint8Array(1), { a: "b" }, "TAGS\u0001a\u0002", "x".repeat(65536), "__proto__",
  "TAG", "SQL92", "sql92", "a".repeat(4096), "a".repeat(4097),
];

/** Random mutations of a valid header: fields dropped, replaced with odd values, or added. */
function mutate(r: Random, base: Record<string, unknown>): unknown {
  if (r.chance(0.05)) return r.pick([null, "header", [], 7]);
  const h: Record<string, unknown> = { ...base };
  const keys = Object.keys(base);
  for (let n = r.int(3); n > 0; n--) {
    const roll = r.next();
    if (roll < 0.3) delete h[r.pick(keys)];
    else if (roll < 0.9) h[r.pick(keys)] = r.pick(NASTY);
    else h[r.pick(["extra", "__proto__x", "Topic", "c", "k"])] = r.pick(NASTY);
  }
  return h;
}

function agree(r: Random, fast: (h: unknown) => unknown, schema: v.GenericSchema, base: Record<string, unknown>, runs: number): number {
  let fastHits = 0;
  for (let i = 0; i < runs; i++) {
    const header = i === 0 ? base : mutate(r, base);
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
  test("fastSendHeader() on 20,000 mutated send headers", () => replayable((r) => {
    const base = {
      producerGroup: "p", topic: "orders", queueId: 2, bornTimestamp: Date.now(), flag: 0, sysFlag: 0,
      properties: "TAGS\u0001a\u0002", reconsumeTimes: 0, maxReconsumeTimes: 16, defaultTopicQueueNums: 4,
    };
    const hits = agree(r, fastSendHeader, SendMessageHeader, base, 20_000);
    expect(hits).toBeGreaterThan(1000); // the fast path is really taken
    expect(agree(r, fastSendHeader, SendMessageHeader, { topic: "t", queueId: -1, bornTimestamp: 1 }, 5000)).toBeGreaterThan(100);
  }));

  test("fastPullHeader() on 20,000 mutated pull headers", () => replayable((r) => {
    const base = {
      consumerGroup: "g", topic: "orders", queueId: 1, queueOffset: 10, maxMsgNums: 32, sysFlag: 6,
      commitOffset: -1, suspendTimeoutMillis: 15000, subscription: "a || b",
    };
    expect(agree(r, fastPullHeader, PullMessageHeader, base, 20_000)).toBeGreaterThan(1000);
    expect(agree(r, fastPullHeader, PullMessageHeader, { ...base, subscription: "a > 1", expressionType: "SQL92" }, 10_000)).toBeGreaterThan(500);
    expect(agree(r, fastPullHeader, PullMessageHeader, { consumerGroup: "g", topic: "t", queueId: 0, queueOffset: 0, maxMsgNums: 1 }, 5000)).toBeGreaterThan(100);
  }));

  test("fastSendBatchHeader() on 20,000 mutated batch headers (and mutated entries)", () => replayable((r) => {
    const entry = () => ({ size: 10, flag: 0, properties: "TAGS\u0001a\u0002" });
    const base = { producerGroup: "p", topic: "orders", queueId: 2, bornTimestamp: Date.now(), messages: [entry(), entry(), entry()], defaultTopicQueueNums: 4 };
    expect(agree(r, fastSendBatchHeader, SendBatchHeader, base, 20_000)).toBeGreaterThan(1000);
    let hits = 0;
    for (let i = 0; i < 5000; i++) {
      const messages: unknown[] = [entry(), entry(), entry()];
      const at = r.int(messages.length);
      messages[at] = mutate(r, messages[at] as Record<string, unknown>);
      hits += agree(r, fastSendBatchHeader, SendBatchHeader, { ...base, messages }, 1);
    }
    expect(hits).toBeGreaterThan(100);
    expect(agree(r, fastSendBatchHeader, SendBatchHeader, { topic: "t", queueId: -1, bornTimestamp: 1, messages: [{ size: 0 }] }, 5000)).toBeGreaterThan(100);
  }));

  test("fastSendV2Header() on 20,000 mutated SEND_MESSAGE_V2 headers", () => replayable((r) => {
    const base = { a: "p", b: "orders", d: 4, e: 2, f: 0, g: Date.now(), h: 0, i: "TAGS\u0001a\u0002", j: 0, l: 16 };
    expect(agree(r, fastSendV2Header, SendMessageV2Header, base, 20_000)).toBeGreaterThan(1000);
    expect(agree(r, fastSendV2Header, SendMessageV2Header, { b: "t", e: -1, g: 1 }, 5000)).toBeGreaterThan(100);
  }));

  test("a V2 send header parses to what the same fields under SEND_MESSAGE's names parse to", () => {
    const v2 = { a: "p", b: "orders", d: 8, e: 1, f: 4, g: 1234, h: -7, i: "KEYS\u0001k\u0002", j: 2, l: 3 };
    const v1 = {
      producerGroup: "p", topic: "orders", defaultTopicQueueNums: 8, queueId: 1, sysFlag: 4, bornTimestamp: 1234, flag: -7,
      properties: "KEYS\u0001k\u0002", reconsumeTimes: 2, maxReconsumeTimes: 3,
    };
    expect(fastSendV2Header(v2)).toEqual(fastSendHeader(v1)!);
    expect(v.parse(SendMessageV2Header, v2)).toEqual(v.parse(SendMessageHeader, v1));
    const problem = v.safeParse(SendMessageV2Header, { ...v2, b: "bad topic" });
    expect(problem.success).toBe(false);
  });

  test("fastSendBatchRecordsHeader() on 20,000 mutated SEND_BATCH_RECORDS headers", () => replayable((r) => {
    const base = { a: "p", b: "orders", d: 8, e: 3, g: Date.now(), n: 32 };
    expect(agree(r, fastSendBatchRecordsHeader, SendBatchRecordsHeader, base, 20_000)).toBeGreaterThan(1000);
    expect(agree(r, fastSendBatchRecordsHeader, SendBatchRecordsHeader, { b: "t", e: -1, g: 1, n: 1 }, 5000)).toBeGreaterThan(100);
    expect(fastSendBatchRecordsHeader({ b: "t", e: 0, g: 1, n: 4097 })).toBeUndefined();
  }));

  test("fastSendBatchV2Header() on 20,000 mutated SEND_BATCH_MESSAGE_V2 headers (and mutated entries)", () => replayable((r) => {
    const entry = (): unknown[] => [10, 0, "TAGS\u0001a\u0002"];
    const base = { a: "p", b: "orders", d: 4, e: 2, g: Date.now(), m: [entry(), entry(), entry()] };
    expect(agree(r, fastSendBatchV2Header, SendBatchV2Header, base, 20_000)).toBeGreaterThan(1000);
    let hits = 0;
    for (let i = 0; i < 5000; i++) {
      const m: unknown[] = [entry(), entry(), entry()];
      const at = r.int(m.length);
      const broken = [...(m[at] as unknown[])];
      const roll = r.next();
      if (roll < 0.2) broken.pop();
      else if (roll < 0.3) broken.push(r.pick(NASTY));
      else broken[r.int(3)] = r.pick(NASTY);
      m[at] = r.next() < 0.05 ? r.pick(NASTY) : broken;
      hits += agree(r, fastSendBatchV2Header, SendBatchV2Header, { ...base, m }, 1);
    }
    expect(hits).toBeGreaterThan(100);
    const batch = fastSendBatchV2Header({ b: "t", e: -1, g: 1, m: [[3, 1, "x"], [0, 0, ""]] });
    expect(batch).toEqual(fastSendBatchHeader({ topic: "t", queueId: -1, bornTimestamp: 1, messages: [{ size: 3, flag: 1, properties: "x" }, { size: 0 }] })!);
  }));

  test("a map of properties is left to the schema", () => {
    expect(fastSendHeader({ topic: "t", queueId: 0, bornTimestamp: 1, properties: { TAGS: "a" } })).toBeUndefined();
  });
});
