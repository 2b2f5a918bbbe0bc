/**
 * Client-side administration: looking messages up by key or unique key (QUERY_MESSAGE, through
 * the brokers' key index), browsing a group's dead letters and sending one back to its original
 * topic.
 *
 * @module
 */
import { BrokerError, ClientError } from "../core/errors.ts";
import { type Message, MessageConst, type MessageExt } from "../core/model/message.ts";
import type { MessageQueue } from "../core/model/message_queue.ts";
import { dlqTopic } from "../core/model/system_topics.ts";
import { ResponseCode } from "../core/protocol/request_code.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import { ConsumerClient } from "./_consumer_client.ts";
import { checkGroup, intOption, nameServerList } from "./_consumer_options.ts";
import { type QueryMessageOptions, type QueryMessageResult, queryMessages } from "./_query_message.ts";
import { sortQueues } from "./allocate.ts";
import { defaultDialer } from "./default_dialer.ts";
import { Producer, type SendResult } from "./producer.ts";

/** Options of an `Admin`. */
export interface AdminOptions {
  /** NameServer addresses (`host:port`). */
  nameServer: string | readonly string[];
  /** Opens sockets. @default the runtime's dialer */
  dial?: Dialer;
  /** Timeout of each request. @default 3000 */
  requestTimeoutMs?: number;
}

/** Which dead letter to act on: by message id, or by its place in the dead-letter topic. */
export type DeadLetterRef =
  | {
    /** The dead letter's own id (`MessageExt.msgId`), the original message's id, or its unique key. */
    msgId: string;
  }
  | {
    /** Queue of the dead-letter topic. @default 0 */
    queueId?: number;
    /** Offset in that queue. */
    queueOffset: number;
  };

/** One page of dead letters. */
export interface DeadLetterPage {
  /** Dead letters stored for the group, over every queue. */
  total: number;
  /** This page's messages, by queue then offset. */
  messages: MessageExt[];
}

/** Options of `listDeadLetters`. */
export interface DeadLetterPageOptions {
  /** Page number, from 0. @default 0 */
  page?: number;
  /** Messages per page (1 to 1024). @default 20 */
  pageSize?: number;
}

/** Properties the system sets; stripped when a dead letter is sent again. */
const SYSTEM_PROPERTIES: ReadonlySet<string> = new Set(
  Object.entries(MessageConst).filter(([name]) => name !== "KEY_SEPARATOR").map(([, value]) => value),
);
const SCAN_BATCH = 256;
const ADMIN_GROUP = "TOOLS_CONSUMER";

/**
 * Browses and re-sends the dead letters of consumer groups (`%DLQ%<group>`): messages that failed
 * `maxReconsumeTimes` redeliveries.
 *
 * @example Re-send every dead letter of a group
 * ```ts ignore
 * import { Admin } from "./admin.ts";
 * const admin = new Admin({ nameServer: "127.0.0.1:9876" });
 * await admin.start();
 * const { messages } = await admin.listDeadLetters("billing", { pageSize: 100 });
 * for (const dead of messages) await admin.resendDeadLetter("billing", { msgId: dead.msgId });
 * await admin.shutdown();
 * ```
 */
export class Admin {
  readonly #nameServers: string[];
  readonly #dial: Dialer | undefined;
  readonly #requestTimeoutMs: number;
  #client: ConsumerClient | undefined;
  #producer: Producer | undefined;
  #starting: Promise<void> | undefined;
  #stopped = false;

  /**
   * Creates an admin client; call `start()` first.
   *
   * @param options NameServers, dialer and timeout.
   */
  constructor(options: AdminOptions) {
    this.#nameServers = nameServerList(options.nameServer);
    this.#dial = options.dial;
    this.#requestTimeoutMs = intOption("requestTimeoutMs", options.requestTimeoutMs ?? 3000, 1);
  }

  /** Loads the dialer and opens nothing yet. */
  start(): Promise<void> {
    if (this.#stopped) return Promise.reject(new ClientError("Admin is shut down"));
    this.#starting ??= (async () => {
      const dial = this.#dial ?? await defaultDialer();
      this.#client = new ConsumerClient({
        nameServers: this.#nameServers,
        dial,
        requestTimeoutMs: this.#requestTimeoutMs,
        pollNameServerIntervalMs: 30_000,
      });
      this.#producer = new Producer({ nameServer: this.#nameServers, dial, sendTimeoutMs: this.#requestTimeoutMs });
      await this.#producer.start();
    })();
    return this.#starting;
  }

  /**
   * The messages of a topic with a key (in their `keys`) or unique key, stored in a time range,
   * newest first, from every broker of the topic, found through the brokers' key index at any age.
   * The result says whether it is every match.
   *
   * @param topic The topic.
   * @param key The key.
   * @param options Store-time range (ms since the epoch) and most messages.
   * @returns The messages, and whether that is all of them.
   * @throws {BrokerError} When every broker refuses (the account may not subscribe to the topic,
   * key lookups are off) or no NameServer knows the topic.
   *
   * @example Every order message with a key, from the last hour
   * ```ts ignore
   * import { Admin } from "./admin.ts";
   * const admin = new Admin({ nameServer: "127.0.0.1:9876" });
   * await admin.start();
   * const { messages, complete } = await admin.queryMessage("orders", "order-42", { begin: Date.now() - 3_600_000 });
   * console.log(messages.length, complete ? "(all)" : "(more exist)");
   * await admin.shutdown();
   * ```
   */
  queryMessage(topic: string, key: string, options: QueryMessageOptions = {}): Promise<QueryMessageResult> {
    return queryMessages(this.#running(), topic, key, options);
  }

  /**
   * The message with a unique key: the id RocketMQ clients show (`SendResult.uniqueKey`,
   * `MessageExt.uniqueKey`), as RocketMQ's `viewMessage(topic, uniqueKey)`. Of several stored
   * copies (a producer's retries) the first stored is returned.
   *
   * @param topic The topic it was sent to.
   * @param uniqueKey The unique key.
   * @returns The message.
   * @throws {ClientError} When no broker of the topic holds a message with that unique key.
   */
  async viewMessageByUniqueKey(topic: string, uniqueKey: string): Promise<MessageExt> {
    const result = await queryMessages(this.#running(), topic, uniqueKey, { uniqueKey: true });
    const first = result.messages.at(-1);
    if (first === undefined) {
      const partly = result.complete ? "" : ` (${result.incomplete.join("; ")})`;
      throw new ClientError(`No message of topic "${topic}" has unique key "${uniqueKey}"${partly}`);
    }
    return first;
  }

  /**
   * One page of a group's dead letters.
   *
   * @param group The consumer group.
   * @param options Page number and size.
   * @returns The total count and the page's messages (empty when the group has no dead-letter topic).
   */
  async listDeadLetters(group: string, options: DeadLetterPageOptions = {}): Promise<DeadLetterPage> {
    const client = this.#running();
    checkGroup(group);
    const page = intOption("page", options.page ?? 0, 0);
    const pageSize = intOption("pageSize", options.pageSize ?? 20, 1, 1024);
    const ranges = await this.#ranges(client, group);
    const total = ranges.reduce((sum, r) => sum + (r.max - r.min), 0);
    let skip = page * pageSize;
    const messages: MessageExt[] = [];
    for (const range of ranges) {
      if (messages.length >= pageSize) break;
      const size = range.max - range.min;
      if (skip >= size) {
        skip -= size;
        continue;
      }
      let offset = range.min + skip;
      skip = 0;
      while (offset < range.max && messages.length < pageSize) {
        const found = await this.#read(client, range.queue, offset, Math.min(pageSize - messages.length, range.max - offset));
        if (found.messages.length === 0 && found.next <= offset) break;
        messages.push(...found.messages);
        offset = found.next;
      }
    }
    return { total, messages };
  }

  /**
   * Sends a dead letter again, to the topic it was first sent to, with its body, tags, keys, flag
   * and user properties. The dead letter stays where it is.
   *
   * @param group The consumer group.
   * @param ref The dead letter: a message id, or queue and offset in the dead-letter topic.
   * @returns Where the new copy was stored.
   * @throws {ClientError} When no such dead letter exists or its original topic is unknown.
   */
  async resendDeadLetter(group: string, ref: DeadLetterRef): Promise<SendResult> {
    const client = this.#running();
    checkGroup(group);
    const dead = await this.#find(client, group, ref);
    const topic = dead.properties[MessageConst.RETRY_TOPIC] ?? dead.properties[MessageConst.REAL_TOPIC];
    if (topic === undefined) throw new ClientError(`Dead letter ${dead.msgId} does not name its original topic`);
    const properties: Record<string, string> = {};
    for (const [name, value] of Object.entries(dead.properties)) if (!SYSTEM_PROPERTIES.has(name)) properties[name] = value;
    const message: Message = { topic, body: dead.body, properties, flag: dead.flag };
    if (dead.tags !== undefined) message.tags = dead.tags;
    if (dead.keys.length > 0) message.keys = dead.keys;
    return await this.#producer!.send(message);
  }

  /** Closes connections. */
  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#starting?.catch(() => {});
    await this.#producer?.shutdown();
    await this.#client?.shutdown();
  }

  #running(): ConsumerClient {
    if (this.#client === undefined || this.#stopped) throw new ClientError(this.#stopped ? "Admin is shut down" : "Admin is not started: call start() first");
    return this.#client;
  }

  async #ranges(client: ConsumerClient, group: string): Promise<{ queue: MessageQueue; min: number; max: number }[]> {
    let queues: MessageQueue[];
    try {
      queues = sortQueues((await client.routes.refresh(dlqTopic(group))).readQueues);
    } catch (error) {
      if (error instanceof BrokerError && error.code === ResponseCode.TOPIC_NOT_EXIST) return [];
      throw error;
    }
    return await Promise.all(queues.map(async (queue) => ({
      queue,
      min: await client.queueOffset(queue, "min"),
      max: await client.queueOffset(queue, "max"),
    })));
  }

  async #read(client: ConsumerClient, queue: MessageQueue, offset: number, max: number): Promise<{ messages: MessageExt[]; next: number }> {
    const result = await client.pull(queue, {
      group: ADMIN_GROUP,
      offset,
      maxNums: Math.max(1, Math.min(max, 1024)),
      expression: "*",
      suspendMs: 0,
      commitOffset: -1,
    });
    return { messages: result.messages, next: result.nextBeginOffset };
  }

  async #find(client: ConsumerClient, group: string, ref: DeadLetterRef): Promise<MessageExt> {
    const ranges = await this.#ranges(client, group);
    if ("queueOffset" in ref) {
      const queueId = ref.queueId ?? 0;
      const range = ranges.find((r) => r.queue.queueId === queueId);
      if (range !== undefined && ref.queueOffset >= range.min && ref.queueOffset < range.max) {
        const found = await this.#read(client, range.queue, ref.queueOffset, 1);
        const message = found.messages.find((m) => m.queueOffset === ref.queueOffset);
        if (message !== undefined) return message;
      }
      throw new ClientError(`Group "${group}" has no dead letter at offset ${ref.queueOffset} of queue ${queueId}`);
    }
    const id = ref.msgId;
    for (const range of ranges) {
      let offset = range.min;
      while (offset < range.max) {
        const found = await this.#read(client, range.queue, offset, SCAN_BATCH);
        const hit = found.messages.find((m) =>
          m.msgId === id || m.uniqueKey === id || m.properties[MessageConst.ORIGIN_MESSAGE_ID] === id
        );
        if (hit !== undefined) return hit;
        if (found.next <= offset) break;
        offset = found.next;
      }
    }
    throw new ClientError(`Group "${group}" has no dead letter with id "${id}"`);
  }
}
