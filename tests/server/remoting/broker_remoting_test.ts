/**
 * The broker's RocketMQ 4.x request codes over hand-built remoting frames (JSON and ROCKETMQ
 * headers), in process, beside native connections to the same broker.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { SerializeType } from "../../../core/codec/remoting_frame.ts";
import { decodeRecords } from "../../../core/model/record.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { BrokerFixture, heartbeat, send } from "../broker/_fixture.ts";
import { remotingClient, type RemotingTestClient } from "../../_helpers/remoting.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
let fixture: BrokerFixture;

beforeEach(async () => {
  fixture = new BrokerFixture();
  await fixture.start({ messageDelayLevel: "100ms 100ms 100ms 100ms 100ms" });
});
afterEach(() => fixture.cleanup());

function client(serializeType: SerializeType = SerializeType.JSON, version = 121): Promise<RemotingTestClient> {
  return remotingClient(fixture.net.dial, `memory:${fixture.broker.port}`, { serializeType, version });
}

/** SEND_MESSAGE_V2 as ali-ons writes it. */
function v2(topic: string, queueId: number, properties: string, extra: Record<string, string | number | boolean> = {}) {
  return { a: "PG", b: topic, c: "TBW102", d: 4, e: queueId, f: 0, g: Date.now(), h: 0, i: properties, j: 0, k: false, ...extra };
}

function pullFields(topic: string, queueOffset: number, extra: Record<string, string | number> = {}) {
  return { consumerGroup: "CG", topic, queueId: 0, queueOffset, maxMsgNums: 32, sysFlag: 6, commitOffset: 0, suspendTimeoutMillis: 0, subscription: "*", subVersion: 1, ...extra };
}

const heartbeatBody = (clientID: string, group: string, topic: string, subString: string) =>
  enc.encode(JSON.stringify({
    clientID,
    consumerDataSet: [{
      groupName: group, consumeType: "CONSUME_PASSIVELY", messageModel: "CLUSTERING", consumeFromWhere: "CONSUME_FROM_LAST_OFFSET", unitMode: false,
      subscriptionDataSet: [{ topic, subString, classFilterMode: false, tagsSet: [subString], codeSet: [], subVersion: 1795478580697 }],
    }],
    producerDataSet: [{ groupName: "PG" }],
  }));

describe("broker over RocketMQ remoting", () => {
  test("sends answer msgId, queueId and queueOffset as text; V1 and V2 names, JSON and ROCKETMQ headers (answered in the same type)", async () => {
    const json = await client();
    const first = await json.request(RequestCode.SEND_MESSAGE_V2, v2("orders", 1, "TAGS\u0001TagA\u0002KEYS\u0001k1 k2\u0002"), enc.encode("one"));
    expect([first.code, first.serializeType]).toEqual([ResponseCode.SUCCESS, SerializeType.JSON]);
    expect({ ...first.extFields }).toEqual({ msgId: expect.stringMatching(/^7F000001[0-9A-F]{24}$/), queueId: "1", queueOffset: "0" });

    const binary = await client(SerializeType.ROCKETMQ, 401);
    const v1 = { producerGroup: "PG", topic: "orders", defaultTopic: "TBW102", defaultTopicQueueNums: 4, queueId: 1, sysFlag: 0, bornTimestamp: Date.now(), flag: 7, properties: "TAGS\u0001TagB", reconsumeTimes: 0, unitMode: false };
    const second = await binary.request(RequestCode.SEND_MESSAGE, v1, enc.encode("two"));
    expect([second.code, second.serializeType, second.extFields.queueOffset]).toEqual([ResponseCode.SUCCESS, SerializeType.ROCKETMQ, "1"]);

    // Java writes no final separator; the broker stores the text with one, so tags filter as usual.
    const pulled = await json.request(RequestCode.PULL_MESSAGE, pullFields("orders", 0, { queueId: 1, subscription: "TagB" }));
    expect(pulled.code).toBe(ResponseCode.SUCCESS);
    expect({ ...pulled.extFields }).toEqual({ suggestWhichBrokerId: "0", nextBeginOffset: "2", minOffset: "0", maxOffset: "2" });
    const [message] = decodeRecords(pulled.body!);
    expect([dec.decode(message!.body), message!.tags, message!.flag, message!.msgId]).toEqual(["two", "TagB", 7, second.extFields.msgId]);
  });

  test("a batch (MessageDecoder.encodeMessage bodies) is stored as consecutive messages; its ids come back joined by commas", async () => {
    const entry = (body: string, properties: string) => {
      const b = enc.encode(body);
      const p = enc.encode(properties);
      const out = new Uint8Array(22 + b.length + p.length);
      const view = new DataView(out.buffer);
      view.setInt32(0, out.length);
      view.setInt32(12, 5);
      view.setInt32(16, b.length);
      out.set(b, 20);
      view.setInt16(20 + b.length, p.length);
      out.set(p, 22 + b.length);
      return out;
    };
    const body = new Uint8Array([...entry("b1", "TAGS\u0001x\u0002UNIQ_KEY\u0001u1"), ...entry("b2", "KEYS\u0001k2\u0002")]);
    const remoting = await client();
    const answer = await remoting.request(RequestCode.SEND_BATCH_MESSAGE, { ...v2("batched", 0, "WAIT\u0001true\u0002"), m: true }, body);
    expect(answer.code).toBe(ResponseCode.SUCCESS);
    expect(answer.extFields.msgId!.split(",")).toHaveLength(2);
    const pulled = await remoting.request(RequestCode.PULL_MESSAGE, pullFields("batched", 0));
    const messages = decodeRecords(pulled.body!);
    expect(messages.map((m) => [dec.decode(m.body), m.flag, m.tags, m.keys, m.msgId])).toEqual([
      ["b1", 5, "x", [], answer.extFields.msgId!.split(",")[0]],
      ["b2", 5, undefined, ["k2"], answer.extFields.msgId!.split(",")[1]],
    ]);
    const cut = await remoting.request(RequestCode.SEND_BATCH_MESSAGE, v2("batched", 0, ""), body.subarray(0, 30));
    expect([cut.code, cut.remark]).toEqual([ResponseCode.SYSTEM_ERROR, "Message 0 of the batch claims 42 bytes, 30 are left"]);
  });

  test("a pull without its subscription uses the group's heartbeat; with none it is SUBSCRIPTION_NOT_EXIST; a parked pull wakes on a native send", async () => {
    const remoting = await client();
    const native = await fixture.client();
    await send(native.connection, "parked", "not TagA", { TAGS: "TagB" });
    const none = await remoting.request(RequestCode.PULL_MESSAGE, pullFields("parked", 1, { sysFlag: 2, subscription: "" }));
    expect([none.code, none.remark]).toEqual([24, expect.stringContaining('has no subscription to topic "parked"')]);
    expect((await remoting.request(RequestCode.HEART_BEAT, {}, heartbeatBody("1.2.3.4@1", "CG", "parked", "TagA"))).code).toBe(ResponseCode.SUCCESS);
    const parked = remoting.request(RequestCode.PULL_MESSAGE, pullFields("parked", 1, { sysFlag: 2, suspendTimeoutMillis: 5000 }));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await send(native.connection, "parked", "not TagA either", { TAGS: "TagC" });
    await send(native.connection, "parked", "TagA at last", { TAGS: "TagA" });
    const woken = await parked;
    expect(woken.code).toBe(ResponseCode.SUCCESS);
    expect(decodeRecords(woken.body!).map((m) => dec.decode(m.body))).toEqual(["TagA at last"]);
  });

  test("SQL92 subscriptions: in the pull itself, or only in the heartbeat (what Java's push consumer does)", async () => {
    const remoting = await client();
    for (const [a, body] of [["3", "small"], ["9", "large"], ["12", "larger"]]) {
      await remoting.request(RequestCode.SEND_MESSAGE_V2, v2("sql", 0, `a\u0001${a}\u0002`), enc.encode(body));
    }
    const bodies = async (answer: Promise<import("../../../core/codec/remoting_frame.ts").RemotingCommand>) => decodeRecords((await answer).body!).map((m) => dec.decode(m.body));
    expect(await bodies(remoting.request(RequestCode.PULL_MESSAGE, pullFields("sql", 0, { subscription: "a > 5", expressionType: "SQL92" })))).toEqual(["large", "larger"]);
    const sqlHeartbeat = enc.encode(JSON.stringify({
      clientID: "10.0.0.3@1",
      consumerDataSet: [{ groupName: "CG", consumeType: "CONSUME_PASSIVELY", messageModel: "CLUSTERING", subscriptionDataSet: [{ topic: "sql", subString: "a >= 10", expressionType: "SQL92", subVersion: 2 }] }],
    }));
    expect((await remoting.request(RequestCode.HEART_BEAT, {}, sqlHeartbeat)).code).toBe(ResponseCode.SUCCESS);
    expect(await bodies(remoting.request(RequestCode.PULL_MESSAGE, pullFields("sql", 0, { sysFlag: 2, subscription: "" })))).toEqual(["larger"]);
  });

  test("heartbeats of both protocols make one group: both list every member; offsets, send-back and locks map onto the same services", async () => {
    const remoting = await client();
    const native = await fixture.client();
    expect((await heartbeat(native.connection, "native-client", "CG", [{ topic: "shared", expression: "*" }])).code).toBe(ResponseCode.SUCCESS);
    expect((await remoting.request(RequestCode.HEART_BEAT, {}, heartbeatBody("10.0.0.1@42", "CG", "shared", "*"))).code).toBe(ResponseCode.SUCCESS);
    const list = await remoting.request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: "CG" });
    expect(JSON.parse(dec.decode(list.body))).toEqual({ consumerIdList: ["10.0.0.1@42", "native-client"] });
    const nativeList = await native.connection.request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: "CG" });
    expect(nativeList.header.clientIds).toEqual(["10.0.0.1@42", "native-client"]);
    // The native member was told its group changed, and so is the remoting one when the next joins.
    const other = await fixture.client();
    await heartbeat(other.connection, "native-client-2", "CG", [{ topic: "shared", expression: "*" }]);
    for (let i = 0; i < 100 && !remoting.received.some((r) => r.code === RequestCode.NOTIFY_CONSUMER_IDS_CHANGED); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const notified = remoting.received.find((r) => r.code === RequestCode.NOTIFY_CONSUMER_IDS_CHANGED);
    expect([notified?.flag, notified?.extFields.consumerGroup]).toEqual([2, "CG"]);
    await other.connection.request(RequestCode.UNREGISTER_CLIENT, { clientId: "native-client-2", consumerGroup: "CG" });
    // The heartbeat created the group's retry topic, as RocketMQ does.
    expect(fixture.broker.context.topics.get("%RETRY%CG")).toBeDefined();

    const q = { consumerGroup: "CG", topic: "shared", queueId: 0 };
    expect((await remoting.request(RequestCode.QUERY_CONSUMER_OFFSET, q)).code).toBe(ResponseCode.QUERY_NOT_FOUND);
    expect((await remoting.request(RequestCode.UPDATE_CONSUMER_OFFSET, { ...q, commitOffset: 3 })).code).toBe(ResponseCode.SUCCESS);
    // ali-ons commits -1 for a queue it never read; it does not overwrite a real offset.
    expect((await remoting.request(RequestCode.UPDATE_CONSUMER_OFFSET, { ...q, commitOffset: -1 })).code).toBe(ResponseCode.SUCCESS);
    expect((await remoting.request(RequestCode.QUERY_CONSUMER_OFFSET, q)).extFields.offset).toBe("3");
    expect((await native.connection.request(RequestCode.QUERY_CONSUMER_OFFSET, q)).header.offset).toBe(3);

    await remoting.request(RequestCode.SEND_MESSAGE_V2, v2("shared", 0, "TAGS\u0001t\u0002"), enc.encode("fails once"));
    expect((await remoting.request(RequestCode.GET_MAX_OFFSET, { topic: "shared", queueId: 0 })).extFields.offset).toBe("1");
    const pulled = decodeRecords((await remoting.request(RequestCode.PULL_MESSAGE, pullFields("shared", 0))).body!)[0]!;
    const back = await remoting.request(RequestCode.CONSUMER_SEND_MSG_BACK, {
      offset: pulled.commitLogOffset, group: "CG", delayLevel: 0, originMsgId: pulled.msgId, originTopic: "shared", unitMode: false, maxReconsumeTimes: 16,
    });
    expect([back.code, { ...back.extFields }]).toEqual([ResponseCode.SUCCESS, {}]);
    let retried: ReturnType<typeof decodeRecords> = [];
    for (let i = 0; i < 100 && retried.length === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      const answer = await remoting.request(RequestCode.PULL_MESSAGE, pullFields("%RETRY%CG", 0));
      if (answer.code === ResponseCode.SUCCESS) retried = decodeRecords(answer.body!);
    }
    expect(retried.map((m) => [dec.decode(m.body), m.reconsumeTimes, m.properties.RETRY_TOPIC, m.properties.ORIGIN_MESSAGE_ID])).toEqual([
      ["fails once", 1, "shared", pulled.msgId],
    ]);

    const mqSet = [{ topic: "shared", brokerName: "broker-a", queueId: 0 }];
    const lock = await remoting.request(RequestCode.LOCK_BATCH_MQ, {}, enc.encode(JSON.stringify({ consumerGroup: "CG", clientId: "10.0.0.1@42", onlyThisBroker: false, mqSet })));
    expect(JSON.parse(dec.decode(lock.body))).toEqual({ lockOKMQSet: mqSet });
    const taken = await native.connection.request(RequestCode.LOCK_BATCH_MQ, { consumerGroup: "CG", clientId: "native-client", mqs: mqSet });
    expect(taken.header.lockOKMQSet).toEqual([]);
    expect((await remoting.request(RequestCode.UNLOCK_BATCH_MQ, {}, enc.encode(JSON.stringify({ consumerGroup: "CG", clientId: "10.0.0.1@42", mqSet })))).code).toBe(ResponseCode.SUCCESS);
    expect((await native.connection.request(RequestCode.LOCK_BATCH_MQ, { consumerGroup: "CG", clientId: "native-client", mqs: mqSet })).header.lockOKMQSet).toEqual(mqSet);
  });

  test("unsupported codes, an END_TRANSACTION naming no half message and malformed fields get clear answers; the connection keeps serving", async () => {
    const remoting = await client();
    const unknown = await remoting.request(4242, {});
    expect([unknown.code, unknown.remark]).toEqual([ResponseCode.REQUEST_CODE_NOT_SUPPORTED, "Request code 4242 is not supported over RocketMQ remoting"]);
    const end = await remoting.request(RequestCode.END_TRANSACTION, { producerGroup: "PG", tranStateTableOffset: 0, commitLogOffset: 123456, commitOrRollback: 8, msgId: "x" });
    expect([end.code, end.remark]).toEqual([ResponseCode.SYSTEM_ERROR, 'No half message at commit log offset 123456 on broker "broker-a"']);
    const bad = await remoting.request(RequestCode.SEND_MESSAGE_V2, v2("orders", 0, "", { e: "zero" }), enc.encode("x"));
    expect([bad.code, bad.remark]).toEqual([ResponseCode.SYSTEM_ERROR, 'Header field "e" is "zero": expected an integer']);
    const missing = await remoting.request(RequestCode.GET_MAX_OFFSET, { queueId: 0 });
    expect([missing.code, missing.remark]).toEqual([ResponseCode.SYSTEM_ERROR, expect.stringContaining('"topic"')]);
    const notJson = await remoting.request(RequestCode.HEART_BEAT, {}, enc.encode("{no"));
    expect([notJson.code, notJson.remark]).toEqual([ResponseCode.SYSTEM_ERROR, expect.stringContaining("is not HeartbeatData JSON")]);
    expect((await remoting.request(RequestCode.GET_MIN_OFFSET, { topic: "orders", queueId: 0 })).extFields.offset).toBe("0");
  });

  test("transactions as Java runs them: a half message is invisible until END_TRANSACTION (no topic, no transaction id) commits it; unresolved ones are checked back", async () => {
    await fixture.broker.close();
    await fixture.start({ transactionTimeoutMs: 200, transactionCheckIntervalMs: 100 });
    const remoting = await client(SerializeType.JSON, 401);
    const producerHeartbeat = enc.encode(JSON.stringify({ clientID: "10.0.0.2@7", consumerDataSet: [], producerDataSet: [{ groupName: "PG_TX" }] }));
    expect((await remoting.request(RequestCode.HEART_BEAT, {}, producerHeartbeat)).code).toBe(ResponseCode.SUCCESS);
    await remoting.request(RequestCode.SEND_MESSAGE_V2, v2("txTopic", 0, "TAGS\u0001t\u0002"), enc.encode("plain"));
    const halfFields = (uniqueKey: string) => ({ ...v2("txTopic", 0, `TRAN_MSG\u0001true\u0002PGROUP\u0001PG_TX\u0002UNIQ_KEY\u0001${uniqueKey}\u0002`), a: "PG_TX", f: 4 });
    const half = await remoting.request(RequestCode.SEND_MESSAGE_V2, halfFields("TX1"), enc.encode("committed by END_TRANSACTION"));
    expect([half.code, half.extFields.transactionId]).toEqual([ResponseCode.SUCCESS, "TX1"]);
    const visible = async () => {
      const answer = await remoting.request(RequestCode.PULL_MESSAGE, pullFields("txTopic", 1));
      return answer.code === ResponseCode.SUCCESS ? decodeRecords(answer.body!).map((m) => dec.decode(m.body)) : [];
    };
    expect(await visible()).toEqual([]);
    // What Java's endTransaction sends: offsets from the send's answer, msgId = the unique key, no topic.
    const commitLogOffset = parseInt(half.extFields.msgId!.slice(16), 16);
    const end = await remoting.request(RequestCode.END_TRANSACTION, {
      producerGroup: "PG_TX", tranStateTableOffset: half.extFields.queueOffset!, commitLogOffset, commitOrRollback: 8, fromTransactionCheck: false, msgId: "TX1",
    });
    expect(end.code).toBe(ResponseCode.SUCCESS);
    expect(await visible()).toEqual(["committed by END_TRANSACTION"]);

    // An unresolved one is checked back with the producer group's member (here the remoting client), which answers it.
    const second = await remoting.request(RequestCode.SEND_MESSAGE_V2, halfFields("TX2"), enc.encode("committed after a check"));
    expect(second.code).toBe(ResponseCode.SUCCESS);
    for (let i = 0; i < 200 && !remoting.received.some((r) => r.code === RequestCode.CHECK_TRANSACTION_STATE); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    const check = remoting.received.find((r) => r.code === RequestCode.CHECK_TRANSACTION_STATE)!;
    expect([check.flag, check.extFields.transactionId, check.extFields.commitLogOffset]).toEqual([2, "TX2", String(parseInt(second.extFields.msgId!.slice(16), 16))]);
    expect(dec.decode(decodeRecords(check.body!)[0]!.body)).toBe("committed after a check");
    const answered = await remoting.request(RequestCode.END_TRANSACTION, {
      producerGroup: "PG_TX", tranStateTableOffset: check.extFields.tranStateTableOffset!, commitLogOffset: check.extFields.commitLogOffset!,
      commitOrRollback: 8, fromTransactionCheck: true, msgId: "TX2", transactionId: check.extFields.transactionId!,
    });
    expect(answered.code).toBe(ResponseCode.SUCCESS);
    expect(await visible()).toEqual(["committed by END_TRANSACTION", "committed after a check"]);
  });

  test("QUERY_MESSAGE finds messages by key and by unique key; __STARTDELIVERTIME (ali-ons' setStartDeliverTime) delays delivery", async () => {
    const remoting = await client();
    const sent = await remoting.request(RequestCode.SEND_MESSAGE_V2, v2("keyed", 0, "KEYS\u0001order-9 other\u0002UNIQ_KEY\u0001U9\u0002"), enc.encode("by key"));
    const query = (fields: Record<string, string | number>) =>
      remoting.request(RequestCode.QUERY_MESSAGE, { topic: "keyed", maxNum: 32, beginTimestamp: 0, endTimestamp: Date.now() + 60_000, ...fields });
    for (const fields of [{ key: "order-9" }, { key: "U9", _UNIQUE_KEY_QUERY: "true" }] as Record<string, string>[]) {
      const found = await query(fields);
      expect(found.code).toBe(ResponseCode.SUCCESS);
      expect(found.extFields.indexLastUpdatePhyoffset).toMatch(/^\d+$/);
      expect(decodeRecords(found.body!).map((m) => m.msgId)).toEqual([sent.extFields.msgId]);
    }
    expect((await query({ key: "nothing" })).code).toBe(ResponseCode.QUERY_NOT_FOUND);

    const due = Date.now() + 400;
    await remoting.request(RequestCode.SEND_MESSAGE_V2, v2("later", 0, `__STARTDELIVERTIME\u0001${due}\u0002`), enc.encode("not before its time"));
    const first = await remoting.request(RequestCode.PULL_MESSAGE, pullFields("later", 0));
    expect(first.code).not.toBe(ResponseCode.SUCCESS);
    const parked = await remoting.request(RequestCode.PULL_MESSAGE, pullFields("later", 0, { sysFlag: 6, suspendTimeoutMillis: 5000 }));
    expect(parked.code).toBe(ResponseCode.SUCCESS);
    expect(Date.now()).toBeGreaterThanOrEqual(due - 5);
    expect(decodeRecords(parked.body!).map((m) => dec.decode(m.body))).toEqual(["not before its time"]);
  });

  test("garbage, truncated headers, a 2 GiB header length and unknown serialize types close only their own connection", async () => {
    const bystander = await client();
    const native = await fixture.client();
    const cases: [string, Uint8Array][] = [
      ["garbage", enc.encode("GET / HTTP/1.1\r\n\r\n")],
      ["unknown first byte", new Uint8Array([0, 0, 0, 9, 0x42, 0, 0, 0, 0])],
      ["truncated header", new Uint8Array([0, 0, 0, 8, 0, 0, 0, 200, 0x7b, 0x7d, 0, 0])],
      ["2 GiB header length", new Uint8Array([0, 0, 0, 8, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0])],
      ["unknown serialize type", new Uint8Array([0, 0, 0, 6, 0x01, 0x00, 0x00, 0x02, 0, 0])],
      ["JSON that is not a command", new Uint8Array([0, 0, 0, 6, 0, 0, 0, 2, 0x5b, 0x5d])],
      ["2 GiB frame", new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 10])],
    ];
    for (const [, bytes] of cases) {
      const victim = await client();
      const before = fixture.broker.connections.size;
      victim.write(bytes);
      await victim.closed;
      expect(fixture.broker.connections.size).toBe(before - 1);
    }
    expect((await bystander.request(RequestCode.GET_MAX_OFFSET, { topic: "orders", queueId: 0 })).code).toBe(ResponseCode.SUCCESS);
    expect((await native.connection.request(RequestCode.GET_MAX_OFFSET, { topic: "orders", queueId: 0 })).code).toBe(ResponseCode.SUCCESS);
  });

  test("with remotingEnabled false a remoting frame is refused as a bad native frame", async () => {
    await fixture.broker.close();
    await fixture.start({ remotingEnabled: false });
    const remoting = await client();
    const answer = remoting.request(RequestCode.GET_MAX_OFFSET, { topic: "orders", queueId: 0 }).catch((error: Error) => error.message);
    await remoting.closed;
    expect(await answer).toContain("Connection closed");
  });
});
