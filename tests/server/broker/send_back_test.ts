import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { MessageExt } from "../../../core/model/message.ts";
import { decodeRecords } from "../../../core/model/record.ts";
import { SCHEDULE_TOPIC } from "../../../core/model/system_topics.ts";
import { Perm, RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { BrokerFixture, heartbeat, pull, send } from "./_fixture.ts";

const dec = new TextDecoder();

let fx: BrokerFixture;
let connection: Connection;

beforeEach(async () => {
  fx = new BrokerFixture();
  await fx.start({ messageDelayLevel: "50ms 100ms 150ms 200ms 250ms" });
  connection = (await fx.client()).connection;
});

afterEach(async () => {
  await fx.cleanup();
});

function sendBack(offset: number, extra: Record<string, unknown> = {}) {
  return connection.request(RequestCode.CONSUMER_SEND_MSG_BACK, { consumerGroup: "g", offset, delayLevel: 0, ...extra });
}

async function pullOne(topic: string, offset: number, suspendMs = 5000): Promise<MessageExt> {
  const pulled = await pull(connection, topic, offset, { suspendMs });
  expect(pulled.code).toBe(ResponseCode.SUCCESS);
  const messages = decodeRecords(pulled.body!);
  expect(messages).toHaveLength(1);
  return messages[0]!;
}

describe("send back", () => {
  test("a failed message reaches the retry topic after level 3 + reconsumeTimes, then the DLQ past the limit", async () => {
    await heartbeat(connection, "client-a", "g");
    const sent = await send(connection, "orders", "pay me", { TAGS: "paid", KEYS: "order-1", UNIQ_KEY: "U1", color: "red" });
    const original = await pullOne("orders", 0, 0);

    const startedAt = Date.now();
    const back = await sendBack(original.commitLogOffset, { originMsgId: "U1", maxReconsumeTimes: 2 });
    expect(back.code).toBe(ResponseCode.SUCCESS);
    expect(back.header).toMatchObject({ topic: "%RETRY%g", reconsumeTimes: 1, delayLevel: 3 });
    expect(fx.broker.context.store.getMaxOffset(SCHEDULE_TOPIC, 2)).toBe(1);

    const retry1 = await pullOne("%RETRY%g", 0);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(140);
    expect(retry1.topic).toBe("%RETRY%g");
    expect(retry1.reconsumeTimes).toBe(1);
    expect(dec.decode(retry1.body)).toBe("pay me");
    expect(retry1.properties).toMatchObject({
      RETRY_TOPIC: "orders",
      ORIGIN_MESSAGE_ID: sent.header.msgId as string,
      TAGS: "paid",
      KEYS: "order-1",
      UNIQ_KEY: "U1",
      color: "red",
    });
    for (const gone of ["DELAY", "REAL_TOPIC", "REAL_QID"]) expect(retry1.properties[gone]).toBeUndefined();
    expect(retry1.bornTimestamp).toBe(original.bornTimestamp);

    // Second failure: level 3 + 1 = 4; RETRY_TOPIC and ORIGIN_MESSAGE_ID keep their first values.
    const back2 = await sendBack(retry1.commitLogOffset, { maxReconsumeTimes: 2 });
    expect(back2.header).toMatchObject({ topic: "%RETRY%g", reconsumeTimes: 2, delayLevel: 4 });
    const retry2 = await pullOne("%RETRY%g", 1);
    expect(retry2.reconsumeTimes).toBe(2);
    expect(retry2.properties.RETRY_TOPIC).toBe("orders");
    expect(retry2.properties.ORIGIN_MESSAGE_ID).toBe(sent.header.msgId as string);

    // Third failure: 3 > maxReconsumeTimes 2, so the dead-letter topic, at once.
    const back3 = await sendBack(retry2.commitLogOffset, { maxReconsumeTimes: 2 });
    expect(back3.code).toBe(ResponseCode.SUCCESS);
    expect(back3.header).toMatchObject({ topic: "%DLQ%g", reconsumeTimes: 3, delayLevel: 0 });
    expect(fx.broker.context.topics.get("%DLQ%g")).toMatchObject({ readQueueNums: 1, writeQueueNums: 1, perm: Perm.READ | Perm.WRITE });
    const dead = await pullOne("%DLQ%g", 0, 0);
    expect(dead.reconsumeTimes).toBe(3);
    expect(dead.properties).toMatchObject({ RETRY_TOPIC: "orders", ORIGIN_MESSAGE_ID: sent.header.msgId as string, TAGS: "paid" });
    expect(dead.properties.DELAY).toBeUndefined();
    expect((await pull(connection, "%RETRY%g", 2)).code).toBe(ResponseCode.PULL_NOT_FOUND);
    // Counted once, for the group and the topic it was first sent to; retries are not dead letters.
    expect(fx.broker.context.stats.deadLetters).toEqual(new Map([["g", new Map([["orders", 1]])]]));
  });

  test("an explicit delay level is used and clamped; -1 goes straight to the DLQ", async () => {
    await send(connection, "orders", "m");
    const original = await pullOne("orders", 0, 0);
    const back = await sendBack(original.commitLogOffset, { delayLevel: 1 });
    expect(back.header).toMatchObject({ topic: "%RETRY%g", delayLevel: 1 });
    expect(fx.broker.context.topics.get("%RETRY%g")).toBeDefined(); // created on first send-back

    const clamped = await sendBack(original.commitLogOffset, { delayLevel: 64 });
    expect(clamped.header).toMatchObject({ delayLevel: 5 });
    expect(fx.broker.context.store.getMaxOffset(SCHEDULE_TOPIC, 4)).toBe(1);

    const dead = await sendBack(original.commitLogOffset, { delayLevel: -1 });
    expect(dead.header).toMatchObject({ topic: "%DLQ%g", reconsumeTimes: 1 });
    expect((await pullOne("%DLQ%g", 0, 0)).properties.RETRY_TOPIC).toBe("orders");
    expect(fx.broker.context.stats.deadLetters.get("g")?.get("orders")).toBe(1);
  });

  test("an unknown offset is answered with a clear error", async () => {
    const reply = await sendBack(123_456);
    expect(reply.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(reply.remark).toContain("no message at commit log offset 123456");
  });

  test("a direct send to a retry topic past maxReconsumeTimes lands in the DLQ", async () => {
    await heartbeat(connection, "client-a", "g");
    const ok = await send(connection, "%RETRY%g", "again", { RETRY_TOPIC: "orders" }, { reconsumeTimes: 2, maxReconsumeTimes: 2 });
    expect(ok.code).toBe(ResponseCode.SUCCESS);
    expect((await pullOne("%RETRY%g", 0, 0)).reconsumeTimes).toBe(2);

    const over = await send(connection, "%RETRY%g", "dead", { RETRY_TOPIC: "orders", DELAY: "3" }, {
      reconsumeTimes: 3,
      maxReconsumeTimes: 2,
    });
    expect(over.code).toBe(ResponseCode.SUCCESS);
    const dead = await pullOne("%DLQ%g", 0, 0);
    expect(dec.decode(dead.body)).toBe("dead");
    expect(dead.reconsumeTimes).toBe(3);
    expect(dead.properties.DELAY).toBeUndefined();
    expect(fx.broker.context.stats.deadLetters).toEqual(new Map([["g", new Map([["orders", 1]])]]));
    const info = await connection.request(RequestCode.GET_BROKER_RUNTIME_INFO, {});
    expect(info.header.deadLetters).toEqual({ g: { orders: 1 } });
  });
});
