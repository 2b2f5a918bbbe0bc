/**
 * rocketmq-ts: a RocketMQ-style message queue. This entry point is the client API, which runs on
 * Bun, Deno and Node: `Producer` sends messages (one at a time, many in flight, oneway, batched or
 * ordered through a queue selector); `PushConsumer` joins a consumer group (clustering or
 * broadcasting, concurrent or orderly, or over POP) and hands messages to a handler, with retries
 * and dead letters; `SimpleConsumer` receives single messages and acks each (POP: more members
 * than queues, FIFO message groups); `LitePullConsumer` polls a group's share of the queues;
 * `PullConsumer` reads queues at offsets it manages; `Admin` browses and re-sends dead letters.
 * Clients dial TCP with the runtime's sockets, or any socket through `dial` (`duplexDialer`,
 * `webSocketDialer`, `cloudflareDialer`); `./edge` is the entry for Workers and browsers. Servers
 * are under `./server`.
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
 * @example Consume in a group, retrying failures
 * ```ts ignore
 * import { PushConsumer } from "@rocketmq-ts/rocketmq-ts";
 *
 * const consumer = new PushConsumer({ nameServer: "127.0.0.1:9876", group: "billing", maxReconsumeTimes: 5 });
 * consumer.subscribe("orders", "created || paid");
 * consumer.onMessage(async (message) => {
 *   await bill(message); // throwing means RECONSUME_LATER: redelivered after a delay, then dead-lettered
 *   return "SUCCESS";
 * });
 * await consumer.start();
 * ```
 *
 * @example Re-send dead letters
 * ```ts ignore
 * import { Admin } from "@rocketmq-ts/rocketmq-ts";
 *
 * const admin = new Admin({ nameServer: "127.0.0.1:9876" });
 * await admin.start();
 * const { messages } = await admin.listDeadLetters("billing");
 * for (const dead of messages) await admin.resendDeadLetter("billing", { msgId: dead.msgId });
 * await admin.shutdown();
 * ```
 *
 * @module
 */
export {
  Admin,
  allocateAveragely,
  allocateByConsistentHash,
  cloudflareDialer,
  defaultDialer,
  duplexDialer,
  duplexTransport,
  LitePullConsumer,
  MemoryOffsetStore,
  Producer,
  PullConsumer,
  PushConsumer,
  SimpleConsumer,
  webSocketDialer,
  withCredentials,
} from "./client/mod.ts";
export type {
  AdminOptions,
  AllocateStrategy,
  AllocateStrategyName,
  BatchMessageHandler,
  BatchSendResult,
  CloudflareConnect,
  CloudflareDialerOptions,
  CloudflareSocket,
  ConsumeFromWhere,
  ConsumeResult,
  ConsumeStatus,
  DeadLetterPage,
  DeadLetterPageOptions,
  DeadLetterRef,
  LitePullConsumerOptions,
  MessageHandler,
  MessageModel,
  OffsetStore,
  ProcessQueueStats,
  PushConsumerOptions,
  ReceiptHandle,
  ReceivedMessage,
  RetryPolicy,
  SimpleConsumerOptions,
  QueryMessageOptions,
  QueryMessageResult,
  HostAddress,
  Message,
  MessageExt,
  MessageQueue,
  MessageQueueSelector,
  MessageSelector,
  OpenDuplex,
  ProducerOptions,
  PullConsumerOptions,
  PullOptions,
  PullResult,
  PullStatus,
  LocalTransactionState,
  SendOptions,
  SendResult,
  SendStatus,
  TransactionListener,
  TransactionSendOptions,
  TransactionSendResult,
  TraceOptions,
  TraceStats,
  WebSocketDialerOptions,
} from "./client/mod.ts";
export {
  BrokerError,
  ClientError,
  ConnectionClosedError,
  CorruptMessageError,
  FilterExpressionError,
  ProtocolError,
  RequestTimeoutError,
} from "./core/errors.ts";
export { RequestCode, ResponseCode } from "./core/protocol/request_code.ts";
export type { Dialer, Duplex, TlsClientOptions, TlsIdentity, Transport, TransportHandlers } from "./core/remoting/transport.ts";
export type { Credentials } from "./core/auth/signing.ts";
export type { DefaultDialerOptions } from "./client/default_dialer.ts";
