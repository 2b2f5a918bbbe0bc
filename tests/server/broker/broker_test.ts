import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { offsetMessageId } from "../../../core/model/message_id.ts";
import { decodeRecords } from "../../../core/model/record.ts";
import { encodeBatchRecords } from "../../../core/model/batch_records.ts";
import { PullSysFlag, RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../../core/remoting/connection.ts";
import { type Broker, startBroker } from "../../../server/broker/broker.ts";
import { MemoryNetwork } from "../../_helpers/memory_network.ts";
import { until } from "../../_helpers/wait.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

let dir: string;
let net: MemoryNetwork;
let broker: Broker;
let client: Connection;

async function boot(extra: Partial<Parameters<typeof startBroker>[0]> = {}): Promise<void> {
  broker = await startBroker({
    listen: net.listen,
    dial: net.dial,
    dataDir: dir,
    port: 0,
    commitLogSegmentSize: 64 * 1024,
    autoCreateTopicEnable: true,
    log: () => {},
    ...extra,
  });
  client = await connect(net.dial, `memory:${broker.port}`);
}

function send(topic: string, body: string, properties: Record<string, string> = {}, queueId = 0) {
  return client.request(RequestCode.SEND_MESSAGE, { topic, queueId, bornTimestamp: Date.now(), properties }, enc.encode(body));
}

function pull(topic: string, queueId: number, queueOffset: number, extra: Record<string, unknown> = {}) {
  return client.request(RequestCode.PULL_MESSAGE, { consumerGroup: "g", topic, queueId, queueOffset, maxMsgNums: 32, ...extra }, undefined, 10_000);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-broker-"));
  net = new MemoryNetwork();
});

afterEach(async () => {
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("broker", () => {
  test("a sent message is pulled back with its properties", async () => {
    await boot();
    const sent = await send("orders", "hello", { TAGS: "created", KEYS: "k1 k2", color: "red" });
    expect(sent.code).toBe(ResponseCode.SUCCESS);
    expect(sent.header.queueOffset).toBe(0);
    expect(sent.header.msgId).toMatch(/^[0-9A-F]{32}$/);
    const pulled = await pull("orders", 0, 0);
    expect(pulled.code).toBe(ResponseCode.SUCCESS);
    expect(pulled.header.nextBeginOffset).toBe(1);
    const [message] = decodeRecords(pulled.body!);
    expect(dec.decode(message!.body)).toBe("hello");
    expect(message!.tags).toBe("created");
    expect(message!.keys).toEqual(["k1", "k2"]);
    expect(message!.properties.color).toBe("red");
    expect(message!.msgId).toBe(sent.header.msgId as string);
  });

  test("pull statuses follow RocketMQ: not found, offset moved, retry immediately", async () => {
    await boot();
    await send("t1", "a", { TAGS: "x" });
    expect((await pull("t1", 0, 1)).code).toBe(ResponseCode.PULL_NOT_FOUND);
    const moved = await pull("t1", 0, 5);
    expect(moved.code).toBe(ResponseCode.PULL_OFFSET_MOVED);
    expect(moved.header.nextBeginOffset).toBe(1);
    const filtered = await pull("t1", 0, 0, { subscription: "y || z" });
    expect(filtered.code).toBe(ResponseCode.PULL_RETRY_IMMEDIATELY);
    expect(filtered.header.nextBeginOffset).toBe(1);
    expect((await pull("t1", 0, 0, { subscription: "z || x" })).code).toBe(ResponseCode.SUCCESS);
  });

  test("a long-polling pull is woken by the message's arrival, not by its timeout", async () => {
    await boot();
    await send("lp", "first");
    // Suspended for a minute: only the arrival's wake-up can answer it within this test.
    const waiting = pull("lp", 0, 1, { sysFlag: PullSysFlag.SUSPEND, suspendTimeoutMillis: 60_000 });
    await until(() => broker.context.holds.size === 1, 5000, "the pull to be parked");
    await send("lp", "second");
    await until(() => broker.context.holds.size === 0, 5000, "the arrival to wake the parked pull");
    const answer = await waiting;
    expect(answer.code).toBe(ResponseCode.SUCCESS);
    expect(dec.decode(decodeRecords(answer.body!)[0]!.body)).toBe("second");
  });

  test("a long-polling pull times out with PULL_NOT_FOUND", async () => {
    await boot();
    await send("lp2", "first");
    const answer = await pull("lp2", 0, 1, { sysFlag: PullSysFlag.SUSPEND, suspendTimeoutMillis: 200 });
    expect(answer.code).toBe(ResponseCode.PULL_NOT_FOUND);
  });

  test("consumer offsets are committed, queried and survive a restart", async () => {
    await boot();
    await send("off", "a");
    const q = { consumerGroup: "g1", topic: "off", queueId: 0 };
    expect((await client.request(RequestCode.QUERY_CONSUMER_OFFSET, q)).code).toBe(ResponseCode.QUERY_NOT_FOUND);
    await client.request(RequestCode.UPDATE_CONSUMER_OFFSET, { ...q, commitOffset: 1 });
    await client.request(RequestCode.UPDATE_CONSUMER_OFFSET, { ...q, commitOffset: -1 });
    expect((await client.request(RequestCode.QUERY_CONSUMER_OFFSET, q)).header.offset).toBe(1);
    await broker.close();
    await boot();
    expect((await client.request(RequestCode.QUERY_CONSUMER_OFFSET, q)).header.offset).toBe(1);
    expect((await client.request(RequestCode.GET_MAX_OFFSET, { topic: "off", queueId: 0 })).header.offset).toBe(1);
  });

  test("topics are created, listed and deleted; unknown topics fail without auto-create", async () => {
    await boot({ autoCreateTopicEnable: false });
    const missing = await send("nope", "x");
    expect(missing.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect(missing.remark).toContain('"nope"');
    const created = await client.request(RequestCode.UPDATE_AND_CREATE_TOPIC, { topic: "made", readQueueNums: 2, writeQueueNums: 2 });
    expect(created.code).toBe(ResponseCode.SUCCESS);
    expect((await send("made", "x", {}, 1)).code).toBe(ResponseCode.SUCCESS);
    const outOfRange = await send("made", "x", {}, 2);
    expect(outOfRange.code).toBe(ResponseCode.SYSTEM_ERROR);
    const all = await client.request(RequestCode.GET_ALL_TOPIC_CONFIG, {});
    expect(Object.keys(all.header.topicConfigs as object)).toContain("made");
    expect((await client.request(RequestCode.DELETE_TOPIC_IN_BROKER, { topic: "made" })).code).toBe(ResponseCode.SUCCESS);
    expect((await send("made", "x")).code).toBe(ResponseCode.TOPIC_NOT_EXIST);
  });

  test("batch send stores consecutive offsets", async () => {
    await boot();
    const bodies = ["one", "two", "three"].map((s) => enc.encode(s));
    const body = new Uint8Array(bodies.reduce((n, b) => n + b.length, 0));
    let pos = 0;
    for (const b of bodies) {
      body.set(b, pos);
      pos += b.length;
    }
    const answer = await client.request(RequestCode.SEND_BATCH_MESSAGE, {
      topic: "batch",
      queueId: 1,
      bornTimestamp: Date.now(),
      messages: bodies.map((b, i) => ({ size: b.length, properties: { KEYS: `k${i}` } })),
    }, body);
    expect(answer.code).toBe(ResponseCode.SUCCESS);
    expect(answer.header.msgIds).toHaveLength(3);
    const pulled = await pull("batch", 1, 0);
    expect(decodeRecords(pulled.body!).map((m) => dec.decode(m.body))).toEqual(["one", "two", "three"]);
  });

  test("SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE_V2: one-letter headers, answers with offsets that make the message ids", async () => {
    await boot();
    const one = await client.request(RequestCode.SEND_MESSAGE_V2, { a: "p", b: "v2", e: 1, g: Date.now(), i: "KEYS\u0001k1\u0002" }, enc.encode("single"));
    expect(one.code).toBe(ResponseCode.SUCCESS);
    expect(one.header).toEqual({ q: 1, o: 0, c: expect.any(Number), s: expect.stringMatching(/^[0-9A-F]{16}$/) });
    const bodies = ["b1", "b22", "b333"].map((text) => enc.encode(text));
    const body = new Uint8Array([...bodies[0]!, ...bodies[1]!, ...bodies[2]!]);
    const batch = await client.request(RequestCode.SEND_BATCH_MESSAGE_V2, {
      b: "v2", e: 1, g: Date.now(), m: bodies.map((b, i) => [b.length, i, `KEYS\u0001b${i}\u0002`]),
    }, body);
    expect(batch.code).toBe(ResponseCode.SUCCESS);
    expect(batch.header.q).toBe(1);
    expect(batch.header.o).toBe(1);
    expect(batch.header.s).toBe(one.header.s);
    const pulled = decodeRecords((await pull("v2", 1, 0)).body!);
    expect(pulled.map((m) => dec.decode(m.body))).toEqual(["single", "b1", "b22", "b333"]);
    expect(pulled.map((m) => m.flag)).toEqual([0, 0, 1, 2]);
    expect(pulled.map((m) => m.properties.KEYS)).toEqual(["k1", "b0", "b1", "b2"]);
    const offsets = [one.header.c as number, ...(batch.header.c as number[])];
    expect(pulled.map((m) => m.commitLogOffset)).toEqual(offsets);
    expect(pulled.map((m) => m.msgId)).toEqual(offsets.map((c) => offsetMessageId(one.header.s as string, c)));
    // Bad V2 headers are refused naming the field, like SEND_MESSAGE's.
    const badTopic = await client.request(RequestCode.SEND_MESSAGE_V2, { b: "bad topic!", e: 0, g: 1 }, enc.encode("x"));
    expect(badTopic.code).toBe(ResponseCode.INVALID_HEADER);
    expect(badTopic.remark).toContain('"b"');
    expect(badTopic.remark).toContain('"b" (topic)');
    const badEntry = await client.request(RequestCode.SEND_BATCH_MESSAGE_V2, { b: "v2", e: 0, g: 1, m: [[1, 0]] }, enc.encode("x"));
    expect(badEntry.code).toBe(ResponseCode.INVALID_HEADER);
    expect(badEntry.remark).toContain('"m.0.2"');
    expect(badEntry.remark).toContain('"m.0.2" (messages)');
    const short = await client.request(RequestCode.SEND_BATCH_MESSAGE_V2, { b: "v2", e: 0, g: 1, m: [[5, 0, ""]] }, enc.encode("x"));
    expect(short.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect((await client.request(RequestCode.SEND_MESSAGE_V2, { b: "v2", e: 0, g: 1 }, enc.encode("ok"))).code).toBe(ResponseCode.SUCCESS);
  });

  test("SEND_BATCH_RECORDS: records stored as the client laid them out; a delay level takes the routed path", async () => {
    await boot();
    const messages = ["r1", "r22", "r333"].map((text, i) => ({ body: enc.encode(text), flag: i + 1, properties: `TAGS\u0001t${i}\u0002KEYS\u0001key${i}\u0002` }));
    const records = encodeBatchRecords("rec", messages, { bornTimestamp: 1 });
    const sent = await client.request(RequestCode.SEND_BATCH_RECORDS, { a: "p", b: "rec", e: 2, g: 777, n: 3 }, records);
    expect(sent.code).toBe(ResponseCode.SUCCESS);
    expect(sent.header).toEqual({ q: 2, o: 0, c: expect.any(Array), s: expect.stringMatching(/^[0-9A-F]{16}$/) });
    const pulled = decodeRecords((await pull("rec", 2, 0)).body!);
    expect(pulled.map((m) => dec.decode(m.body))).toEqual(["r1", "r22", "r333"]);
    expect(pulled.map((m) => [m.queueId, m.queueOffset, m.flag, m.bornTimestamp, m.tags, m.keys])).toEqual([
      [2, 0, 1, 777, "t0", ["key0"]],
      [2, 1, 2, 777, "t1", ["key1"]],
      [2, 2, 3, 777, "t2", ["key2"]],
    ]);
    expect(pulled.map((m) => m.commitLogOffset)).toEqual(sent.header.c as number[]);
    const byKey = await client.request(RequestCode.QUERY_MESSAGE, { topic: "rec", key: "key1", maxNum: 10, beginTimestamp: 0, endTimestamp: Date.now() + 1000 });
    expect(decodeRecords(byKey.body!).map((m) => dec.decode(m.body))).toEqual(["r22"]);
    // A count that does not match the body, or another topic in the records, is refused plainly.
    const short = await client.request(RequestCode.SEND_BATCH_RECORDS, { b: "rec", e: 0, g: 1, n: 4 }, records);
    expect(short.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(short.remark).toContain("Message 3 of the batch is truncated");
    const other = await client.request(RequestCode.SEND_BATCH_RECORDS, { b: "other", e: 0, g: 1, n: 3 }, records);
    expect(other.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    // DELAY goes through routing: stored in the schedule topic, not yet in its own queue.
    const delayed = encodeBatchRecords("rec", [{ body: enc.encode("later"), flag: 0, properties: "DELAY\u00012\u0002" }], { bornTimestamp: 1 });
    const routed = await client.request(RequestCode.SEND_BATCH_RECORDS, { b: "rec", e: 1, g: 1, n: 1 }, delayed);
    expect(routed.code).toBe(ResponseCode.SUCCESS);
    expect((await pull("rec", 1, 0)).code).not.toBe(ResponseCode.SUCCESS);
    const timer = encodeBatchRecords("rec", [{ body: enc.encode("t"), flag: 0, properties: "TIMER_DELAY_MS\u00011000\u0002" }], { bornTimestamp: 1 });
    const refused = await client.request(RequestCode.SEND_BATCH_RECORDS, { b: "rec", e: 1, g: 1, n: 1 }, timer);
    expect(refused.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(refused.remark).toContain("TIMER_DELAY_MS");
  });

  test("bad requests get clear errors and the connection keeps working", async () => {
    await boot({ maxMessageSize: 1024 });
    const badTopic = await send("bad topic!", "x");
    expect(badTopic.code).toBe(ResponseCode.INVALID_HEADER);
    expect(badTopic.remark).toContain('"topic"');
    const unknown = await client.request(9999, {});
    expect(unknown.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);
    const big = await client.request(RequestCode.SEND_MESSAGE, { topic: "t", queueId: 0, bornTimestamp: 1 }, new Uint8Array(2048));
    expect(big.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    const empty = await client.request(RequestCode.SEND_MESSAGE, { topic: "t", queueId: 0, bornTimestamp: 1 });
    expect(empty.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    const reserved = await send("TBW102", "x");
    expect(reserved.code).toBe(ResponseCode.NO_PERMISSION);
    expect((await send("t", "fine")).code).toBe(ResponseCode.SUCCESS);
  });

  test("view by offset message id returns the stored record", async () => {
    await boot();
    const sent = await send("view", "look at me");
    const pulled = decodeRecords((await pull("view", 0, 0)).body!)[0]!;
    const viewed = await client.request(RequestCode.VIEW_MESSAGE_BY_ID, { offset: pulled.commitLogOffset });
    expect(viewed.code).toBe(ResponseCode.SUCCESS);
    expect(decodeRecords(viewed.body!)[0]!.msgId).toBe(sent.header.msgId as string);
  });
});
