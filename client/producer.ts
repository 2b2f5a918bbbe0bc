/**
 * The producer: routes messages to queues, sends them and retries on another broker on failure.
 *
 * @module
 */
import { joinProperties } from "../core/model/properties.ts";
import { encodeBatchRecords } from "../core/model/batch_records.ts";
import { BrokerError, ClientError, ConnectionClosedError, RequestTimeoutError } from "../core/errors.ts";
import { type Message, MessageConst, type MessageExt, SysFlag } from "../core/model/message.ts";
import type { MessageQueue } from "../core/model/message_queue.ts";
import type { Command } from "../core/protocol/command.ts";
import { GroupName, type SendBatchV2ResponseHeader, type SendV2ResponseHeader } from "../core/protocol/headers.ts";
import { offsetMessageId } from "../core/model/message_id.ts";
import { tagHash } from "../core/model/tag_hash.ts";
import { RequestCode, ResponseCode } from "../core/protocol/request_code.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import * as v from "valibot";
import { InFlightLimiter } from "./_in_flight.ts";
import { checkTopic, type PreparedMessage, prepareMessage, preparedSize } from "./_prepare_message.ts";
import { decodeRecallHandle } from "../core/model/recall_handle.ts";
import { selectQueue } from "./_queue_select.ts";
import { UniqueKeyGenerator } from "./_unique_key.ts";
import { defaultDialer } from "./default_dialer.ts";
import { checkAccepted, type InvokeRequest, RemotingClient } from "./remoting_client.ts";
import { RouteCache, type TopicRoute } from "./route_cache.ts";
import type { Connection } from "../core/remoting/connection.ts";
import { newClientId } from "./_consumer_client.ts";
import { ProducerRegistry } from "./_producer_registry.ts";
import { ReplyWaiters } from "./_request_reply.ts";
import { endTransactionHeader, type HalfMessageRef, type LocalTransactionState, localState, readCheck, type TransactionListener } from "./_transaction.ts";
import { pubRecord, traceDispatcher, type TraceOptions, traceProducerGroup, traceTopicOf } from "./_tracer.ts";
import type { TraceDispatcher, TraceStats } from "./_trace_dispatcher.ts";

/** Options of a `Producer`. */
export interface ProducerOptions extends TraceOptions {
  /** NameServer addresses (`host:port`); any live one is used. */
  nameServer: string | readonly string[];
  /** Producer group, recorded with each send. @default "DEFAULT_PRODUCER" */
  group?: string;
  /** Opens sockets. @default the runtime's dialer (`defaultDialer()`) */
  dial?: Dialer;
  /** Time one send may take, retries and waiting for in-flight room included. @default 3000 */
  sendTimeoutMs?: number;
  /** Extra attempts, on another broker when there is one, after a retryable failure. @default 2 */
  retryTimesWhenSendFailed?: number;
  /** Most sends awaiting an answer at once; the next send waits for room. @default 10000 */
  maxInFlight?: number;
  /** Most message bytes awaiting an answer at once; the next send waits for room. @default 64 MiB */
  maxInFlightBytes?: number;
  /** Queues per broker of a topic created by its first send. @default 4 */
  defaultTopicQueueNums?: number;
  /** Largest message body, and largest batch, in bytes. @default 4 MiB */
  maxMessageSize?: number;
  /** How often routes are fetched again from the NameServers. @default 30000 */
  pollNameServerIntervalMs?: number;
  /**
   * Idempotent sends: every `send` carries its unique key as its dedup id (unless the message sets
   * `dedupId`), and its retries stay on the broker that got the first attempt, so a retry after a
   * lost answer is stored once. Batches and oneway sends carry no dedup id. @default false
   */
  idempotent?: boolean;
  /**
   * Makes the producer transactional: `sendMessageInTransaction` runs the listener's local
   * transaction between the half message and its commit or rollback, and the brokers ask
   * `checkLocalTransaction` about half messages of this group left unresolved. The producer then
   * registers with every master the NameServers know, as a member of `group`.
   */
  transactionListener?: TransactionListener;
  /** The id brokers know this producer by, for check-backs and replies. @default a random id */
  clientId?: string;
  /** How often the producer heartbeats the brokers that call it back (transactional producers, requesters). @default 30000 */
  heartbeatIntervalMs?: number;
  /** Where the producer logs what it cannot throw (a failed heartbeat, a listener that threw). @default console.warn */
  log?: (line: string) => void;
}

/** Options of `sendMessageInTransaction`. */
export interface TransactionSendOptions {
  /** Overrides `sendTimeoutMs` for the half message and for telling the broker the outcome. */
  timeoutMs?: number;
  /** Send to this queue. */
  queue?: MessageQueue;
  /** Choose the queue among the topic's writable queues. */
  selector?: MessageQueueSelector;
  /** Passed to `selector`. */
  selectorArg?: unknown;
  /**
   * Seconds before the broker first asks about the transaction if no outcome arrived
   * (`CHECK_IMMUNITY_TIME_IN_SECONDS`). @default the broker's transactionTimeoutMs
   */
  checkImmunitySeconds?: number;
}

/** The answer to `sendMessageInTransaction`. */
export interface TransactionSendResult {
  /** How safely the broker stored the half message. */
  status: SendStatus;
  /** The half message's offset id. */
  msgId: string;
  /** The queue the message is delivered to once committed. */
  messageQueue: MessageQueue;
  /** The transaction id: the message's unique key (`UNIQ_KEY`), also on the committed message. */
  transactionId: string;
  /** What the local transaction returned. */
  localState: LocalTransactionState;
  /**
   * Set when the outcome could not be told to the broker (or the local state was `UNKNOWN`, or
   * the broker refused it): the broker then asks the producer group's `checkLocalTransaction`.
   */
  endError?: Error;
}

/** Picks the queue of a message, e.g. by hashing an order id so one order's messages stay in order. */
export type MessageQueueSelector = (queues: readonly MessageQueue[], message: Message, arg: unknown) => MessageQueue;

/** Options of one send. */
export interface SendOptions {
  /** Send to this queue (no retry on another broker). */
  queue?: MessageQueue;
  /** Choose the queue among the topic's writable queues (no retry on another broker). */
  selector?: MessageQueueSelector;
  /** Passed to `selector`. */
  arg?: unknown;
  /** Overrides `sendTimeoutMs`. */
  timeoutMs?: number;
}

/** Send options as the retry loop sees them: `sticky` keeps every attempt on the first attempt's queue. */
type DeliverOptions = SendOptions & { sticky?: boolean };

/**
 * How the broker stored a sent message. Anything but `SEND_OK` means the message is stored but
 * not as safely as the broker is configured to make it.
 */
export type SendStatus = "SEND_OK" | "FLUSH_DISK_TIMEOUT" | "FLUSH_SLAVE_TIMEOUT" | "SLAVE_NOT_AVAILABLE";

/** The answer to `send`. */
export interface SendResult {
  /** How safely the broker stored the message. */
  status: SendStatus;
  /** The offset message id: broker address and CommitLog offset (see `PullConsumer.viewMessage`). */
  msgId: string;
  /** Where the message went. */
  messageQueue: MessageQueue;
  /** Its index in that queue. */
  queueOffset: number;
  /** The producer-made unique id (`UNIQ_KEY` property). */
  uniqueKey: string;
  /** A timer message (`deliveryTime` or `delayMs` ahead): what `recall` takes to cancel it. */
  recallHandle?: string;
  /** The send repeated a dedup id of the broker's window: nothing new was stored, this is the first send's result. */
  duplicate?: boolean;
}

/** The answer to `sendBatch`: the messages have consecutive offsets in one queue. */
export interface BatchSendResult {
  /** How safely the broker stored the messages. */
  status: SendStatus;
  /** Offset message ids, in the order the messages were given. */
  msgIds: string[];
  /** Producer-made unique ids, in the same order. */
  uniqueKeys: string[];
  /** The queue that holds them all. */
  messageQueue: MessageQueue;
  /** Offset of the first message. */
  queueOffset: number;
}

const SEND_STATUS: Readonly<Record<number, SendStatus>> = {
  [ResponseCode.SUCCESS]: "SEND_OK",
  [ResponseCode.FLUSH_DISK_TIMEOUT]: "FLUSH_DISK_TIMEOUT",
  [ResponseCode.FLUSH_SLAVE_TIMEOUT]: "FLUSH_SLAVE_TIMEOUT",
  [ResponseCode.SLAVE_NOT_AVAILABLE]: "SLAVE_NOT_AVAILABLE",
};
const STORED_CODES: readonly number[] = Object.keys(SEND_STATUS).map(Number);

/** Broker answers worth another attempt (on another broker when there is one). */
const RETRYABLE_CODES: ReadonlySet<number> = new Set([
  ResponseCode.SYSTEM_ERROR,
  ResponseCode.SYSTEM_BUSY,
  ResponseCode.SERVICE_NOT_AVAILABLE,
  ResponseCode.TOPIC_NOT_EXIST,
  ResponseCode.NO_PERMISSION,
  ResponseCode.FLUSH_DISK_FAILED,
  ResponseCode.FLOW_CONTROL,
]);

/** Broker codes that say a half message was not stored, so sending it again elsewhere cannot make two. */
const HALF_NOT_STORED_CODES: ReadonlySet<number> = new Set([
  ResponseCode.SYSTEM_BUSY,
  ResponseCode.SERVICE_NOT_AVAILABLE,
  ResponseCode.TOPIC_NOT_EXIST,
  ResponseCode.NO_PERMISSION,
  ResponseCode.FLOW_CONTROL,
]);
/** Check-backs answered at once; more wait for the broker's next check. */
const MAX_CHECKS_IN_FLIGHT = 1000;

/** How long a broker that could not be reached is passed over while others can take the send. */
const BROKER_ISOLATION_MS = 10_000;
/** Encode buffers of answered batches kept for the next ones, and the largest kept. */
const BATCH_BUFFERS = 8;
const BATCH_BUFFER_BYTES = 256 * 1024;

/** Most messages in one batch (the broker's limit). */
const MAX_BATCH_MESSAGES = 4096;

/**
 * Tells whether a failed send may succeed if tried again.
 *
 * @param error What the attempt threw.
 * @returns `true` for connection failures, timeouts and retryable broker codes.
 */
export function isRetryableSendError(error: unknown): boolean {
  if (error instanceof BrokerError) return RETRYABLE_CODES.has(error.code);
  return error instanceof ConnectionClosedError || error instanceof RequestTimeoutError;
}

type State = "created" | "starting" | "running" | "stopped";

/**
 * Sends messages to the brokers that serve their topics.
 *
 * `send` resolves once the broker stored the message. Many sends may be in flight at once (just
 * don't await each before the next); past `maxInFlight` sends or `maxInFlightBytes` bytes, the
 * next send waits for room, and fails with `RequestTimeoutError` if none frees up in time.
 *
 * @example Send a message
 * ```ts ignore
 * import { Producer } from "./producer.ts";
 * const producer = new Producer({ nameServer: "127.0.0.1:9876" });
 * await producer.start();
 * const result = await producer.send({ topic: "orders", body: "hello", tags: "created", keys: ["order-1"] });
 * console.log(result.status, result.msgId);
 * await producer.shutdown();
 * ```
 */
export class Producer {
  readonly #nameServers: readonly string[];
  readonly #group: string;
  readonly #dial: Dialer | undefined;
  readonly #sendTimeoutMs: number;
  readonly #retryTimes: number;
  readonly #defaultTopicQueueNums: number;
  readonly #maxMessageSize: number;
  readonly #pollIntervalMs: number;
  readonly #limiter: InFlightLimiter;
  readonly #uniqueKeys = new UniqueKeyGenerator();
  readonly #idempotent: boolean;
  /** Round-robin position per topic; starts at random so producers spread over queues. */
  readonly #counters = new Map<string, number>();
  /** Broker name to the time until which it is passed over. */
  readonly #isolated = new Map<string, number>();
  readonly #clientId: string;
  readonly #listener: TransactionListener | undefined;
  readonly #heartbeatIntervalMs: number;
  readonly #log: (line: string) => void;
  readonly #replies = new ReplyWaiters();
  #checksInFlight = 0;
  /** With `enableTrace`: the trace topic; the dispatcher and its producer once started. */
  readonly #traceTopic: string | undefined;
  readonly #traceOptions: TraceOptions;
  #trace: TraceDispatcher | undefined;
  /** Memory of answered batches' records, encoded into again by later batches (see `sendBatch`). */
  #batchBuffers: Uint8Array[] = [];
  #traceProducer: Producer | undefined;
  #client: RemotingClient | undefined;
  #routes: RouteCache | undefined;
  #registry: ProducerRegistry | undefined;
  #state: State = "created";
  #starting: Promise<void> | undefined;

  /**
   * Creates a producer; call `start()` before sending.
   *
   * @param options NameServers, group, timeouts and limits.
   * @throws {ClientError} When an option is invalid.
   */
  constructor(options: ProducerOptions) {
    this.#nameServers = typeof options.nameServer === "string" ? [options.nameServer] : [...options.nameServer];
    if (this.#nameServers.length === 0) throw new ClientError("At least one NameServer address is needed");
    this.#group = options.group ?? "DEFAULT_PRODUCER";
    const group = v.safeParse(GroupName, this.#group);
    if (!group.success) throw new ClientError(`Producer group "${this.#group}" is invalid: ${group.issues[0].message}`);
    this.#dial = options.dial;
    this.#sendTimeoutMs = positive("sendTimeoutMs", options.sendTimeoutMs ?? 3000);
    this.#retryTimes = options.retryTimesWhenSendFailed ?? 2;
    if (!Number.isInteger(this.#retryTimes) || this.#retryTimes < 0) {
      throw new ClientError(`retryTimesWhenSendFailed "${this.#retryTimes}" must be a non-negative integer`);
    }
    this.#defaultTopicQueueNums = options.defaultTopicQueueNums ?? 4;
    if (!Number.isInteger(this.#defaultTopicQueueNums) || this.#defaultTopicQueueNums < 1 || this.#defaultTopicQueueNums > 1024) {
      throw new ClientError(`defaultTopicQueueNums "${this.#defaultTopicQueueNums}" must be an integer from 1 to 1024`);
    }
    this.#maxMessageSize = positive("maxMessageSize", options.maxMessageSize ?? 4 * 1024 * 1024);
    this.#pollIntervalMs = positive("pollNameServerIntervalMs", options.pollNameServerIntervalMs ?? 30_000);
    this.#idempotent = options.idempotent ?? false;
    this.#clientId = options.clientId ?? newClientId();
    if (this.#clientId === "" || this.#clientId.length > 255) throw new ClientError(`clientId "${this.#clientId}" must have 1 to 255 characters`);
    this.#heartbeatIntervalMs = positive("heartbeatIntervalMs", options.heartbeatIntervalMs ?? 30_000);
    this.#log = options.log ?? ((line) => console.warn(line));
    const listener = options.transactionListener;
    if (listener !== undefined && (typeof listener?.executeLocalTransaction !== "function" || typeof listener.checkLocalTransaction !== "function")) {
      throw new ClientError("transactionListener needs executeLocalTransaction and checkLocalTransaction functions");
    }
    this.#listener = listener;
    this.#traceTopic = traceTopicOf(options);
    this.#traceOptions = options;
    try {
      this.#limiter = new InFlightLimiter(options.maxInFlight ?? 10_000, options.maxInFlightBytes ?? 64 * 1024 * 1024);
    } catch (error) {
      throw new ClientError((error as Error).message, { cause: error });
    }
  }

  /** The producer group. */
  get group(): string {
    return this.#group;
  }

  /** The id brokers know this producer by (check-backs, replies). */
  get clientId(): string {
    return this.#clientId;
  }

  /** With `enableTrace`: what the trace dispatcher recorded, dropped (buffer full), sent and failed to send. */
  get traceStats(): TraceStats | undefined {
    return this.#trace?.stats;
  }

  /** Sends awaiting an answer now. */
  get inFlight(): number {
    return this.#limiter.count;
  }

  /**
   * Gets the producer ready: loads the runtime's dialer unless one was given and starts route
   * polling. Connections open on first use.
   *
   * @throws {ClientError} After `shutdown()`.
   */
  start(): Promise<void> {
    if (this.#state === "stopped") return Promise.reject(new ClientError("Producer is shut down"));
    this.#starting ??= (async () => {
      this.#state = "starting";
      const dial = this.#dial ?? await defaultDialer();
      const client = new RemotingClient({
        dial,
        requestTimeoutMs: this.#sendTimeoutMs,
        onRequest: (request, connection) => this.#onBrokerRequest(request, connection),
      });
      const routes = new RouteCache(client, {
        nameServers: this.#nameServers,
        pollIntervalMs: this.#pollIntervalMs,
        autoCreateQueueNums: this.#defaultTopicQueueNums,
      });
      if (this.#state !== "starting") {
        await client.shutdown();
        return;
      }
      routes.start();
      this.#client = client;
      this.#routes = routes;
      this.#registry = new ProducerRegistry({
        client,
        routes,
        clientId: this.#clientId,
        producerGroups: this.#listener === undefined ? [] : [this.#group],
        everyMaster: this.#listener !== undefined,
        intervalMs: this.#heartbeatIntervalMs,
        requestTimeoutMs: this.#sendTimeoutMs,
        log: this.#log,
      });
      // A transactional producer is registered with every master before its first send.
      if (this.#listener !== undefined) await this.#registry.start();
      if (this.#traceTopic !== undefined) await this.#startTrace(this.#traceTopic, dial);
      this.#state = "running";
    })();
    return this.#starting;
  }

  /**
   * Sends one message and waits until a broker stored it.
   *
   * @param message The message.
   * @param options A queue or selector, and a timeout.
   * @returns Where the message was stored.
   * @throws {ClientError} When the message is invalid or the producer is not running.
   * @throws {BrokerError} When the broker refuses it for good, or the last retry failed with a broker error.
   * @throws {ConnectionClosedError} When the last attempt could not reach its broker.
   * @throws {RequestTimeoutError} When `sendTimeoutMs` passes first.
   */
  async send(message: Message, options: SendOptions = {}): Promise<SendResult> {
    this.#checkRunning();
    const timeoutMs = options.timeoutMs ?? this.#sendTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const prepared = prepareMessage(message, { maxMessageSize: this.#maxMessageSize, uniqueKey: this.#uniqueKeys.next(), idempotent: this.#idempotent });
    const size = preparedSize(prepared);
    if (!this.#limiter.tryAcquire(size)) await this.#limiter.acquire(size, timeoutMs);
    // A send with a dedup id retries on the queue of its first attempt: the broker holding the id.
    const sticky = MessageConst.DEDUP_ID in prepared.properties;
    const deliverOptions: DeliverOptions = sticky ? { ...options, sticky } : options;
    const began = this.#trace === undefined ? 0 : Date.now();
    try {
      // The common case, route cached: the first attempt awaited here, without the closures and
      // promises of `#deliver` (the request's own promise is the only one besides this function's).
      const remaining = deadline - Date.now();
      let queue = this.#firstQueue(message, deliverOptions, remaining);
      let response: Command;
      if (queue === undefined) {
        ({ queue, response } = await this.#retry(message, deliverOptions, deadline, this.#sendAttempt(prepared), 0, undefined, undefined));
      } else {
        const address = this.#masterAddress(queue);
        try {
          response = checkAccepted(await this.#client!.request(address, this.#sendRequest(prepared, queue, remaining)), STORED_CODES, address, RequestCode.SEND_MESSAGE_V2);
        } catch (error) {
          if (!this.#retryable(error, message, deliverOptions, queue)) throw error;
          const retryOptions = deliverOptions.sticky ? { ...deliverOptions, queue } : deliverOptions;
          ({ queue, response } = await this.#retry(message, retryOptions, deadline, this.#sendAttempt(prepared), 1, queue.brokerName, error));
        }
      }
      const header = response.header as unknown as SendV2ResponseHeader;
      const result: SendResult = {
        status: SEND_STATUS[response.code]!,
        msgId: offsetMessageId(header.s, header.c),
        messageQueue: { topic: queue.topic, brokerName: queue.brokerName, queueId: header.q ?? queue.queueId },
        queueOffset: header.o,
        uniqueKey: prepared.uniqueKey,
      };
      if (typeof header.r === "string") result.recallHandle = header.r;
      if (header.dup === true) result.duplicate = true;
      if (this.#trace !== undefined) this.#traceSend(prepared, began, result.messageQueue.brokerName, result.msgId);
      return result;
    } catch (error) {
      if (this.#trace !== undefined) this.#traceSend(prepared, began, undefined, "");
      throw error;
    } finally {
      this.#limiter.release(size);
    }
  }

  /**
   * Sends one message without waiting for the broker's answer: fastest, but a lost message goes
   * unnoticed. Resolves once the request is handed to the connection.
   *
   * @param message The message.
   * @param options A queue or selector, and a timeout for routing and connecting.
   * @throws {ClientError} When the message is invalid or the producer is not running.
   * @throws {ConnectionClosedError} When its broker cannot be reached.
   */
  async sendOneway(message: Message, options: SendOptions = {}): Promise<void> {
    this.#checkRunning();
    const timeoutMs = options.timeoutMs ?? this.#sendTimeoutMs;
    const prepared = prepareMessage(message, { maxMessageSize: this.#maxMessageSize, uniqueKey: this.#uniqueKeys.next() });
    const size = preparedSize(prepared);
    if (!this.#limiter.tryAcquire(size)) await this.#limiter.acquire(size, timeoutMs);
    try {
      const route = await this.#routes!.get(prepared.topic);
      const queue = this.#chooseQueue(route, message, options, undefined);
      const address = this.#masterAddress(queue);
      await this.#client!.oneway(address, {
        code: RequestCode.SEND_MESSAGE_V2,
        header: this.#sendHeader(prepared, queue),
        body: prepared.body,
        lane: queue.queueId,
      });
    } finally {
      this.#limiter.release(size);
    }
  }

  /**
   * Sends messages of one topic in one request; they are stored in one queue with consecutive
   * offsets, all or none.
   *
   * @param messages The messages (1 to 4096, same topic, no delay level, bodies adding up to at most `maxMessageSize`).
   * @param options A queue or selector (the selector sees the first message), and a timeout.
   * @returns Where the messages were stored.
   * @throws {ClientError} When the batch is invalid or the producer is not running.
   * @throws {BrokerError} When the broker refuses the batch, or the last retry failed with a broker error.
   * @throws {ConnectionClosedError} When the last attempt could not reach its broker.
   * @throws {RequestTimeoutError} When `sendTimeoutMs` passes first.
   */
  async sendBatch(messages: readonly Message[], options: SendOptions = {}): Promise<BatchSendResult> {
    this.#checkRunning();
    if (!Array.isArray(messages) || messages.length === 0) throw new ClientError("Batch is empty");
    if (messages.length > MAX_BATCH_MESSAGES) {
      throw new ClientError(`Batch has ${messages.length} messages; at most ${MAX_BATCH_MESSAGES} are allowed`);
    }
    const timeoutMs = options.timeoutMs ?? this.#sendTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const prepared: PreparedMessage[] = [];
    let total = 0;
    let size = 0;
    for (const message of messages) {
      const one = prepareMessage(message, { maxMessageSize: this.#maxMessageSize, uniqueKey: this.#uniqueKeys.next() });
      if (one.topic !== prepared[0]?.topic && prepared.length > 0) {
        throw new ClientError(`Batch mixes topics "${prepared[0]!.topic}" and "${one.topic}"`);
      }
      if (MessageConst.DELAY in one.properties) throw new ClientError("Messages of a batch cannot have a delay level");
      if (message.deliveryTime !== undefined || message.delayMs !== undefined || message.dedupId !== undefined) {
        throw new ClientError("Messages of a batch cannot have a delivery time, delay or dedup id: send them one by one");
      }
      total += one.body.length;
      size += preparedSize(one);
      prepared.push(one);
    }
    if (total > this.#maxMessageSize) {
      throw new ClientError(`Batch bodies add up to ${total} bytes, over the limit of ${this.#maxMessageSize} bytes`);
    }
    // Laid out as the broker stores them: it copies the records and fills in its fields.
    let body: Uint8Array;
    try {
      body = encodeBatchRecords(prepared[0]!.topic, prepared, { bornTimestamp: Date.now(), into: this.#batchBuffers.pop() });
    } catch (error) {
      throw new ClientError((error as Error).message, { cause: error });
    }
    if (!this.#limiter.tryAcquire(size)) await this.#limiter.acquire(size, timeoutMs);
    const began = this.#trace === undefined ? 0 : Date.now();
    let attempts = 0;
    try {
      const { queue, response } = await this.#deliver(messages[0]!, options, deadline, (queue, address, remaining) => {
        attempts++;
        return this.#client!.invoke(address, {
          code: RequestCode.SEND_BATCH_RECORDS,
          header: {
            a: this.#group,
            b: queue.topic,
            d: this.#defaultTopicQueueNums,
            e: queue.queueId,
            g: Date.now(),
            n: prepared.length,
          },
          body,
          lane: queue.queueId,
          timeoutMs: remaining,
          accept: STORED_CODES,
        });
      });
      // Answered on its only attempt: the request was written, nothing refers to its bytes any more.
      if (attempts === 1 && body.buffer.byteLength <= BATCH_BUFFER_BYTES && this.#batchBuffers.length < BATCH_BUFFERS) {
        this.#batchBuffers.push(new Uint8Array(body.buffer));
      }
      const header = response.header as unknown as SendBatchV2ResponseHeader;
      if (this.#trace !== undefined) {
        prepared.forEach((one, i) => this.#traceSend(one, began, queue.brokerName, offsetMessageId(header.s, header.c[i] ?? 0)));
      }
      return batchResult(SEND_STATUS[response.code]!, prepared, header, { topic: queue.topic, brokerName: queue.brokerName, queueId: header.q ?? queue.queueId });
    } catch (error) {
      if (this.#trace !== undefined) for (const one of prepared) this.#traceSend(one, began, undefined, "");
      throw error;
    } finally {
      this.#limiter.release(size);
    }
  }

  /**
   * Cancels a pending timer message: it will not be delivered. Only the broker that stored the
   * timer (named in the handle) can check the handle; recalling a timer already delivered or
   * recalled fails.
   *
   * @param topic The topic the timer message was sent to.
   * @param recallHandle `SendResult.recallHandle` of its send.
   * @throws {ClientError} When the handle is not one, or the producer is not running.
   * @throws {BrokerError} `QUERY_NOT_FOUND` when the timer is no longer pending; `MESSAGE_ILLEGAL`
   *   when the broker refuses the handle (forged, altered or for another topic).
   * @throws {ConnectionClosedError} When the broker cannot be reached.
   * @throws {RequestTimeoutError} When `sendTimeoutMs` passes first.
   *
   * @example Send a timer an hour ahead, then cancel it
   * ```ts ignore
   * const sent = await producer.send({ topic: "orders", body: "reminder", delayMs: 3_600_000 });
   * await producer.recall("orders", sent.recallHandle!);
   * ```
   */
  async recall(topic: string, recallHandle: string): Promise<void> {
    this.#checkRunning();
    checkTopic(topic);
    const fields = decodeRecallHandle(recallHandle);
    if (typeof fields === "string") throw new ClientError(fields);
    if (fields.topic !== topic) throw new ClientError(`Recall handle is for topic "${fields.topic}", not "${topic}"`);
    let address = this.#routes!.brokerAddress(fields.brokerName, true);
    if (address === undefined) {
      await this.#routes!.get(topic);
      address = this.#routes!.brokerAddress(fields.brokerName, true);
    }
    if (address === undefined) {
      throw new BrokerError(ResponseCode.SERVICE_NOT_AVAILABLE, `Broker "${fields.brokerName}" of the recall handle has no master in the route of topic "${topic}"`);
    }
    await this.#client!.invoke(address, {
      code: RequestCode.RECALL_MESSAGE,
      header: { producerGroup: this.#group, topic, recallHandle },
      timeoutMs: this.#sendTimeoutMs,
    });
  }

  /**
   * Sends a transactional message: the broker stores it as a half message, invisible to
   * consumers; then the listener's `executeLocalTransaction` runs, and its outcome commits the
   * message (delivered once, as sent) or rolls it back (never delivered). An outcome the broker
   * does not hear (`UNKNOWN`, a crash, a lost answer) is asked for later with
   * `checkLocalTransaction`, from any live member of the producer group.
   *
   * A half message is sent again on another broker only when the broker said it did not store
   * it: after a timeout or lost connection it may be stored, and is then resolved by check-back.
   *
   * @param message The message (no delay level).
   * @param arg Passed to `executeLocalTransaction`.
   * @param options A queue or selector, a timeout and the first check's delay.
   * @returns The half message's place, the local outcome, and `endError` when the outcome is left to check-back.
   * @throws {ClientError} When the producer has no `transactionListener`, the message is invalid or the producer is not running.
   * @throws {BrokerError} When the broker refuses the half message (the local transaction did not run).
   * @throws {ConnectionClosedError} When the half message could not be sent (the local transaction did not run).
   * @throws {RequestTimeoutError} When the half message got no answer in time (the local transaction did not run).
   *
   * @example A transactional producer
   * ```ts ignore
   * const producer = new Producer({
   *   nameServer: "127.0.0.1:9876",
   *   group: "orders-producer",
   *   transactionListener: {
   *     executeLocalTransaction: async (message, order, transactionId) => (await db.saveOrder(order, transactionId)) ? "COMMIT" : "ROLLBACK",
   *     checkLocalTransaction: async (message) => (await db.hasOrder(message.uniqueKey!)) ? "COMMIT" : "ROLLBACK",
   *   },
   * });
   * await producer.start();
   * const result = await producer.sendMessageInTransaction({ topic: "orders", body: JSON.stringify(order) }, order);
   * ```
   */
  async sendMessageInTransaction(message: Message, arg?: unknown, options: TransactionSendOptions = {}): Promise<TransactionSendResult> {
    this.#checkRunning();
    const listener = this.#listener;
    if (listener === undefined) throw new ClientError("sendMessageInTransaction needs a transactionListener in the producer's options");
    if ((message?.delayLevel ?? 0) !== 0) throw new ClientError("A transactional message cannot have a delay level");
    const timeoutMs = options.timeoutMs ?? this.#sendTimeoutMs;
    const prepared = prepareMessage(message, { maxMessageSize: this.#maxMessageSize, uniqueKey: this.#uniqueKeys.next() });
    prepared.properties[MessageConst.TRAN_MSG] = "true";
    prepared.properties[MessageConst.PGROUP] = this.#group;
    const immunity = options.checkImmunitySeconds;
    if (immunity !== undefined) {
      if (!Number.isSafeInteger(immunity) || immunity < 1) throw new ClientError(`checkImmunitySeconds "${immunity}" must be a whole number of at least 1`);
      prepared.properties[MessageConst.CHECK_IMMUNITY_TIME_IN_SECONDS] = String(immunity);
    }
    const size = preparedSize(prepared);
    if (!this.#limiter.tryAcquire(size)) await this.#limiter.acquire(size, timeoutMs);
    let sent: { queue: MessageQueue; address: string; response: Command };
    const began = this.#trace === undefined ? 0 : Date.now();
    try {
      sent = await this.#sendHalf(message, prepared, options, Date.now() + timeoutMs);
    } catch (error) {
      if (this.#trace !== undefined) this.#traceSend(prepared, began, undefined, "");
      throw error;
    } finally {
      this.#limiter.release(size);
    }
    const header = sent.response.header as unknown as SendV2ResponseHeader;
    if (this.#trace !== undefined) this.#traceSend(prepared, began, sent.queue.brokerName, offsetMessageId(header.s, header.c));
    const half: HalfMessageRef = {
      topic: prepared.topic,
      producerGroup: this.#group,
      tranStateTableOffset: header.o,
      commitLogOffset: header.c,
      transactionId: prepared.uniqueKey,
    };
    const state = await localState(
      () => listener.executeLocalTransaction(message, arg, prepared.uniqueKey),
      `executeLocalTransaction of transaction "${prepared.uniqueKey}"`,
      this.#log,
    );
    const result: TransactionSendResult = {
      status: SEND_STATUS[sent.response.code]!,
      msgId: offsetMessageId(header.s, header.c),
      messageQueue: { topic: sent.queue.topic, brokerName: sent.queue.brokerName, queueId: header.q ?? sent.queue.queueId },
      transactionId: prepared.uniqueKey,
      localState: state,
    };
    if (state === "UNKNOWN") {
      result.endError = new ClientError(`The local transaction "${prepared.uniqueKey}" is UNKNOWN: the broker will ask checkLocalTransaction`);
      return result;
    }
    try {
      await this.#client!.invoke(sent.address, {
        code: RequestCode.END_TRANSACTION,
        header: endTransactionHeader(half, state, false),
        timeoutMs,
        accept: STORED_CODES,
      });
    } catch (error) {
      result.endError = error as Error;
    }
    return result;
  }

  /**
   * Sends a request message and waits for its reply: a consumer of the topic answers it with
   * `PushConsumer.reply`, and the broker that stored the request pushes the reply back here. The
   * request carries `CORRELATION_ID`, `REPLY_TO_CLIENT` (this producer's client id), `TTL` and
   * `CLUSTER`.
   *
   * @param message The request.
   * @param timeoutMs How long to wait for the reply, the send included. @default sendTimeoutMs
   * @param options A queue or selector.
   * @returns The reply as stored in the broker's reply topic (`<cluster>_REPLY_TOPIC`).
   * @throws {RequestTimeoutError} When no reply arrives in time.
   * @throws {ClientError} When the message is invalid or the producer is not running.
   * @throws {BrokerError} When the broker refuses the request.
   * @throws {ConnectionClosedError} When the request could not be sent.
   *
   * @example Ask and wait for the answer
   * ```ts ignore
   * const reply = await producer.request({ topic: "prices", body: "AAPL" }, 2000);
   * console.log(new TextDecoder().decode(reply.body));
   * ```
   */
  async request(message: Message, timeoutMs: number = this.#sendTimeoutMs, options: Omit<SendOptions, "timeoutMs"> = {}): Promise<MessageExt> {
    this.#checkRunning();
    positive("timeoutMs", timeoutMs);
    const deadline = Date.now() + timeoutMs;
    const prepared = prepareMessage(message, { maxMessageSize: this.#maxMessageSize, uniqueKey: this.#uniqueKeys.next() });
    const correlationId = crypto.randomUUID();
    prepared.properties[MessageConst.CORRELATION_ID] = correlationId;
    prepared.properties[MessageConst.REPLY_TO_CLIENT] = this.#clientId;
    prepared.properties[MessageConst.TTL] = String(timeoutMs);
    const waiting = this.#replies.wait(correlationId, timeoutMs, `Request to topic "${prepared.topic}" (correlation id "${correlationId}")`);
    const size = preparedSize(prepared);
    try {
      if (!this.#limiter.tryAcquire(size)) await this.#limiter.acquire(size, timeoutMs);
      try {
        await this.#deliver(message, options, deadline, async (queue, address, remaining) => {
          await this.#registry!.ensure(address);
          const cluster = this.#routes!.cached(queue.topic)?.data.brokerDatas.find((b) => b.brokerName === queue.brokerName)?.cluster;
          if (cluster === undefined) throw new ClientError(`The route of topic "${queue.topic}" does not say which cluster broker "${queue.brokerName}" is in`);
          prepared.properties[MessageConst.CLUSTER] = cluster;
          return this.#client!.invoke(address, {
            code: RequestCode.SEND_MESSAGE_V2,
            header: this.#sendHeader(prepared, queue),
            body: prepared.body,
            timeoutMs: Math.max(1, deadline - Date.now()),
            lane: queue.queueId,
            accept: STORED_CODES,
          });
        });
      } finally {
        this.#limiter.release(size);
      }
    } catch (error) {
      waiting.cancel(error as Error);
    }
    return await waiting.reply;
  }

  /**
   * The queues a topic's messages can be sent to, in the order selectors see them.
   *
   * @param topic The topic.
   * @returns Its writable queues.
   * @throws {ClientError} When the producer is not running.
   */
  async fetchPublishQueues(topic: string): Promise<MessageQueue[]> {
    this.#checkRunning();
    return [...(await this.#routes!.get(topic)).writeQueues];
  }

  /**
   * Stops taking sends, waits for those in flight, and closes every connection.
   */
  async shutdown(): Promise<void> {
    if (this.#state === "stopped") return;
    const wasStarting = this.#state === "starting";
    this.#state = "stopped";
    if (wasStarting) await this.#starting?.catch(() => {});
    await this.#limiter.idle();
    await this.#trace?.shutdown();
    await this.#traceProducer?.shutdown();
    this.#replies.rejectAll(new ClientError("Producer is shut down"));
    await this.#registry?.shutdown();
    this.#routes?.stop();
    await this.#client?.shutdown();
  }

  /** Starts the trace producer (untraced, in a group of its own) and the dispatcher in front of it. */
  async #startTrace(topic: string, dial: Dialer): Promise<void> {
    const producer = new Producer({
      nameServer: this.#nameServers,
      dial,
      group: traceProducerGroup(this.#group, "PRODUCER"),
      sendTimeoutMs: 5000,
      retryTimesWhenSendFailed: 0,
      pollNameServerIntervalMs: this.#pollIntervalMs,
      log: this.#log,
    });
    await producer.start();
    this.#traceProducer = producer;
    this.#trace = traceDispatcher((body, keys) => producer.send({ topic, body, keys }), this.#traceOptions, this.#log);
  }

  /** Records a send in the trace (a `Pub` record); `brokerName` undefined when it failed. */
  #traceSend(prepared: PreparedMessage, began: number, brokerName: string | undefined, offsetMsgId: string): void {
    this.#trace!.append(pubRecord({
      group: this.#group,
      clientId: this.#clientId,
      topic: prepared.topic,
      uniqueKey: prepared.uniqueKey,
      properties: prepared.properties,
      bodyLength: prepared.body.length,
      began,
      storeHost: brokerName === undefined ? "" : this.#routes?.brokerAddress(brokerName, true) ?? "",
      offsetMsgId,
      success: brokerName !== undefined,
    }));
  }

  /** Requests a broker sends this producer: transaction check-backs and pushed replies. */
  #onBrokerRequest(request: Command, connection: Connection): void {
    if (request.code === RequestCode.PUSH_REPLY_MESSAGE_TO_CLIENT) {
      this.#replies.take(request, connection);
      return;
    }
    if (request.code === RequestCode.CHECK_TRANSACTION_STATE && this.#listener !== undefined) {
      void this.#answerCheck(request, connection);
      return;
    }
    connection.respond(request, {
      code: ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
      remark: `Request code ${request.code} is not supported by ${this.#listener === undefined ? "a producer without a transactionListener" : "producers"}`,
    });
  }

  /** Asks `checkLocalTransaction` about a half message and tells the broker that asked. */
  async #answerCheck(request: Command, connection: Connection): Promise<void> {
    const check = readCheck(request, this.#group);
    if ("error" in check) {
      this.#log(`Producer "${this.#clientId}" ignored a check-back from ${connection.remoteAddress}: ${check.error}`);
      return;
    }
    if (this.#checksInFlight >= MAX_CHECKS_IN_FLIGHT) return; // The broker asks again later.
    this.#checksInFlight++;
    try {
      const state = await localState(
        () => this.#listener!.checkLocalTransaction(check.message),
        `checkLocalTransaction of transaction "${check.half.transactionId}"`,
        this.#log,
      );
      if (state === "UNKNOWN" || this.#state !== "running") return;
      const address = this.#registry!.addressOf(connection) ?? connection.remoteAddress;
      await this.#client!.invoke(address, {
        code: RequestCode.END_TRANSACTION,
        header: endTransactionHeader(check.half, state, true),
        accept: STORED_CODES,
      });
    } catch (error) {
      this.#log(`Producer "${this.#clientId}" could not answer the check of transaction "${check.half.transactionId}": ${(error as Error).message}`);
    } finally {
      this.#checksInFlight--;
    }
  }

  /**
   * Sends a half message: again on another broker only when the broker said it did not store it
   * (never after a timeout or lost connection, which could leave two half messages of one
   * transaction).
   */
  async #sendHalf(
    message: Message,
    prepared: PreparedMessage,
    options: TransactionSendOptions,
    deadline: number,
  ): Promise<{ queue: MessageQueue; address: string; response: Command }> {
    const sendOptions: SendOptions = {
      ...(options.queue === undefined ? {} : { queue: options.queue }),
      ...(options.selector === undefined ? {} : { selector: options.selector, arg: options.selectorArg }),
    };
    const fixed = queueFixed(message, options);
    const attempts = fixed ? 1 : 1 + this.#retryTimes;
    let lastBroker: string | undefined;
    let lastError: unknown;
    for (let i = 0; i < attempts; i++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const route = this.#routes!.cached(message.topic) ?? await this.#routes!.get(message.topic);
      const queue = this.#chooseQueue(route, message, sendOptions, lastBroker);
      const address = this.#masterAddress(queue);
      try {
        await this.#registry!.ensure(address);
        const header = this.#sendHeader(prepared, queue);
        header.f = SysFlag.TRANSACTION_PREPARED;
        const response = await this.#client!.invoke(address, {
          code: RequestCode.SEND_MESSAGE_V2,
          header,
          body: prepared.body,
          timeoutMs: Math.max(1, deadline - Date.now()),
          lane: queue.queueId,
          accept: STORED_CODES,
        });
        return { queue, address, response };
      } catch (error) {
        if (!(error instanceof BrokerError && HALF_NOT_STORED_CODES.has(error.code))) throw error;
        this.#routes!.refresh(message.topic).catch(() => {});
        lastError = error;
        lastBroker = queue.brokerName;
      }
    }
    throw lastError ?? new RequestTimeoutError(`Transactional send to topic "${message.topic}" timed out`);
  }

  #checkRunning(): void {
    if (this.#state === "running") return;
    throw new ClientError(this.#state === "stopped" ? "Producer is shut down" : "Producer is not started: call start() first");
  }

  /** A SEND_MESSAGE_V2 header (RocketMQ's one-letter names). */
  #sendHeader(prepared: PreparedMessage, queue: MessageQueue): Record<string, unknown> {
    return {
      a: this.#group,
      b: prepared.topic,
      d: this.#defaultTopicQueueNums,
      e: queue.queueId,
      g: Date.now(),
      h: prepared.flag,
      i: joinProperties(prepared.properties),
    };
  }

  /**
   * Routes and sends, retrying retryable failures on another broker until attempts or time run
   * out. A queue fixed by the caller (explicit or selected) gets one attempt, so ordered messages
   * never move to another queue.
   */
  #deliver(
    message: Message,
    options: DeliverOptions,
    deadline: number,
    attempt: (queue: MessageQueue, address: string, timeoutMs: number) => Promise<Command>,
  ): Promise<{ queue: MessageQueue; response: Command }> {
    const remaining = deadline - Date.now();
    let queue: MessageQueue | undefined;
    let address: string;
    try {
      queue = this.#firstQueue(message, options, remaining);
      if (queue === undefined) return this.#retry(message, options, deadline, attempt, 0, undefined, undefined);
      address = this.#masterAddress(queue);
    } catch (error) {
      return Promise.reject(error);
    }
    const first = queue;
    return attempt(first, address, remaining).then(
      (response) => ({ queue: first, response }),
      (error: unknown) => {
        if (!this.#retryable(error, message, options, first)) throw error;
        return this.#retry(message, options.sticky ? { ...options, queue: first } : options, deadline, attempt, 1, first.brokerName, error);
      },
    );
  }

  /**
   * The queue of a first attempt when the topic's route is cached and time is left; undefined
   * sends the caller down `#retry` from attempt 0 (which looks the route up).
   */
  #firstQueue(message: Message, options: DeliverOptions, remaining: number): MessageQueue | undefined {
    const route = this.#routes!.cached(message.topic);
    if (route === undefined || remaining <= 0) return undefined;
    return this.#chooseQueue(route, message, options, undefined);
  }

  /** The SEND_MESSAGE_V2 request of one attempt of `send`. */
  #sendRequest(prepared: PreparedMessage, queue: MessageQueue, timeoutMs: number): InvokeRequest {
    return {
      code: RequestCode.SEND_MESSAGE_V2,
      header: this.#sendHeader(prepared, queue),
      body: prepared.body,
      timeoutMs,
      lane: queue.queueId,
      accept: STORED_CODES,
    };
  }

  /** An attempt of `send` for `#retry`. */
  #sendAttempt(prepared: PreparedMessage): (queue: MessageQueue, address: string, timeoutMs: number) => Promise<Command> {
    return (queue, address, timeoutMs) => this.#client!.invoke(address, this.#sendRequest(prepared, queue, timeoutMs));
  }

  /** Whether a failed attempt may be retried (noting the broker as failing when it may). */
  #retryable(error: unknown, message: Message, options: DeliverOptions, queue: MessageQueue): boolean {
    const topic = message.topic;
    if (!isRetryableSendError(error)) return false;
    if (error instanceof ConnectionClosedError || error instanceof RequestTimeoutError) {
      this.#isolated.set(queue.brokerName, Date.now() + BROKER_ISOLATION_MS);
    }
    // The route may have changed (broker gone, topic moved): refresh it for later sends.
    this.#routes!.refresh(topic).catch(() => {});
    return options.sticky === true || !queueFixed(message, options);
  }

  /** Attempts from number `first` on, until one succeeds or attempts or time run out. */
  async #retry(
    message: Message,
    options: DeliverOptions,
    deadline: number,
    attempt: (queue: MessageQueue, address: string, timeoutMs: number) => Promise<Command>,
    first: number,
    lastBrokerBefore: string | undefined,
    lastErrorBefore: unknown,
  ): Promise<{ queue: MessageQueue; response: Command }> {
    const fixed = options.sticky !== true && queueFixed(message, options);
    const attempts = fixed ? 1 : 1 + this.#retryTimes;
    let lastBroker = lastBrokerBefore;
    let lastError = lastErrorBefore;
    for (let i = first; i < attempts; i++) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      const route = this.#routes!.cached(message.topic) ?? await this.#routes!.get(message.topic);
      const queue = this.#chooseQueue(route, message, options, lastBroker);
      if (options.sticky) options = { ...options, queue };
      try {
        const address = this.#masterAddress(queue);
        return { queue, response: await attempt(queue, address, remaining) };
      } catch (error) {
        if (!this.#retryable(error, message, options, queue)) throw error;
        lastError = error;
        lastBroker = queue.brokerName;
      }
    }
    throw lastError ?? new RequestTimeoutError(`Send to topic "${message.topic}" timed out`);
  }

  #chooseQueue(route: TopicRoute, message: Message, options: SendOptions, lastBroker: string | undefined): MessageQueue {
    if (options.queue !== undefined) {
      if (options.queue.topic !== message.topic) {
        throw new ClientError(`Queue of topic "${options.queue.topic}" cannot take a message of topic "${message.topic}"`);
      }
      return options.queue;
    }
    const queues = route.writeQueues;
    if (queues.length === 0) {
      // A group between masters (failover) takes writes again once the route names its new one.
      this.#routes!.refresh(message.topic).catch(() => {});
      throw new ClientError(`Cannot route topic "${message.topic}": no broker takes writes for it`);
    }
    if (options.selector !== undefined) {
      const chosen: MessageQueue | undefined = options.selector(queues, message, options.arg);
      const queue = queues.find((q) => q === chosen || (q.brokerName === chosen?.brokerName && q.queueId === chosen.queueId));
      if (queue === undefined) {
        throw new ClientError(`Selector for topic "${message.topic}" returned a queue that is not one of those it was given`);
      }
      return queue;
    }
    // A message group keeps to one queue, so a FIFO consumer group sees its messages in order.
    if (message.messageGroup !== undefined) return queues[Math.abs(tagHash(message.messageGroup)) % queues.length]!;
    const index = this.#counters.get(message.topic) ?? Math.floor(Math.random() * queues.length);
    this.#counters.set(message.topic, (index + 1) % 0x40000000);
    if (lastBroker === undefined && this.#isolated.size === 0) return queues[index % queues.length]!;
    const now = Date.now();
    for (const [broker, until] of this.#isolated) if (until <= now) this.#isolated.delete(broker);
    const isolated = (broker: string) => (this.#isolated.get(broker) ?? 0) > now;
    const preferred = selectQueue(queues, index, (broker) => broker === lastBroker || isolated(broker));
    if (preferred.brokerName !== lastBroker) return preferred;
    return selectQueue(queues, index, (broker) => broker === lastBroker);
  }

  #masterAddress(queue: MessageQueue): string {
    const address = this.#routes!.brokerAddress(queue.brokerName, true);
    if (address === undefined) {
      throw new BrokerError(ResponseCode.SERVICE_NOT_AVAILABLE, `Broker "${queue.brokerName}" has no master in the route of topic "${queue.topic}"`);
    }
    return address;
  }
}

function positive(name: string, value: number): number {
  if (!(typeof value === "number" && value > 0 && Number.isFinite(value))) throw new ClientError(`${name} "${value}" must be a positive number`);
  return value;
}

/** Whether a message must go to one queue (explicit, selected, or its message group's), so it gets one attempt. */
function queueFixed(message: Message, options: { queue?: MessageQueue; selector?: unknown }): boolean {
  return options.queue !== undefined || options.selector !== undefined || message.messageGroup !== undefined;
}

/** A batch's answer; its message ids are put together only when read. */
function batchResult(status: SendStatus, prepared: readonly PreparedMessage[], header: SendBatchV2ResponseHeader, messageQueue: MessageQueue): BatchSendResult {
  let msgIds: string[] | undefined;
  return {
    status,
    get msgIds(): string[] {
      return msgIds ??= header.c.map((offset) => offsetMessageId(header.s, offset));
    },
    uniqueKeys: prepared.map((one) => one.uniqueKey),
    messageQueue,
    queueOffset: header.o,
  };
}
