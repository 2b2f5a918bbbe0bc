/**
 * The producer: routes messages to queues, sends them and retries on another broker on failure.
 *
 * @module
 */
import { joinProperties } from "../core/model/properties.ts";
import { BrokerError, ClientError, ConnectionClosedError, RequestTimeoutError } from "../core/errors.ts";
import { type Message, MessageConst } from "../core/model/message.ts";
import type { MessageQueue } from "../core/model/message_queue.ts";
import type { Command } from "../core/protocol/command.ts";
import { GroupName, type SendBatchV2ResponseHeader, type SendV2ResponseHeader } from "../core/protocol/headers.ts";
import { offsetMessageId } from "../core/model/message_id.ts";
import { RequestCode, ResponseCode } from "../core/protocol/request_code.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import * as v from "valibot";
import { InFlightLimiter } from "./_in_flight.ts";
import { checkTopic, type PreparedMessage, prepareMessage, preparedSize } from "./_prepare_message.ts";
import { decodeRecallHandle } from "../core/model/recall_handle.ts";
import { selectQueue } from "./_queue_select.ts";
import { UniqueKeyGenerator } from "./_unique_key.ts";
import { defaultDialer } from "./default_dialer.ts";
import { RemotingClient } from "./remoting_client.ts";
import { RouteCache, type TopicRoute } from "./route_cache.ts";

/** Options of a `Producer`. */
export interface ProducerOptions {
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

/** How long a broker that could not be reached is passed over while others can take the send. */
const BROKER_ISOLATION_MS = 10_000;
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
  #client: RemotingClient | undefined;
  #routes: RouteCache | undefined;
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
      const client = new RemotingClient({ dial, requestTimeoutMs: this.#sendTimeoutMs });
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
    try {
      const { queue, response } = await this.#deliver(message, sticky ? { ...options, sticky } : options, deadline, (queue, address, remaining) =>
        this.#client!.invoke(address, {
          code: RequestCode.SEND_MESSAGE_V2,
          header: this.#sendHeader(prepared, queue),
          body: prepared.body,
          timeoutMs: remaining,
          lane: queue.queueId,
          accept: STORED_CODES,
        }));
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
      return result;
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
    const body = new Uint8Array(total);
    let pos = 0;
    for (const one of prepared) {
      body.set(one.body, pos);
      pos += one.body.length;
    }
    const entries = prepared.map((one) => [one.body.length, one.flag, joinProperties(one.properties)]);
    if (!this.#limiter.tryAcquire(size)) await this.#limiter.acquire(size, timeoutMs);
    try {
      const { queue, response } = await this.#deliver(messages[0]!, options, deadline, (queue, address, remaining) =>
        this.#client!.invoke(address, {
          code: RequestCode.SEND_BATCH_MESSAGE_V2,
          header: {
            a: this.#group,
            b: queue.topic,
            d: this.#defaultTopicQueueNums,
            e: queue.queueId,
            g: Date.now(),
            m: entries,
          },
          body,
          lane: queue.queueId,
          timeoutMs: remaining,
          accept: STORED_CODES,
        }));
      const header = response.header as unknown as SendBatchV2ResponseHeader;
      return {
        status: SEND_STATUS[response.code]!,
        msgIds: header.c.map((offset) => offsetMessageId(header.s, offset)),
        uniqueKeys: prepared.map((one) => one.uniqueKey),
        messageQueue: { topic: queue.topic, brokerName: queue.brokerName, queueId: header.q ?? queue.queueId },
        queueOffset: header.o,
      };
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
    this.#routes?.stop();
    await this.#client?.shutdown();
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
    // The common case, route cached: first attempt without an extra async frame.
    const route = this.#routes!.cached(message.topic);
    const remaining = deadline - Date.now();
    if (route === undefined || remaining <= 0) return this.#retry(message, options, deadline, attempt, 0, undefined, undefined);
    let queue: MessageQueue;
    let address: string;
    try {
      queue = this.#chooseQueue(route, message, options, undefined);
      address = this.#masterAddress(queue);
    } catch (error) {
      return Promise.reject(error);
    }
    return attempt(queue, address, remaining).then(
      (response) => ({ queue, response }),
      (error: unknown) => {
        if (!this.#retryable(error, options, queue, message.topic)) throw error;
        return this.#retry(message, options.sticky ? { ...options, queue } : options, deadline, attempt, 1, queue.brokerName, error);
      },
    );
  }

  /** Whether a failed attempt may be retried (noting the broker as failing when it may). */
  #retryable(error: unknown, options: DeliverOptions, queue: MessageQueue, topic: string): boolean {
    if (!isRetryableSendError(error)) return false;
    if (error instanceof ConnectionClosedError || error instanceof RequestTimeoutError) {
      this.#isolated.set(queue.brokerName, Date.now() + BROKER_ISOLATION_MS);
    }
    // The route may have changed (broker gone, topic moved): refresh it for later sends.
    this.#routes!.refresh(topic).catch(() => {});
    return options.sticky === true || !(options.queue !== undefined || options.selector !== undefined);
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
    const fixed = options.sticky !== true && (options.queue !== undefined || options.selector !== undefined);
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
        if (!this.#retryable(error, options, queue, message.topic)) throw error;
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
    if (queues.length === 0) throw new ClientError(`Cannot route topic "${message.topic}": no broker takes writes for it`);
    if (options.selector !== undefined) {
      const chosen: MessageQueue | undefined = options.selector(queues, message, options.arg);
      const queue = queues.find((q) => q === chosen || (q.brokerName === chosen?.brokerName && q.queueId === chosen.queueId));
      if (queue === undefined) {
        throw new ClientError(`Selector for topic "${message.topic}" returned a queue that is not one of those it was given`);
      }
      return queue;
    }
    const index = this.#counters.get(message.topic) ?? Math.floor(Math.random() * queues.length);
    this.#counters.set(message.topic, (index + 1) % 0x40000000);
    const now = Date.now();
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
