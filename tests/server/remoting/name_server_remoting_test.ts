/**
 * The NameServer's RocketMQ 4.x request codes over hand-built remoting frames, answering from the
 * same route table native clients read.
 */
import { afterEach, expect, test } from "bun:test";
import { SerializeType } from "../../../core/codec/remoting_frame.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../../core/remoting/connection.ts";
import { type NameServer, startNameServer } from "../../../server/namesrv/name_server.ts";
import { MemoryNetwork } from "../../_helpers/memory_network.ts";
import { remotingClient } from "../../_helpers/remoting.ts";

const dec = new TextDecoder();
const net = new MemoryNetwork();
let nameServer: NameServer;
let native: Connection;

afterEach(async () => {
  native?.close();
  await nameServer?.close();
});

async function start(): Promise<string> {
  nameServer = await startNameServer({ listen: net.listen, hostname: "127.0.0.1", port: 0 });
  const address = `memory:${nameServer.port}`;
  native = await connect(net.dial, address);
  for (const [brokerName, brokerId, addr] of [["broker-a", 0, "10.0.0.5:10911"], ["broker-a", 1, "10.0.0.6:10911"], ["broker-b", 0, "10.0.0.7:10911"]] as const) {
    const registered = await native.request(RequestCode.REGISTER_BROKER, {
      clusterName: "DefaultCluster", brokerName, brokerAddr: addr, brokerId, haServerAddr: "",
      topicConfigs: { TopicTest: { topicName: "TopicTest", readQueueNums: 4, writeQueueNums: 2, perm: 6 } },
    });
    expect(registered.code).toBe(ResponseCode.SUCCESS);
  }
  return address;
}

test("GET_ROUTEINFO_BY_TOPIC answers TopicRouteData JSON: bare broker ids below version 401 (what fastjson writes), quoted from it or on request", async () => {
  const address = await start();
  const old = await remotingClient(net.dial, address, { version: 121 });
  const route = await old.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "TopicTest" });
  expect(route.code).toBe(ResponseCode.SUCCESS);
  expect(dec.decode(route.body)).toBe(
    '{"brokerDatas":[{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"},' +
      '{"brokerAddrs":{0:"10.0.0.7:10911"},"brokerName":"broker-b","cluster":"DefaultCluster"}],"filterServerTable":{},' +
      '"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":2},' +
      '{"brokerName":"broker-b","perm":6,"readQueueNums":4,"topicSysFlag":0,"writeQueueNums":2}]}',
  );
  const standard = await old.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "TopicTest", acceptStandardJsonOnly: true });
  const parsed = JSON.parse(dec.decode(standard.body));
  expect(parsed.brokerDatas[0].brokerAddrs).toEqual({ 0: "10.0.0.5:10911", 1: "10.0.0.6:10911" });
  // The same route the native protocol reads.
  const nativeRoute = await native.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "TopicTest" });
  expect(parsed.brokerDatas).toEqual(nativeRoute.header.brokerDatas);

  const binary = await remotingClient(net.dial, address, { version: 401, serializeType: SerializeType.ROCKETMQ });
  const newer = await binary.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "TopicTest" });
  expect(newer.serializeType).toBe(SerializeType.ROCKETMQ);
  expect(JSON.parse(dec.decode(newer.body)).queueDatas).toHaveLength(2);

  const unknown = await old.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "Nowhere" });
  expect([unknown.code, unknown.body]).toEqual([ResponseCode.TOPIC_NOT_EXIST, undefined]);
});

test("cluster info, topic list and topic deletion; a RocketMQ broker's registration is refused with a reason", async () => {
  const address = await start();
  const client = await remotingClient(net.dial, address);
  const info = await client.request(RequestCode.GET_BROKER_CLUSTER_INFO);
  expect(dec.decode(info.body)).toContain('"broker-a":{"brokerAddrs":{0:"10.0.0.5:10911",1:"10.0.0.6:10911"}');
  expect(dec.decode(info.body)).toEndWith('"clusterAddrTable":{"DefaultCluster":["broker-a","broker-b"]}}');
  const list = await client.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER);
  expect(JSON.parse(dec.decode(list.body))).toEqual({ topicList: ["TopicTest"] });
  expect((await client.request(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic: "TopicTest" })).code).toBe(ResponseCode.SUCCESS);
  expect((await native.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "TopicTest" })).code).toBe(ResponseCode.TOPIC_NOT_EXIST);
  const register = await client.request(RequestCode.REGISTER_BROKER, { brokerName: "java-broker", brokerAddr: "10.0.0.9:10911", clusterName: "C", brokerId: 0 });
  expect([register.code, register.remark]).toEqual([ResponseCode.REQUEST_CODE_NOT_SUPPORTED, expect.stringContaining("RocketMQ brokers cannot register")]);
});
