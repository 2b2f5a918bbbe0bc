/**
 * QueryRoute and QueryAssignment describe the cluster the NameServer knows: with two broker groups
 * registered, a gRPC client asking either broker is given both groups' queues, each on the gRPC
 * address that broker registered; a broker without gRPC is left out. A topic's message type is
 * what QueryRoute says it accepts, and a send of another type is refused.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create, type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { dial } from "../../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { type Broker, startBroker } from "../../../server/broker/broker.ts";
import { createTopicProcessor } from "../../../server/broker/processors/topics.ts";
import { listen } from "../../../server/bun/listen.ts";
import { type NameServer, startNameServer } from "../../../server/namesrv/name_server.ts";
import { Code, MessageType, Permission } from "../../../server/grpc/gen/apache/rocketmq/v2/definition_pb.ts";
import {
  QueryAssignmentRequestSchema,
  QueryAssignmentResponseSchema,
  QueryRouteRequestSchema,
  QueryRouteResponseSchema,
  SendMessageRequestSchema,
  SendMessageResponseSchema,
} from "../../../server/grpc/gen/apache/rocketmq/v2/service_pb.ts";
import { until } from "../../_helpers/wait.ts";

let dir: string;
let nameServer: NameServer;
const brokers: Broker[] = [];
const clients: grpc.Client[] = [];

function call<I extends DescMessage, O extends DescMessage>(address: string, method: string, input: I, output: O, request: MessageShape<I>): Promise<MessageShape<O>> {
  const c = new grpc.Client(address, grpc.credentials.createInsecure());
  clients.push(c);
  const metadata = new grpc.Metadata();
  metadata.set("x-mq-client-id", "routes-test");
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(
      `/apache.rocketmq.v2.MessagingService/${method}`,
      (m: MessageShape<I>) => Buffer.from(toBinary(input, m)),
      (b: Buffer) => fromBinary(output, b),
      request,
      metadata,
      (error, response) => (error ? reject(error) : resolve(response!)),
    );
  });
}

async function createTopic(broker: Broker, topic: string, queues: number, extra: Record<string, unknown> = {}): Promise<void> {
  const proc = createTopicProcessor(broker.context);
  const header = { topic, readQueueNums: queues, writeQueueNums: queues, perm: 6, order: false, ...extra };
  const reply = await proc.handle(header as never, { code: RequestCode.UPDATE_AND_CREATE_TOPIC, id: 1, flags: 0, header }, undefined as never);
  expect(reply?.code).toBe(ResponseCode.SUCCESS);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "rmq-grpc-routes-"));
  nameServer = await startNameServer({ listen, hostname: "127.0.0.1", port: 0 });
  const nameServers = [`127.0.0.1:${nameServer.port}`];
  for (const [name, grpcPort] of [["broker-a", 0], ["broker-b", 0], ["broker-c", undefined]] as const) {
    brokers.push(await startBroker({
      listen,
      dial,
      hostname: "127.0.0.1",
      port: 0,
      replication: false,
      brokerName: name,
      nameServers,
      dataDir: join(dir, name),
      registerIntervalMs: 200,
      ...(grpcPort === undefined ? {} : { grpcPort }),
      log: () => {},
    }));
  }
  await createTopic(brokers[0]!, "spread", 2);
  await createTopic(brokers[1]!, "spread", 3);
  await createTopic(brokers[2]!, "spread", 4);
  await createTopic(brokers[0]!, "orders", 2, { messageType: "FIFO" });
  await until(() => nameServer.routeTable.getRoute("spread")?.queueDatas.length === 3 && nameServer.routeTable.getRoute("orders") !== undefined, 10_000, "the routes");
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const broker of brokers) await broker.close();
  await nameServer?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("QueryRoute describes the NameServer's cluster", () => {
  test("either broker answers with every gRPC broker's queues on its own registered endpoint", async () => {
    for (const asked of brokers.slice(0, 2)) {
      const answer = await call(asked.grpcAddress!, "QueryRoute", QueryRouteRequestSchema, QueryRouteResponseSchema, create(QueryRouteRequestSchema, { topic: { name: "spread" } }));
      expect(answer.status?.code).toBe(Code.OK);
      const byBroker = new Map<string, { ids: number[]; endpoint: string }>();
      for (const queue of answer.messageQueues) {
        const address = queue.broker!.endpoints!.addresses[0]!;
        const entry = byBroker.get(queue.broker!.name) ?? { ids: [], endpoint: `${address.host}:${address.port}` };
        entry.ids.push(queue.id);
        byBroker.set(queue.broker!.name, entry);
        expect(queue.permission).toBe(Permission.READ_WRITE);
        expect(queue.acceptMessageTypes).toEqual([MessageType.NORMAL, MessageType.FIFO, MessageType.DELAY, MessageType.TRANSACTION]);
      }
      expect([...byBroker.keys()].sort()).toEqual(["broker-a", "broker-b"]);
      expect(byBroker.get("broker-a")).toEqual({ ids: [0, 1], endpoint: brokers[0]!.grpcAddress! });
      expect(byBroker.get("broker-b")).toEqual({ ids: [0, 1, 2], endpoint: brokers[1]!.grpcAddress! });
    }
  });

  test("QueryAssignment gives one queue per gRPC master, any of its queues", async () => {
    const answer = await call(brokers[1]!.grpcAddress!, "QueryAssignment", QueryAssignmentRequestSchema, QueryAssignmentResponseSchema, create(QueryAssignmentRequestSchema, {
      topic: { name: "spread" },
      group: { name: "spread-readers" },
    }));
    expect(answer.status?.code).toBe(Code.OK);
    expect(answer.assignments.map((a) => [a.messageQueue!.broker!.name, a.messageQueue!.id]).sort()).toEqual([["broker-a", -1], ["broker-b", -1]]);
  });

  test("a topic's message type is what it accepts, and a send of another type is refused", async () => {
    const address = brokers[0]!.grpcAddress!;
    const route = await call(address, "QueryRoute", QueryRouteRequestSchema, QueryRouteResponseSchema, create(QueryRouteRequestSchema, { topic: { name: "orders" } }));
    expect(route.messageQueues.map((q) => q.acceptMessageTypes)).toEqual([[MessageType.FIFO], [MessageType.FIFO]]);
    const normal = await call(address, "SendMessage", SendMessageRequestSchema, SendMessageResponseSchema, create(SendMessageRequestSchema, {
      messages: [{ topic: { name: "orders" }, body: new Uint8Array([1]), systemProperties: { messageId: "m-1", messageType: MessageType.NORMAL, queueId: 0 } }],
    }));
    expect(normal.status?.code).toBe(Code.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE);
    expect(normal.status?.message).toBe('Topic "orders" takes FIFO messages, not NORMAL ones');
    const fifo = await call(address, "SendMessage", SendMessageRequestSchema, SendMessageResponseSchema, create(SendMessageRequestSchema, {
      messages: [{ topic: { name: "orders" }, body: new Uint8Array([1]), systemProperties: { messageId: "m-2", messageType: MessageType.FIFO, messageGroup: "g", queueId: 1 } }],
    }));
    expect(fifo.status?.code).toBe(Code.OK);
    expect(fifo.entries[0]!.messageId).toBe("m-2");
    expect(brokers[0]!.context.store.getMaxOffset("orders", 1)).toBe(1);
  });

  test("a FIFO message without a message group conflicts with its type", async () => {
    const answer = await call(brokers[0]!.grpcAddress!, "SendMessage", SendMessageRequestSchema, SendMessageResponseSchema, create(SendMessageRequestSchema, {
      messages: [{ topic: { name: "spread" }, body: new Uint8Array([1]), systemProperties: { messageId: "m-3", messageType: MessageType.FIFO, queueId: 0 } }],
    }));
    expect(answer.status?.code).toBe(Code.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE);
    expect(answer.status?.message).toBe("A FIFO message has a message group and no delivery time");
  });
});
