/**
 * QueryRoute and QueryAssignment answers from the NameServer's route of a topic: the same broker
 * groups and queues a remoting client is told about, each broker named by the gRPC address it
 * registered (`grpcAddrs`), so a message sent through either protocol is consumable through both.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { parseAddress } from "../../core/remoting/transport.ts";
import type { TopicMessageType } from "../../core/model/message_type.ts";
import { Perm } from "../../core/protocol/request_code.ts";
import type { QueueData, TopicRouteData } from "../../core/protocol/headers.ts";
import {
  AddressScheme,
  type Endpoints,
  EndpointsSchema,
  type MessageQueue,
  MessageQueueSchema,
  MessageType,
  Permission,
} from "./gen/apache/rocketmq/v2/definition_pb.ts";

/**
 * The endpoints of a `host:port` address.
 *
 * @param address The address.
 * @returns Its v2 endpoints.
 */
export function endpointsOf(address: string): Endpoints {
  const { host, port } = parseAddress(address);
  const scheme = /^\d{1,3}(\.\d{1,3}){3}$/.test(host) ? AddressScheme.IPv4 : host.includes(":") ? AddressScheme.IPv6 : AddressScheme.DOMAIN_NAME;
  return create(EndpointsSchema, { scheme, addresses: [{ host, port }] });
}

const EVERY_TYPE: readonly MessageType[] = [MessageType.NORMAL, MessageType.FIFO, MessageType.DELAY, MessageType.TRANSACTION];
const ONE_TYPE: Readonly<Record<Exclude<TopicMessageType, "MIXED">, readonly MessageType[]>> = {
  NORMAL: [MessageType.NORMAL],
  FIFO: [MessageType.FIFO],
  DELAY: [MessageType.DELAY],
  TRANSACTION: [MessageType.TRANSACTION],
};

function acceptedTypes(type: TopicMessageType | undefined): MessageType[] {
  return [...(type === undefined || type === "MIXED" ? EVERY_TYPE : ONE_TYPE[type])];
}

/**
 * Each master's queues of a topic as RocketMQ 5 clients see them: queue `i` readable when
 * `i < readQueueNums`, writable when `i < writeQueueNums` (and the topic's perm allows), on the
 * master's gRPC endpoints. Groups whose master serves no gRPC are left out.
 *
 * @param topic The topic.
 * @param route Its route.
 * @returns The queues.
 */
export function messageQueuesOf(topic: string, route: TopicRouteData): MessageQueue[] {
  const queues: MessageQueue[] = [];
  for (const data of route.queueDatas) {
    const broker = route.brokerDatas.find((b) => b.brokerName === data.brokerName);
    const address = broker?.grpcAddrs?.["0"];
    if (address === undefined) continue;
    const endpoints = endpointsOf(address);
    pushQueues(queues, topic, data, { name: data.brokerName, id: 0, endpoints });
  }
  return queues;
}

function pushQueues(queues: MessageQueue[], topic: string, data: QueueData, broker: { name: string; id: number; endpoints: Endpoints }): void {
  const readable = (data.perm & Perm.READ) !== 0;
  const writable = (data.perm & Perm.WRITE) !== 0;
  const types = acceptedTypes(data.messageType);
  const count = Math.max(data.readQueueNums, data.writeQueueNums);
  for (let id = 0; id < count; id++) {
    const read = readable && id < data.readQueueNums;
    const write = writable && id < data.writeQueueNums;
    const permission = read && write ? Permission.READ_WRITE : read ? Permission.READ : write ? Permission.WRITE : Permission.NONE;
    queues.push(create(MessageQueueSchema, { topic: { name: topic }, id, permission, broker, acceptMessageTypes: types }));
  }
}

/**
 * QueryAssignment's queues: one per master whose topic is readable, with queue id -1 (the broker
 * chooses among its queues, as RocketMQ 5's POP consumers are assigned).
 *
 * @param topic The topic.
 * @param route Its route.
 * @returns The assigned queues.
 */
export function assignedQueuesOf(topic: string, route: TopicRouteData): MessageQueue[] {
  const queues: MessageQueue[] = [];
  for (const data of route.queueDatas) {
    if ((data.perm & Perm.READ) === 0 || data.readQueueNums === 0) continue;
    const address = route.brokerDatas.find((b) => b.brokerName === data.brokerName)?.grpcAddrs?.["0"];
    if (address === undefined) continue;
    queues.push(create(MessageQueueSchema, {
      topic: { name: topic },
      id: -1,
      permission: (data.perm & Perm.WRITE) !== 0 ? Permission.READ_WRITE : Permission.READ,
      broker: { name: data.brokerName, id: 0, endpoints: endpointsOf(address) },
      acceptMessageTypes: acceptedTypes(data.messageType),
    }));
  }
  return queues;
}
