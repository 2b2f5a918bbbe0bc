/**
 * QUERY_MESSAGE on the wire: a raw client's requests and the broker's answers (headers, bodies,
 * refusals), and `Admin.queryMessage` / `viewMessageByUniqueKey` / `PullConsumer.queryMessage`
 * merging the answers of two brokers. The ACL refusal is in tests/security/authorisation_test.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Admin } from "../../client/admin.ts";
import { Producer } from "../../client/producer.ts";
import { PullConsumer } from "../../client/pull_consumer.ts";
import { RemotingClient } from "../../client/remoting_client.ts";
import { BrokerError, ClientError } from "../../core/errors.ts";
import { decodeRecords } from "../../core/model/record.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type Broker, startBroker } from "../../server/broker/broker.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { MemorySegmentStorage } from "../../server/store/memory_segment_storage.ts";
import { MemoryNetwork } from "../_helpers/memory_network.ts";
import { until } from "../_helpers/wait.ts";

const decoder = new TextDecoder();
const quiet = () => {};
const TOPIC = "Lookups";
const EVERY = { beginTimestamp: 0, endTimestamp: Number.MAX_SAFE_INTEGER };

let network: MemoryNetwork;
let standalone: Standalone;
let second: Broker;
let noIndex: Broker;
let raw: RemotingClient;
let producer: Producer;
let admin: Admin;

beforeAll(async () => {
  network = new MemoryNetwork();
  standalone = await startStandalone({ listen: network.listen, dial: network.dial, dataDir: "/a", storage: new MemorySegmentStorage(), port: 0, nameServerPort: 0, log: quiet });
  const common = { listen: network.listen, dial: network.dial, storage: new MemorySegmentStorage(), port: 0, nameServers: [standalone.nameServerAddress], clusterSecret: standalone.clusterSecret, log: quiet };
  second = await startBroker({ ...common, dataDir: "/b", brokerName: "broker-b" });
  noIndex = await startBroker({ ...common, dataDir: "/c", brokerName: "broker-c", storage: new MemorySegmentStorage(), messageIndexEnable: false });
  raw = new RemotingClient({ dial: network.dial });
  for (const address of [standalone.brokerAddress, second.address]) {
    await raw.invoke(address, { code: RequestCode.UPDATE_AND_CREATE_TOPIC, header: { topic: TOPIC, readQueueNums: 2, writeQueueNums: 2 } });
  }
  await raw.invoke(noIndex.address, { code: RequestCode.UPDATE_AND_CREATE_TOPIC, header: { topic: "Unindexed", readQueueNums: 1, writeQueueNums: 1 } });
  await until(async () => {
    const route = await raw.request(standalone.nameServerAddress, { code: RequestCode.GET_ROUTEINFO_BY_TOPIC, header: { topic: TOPIC } });
    return (route.header.brokerDatas as unknown[] | undefined)?.length === 2;
  }, 10_000, "both brokers to route the topic");
  producer = new Producer({ nameServer: standalone.nameServerAddress, dial: network.dial });
  await producer.start();
  admin = new Admin({ nameServer: standalone.nameServerAddress, dial: network.dial });
  await admin.start();
});

afterAll(async () => {
  await admin.shutdown();
  await producer.shutdown();
  await raw.shutdown();
  await noIndex.close();
  await second.close();
  await standalone.close();
});

describe("QUERY_MESSAGE from a raw client", () => {
  test("answers the records newest first with the index's figures, QUERY_NOT_FOUND when none match", async () => {
    const queue = { topic: TOPIC, brokerName: "broker-a", queueId: 0 };
    const first = await producer.send({ topic: TOPIC, body: "one", keys: ["raw-k"] }, { queue });
    const second = await producer.send({ topic: TOPIC, body: "two", keys: ["raw-k", "other"] }, { queue });
    const answer = await raw.request(standalone.brokerAddress, { code: RequestCode.QUERY_MESSAGE, header: { topic: TOPIC, key: "raw-k", maxNum: 10, ...EVERY } });
    expect(answer.code).toBe(ResponseCode.SUCCESS);
    expect(decodeRecords(answer.body!).map((m) => m.msgId)).toEqual([second.msgId, first.msgId]);
    expect(answer.header).toMatchObject({ complete: true, indexLastUpdatePhyoffset: decodeRecords(answer.body!)[0]!.commitLogOffset });
    expect(answer.header.indexLastUpdateTimestamp).toBeGreaterThan(0);
    // By unique key (RocketMQ's ext field): only UNIQ_KEY matches, so a key does not.
    const byUnique = await raw.request(standalone.brokerAddress, {
      code: RequestCode.QUERY_MESSAGE,
      header: { topic: TOPIC, key: first.uniqueKey, maxNum: 1, ...EVERY, _UNIQUE_KEY_QUERY: "true" },
    });
    expect(decodeRecords(byUnique.body!).map((m) => m.msgId)).toEqual([first.msgId]);
    const keyAsUnique = await raw.request(standalone.brokerAddress, {
      code: RequestCode.QUERY_MESSAGE,
      header: { topic: TOPIC, key: "raw-k", maxNum: 10, ...EVERY, _UNIQUE_KEY_QUERY: "true" },
    });
    expect(keyAsUnique.code).toBe(ResponseCode.QUERY_NOT_FOUND);
    const capped = await raw.request(standalone.brokerAddress, { code: RequestCode.QUERY_MESSAGE, header: { topic: TOPIC, key: "raw-k", maxNum: 1, ...EVERY } });
    expect(decodeRecords(capped.body!).length).toBe(1);
    expect(capped.header).toMatchObject({ complete: false, incomplete: "more than 1 messages match" });
    const none = await raw.request(standalone.brokerAddress, { code: RequestCode.QUERY_MESSAGE, header: { topic: TOPIC, key: "raw-k", maxNum: 10, beginTimestamp: 0, endTimestamp: 1000 } });
    expect(none).toMatchObject({ code: ResponseCode.QUERY_NOT_FOUND, remark: `No message of topic "${TOPIC}" with key "raw-k" was stored in the time range` });
    expect(none.header.complete).toBe(true);
    expect(none.body).toBeUndefined();
  });

  test("refuses a bad header with a clear remark and keeps the connection", async () => {
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ topic: TOPIC, key: "k", maxNum: 0, ...EVERY }, "maxNum must be at least 1"],
      [{ topic: TOPIC, key: "k", maxNum: 1025, ...EVERY }, "maxNum must be at most 1024"],
      [{ topic: TOPIC, key: "", maxNum: 1, ...EVERY }, "Key is empty"],
      [{ topic: "bad topic", key: "k", maxNum: 1, ...EVERY }, "Topic name may only contain"],
      [{ topic: TOPIC, key: "k", maxNum: 1, beginTimestamp: 0 }, "endTimestamp"],
      [{ topic: TOPIC, key: "k", maxNum: 1, ...EVERY, _UNIQUE_KEY_QUERY: "yes" }, 'expected "true" or "false"'],
      [{ topic: TOPIC, key: "k", maxNum: 1, beginTimestamp: 5, endTimestamp: 4 }, "Invalid header: beginTimestamp 5 is after endTimestamp 4"],
    ];
    for (const [header, remark] of bad) {
      const answer = await raw.request(standalone.brokerAddress, { code: RequestCode.QUERY_MESSAGE, header });
      expect({ header, code: answer.code }).toEqual({ header, code: ResponseCode.INVALID_HEADER });
      expect(answer.remark).toContain(remark);
    }
    const fine = await raw.request(standalone.brokerAddress, { code: RequestCode.QUERY_MESSAGE, header: { topic: TOPIC, key: "k", maxNum: 1, ...EVERY } });
    expect(fine.code).toBe(ResponseCode.QUERY_NOT_FOUND);
  });

  test("a broker with indexing off says so", async () => {
    const answer = await raw.request(noIndex.address, { code: RequestCode.QUERY_MESSAGE, header: { topic: "Unindexed", key: "k", maxNum: 1, ...EVERY } });
    expect(answer).toMatchObject({ code: ResponseCode.SERVICE_NOT_AVAILABLE, remark: 'Key lookups are off on broker "broker-c": messageIndexEnable is false' });
  });
});

describe("Admin.queryMessage and viewMessageByUniqueKey", () => {
  test("merge both brokers' answers newest first and say when the result is all", async () => {
    const sent = [];
    for (let i = 0; i < 6; i++) {
      const queue = { topic: TOPIC, brokerName: i % 2 ? "broker-b" : "broker-a", queueId: i % 2 };
      sent.push(await producer.send({ topic: TOPIC, body: `merged ${i}`, keys: ["merged-k", `only-${i}`] }, { queue }));
      // Distinct store times across brokers, so "newest first" has one answer.
      await Bun.sleep(2);
    }
    const all = await admin.queryMessage(TOPIC, "merged-k");
    expect(all.messages.map((m) => decoder.decode(m.body))).toEqual(["merged 5", "merged 4", "merged 3", "merged 2", "merged 1", "merged 0"]);
    expect(new Set(all.messages.map((m) => m.storeHost.port)).size).toBe(2);
    expect(all).toMatchObject({ complete: true, incomplete: [], corrupt: [] });
    const three = await admin.queryMessage(TOPIC, "merged-k", { max: 3 });
    expect(three.messages.map((m) => decoder.decode(m.body))).toEqual(["merged 5", "merged 4", "merged 3"]);
    expect(three.complete).toBe(false);
    expect(three.incomplete).toContain("More than 3 messages match");
    const window = await admin.queryMessage(TOPIC, "merged-k", { begin: all.messages[3]!.storeTimestamp, end: all.messages[1]!.storeTimestamp });
    expect(window.messages.map((m) => decoder.decode(m.body))).toEqual(["merged 4", "merged 3", "merged 2"]);
    expect((await admin.queryMessage(TOPIC, "only-3")).messages.map((m) => m.msgId)).toEqual([sent[3]!.msgId]);

    const viewed = await admin.viewMessageByUniqueKey(TOPIC, sent[1]!.uniqueKey);
    expect(viewed).toMatchObject({ msgId: sent[1]!.msgId, uniqueKey: sent[1]!.uniqueKey });
    await expect(admin.viewMessageByUniqueKey(TOPIC, "0A0102034E5F00000192A3B4C5D60000")).rejects.toThrow(
      new ClientError(`No message of topic "${TOPIC}" has unique key "0A0102034E5F00000192A3B4C5D60000"`),
    );

    const consumer = new PullConsumer({ nameServer: standalone.nameServerAddress, dial: network.dial, group: "lookup-reader" });
    await consumer.start();
    try {
      expect((await consumer.queryMessage(TOPIC, "merged-k", { max: 2 })).messages.map((m) => decoder.decode(m.body))).toEqual(["merged 5", "merged 4"]);
    } finally {
      await consumer.shutdown();
    }
  });

  test("check their arguments, and a broker's refusal reaches the caller", async () => {
    await expect(admin.queryMessage(TOPIC, "")).rejects.toThrow("The key to look up must not be empty");
    await expect(admin.queryMessage(TOPIC, "k", { max: 0 })).rejects.toThrow(ClientError);
    await expect(admin.queryMessage(TOPIC, "k", { begin: 10, end: 5 })).rejects.toThrow("The time range is empty: begin 10 is after end 5");
    await expect(admin.queryMessage("bad topic", "k")).rejects.toThrow(ClientError);
    const refused = await admin.queryMessage("Unindexed", "k").catch((error) => error);
    expect(refused).toBeInstanceOf(BrokerError);
    expect((refused as BrokerError).code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE);
  });
});
