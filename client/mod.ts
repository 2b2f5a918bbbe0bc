/**
 * The rocketmq-ts client: `Producer` and `PullConsumer`, their options and results, and the
 * runtime dialer they use by default.
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
 * @module
 */
export { defaultDialer } from "./default_dialer.ts";
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
} from "./producer.ts";
export { PullConsumer } from "./pull_consumer.ts";
export type { PullConsumerOptions, PullOptions, PullResult, PullStatus } from "./pull_consumer.ts";
export { messageQueueKey } from "../core/model/message_queue.ts";
export type { MessageQueue } from "../core/model/message_queue.ts";
export type { HostAddress, Message, MessageExt } from "../core/model/message.ts";
