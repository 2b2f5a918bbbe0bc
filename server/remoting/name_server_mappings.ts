/**
 * The NameServer's RocketMQ 4.x request codes, mapped onto its processors: routes, the cluster
 * view, the topic list and topic deletion. Route bodies are RocketMQ's `TopicRouteData` JSON as a
 * 4.9.4 NameServer writes them.
 *
 * @module
 */
import type { BrokerData, ClusterInfo, QueueData, TopicRouteData } from "../../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { NativeReply, RemotingReply } from "../../core/remoting/remoting_wire.ts";
import { flag, text } from "./_fields.ts";
import type { RemotingMapping } from "./remoting_dispatcher.ts";

/**
 * Requests older than this version (`V4_9_4`) that do not ask for standard JSON get route bodies
 * the way fastjson writes them by default, broker ids as bare numbers (`{0:"host:port"}`), as a Java
 * NameServer answers them: the clients of those versions were built against that text. Newer ones
 * (and any that set `acceptStandardJsonOnly`) get standard JSON.
 */
const STANDARD_JSON_VERSION = 401;

const ENCODER = new TextEncoder();

/** `brokerAddrs`: broker id to address, keys bare or quoted. */
function brokerAddrs(addrs: Record<string, string>, quoteIds: boolean): string {
  const ids = Object.keys(addrs).map(Number).sort((a, b) => a - b);
  return `{${ids.map((id) => `${quoteIds ? `"${id}"` : id}:${JSON.stringify(addrs[id])}`).join(",")}}`;
}

/** One `BrokerData`, members in fastjson's (alphabetical) order. */
function brokerData(data: BrokerData, quoteIds: boolean): string {
  return `{"brokerAddrs":${brokerAddrs(data.brokerAddrs, quoteIds)},"brokerName":${JSON.stringify(data.brokerName)},"cluster":${JSON.stringify(data.cluster)}}`;
}

function queueData(data: QueueData): string {
  return JSON.stringify({
    brokerName: data.brokerName,
    perm: data.perm,
    readQueueNums: data.readQueueNums,
    topicSysFlag: 0,
    writeQueueNums: data.writeQueueNums,
  });
}

/**
 * A route as RocketMQ's `TopicRouteData` JSON.
 *
 * @param route The route.
 * @param quoteIds Whether broker ids are quoted (standard JSON) or bare (fastjson's default).
 * @returns The body text.
 */
export function topicRouteJson(route: TopicRouteData, quoteIds: boolean): string {
  return `{"brokerDatas":[${route.brokerDatas.map((b) => brokerData(b, quoteIds)).join(",")}],"filterServerTable":{},` +
    `"queueDatas":[${route.queueDatas.map(queueData).join(",")}]}`;
}

/** `ClusterInfo` JSON, broker ids bare as a Java NameServer writes them. */
function clusterInfoJson(info: ClusterInfo): string {
  const brokers = Object.keys(info.brokerAddrTable).sort().map((name) => `${JSON.stringify(name)}:${brokerData(info.brokerAddrTable[name]!, false)}`);
  const clusters = Object.keys(info.clusterAddrTable).sort().map((name) => `${JSON.stringify(name)}:${JSON.stringify([...info.clusterAddrTable[name]!].sort())}`);
  return `{"brokerAddrTable":{${brokers.join(",")}},"clusterAddrTable":{${clusters.join(",")}}}`;
}

function body(reply: NativeReply, json: (header: never) => string): RemotingReply | undefined {
  if (reply.code !== ResponseCode.SUCCESS) return undefined;
  return { code: reply.code, body: ENCODER.encode(json(reply.header as never)) };
}

const topicOnly: RemotingMapping["request"] = (request) => {
  const topic = text(request.extFields, "topic");
  return { header: topic === undefined ? {} : { topic } };
};

/** The NameServer's mappings, by remoting request code. */
export const NAME_SERVER_MAPPINGS: Readonly<Record<number, RemotingMapping>> = {
  [RequestCode.GET_ROUTEINFO_BY_TOPIC]: {
    request: topicOnly,
    answer: (reply, request) => {
      const quoteIds = request.version >= STANDARD_JSON_VERSION || flag(request.extFields, "acceptStandardJsonOnly") === true;
      return body(reply, (route: TopicRouteData) => topicRouteJson(route, quoteIds));
    },
  },
  [RequestCode.GET_BROKER_CLUSTER_INFO]: { request: () => ({ header: {} }), answer: (reply) => body(reply, clusterInfoJson) },
  [RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER]: {
    request: () => ({ header: {} }),
    answer: (reply) => body(reply, (header: { topics: string[] }) => JSON.stringify({ topicList: header.topics })),
  },
  [RequestCode.DELETE_TOPIC_IN_NAMESRV]: { request: topicOnly },
};

/** RocketMQ NameServer codes not served over remoting, and why. */
export const NAME_SERVER_UNSUPPORTED: Readonly<Record<number, string>> = {
  [RequestCode.REGISTER_BROKER]: "RocketMQ brokers cannot register with a rocketmq-ts NameServer (run rocketmq-ts brokers)",
  [RequestCode.UNREGISTER_BROKER]: "RocketMQ brokers cannot register with a rocketmq-ts NameServer (run rocketmq-ts brokers)",
  322: "QUERY_DATA_VERSION: RocketMQ brokers cannot register with a rocketmq-ts NameServer",
};
