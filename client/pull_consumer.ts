/**
 * The pull consumer: reads queues at offsets the caller chooses and keeps offsets on the broker
 * when asked to.
 *
 * @module
 */
import { ClientError, type CorruptMessageError, ProtocolError } from "../core/errors.ts";
import type { MessageExt } from "../core/model/message.ts";
import type { MessageQueue } from "../core/model/message_queue.ts";
import { decodeOffsetMessageId } from "../core/model/message_id.ts";
import { type CorruptRecord, decodeRecords } from "../core/model/record.ts";
import { RequestCode } from "../core/protocol/request_code.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import { ConsumerClient } from "./_consumer_client.ts";
import { checkGroup, nameServerList } from "./_consumer_options.ts";
import { checkTopic } from "./_prepare_message.ts";
import { keptMessages, subscriptionOf } from "./_subscription.ts";
import { storedByAddress } from "./_stored_by.ts";
import { defaultDialer } from "./default_dialer.ts";
import { inflateMessages, PULL_CODES, pullHeader, readPullResponse } from "./_pull.ts";
import { type QueryMessageOptions, type QueryMessageResult, queryMessages } from "./_query_message.ts";

/** Options of a `PullConsumer`. */
export interface PullConsumerOptions {
  /** NameServer addresses (`host:port`); any live one is used. */
  nameServer: string | readonly string[];
  /** Consumer group: offsets are kept per group. */
  group: string;
  /** Opens sockets. @default the runtime's dialer (`defaultDialer()`) */
  dial?: Dialer;
  /** Timeout of requests other than the long-poll wait itself. @default 3000 */
  requestTimeoutMs?: number;
  /** How often routes are fetched again from the NameServers. @default 30000 */
  pollNameServerIntervalMs?: number;
}

/** Options of one pull. */
export interface PullOptions {
  /** Most messages returned (1 to 1024). @default 32 */
  maxNums?: number;
  /** Tag expression: `*`, `TagA` or `TagA || TagB` (not with `sql`). @default "*" */
  expression?: string;
  /**
   * A SQL92 filter the broker evaluates on each message's properties and `TAGS`, such as
   * `region = 'eu' AND amount > 100` (not with `expression`; see docs/CONSUMING.md).
   */
  sql?: string;
  /** Network time allowed on top of `suspendMs`. @default requestTimeoutMs */
  timeoutMs?: number;
  /** Long poll: how long the broker may hold the pull while there is nothing new (0 to 120000; 0 answers at once). @default 0 */
  suspendMs?: number;
}

/** What a pull found. */
export type PullStatus = "FOUND" | "NO_NEW_MSG" | "NO_MATCHED_MSG" | "OFFSET_ILLEGAL";

/** The answer to `pull`. */
export interface PullResult {
  /**
   * `FOUND`: `messages` holds matching messages. `NO_NEW_MSG`: nothing at the offset yet.
   * `NO_MATCHED_MSG`: messages were there but none matched the expression. `OFFSET_ILLEGAL`: the
   * offset is outside the queue; continue from `nextBeginOffset`.
   */
  status: PullStatus;
  /** The offset to pull from next. */
  nextBeginOffset: number;
  /** Smallest offset still stored in the queue. */
  minOffset: number;
  /** The offset the next message of the queue will get. */
  maxOffset: number;
  /** The messages, in queue order. */
  messages: MessageExt[];
  /**
   * Records of the answer whose bytes failed their check (body CRC, layout): left out of
   * `messages`, which go on after them. Usually empty.
   */
  corrupt: CorruptMessageError[];
}

const MAX_SUSPEND_MS = 120_000;

type State = "created" | "starting" | "running" | "stopped";

/**
 * Reads messages from queues at offsets the caller manages.
 *
 * @example Read a queue from its start
 * ```ts ignore
 * import { PullConsumer } from "./pull_consumer.ts";
 * const consumer = new PullConsumer({ nameServer: "127.0.0.1:9876", group: "audit" });
 * await consumer.start();
 * const [queue] = await consumer.fetchMessageQueues("orders");
 * let offset = await consumer.fetchConsumeOffset(queue!);
 * if (offset < 0) offset = await consumer.minOffset(queue!);
 * const result = await consumer.pull(queue!, offset, { maxNums: 16, suspendMs: 15_000 });
 * for (const message of result.messages) console.log(new TextDecoder().decode(message.body));
 * await consumer.updateConsumeOffset(queue!, result.nextBeginOffset);
 * await consumer.shutdown();
 * ```
 */
export class PullConsumer {
  readonly #nameServers: readonly string[];
  readonly #group: string;
  readonly #dial: Dialer | undefined;
  readonly #requestTimeoutMs: number;
  readonly #pollIntervalMs: number;
  #client: ConsumerClient | undefined;
  #state: State = "created";
  #starting: Promise<void> | undefined;

  /**
   * Creates a consumer; call `start()` before pulling.
   *
   * @param options NameServers, group and timeouts.
   * @throws {ClientError} When an option is invalid.
   */
  constructor(options: PullConsumerOptions) {
    this.#nameServers = nameServerList(options.nameServer);
    this.#group = checkGroup(options.group);
    this.#dial = options.dial;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 3000;
    this.#pollIntervalMs = options.pollNameServerIntervalMs ?? 30_000;
    if (!(this.#requestTimeoutMs > 0)) throw new ClientError(`requestTimeoutMs "${this.#requestTimeoutMs}" must be positive`);
    if (!(this.#pollIntervalMs > 0)) throw new ClientError(`pollNameServerIntervalMs "${this.#pollIntervalMs}" must be positive`);
  }

  /** The consumer group. */
  get group(): string {
    return this.#group;
  }

  /**
   * Gets the consumer ready: loads the runtime's dialer unless one was given and starts route
   * polling. Connections open on first use.
   *
   * @throws {ClientError} After `shutdown()`.
   */
  start(): Promise<void> {
    if (this.#state === "stopped") return Promise.reject(new ClientError("Consumer is shut down"));
    this.#starting ??= (async () => {
      this.#state = "starting";
      const dial = this.#dial ?? await defaultDialer();
      if (this.#state !== "starting") return;
      this.#client = new ConsumerClient({
        nameServers: this.#nameServers,
        dial,
        requestTimeoutMs: this.#requestTimeoutMs,
        pollNameServerIntervalMs: this.#pollIntervalMs,
      });
      this.#state = "running";
    })();
    return this.#starting;
  }

  /**
   * The readable queues of a topic, fetched from the NameServers now.
   *
   * @param topic The topic.
   * @returns Its queues, ordered by broker name and queue id.
   * @throws {BrokerError} With `TOPIC_NOT_EXIST` when no NameServer knows the topic.
   */
  async fetchMessageQueues(topic: string): Promise<MessageQueue[]> {
    this.#checkRunning();
    checkTopic(topic);
    return [...(await this.#client!.routes.refresh(topic)).readQueues];
  }

  /**
   * Pulls messages from a queue, starting at an offset.
   *
   * @param queue The queue.
   * @param offset The first offset wanted.
   * @param options Batch size, tag expression or SQL92 filter, long-poll time and timeout.
   * @returns The status, messages and the offset to continue from.
   * @throws {ClientError} When an argument is invalid or the consumer is not running.
   * @throws {FilterExpressionError} When `sql` is invalid (the message names the column).
   * @throws {BrokerError} When the broker refuses the pull (unknown topic, no permission…); code
   *   `SYSTEM_BUSY` when it has no long-polling slot for a pull with `suspendMs`: pull again after a pause.
   * @throws {ConnectionClosedError} When the broker cannot be reached.
   * @throws {RequestTimeoutError} When no answer comes within `suspendMs + timeoutMs`.
   */
  async pull(queue: MessageQueue, offset: number, options: PullOptions = {}): Promise<PullResult> {
    this.#checkRunning();
    const maxNums = options.maxNums ?? 32;
    const suspendMs = options.suspendMs ?? 0;
    checkOffset(offset);
    if (!Number.isInteger(maxNums) || maxNums < 1 || maxNums > 1024) {
      throw new ClientError(`maxNums "${maxNums}" must be an integer from 1 to 1024`);
    }
    if (!Number.isInteger(suspendMs) || suspendMs < 0 || suspendMs > MAX_SUSPEND_MS) {
      throw new ClientError(`suspendMs "${suspendMs}" must be an integer from 0 to ${MAX_SUSPEND_MS}`);
    }
    if (options.sql !== undefined && options.expression !== undefined) throw new ClientError("Pass expression (tags) or sql, not both");
    if (options.expression !== undefined && typeof options.expression !== "string") throw new ClientError("Tag expression must be a string");
    const subscription = subscriptionOf(options.sql !== undefined ? { sql: options.sql } : options.expression ?? "*");
    const { expression, expressionType } = subscription;
    checkQueue(queue);
    const response = await this.#client!.invoke(queue, {
      code: RequestCode.PULL_MESSAGE,
      header: pullHeader(queue, { group: this.#group, offset, maxNums, expression, expressionType, suspendMs, commitOffset: -1 }),
      timeoutMs: suspendMs + (options.timeoutMs ?? this.#requestTimeoutMs),
      accept: PULL_CODES,
    });
    const result = await readPullResponse(response, queue);
    if (result.status === "FOUND" && subscription.tags !== undefined) {
      result.messages = keptMessages(subscription, result.messages);
      if (result.messages.length === 0) result.status = "NO_MATCHED_MSG";
    }
    return result;
  }

  /**
   * The smallest offset still stored in a queue.
   *
   * @param queue The queue.
   * @returns The offset.
   */
  async minOffset(queue: MessageQueue): Promise<number> {
    this.#checkRunning();
    checkQueue(queue);
    return await this.#client!.queueOffset(queue, "min");
  }

  /**
   * The offset the next message of a queue will get (its message count, if none expired).
   *
   * @param queue The queue.
   * @returns The offset.
   */
  async maxOffset(queue: MessageQueue): Promise<number> {
    this.#checkRunning();
    checkQueue(queue);
    return await this.#client!.queueOffset(queue, "max");
  }

  /**
   * The first offset of a queue stored at or after a time.
   *
   * @param queue The queue.
   * @param timestampMs The time, in ms since the epoch.
   * @returns The offset.
   */
  async searchOffset(queue: MessageQueue, timestampMs: number): Promise<number> {
    this.#checkRunning();
    if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) {
      throw new ClientError(`Timestamp "${timestampMs}" must be a non-negative integer`);
    }
    checkQueue(queue);
    return await this.#client!.queueOffset(queue, { timestamp: timestampMs });
  }

  /**
   * The group's committed offset of a queue.
   *
   * @param queue The queue.
   * @returns The next offset to consume, or -1 when the group has committed none.
   */
  async fetchConsumeOffset(queue: MessageQueue): Promise<number> {
    this.#checkRunning();
    checkQueue(queue);
    return await this.#client!.queryOffset(this.#group, queue);
  }

  /**
   * Commits the group's offset of a queue: the next offset to consume.
   *
   * @param queue The queue.
   * @param offset The offset.
   */
  async updateConsumeOffset(queue: MessageQueue, offset: number): Promise<void> {
    this.#checkRunning();
    checkOffset(offset);
    checkQueue(queue);
    await this.#client!.commitOffset(this.#group, queue, offset);
  }

  /**
   * Looks a message up by its offset message id (`SendResult.msgId`, `MessageExt.msgId`). The id
   * names the broker's store address; it is matched to a broker of the known routes, else dialed.
   *
   * @param msgId The offset message id.
   * @param topic A topic on the same broker, to load routes first when none are cached yet.
   * @returns The message.
   * @throws {ClientError} When the id is not an offset message id.
   * @throws {BrokerError} When the broker has no message there.
   */
  async viewMessage(msgId: string, topic?: string): Promise<MessageExt> {
    this.#checkRunning();
    let decoded: ReturnType<typeof decodeOffsetMessageId>;
    try {
      decoded = decodeOffsetMessageId(msgId);
    } catch (cause) {
      throw new ClientError(`"${msgId}" is not an offset message id: ${(cause as Error).message}`, { cause });
    }
    if (topic !== undefined) {
      checkTopic(topic);
      await this.#client!.routes.get(topic);
    }
    const address = storedByAddress(this.#client!.routes.brokerAddresses(), decoded.host);
    const response = await this.#client!.client.invoke(address, {
      code: RequestCode.VIEW_MESSAGE_BY_ID,
      header: { offset: decoded.commitLogOffset },
    });
    let messages: MessageExt[];
    let corrupt: CorruptRecord | undefined;
    try {
      messages = decodeRecords(response.body ?? new Uint8Array(0), { onCorrupt: (record) => corrupt ??= record });
    } catch (cause) {
      throw new ProtocolError(`Broker ${address} sent an undecodable record for "${msgId}"`, { cause });
    }
    if (corrupt !== undefined) throw new ProtocolError(`Broker ${address} sent a corrupt record for "${msgId}": ${corrupt.reason}`);
    messages = await inflateMessages(messages, (_message, reason) => {
      throw new ProtocolError(`Broker ${address} sent a record for "${msgId}" whose body does not inflate: ${reason}`);
    });
    const message = messages[0];
    if (message === undefined || message.commitLogOffset !== decoded.commitLogOffset) {
      throw new ProtocolError(`Broker ${address} did not return the record at offset ${decoded.commitLogOffset}`);
    }
    return message;
  }

  /**
   * The messages of a topic with a key or unique key in a store-time range, newest first, from
   * every broker of the topic (see `Admin.queryMessage`).
   *
   * @param topic The topic.
   * @param key The key.
   * @param options Store-time range (ms since the epoch) and most messages.
   * @returns The messages, and whether that is all of them.
   */
  queryMessage(topic: string, key: string, options: QueryMessageOptions = {}): Promise<QueryMessageResult> {
    this.#checkRunning();
    return queryMessages(this.#client!, topic, key, options);
  }

  /** Stops route polling and closes every connection; pulls in flight fail. */
  async shutdown(): Promise<void> {
    if (this.#state === "stopped") return;
    const wasStarting = this.#state === "starting";
    this.#state = "stopped";
    if (wasStarting) await this.#starting?.catch(() => {});
    await this.#client?.shutdown();
  }

  #checkRunning(): void {
    if (this.#state === "running") return;
    throw new ClientError(this.#state === "stopped" ? "Consumer is shut down" : "Consumer is not started: call start() first");
  }
}

function checkQueue(queue: MessageQueue): void {
  if (queue === null || typeof queue !== "object") throw new ClientError("Queue must be an object");
  checkTopic(queue.topic);
  if (typeof queue.brokerName !== "string" || queue.brokerName === "") throw new ClientError("Queue has no broker name");
  if (!Number.isInteger(queue.queueId) || queue.queueId < 0) throw new ClientError(`Queue id "${queue.queueId}" is invalid`);
}

function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new ClientError(`Offset "${offset}" must be a non-negative integer`);
}
