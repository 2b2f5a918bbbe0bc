import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { decodeRecords } from "../../../core/model/record.ts";
import { SCHEDULE_TOPIC } from "../../../core/model/system_topics.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { BrokerFixture, pull, send, until } from "./_fixture.ts";

const dec = new TextDecoder();
const enc = new TextEncoder();
const LEVELS = "200ms 400ms";

let fx: BrokerFixture;

beforeEach(() => {
  fx = new BrokerFixture();
});

afterEach(async () => {
  await fx.cleanup();
});

describe("delayed delivery", () => {
  test("a DELAY=1 message reaches its topic after the level's delay, without the schedule properties", async () => {
    await fx.start({ messageDelayLevel: LEVELS });
    const { connection } = await fx.client();
    const sentAt = Date.now();
    const sent = await send(connection, "delayed", "later", { DELAY: "1", TAGS: "t1", KEYS: "k1", color: "red" }, { flag: 7 });
    expect(sent.code).toBe(ResponseCode.SUCCESS);
    expect(sent.header.queueId).toBe(0);
    expect(fx.broker.context.store.getMaxOffset(SCHEDULE_TOPIC, 0)).toBe(1);

    expect((await pull(connection, "delayed", 0)).code).toBe(ResponseCode.PULL_NOT_FOUND);
    const pulled = await pull(connection, "delayed", 0, { suspendMs: 5000 });
    const arrivedAt = Date.now();
    expect(pulled.code).toBe(ResponseCode.SUCCESS);
    expect(arrivedAt - sentAt).toBeGreaterThanOrEqual(190);
    expect(arrivedAt - sentAt).toBeLessThan(2000);
    const [message] = decodeRecords(pulled.body!);
    expect(dec.decode(message!.body)).toBe("later");
    expect(message!.topic).toBe("delayed");
    expect(message!.flag).toBe(7);
    expect(message!.tags).toBe("t1");
    expect(message!.keys).toEqual(["k1"]);
    expect(message!.properties.color).toBe("red");
    expect(message!.properties.DELAY).toBeUndefined();
    expect(message!.properties.REAL_TOPIC).toBeUndefined();
    expect(message!.properties.REAL_QID).toBeUndefined();
    expect(message!.storeTimestamp - sentAt).toBeGreaterThanOrEqual(190);
    // The pull wakes when the message becomes visible, just before the level's progress moves.
    await until(() => fx.broker.context.schedule.progress()[0]!.offset === 1);
    expect(fx.broker.context.schedule.progress()[0]).toEqual({ level: 1, delayMs: 200, offset: 1, maxOffset: 1 });
  });

  test("levels above the highest are clamped; DELAY 0 delivers now; a bad DELAY is refused", async () => {
    await fx.start({ messageDelayLevel: LEVELS });
    const { connection } = await fx.client();
    expect((await send(connection, "t", "x", { DELAY: "9" })).code).toBe(ResponseCode.SUCCESS);
    expect(fx.broker.context.store.getMaxOffset(SCHEDULE_TOPIC, 1)).toBe(1);
    expect((await send(connection, "t", "now", { DELAY: "0" })).code).toBe(ResponseCode.SUCCESS);
    const now = await pull(connection, "t", 0);
    expect(now.code).toBe(ResponseCode.SUCCESS);
    expect(dec.decode(decodeRecords(now.body!)[0]!.body)).toBe("now");
    const bad = await send(connection, "t", "x", { DELAY: "soon" });
    expect(bad.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(bad.remark).toContain('"DELAY"');
  });

  test("producers cannot send to the schedule topic", async () => {
    await fx.start({ messageDelayLevel: LEVELS });
    const { connection } = await fx.client();
    const reply = await send(connection, SCHEDULE_TOPIC, "x");
    expect(reply.code).toBe(ResponseCode.NO_PERMISSION);
  });

  test("messages of one level are delivered in order", async () => {
    await fx.start({ messageDelayLevel: "100ms" });
    const { connection } = await fx.client();
    for (let i = 0; i < 20; i++) expect((await send(connection, "ordered", `m${i}`, { DELAY: "1" })).code).toBe(ResponseCode.SUCCESS);
    const bodies: string[] = [];
    let offset = 0;
    while (bodies.length < 20) {
      const pulled = await pull(connection, "ordered", offset, { suspendMs: 5000 });
      expect(pulled.code).toBe(ResponseCode.SUCCESS);
      bodies.push(...decodeRecords(pulled.body!).map((m) => dec.decode(m.body)));
      offset = pulled.header.nextBeginOffset as number;
    }
    expect(bodies).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
  });

  test("a batch whose messages share a delay level is delayed; mixed levels are refused", async () => {
    await fx.start({ messageDelayLevel: LEVELS });
    const { connection } = await fx.client();
    const batch = (levels: string[]) =>
      connection.request(
        RequestCode.SEND_BATCH_MESSAGE,
        {
          topic: "b",
          queueId: 0,
          bornTimestamp: Date.now(),
          messages: levels.map((DELAY) => ({ size: 1, properties: DELAY === "" ? {} : { DELAY } })),
        },
        enc.encode("x".repeat(levels.length)),
      );
    const mixed = await batch(["1", ""]);
    expect(mixed.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(mixed.remark).toContain("one delay level");
    const sentAt = Date.now();
    expect((await batch(["1", "1", "1"])).code).toBe(ResponseCode.SUCCESS);
    expect(fx.broker.context.store.getMaxOffset(SCHEDULE_TOPIC, 0)).toBe(3);
    expect((await pull(connection, "b", 0)).code).toBe(ResponseCode.PULL_NOT_FOUND);
    let count = 0;
    while (count < 3) {
      const pulled = await pull(connection, "b", count, { suspendMs: 5000 });
      expect(pulled.code).toBe(ResponseCode.SUCCESS);
      count += decodeRecords(pulled.body!).length;
    }
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(190);
  });

  test("pending delayed messages survive a restart and delivered ones are not delivered again", async () => {
    await fx.start({ messageDelayLevel: "200ms 1s" });
    let client = await fx.client();
    expect((await send(client.connection, "r", "first", { DELAY: "1" })).code).toBe(ResponseCode.SUCCESS);
    expect((await pull(client.connection, "r", 0, { suspendMs: 5000 })).code).toBe(ResponseCode.SUCCESS);

    const sentAt = Date.now();
    expect((await send(client.connection, "r", "second", { DELAY: "2" })).code).toBe(ResponseCode.SUCCESS);
    await fx.restart(); // well before the second is up
    expect(Date.now() - sentAt).toBeLessThan(1000);
    client = await fx.client();
    expect(fx.broker.context.store.getMaxOffset("r", 0)).toBe(1);
    const pulled = await pull(client.connection, "r", 1, { suspendMs: 5000 });
    expect(pulled.code).toBe(ResponseCode.SUCCESS);
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(990);
    expect(decodeRecords(pulled.body!).map((m) => dec.decode(m.body))).toEqual(["second"]);
    expect(fx.broker.context.store.getMaxOffset("r", 0)).toBe(2);
    await until(() => fx.broker.context.schedule.progress()[1]!.offset === 1);
    expect(fx.broker.context.schedule.progress().map((p) => p.offset)).toEqual([1, 1]);

    // Everything delivered is remembered across another restart: the progress is restored, and a
    // pull parked at the end is not woken by a second delivery.
    await fx.restart();
    client = await fx.client();
    expect(fx.broker.context.schedule.progress().map((p) => p.offset)).toEqual([1, 1]);
    expect((await pull(client.connection, "r", 2, { suspendMs: 300 })).code).toBe(ResponseCode.PULL_NOT_FOUND);
    expect(fx.broker.context.store.getMaxOffset("r", 0)).toBe(2);
  });

  test("messages already due when the broker starts are delivered at once", async () => {
    // A 2 s level: delivered at once means well inside it, where a delay counted from the restart
    // would take all of it.
    const DELAY_MS = 2000;
    await fx.start({ messageDelayLevel: "2s" });
    let client = await fx.client();
    const sent = await send(client.connection, "late", "m", { DELAY: "1" });
    expect(sent.code).toBe(ResponseCode.SUCCESS);
    const dueAt = Date.now() + DELAY_MS; // stored before now, so due by then
    await fx.broker.close();
    await until(() => Date.now() > dueAt, DELAY_MS + 5000); // the broker is down while the message becomes due
    await fx.start({ messageDelayLevel: "2s" });
    client = await fx.client();
    const startedAt = Date.now();
    const pulled = await pull(client.connection, "late", 0, { suspendMs: 10_000 });
    expect(pulled.code).toBe(ResponseCode.SUCCESS);
    expect(Date.now() - startedAt).toBeLessThan(DELAY_MS / 2);
  });

  test("bad delay levels stop the broker from starting", async () => {
    await expect(fx.start({ messageDelayLevel: "1s 2x" })).rejects.toThrow('Delay level "2x"');
  });
});
