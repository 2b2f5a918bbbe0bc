/**
 * The rocketmq-ts client for runtimes without a TCP socket API of Bun, Deno or Node: Cloudflare
 * Workers, browsers, Deno Deploy and other Web-standard sandboxes. It imports nothing from
 * `node:*`, Bun or Deno; every client takes its sockets from the `dial` option:
 *
 * - `cloudflareDialer(connect)`: TCP through `connect()` of `cloudflare:sockets` (Workers);
 * - `webSocketDialer({ url })`: the native frames over WebSocket, to servers started with a
 *   `webSocketPort` (browsers; docs/EDGE.md);
 * - `duplexDialer(open)`: any `{ readable, writable, close }` socket (`Deno.connect`, a WebSocket
 *   stream wrapper).
 *
 * In a Worker, a client lives for one request: `Producer` to send, `PullConsumer` to read queues
 * at offsets, `SimpleConsumer` to receive and ack a group's messages over POP without managing
 * offsets. `npm run build:npm` also bundles this entry whole for pages (`rocketmq-ts/browser`).
 *
 * @example A Worker that sends a message and reads it back
 * ```ts ignore
 * import { connect } from "cloudflare:sockets";
 * import { cloudflareDialer, Producer, PullConsumer } from "@rocketmq-ts/rocketmq-ts/edge";
 *
 * export default {
 *   async fetch(request: Request): Promise<Response> {
 *     const dial = cloudflareDialer(connect);
 *     const producer = new Producer({ nameServer: "mq.example.com:9876", dial });
 *     const consumer = new PullConsumer({ nameServer: "mq.example.com:9876", group: "worker", dial });
 *     await Promise.all([producer.start(), consumer.start()]);
 *     try {
 *       const sent = await producer.send({ topic: "orders", body: await request.text() });
 *       const pulled = await consumer.pull(sent.messageQueue, sent.queueOffset, { maxNums: 1 });
 *       return new Response(pulled.messages[0]?.body);
 *     } finally {
 *       await Promise.all([producer.shutdown(), consumer.shutdown()]);
 *     }
 *   },
 * };
 * ```
 *
 * @module
 */
export { cloudflareDialer } from "./cloudflare/connect.ts";
export type { CloudflareConnect, CloudflareDialerOptions, CloudflareSocket } from "./cloudflare/connect.ts";
export { webSocketDialer } from "./web_socket_dialer.ts";
export type { WebSocketDialerOptions } from "./web_socket_dialer.ts";
export { duplexDialer, duplexTransport } from "../core/remoting/duplex.ts";
export type { OpenDuplex } from "../core/remoting/duplex.ts";
export type { Dialer, Duplex, Transport, TransportHandlers } from "../core/remoting/transport.ts";
export { isRetryableSendError, Producer } from "./producer.ts";
export type { BatchSendResult, MessageQueueSelector, ProducerOptions, SendOptions, SendResult, SendStatus } from "./producer.ts";
export { PullConsumer } from "./pull_consumer.ts";
export type { PullConsumerOptions, PullOptions, PullResult, PullStatus } from "./pull_consumer.ts";
export { SimpleConsumer } from "./simple_consumer.ts";
export type { SimpleConsumerOptions } from "./simple_consumer.ts";
export type { ReceiptHandle, ReceivedMessage } from "./_pop.ts";
export { messageQueueKey } from "../core/model/message_queue.ts";
export type { MessageQueue } from "../core/model/message_queue.ts";
export type { HostAddress, Message, MessageExt } from "../core/model/message.ts";
export { withCredentials } from "./_signer.ts";
export type { Credentials } from "../core/auth/signing.ts";
export {
  BrokerError,
  ClientError,
  ConnectionClosedError,
  CorruptMessageError,
  ProtocolError,
  RequestTimeoutError,
} from "../core/errors.ts";
export { RequestCode, ResponseCode } from "../core/protocol/request_code.ts";
