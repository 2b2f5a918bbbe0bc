/**
 * rocketmq-ts: a RocketMQ-style message queue. This entry point is the client API, which runs on
 * Bun, Deno and Node: `Producer` sends messages (one at a time, many in flight, oneway, batched or
 * ordered through a queue selector), `PullConsumer` reads queues at offsets it manages and keeps
 * group offsets on the broker. Servers are under `./server`.
 *
 * @example Send a message and read it back
 * ```ts ignore
 * import { Producer, PullConsumer } from "@rocketmq-ts/rocketmq-ts";
 *
 * const producer = new Producer({ nameServer: "127.0.0.1:9876" });
 * await producer.start();
 * const sent = await producer.send({ topic: "orders", tags: "created", keys: "order-1", body: "hello" });
 *
 * const consumer = new PullConsumer({ nameServer: "127.0.0.1:9876", group: "billing" });
 * await consumer.start();
 * const result = await consumer.pull(sent.messageQueue, sent.queueOffset, { expression: "created" });
 * console.log(new TextDecoder().decode(result.messages[0]!.body)); // "hello"
 *
 * await consumer.shutdown();
 * await producer.shutdown();
 * ```
 *
 * @module
 */
export { defaultDialer, Producer, PullConsumer } from "./client/mod.ts";
export type {
  BatchSendResult,
  HostAddress,
  Message,
  MessageExt,
  MessageQueue,
  MessageQueueSelector,
  ProducerOptions,
  PullConsumerOptions,
  PullOptions,
  PullResult,
  PullStatus,
  SendOptions,
  SendResult,
  SendStatus,
} from "./client/mod.ts";
export {
  BrokerError,
  ClientError,
  ConnectionClosedError,
  ProtocolError,
  RequestTimeoutError,
} from "./core/errors.ts";
export { RequestCode, ResponseCode } from "./core/protocol/request_code.ts";
export type { Dialer, Transport, TransportHandlers } from "./core/remoting/transport.ts";
