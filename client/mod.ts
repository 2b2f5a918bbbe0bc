/**
 * The rocketmq-ts client: `Producer`, the consumers (`PushConsumer` for consumer groups with
 * handlers, `SimpleConsumer` to receive and ack single messages over POP, `LitePullConsumer` to
 * poll, `PullConsumer` for explicit offsets), `Admin` for dead
 * letters, their options and results, and the runtime dialer they use by default.
 *
 * @example Send and pull
 * ```ts ignore
 * import { Producer, PullConsumer } from "@rocketmq-ts/rocketmq-ts/client";
 * const producer = new Producer({ nameServer: "127.0.0.1:9876" });
 * await producer.start();
 * const sent = await producer.send({ topic: "orders", body: "hello" });
 * const consumer = new PullConsumer({ nameServer: "127.0.0.1:9876", group: "audit" });
 * await consumer.start();
 * const result = await consumer.pull(sent.messageQueue, sent.queueOffset);
 * console.log(result.messages[0]?.body);
 * await consumer.shutdown();
 * await producer.shutdown();
 * ```
 *
 * @example Consume in a group
 * ```ts ignore
 * import { PushConsumer } from "@rocketmq-ts/rocketmq-ts/client";
 * const consumer = new PushConsumer({ nameServer: "127.0.0.1:9876", group: "billing" });
 * consumer.subscribe("orders", "*");
 * consumer.onMessage((message) => {
 *   console.log(new TextDecoder().decode(message.body));
 *   return "SUCCESS";
 * });
 * await consumer.start();
 * ```
 *
 * @module
 */
export { defaultDialer } from "./default_dialer.ts";
export { withCredentials } from "./_signer.ts";
export type { DefaultDialerOptions } from "./default_dialer.ts";
export type { Credentials } from "../core/auth/signing.ts";
export type { Dialer, Duplex, TlsClientOptions, Transport, TransportHandlers } from "../core/remoting/transport.ts";
export { duplexDialer, duplexTransport } from "../core/remoting/duplex.ts";
export type { OpenDuplex } from "../core/remoting/duplex.ts";
export { webSocketDialer } from "./web_socket_dialer.ts";
export type { WebSocketDialerOptions } from "./web_socket_dialer.ts";
export { cloudflareDialer } from "./cloudflare/connect.ts";
export type { CloudflareConnect, CloudflareDialerOptions, CloudflareSocket } from "./cloudflare/connect.ts";
export {
  isRetryableSendError,
  Producer,
} from "./producer.ts";
export type {
  BatchSendResult,
  MessageQueueSelector,
  ProducerOptions,
  SendOptions,
  SendResult,
  SendStatus,
  TransactionSendOptions,
  TransactionSendResult,
} from "./producer.ts";
export type { LocalTransactionState, TransactionListener } from "./_transaction.ts";
export { PullConsumer } from "./pull_consumer.ts";
export { PushConsumer } from "./push_consumer.ts";
export type { BatchMessageHandler, ConsumeResult, ConsumeStatus, MessageHandler, PushConsumerOptions } from "./push_consumer.ts";
export { SimpleConsumer } from "./simple_consumer.ts";
export type { SimpleConsumerOptions } from "./simple_consumer.ts";
export type { ReceiptHandle, ReceivedMessage } from "./_pop.ts";
export type { RetryPolicy } from "../core/model/retry_policy.ts";
export { LitePullConsumer } from "./lite_pull_consumer.ts";
export type { LitePullConsumerOptions } from "./lite_pull_consumer.ts";
export { Admin } from "./admin.ts";
export type { AdminOptions, DeadLetterPage, DeadLetterPageOptions, DeadLetterRef } from "./admin.ts";
export type { QueryMessageOptions, QueryMessageResult } from "./_query_message.ts";
export { allocateAveragely, allocateByConsistentHash } from "./allocate.ts";
export type { AllocateStrategy, AllocateStrategyName } from "./allocate.ts";
export { MemoryOffsetStore } from "./offset_store.ts";
export type { OffsetStore } from "./offset_store.ts";
export type { ProcessQueueStats } from "./process_queue.ts";
export type { MessageModel } from "./rebalance.ts";
export type { ConsumeFromWhere } from "./_consumer_options.ts";
export type { MessageSelector } from "./_subscription.ts";
export type { TraceOptions } from "./_tracer.ts";
export type { TraceStats } from "./_trace_dispatcher.ts";
export type { PullConsumerOptions, PullOptions, PullResult, PullStatus } from "./pull_consumer.ts";
export { messageQueueKey } from "../core/model/message_queue.ts";
export type { MessageQueue } from "../core/model/message_queue.ts";
export type { HostAddress, Message, MessageExt } from "../core/model/message.ts";
