import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { decodeRecords } from "../../../core/model/record.ts";
import { decodeRecallHandle, encodeRecallHandle } from "../../../core/model/recall_handle.ts";
import { TIMER_TOPIC } from "../../../core/model/system_topics.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { BrokerFixture, pull, send, until } from "./_fixture.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();

let fx: BrokerFixture;

beforeEach(() => {
  fx = new BrokerFixture();
});

afterEach(async () => {
  await fx.cleanup();
});

function recall(connection: Connection, topic: string, recallHandle: string) {
  return connection.request(RequestCode.RECALL_MESSAGE, { topic, recallHandle });
}

function batch(connection: Connection, topic: string, properties: string) {
  return connection.request(
    RequestCode.SEND_BATCH_MESSAGE,
    { topic, queueId: 0, bornTimestamp: Date.now(), messages: [{ size: 1, flag: 0, properties }] },
    enc.encode("x"),
  );
}

describe("timer messages", () => {
  test("a message with TIMER_DELAY_MS reaches its topic at its due time with TIMER_OUT_MS, and the send returns a recall handle", async () => {
    await fx.start();
    const { connection } = await fx.client();
    const sentAt = Date.now();
    const sent = await send(connection, "timed", "later", { TIMER_DELAY_MS: "400", TAGS: "t1", color: "red" }, { flag: 7 });
    expect(sent.code).toBe(ResponseCode.SUCCESS);
    const handle = decodeRecallHandle(sent.header.recallHandle);
    if (typeof handle === "string") throw new Error(handle);
    expect(handle.topic).toBe("timed");
    expect(handle.dueMs).toBeGreaterThanOrEqual(sentAt + 400);
    expect(fx.broker.context.store.getMaxOffset(TIMER_TOPIC, 0)).toBe(1);
    expect((await pull(connection, "timed", 0)).code).toBe(ResponseCode.PULL_NOT_FOUND);

    const pulled = await pull(connection, "timed", 0, { suspendMs: 5000 });
    const arrivedAt = Date.now();
    expect(pulled.code).toBe(ResponseCode.SUCCESS);
    const [message] = decodeRecords(pulled.body!);
    expect(dec.decode(message!.body)).toBe("later");
    expect(message!.flag).toBe(7);
    expect(message!.tags).toBe("t1");
    expect(message!.properties.color).toBe("red");
    expect(Number(message!.properties.TIMER_OUT_MS)).toBe(handle.dueMs);
    expect(message!.properties.REAL_TOPIC).toBeUndefined();
    expect(message!.properties.TIMER_DELAY_MS).toBeUndefined();
    expect(message!.properties.TIMER_ID).toBe(String(handle.timerId));
    expect(message!.storeTimestamp).toBeGreaterThanOrEqual(handle.dueMs);
    expect(message!.storeTimestamp - handle.dueMs).toBeLessThan(100);
    expect(arrivedAt - sentAt).toBeLessThan(2000);
    await until(() => fx.broker.context.timers!.stats.delivered === 1);
    expect(fx.broker.context.timers!.stats.pending).toBe(0);
    expect(fx.broker.context.stats.timerLateness.count).toBe(1);
  });

  test("a recalled timer is never delivered; recalling it again, with a forged handle or for another topic is refused", async () => {
    await fx.start();
    const { connection } = await fx.client();
    const doomed = await send(connection, "recalls", "doomed", { TIMER_DELAY_MS: "600" });
    const kept = await send(connection, "recalls", "kept", { TIMER_DELAY_MS: "700" });
    const handle = doomed.header.recallHandle as string;
    const recalled = await recall(connection, "recalls", handle);
    expect(recalled.remark).toBeUndefined();
    expect(recalled.code).toBe(ResponseCode.SUCCESS);
    const again = await recall(connection, "recalls", handle);
    expect(again.code).toBe(ResponseCode.QUERY_NOT_FOUND);
    expect(again.remark).toContain("already recalled");

    const fields = decodeRecallHandle(kept.header.recallHandle);
    if (typeof fields === "string") throw new Error(fields);
    const forged = encodeRecallHandle({ ...fields, timerId: fields.timerId + 1 });
    const refused = await recall(connection, "recalls", forged);
    expect(refused.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(refused.remark).toContain("not issued by this broker");
    const otherTopic = await recall(connection, "other", kept.header.recallHandle as string);
    expect(otherTopic.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(otherTopic.remark).toContain('for topic "recalls"');
    const garbage = await recall(connection, "recalls", "not-a-handle");
    expect(garbage.code).toBe(ResponseCode.MESSAGE_ILLEGAL);

    const pulled = await pull(connection, "recalls", 0, { suspendMs: 5000 });
    const bodies = decodeRecords(pulled.body!).map((m) => dec.decode(m.body));
    expect(bodies).toEqual(["kept"]);
    await until(() => fx.broker.context.timers!.stats.delivered === 1 && fx.broker.context.timers!.stats.recalled === 1);
    // Delivered: too late to recall.
    const stale = await recall(connection, "recalls", kept.header.recallHandle as string);
    expect(stale.code).toBe(ResponseCode.QUERY_NOT_FOUND);
    expect(stale.remark).toContain("no longer pending");
    expect(fx.broker.context.store.getMaxOffset("recalls", 0)).toBe(1);
  });

  test("a delivery time in the past is stored at once; one beyond timerMaxDelayMs, malformed or mixed with DELAY is refused", async () => {
    await fx.start({ timerMaxDelayMs: 3_600_000 });
    const { connection } = await fx.client();
    const past = await send(connection, "edge", "now", { TIMER_DELIVER_MS: String(Date.now() - 60_000) });
    expect(past.code).toBe(ResponseCode.SUCCESS);
    expect(past.header.recallHandle).toBeUndefined();
    expect(fx.broker.context.store.getMaxOffset("edge", 0)).toBe(1);

    const far = await send(connection, "edge", "far", { TIMER_DELAY_MS: String(3_600_001) });
    expect(far.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(far.remark).toContain("timerMaxDelayMs");
    for (const [properties, words] of [
      [{ TIMER_DELAY_MS: "-5" }, 'Property "TIMER_DELAY_MS" must be a non-negative integer'],
      [{ TIMER_DELIVER_MS: "soon" }, 'got "soon"'],
      [{ TIMER_DELAY_SEC: "1", TIMER_DELAY_MS: "1" }, "cannot both be set"],
      [{ TIMER_DELAY_MS: "100", DELAY: "1" }, "cannot also have a delay level"],
    ] as const) {
      const reply = await send(connection, "edge", "bad", properties);
      expect(reply.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
      expect(reply.remark).toContain(words);
    }
    const batched = await batch(connection, "edge", "TIMER_DELAY_MS\u0001100\u0002");
    expect(batched.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(batched.remark).toContain("not supported in a batch");
    // Nothing else was stored, and the connection still serves.
    expect(fx.broker.context.store.getMaxOffset(TIMER_TOPIC, 0)).toBe(0);
    expect((await send(connection, "edge", "fine")).code).toBe(ResponseCode.SUCCESS);
  });

  test("a timer due beyond the wheel is carried forward and delivered once, across a restart", async () => {
    await fx.start({ timerWheelSlots: 3 });
    const { connection } = await fx.client();
    const sent = await send(connection, "far", "five seconds", { TIMER_DELAY_MS: "5000" });
    expect(sent.code).toBe(ResponseCode.SUCCESS);
    await until(() => fx.broker.context.timers!.stats.rolled >= 1, 10_000);
    await fx.restart();
    const { connection: after } = await fx.client();
    const pulled = await pull(after, "far", 0, { suspendMs: 10_000 });
    expect(pulled.code).toBe(ResponseCode.SUCCESS);
    const [message] = decodeRecords(pulled.body!);
    expect(dec.decode(message!.body)).toBe("five seconds");
    expect(Number(message!.properties.TIMER_ROLL_TIMES)).toBeGreaterThanOrEqual(1);
    expect(message!.storeTimestamp - Number(message!.properties.TIMER_OUT_MS)).toBeLessThan(100);
    await until(() => fx.broker.context.timers!.stats.delivered === 1);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(fx.broker.context.store.getMaxOffset("far", 0)).toBe(1);
  }, 20_000);

  test("a month-long timer is pending after a restart and its record is kept from retention", async () => {
    await fx.start();
    const { connection } = await fx.client();
    const sent = await send(connection, "month", "in a month", { TIMER_DELAY_MS: String(30 * 86_400_000) });
    expect(sent.code).toBe(ResponseCode.SUCCESS);
    await until(() => fx.broker.context.timers!.stats.pending === 1);
    await fx.restart();
    const timers = fx.broker.context.timers!;
    expect(timers.stats.pending).toBe(1);
    expect(timers.stats.enqueueOffset).toBe(1);
    const fields = decodeRecallHandle(sent.header.recallHandle);
    if (typeof fields === "string") throw new Error(fields);
    // Retention keeps the segment holding the timer's record.
    expect(timers.minOffsetNeeded()).toBe(fields.timerId);
    const { connection: after } = await fx.client();
    expect((await recall(after, "month", sent.header.recallHandle as string)).code).toBe(ResponseCode.SUCCESS);
  });
});

describe("idempotent sends", () => {
  test("the same dedup id sent three times, through a restart, is stored once and answered with the first result", async () => {
    await fx.start();
    let { connection } = await fx.client();
    const first = await send(connection, "dedup", "one", { DEDUP_ID: "order-42" });
    expect(first.code).toBe(ResponseCode.SUCCESS);
    expect(first.header.duplicate).toBeUndefined();
    const second = await send(connection, "dedup", "one", { DEDUP_ID: "order-42" });
    expect(second.header).toEqual({ ...first.header, duplicate: true });
    await fx.restart();
    ({ connection } = await fx.client());
    const third = await send(connection, "dedup", "one", { DEDUP_ID: "order-42" });
    expect(third.code).toBe(ResponseCode.SUCCESS);
    // The restarted broker listens on another port (part of the id); the CommitLog offset is the same.
    expect((third.header.msgId as string).slice(-16)).toBe((first.header.msgId as string).slice(-16));
    expect(third.header).toMatchObject({ queueId: 0, queueOffset: 0, duplicate: true });
    expect(fx.broker.context.store.getMaxOffset("dedup", 0)).toBe(1);
    // The key is (topic, id): another topic stores its own.
    expect((await send(connection, "dedup2", "one", { DEDUP_ID: "order-42" })).header.duplicate).toBeUndefined();
    expect(fx.broker.context.dedup.duplicates).toBe(1);
  });

  test("concurrent repeats wait for the first; a bad dedup id is refused", async () => {
    await fx.start();
    const { connection } = await fx.client();
    const replies = await Promise.all([1, 2, 3, 4].map(() => send(connection, "dedup", "x", { DEDUP_ID: "same" })));
    expect(replies.filter((r) => r.header.duplicate === true)).toHaveLength(3);
    expect(new Set(replies.map((r) => r.header.msgId)).size).toBe(1);
    for (const id of ["", "has space", "x".repeat(129)]) {
      const reply = await send(connection, "dedup", "x", { DEDUP_ID: id });
      expect(reply.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
      expect(reply.remark).toContain("Dedup id");
    }
    expect(fx.broker.context.store.getMaxOffset("dedup", 0)).toBe(1);
  });

  test("a timer send repeated with its dedup id gets the same recall handle", async () => {
    await fx.start();
    const { connection } = await fx.client();
    const first = await send(connection, "dt", "x", { DEDUP_ID: "t-1", TIMER_DELAY_MS: "60000" });
    const again = await send(connection, "dt", "x", { DEDUP_ID: "t-1", TIMER_DELAY_MS: "60000" });
    expect(again.header.recallHandle).toBe(first.header.recallHandle);
    expect(again.header.duplicate).toBe(true);
    expect(fx.broker.context.store.getMaxOffset(TIMER_TOPIC, 0)).toBe(1);
  });
});
