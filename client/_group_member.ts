/**
 * The spine every consumer of a group composes: its options, subscriptions, connections and
 * membership (heartbeats, leaving). Queue-owning consumers add `QueueOwner`; POP consumers add a
 * receiver; each keeps only what is its own (handlers, a poll buffer).
 *
 * @module
 */
import { ClientError } from "../core/errors.ts";
import { RETRY_GROUP_TOPIC_PREFIX } from "../core/model/system_topics.ts";
import type { MessageExt } from "../core/model/message.ts";
import type { ConsumerData } from "../core/protocol/headers.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import { ConsumerClient, newClientId } from "./_consumer_client.ts";
import { restoreRetryTopic } from "./_retry_topic.ts";
import {
  checkConsumeFromWhere,
  checkGroup,
  type ConsumeFromWhere,
  consumeFromWhereName,
  every,
  intOption,
  nameServerList,
} from "./_consumer_options.ts";
import { checkTopic } from "./_prepare_message.ts";
import { keptMessages, type MessageSelector, type Subscription, subscriptionOf } from "./_subscription.ts";
import { defaultDialer } from "./default_dialer.ts";
import { MAX_REPLY_SIZE, sendReply } from "./_request_reply.ts";
import { UniqueKeyGenerator } from "./_unique_key.ts";
import { ConsumeTracer, traceDispatcher, type TraceOptions, traceProducerGroup, traceTopicOf } from "./_tracer.ts";
import type { TraceStats } from "./_trace_dispatcher.ts";
import { Producer } from "./producer.ts";
import type { MessageModel } from "./rebalance.ts";

/** The options every member of a consumer group takes (each consumer's options include these). */
export interface MemberOptions extends TraceOptions {
  nameServer: string | readonly string[];
  group: string;
  dial?: Dialer;
  messageModel?: MessageModel;
  consumeFromWhere?: ConsumeFromWhere;
  heartbeatIntervalMs?: number;
  clientId?: string;
  requestTimeoutMs?: number;
  pollNameServerIntervalMs?: number;
  log?: (line: string) => void;
}

/** How a member says it consumes, in its heartbeats. */
export type ConsumeType = ConsumerData["consumeType"];

/** Where a member is in its life. */
export type MemberState = "created" | "starting" | "running" | "stopping" | "stopped";

/** One subscription (`_subscription.ts`), and when it was made (ms; newer wins on the broker). */
export interface MemberSubscription extends Subscription {
  readonly version: number;
}

/**
 * A member of a consumer group: options checked once, subscriptions, the connection pool and
 * route cache (`client`, from `connect()`), heartbeats to every broker of its topics, and leaving.
 */
export class GroupMember {
  /** The consumer group. */
  readonly group: string;
  /** This member's id in the group. */
  readonly clientId: string;
  readonly messageModel: MessageModel;
  readonly consumeFromWhere: ConsumeFromWhere;
  readonly log: (line: string) => void;
  /** Subscriptions by topic. */
  readonly subscriptions: Map<string, MemberSubscription> = new Map();
  /** Where the member is in its life; the consumer moves it. */
  state: MemberState = "created";
  readonly #consumeType: ConsumeType;
  readonly #nameServers: string[];
  readonly #dial: Dialer | undefined;
  readonly #heartbeatIntervalMs: number;
  readonly #requestTimeoutMs: number;
  readonly #pollIntervalMs: number;
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  readonly #replyKeys = new UniqueKeyGenerator();
  #client: ConsumerClient | undefined;
  readonly #traceTopic: string | undefined;
  readonly #traceOptions: TraceOptions;
  #traceProducer: Producer | undefined;
  /** With `enableTrace`, once connected: records each delivery in the trace topic. */
  tracer: ConsumeTracer | undefined;

  /**
   * @param options The common options, as the consumer was given them.
   * @param consumeType What the heartbeats say.
   * @throws {ClientError} When an option is invalid.
   */
  constructor(options: MemberOptions, consumeType: ConsumeType) {
    this.#consumeType = consumeType;
    this.#nameServers = nameServerList(options.nameServer);
    this.group = checkGroup(options.group);
    this.#dial = options.dial;
    this.messageModel = options.messageModel ?? "CLUSTERING";
    if (this.messageModel !== "CLUSTERING" && this.messageModel !== "BROADCASTING") {
      throw new ClientError(`messageModel "${this.messageModel}" must be "CLUSTERING" or "BROADCASTING"`);
    }
    this.consumeFromWhere = checkConsumeFromWhere(options.consumeFromWhere ?? "LAST_OFFSET");
    this.#heartbeatIntervalMs = intOption("heartbeatIntervalMs", options.heartbeatIntervalMs ?? 30_000, 1);
    this.clientId = options.clientId ?? newClientId();
    if (this.clientId === "" || this.clientId.length > 255) throw new ClientError(`clientId "${this.clientId}" must have 1 to 255 characters`);
    this.#requestTimeoutMs = intOption("requestTimeoutMs", options.requestTimeoutMs ?? 3000, 1);
    this.#pollIntervalMs = intOption("pollNameServerIntervalMs", options.pollNameServerIntervalMs ?? 30_000, 1);
    this.log = options.log ?? ((line) => console.warn(line));
    this.#traceTopic = traceTopicOf(options);
    this.#traceOptions = options;
  }

  /** With `enableTrace`: what the trace dispatcher recorded, dropped (buffer full), sent and failed to send. */
  get traceStats(): TraceStats | undefined {
    return this.tracer?.dispatcher.stats;
  }

  /** Timeout of requests other than long polls. */
  get requestTimeoutMs(): number {
    return this.#requestTimeoutMs;
  }

  /** Whether the member is running. */
  get running(): boolean {
    return this.state === "running";
  }

  /** The connections and routes (after `connect()`). */
  get client(): ConsumerClient {
    if (this.#client === undefined) throw new ClientError("Consumer is not started");
    return this.#client;
  }

  /** Whether `connect()` made a client. */
  get connected(): boolean {
    return this.#client !== undefined;
  }

  /**
   * Subscribes to a topic; a second call for a topic replaces its selector.
   *
   * @param topic The topic.
   * @param selector A tag expression or `{ sql }` (`_subscription.ts`).
   * @throws {ClientError} When the topic or selector is invalid or the member has started.
   * @throws {FilterExpressionError} When the SQL expression is invalid (the message names the column).
   */
  subscribe(topic: string, selector: MessageSelector): void {
    if (this.state !== "created") throw new ClientError("Subscribe before start()");
    checkTopic(topic);
    this.subscriptions.set(topic, { ...subscriptionOf(selector), version: Date.now() });
  }

  /**
   * Adds a subscription the member makes itself (the group's retry topic), after start too.
   *
   * @param topic The topic.
   */
  subscribeAll(topic: string): void {
    this.subscriptions.set(topic, { ...subscriptionOf("*"), version: Date.now() });
  }

  /** The subscribed topics. */
  topics(): string[] {
    return [...this.subscriptions.keys()];
  }

  /**
   * Loads the dialer unless one was given and opens the client (connections open on first use).
   *
   * @param onMembersChanged Called when a broker says the group's members changed.
   * @returns The client, or undefined when the member was shut down meanwhile.
   */
  async connect(onMembersChanged?: () => void): Promise<ConsumerClient | undefined> {
    const dial = this.#dial ?? await defaultDialer();
    if (this.state !== "starting") return undefined;
    this.#client = new ConsumerClient({
      nameServers: this.#nameServers,
      dial,
      requestTimeoutMs: this.#requestTimeoutMs,
      pollNameServerIntervalMs: this.#pollIntervalMs,
      ...(onMembersChanged === undefined ? {} : {
        onConsumerIdsChanged: (group: string) => {
          if (group === this.group && this.state === "running") onMembersChanged();
        },
      }),
    });
    const topic = this.#traceTopic;
    if (topic !== undefined) {
      const producer = new Producer({
        nameServer: this.#nameServers,
        dial,
        group: traceProducerGroup(this.group, "CONSUMER"),
        sendTimeoutMs: 5000,
        retryTimesWhenSendFailed: 0,
        pollNameServerIntervalMs: this.#pollIntervalMs,
        log: this.log,
      });
      await producer.start();
      this.#traceProducer = producer;
      const dispatcher = traceDispatcher((body, keys) => producer.send({ topic, body, keys }), this.#traceOptions, this.log);
      this.tracer = new ConsumeTracer(dispatcher, this.group, this.clientId);
    }
    return this.#client;
  }

  /** The group as this member's heartbeats describe it. */
  consumerData(): ConsumerData {
    return {
      group: this.group,
      consumeType: this.#consumeType,
      messageModel: this.messageModel,
      consumeFromWhere: consumeFromWhereName(this.consumeFromWhere),
      subscriptions: [...this.subscriptions].map(([topic, s]) => ({ topic, expression: s.expression, expressionType: s.expressionType, version: s.version })),
    };
  }

  /** Tells every broker of the subscribed topics that the member is alive; failures are logged. */
  async heartbeat(): Promise<void> {
    if (this.state !== "running") return;
    const errors = await this.client.heartbeat(this.topics(), this.clientId, this.consumerData());
    for (const error of errors) this.log(`Heartbeat of group "${this.group}" failed: ${(error as Error).message}`);
  }

  /** Sends a heartbeat now and every `heartbeatIntervalMs`. */
  async startHeartbeats(): Promise<void> {
    await this.heartbeat();
    this.every(this.#heartbeatIntervalMs, () => void this.heartbeat());
  }

  /**
   * Runs `fn` every `ms` until `stopTimers()`, without keeping the process alive.
   *
   * @param ms The period.
   * @param fn What to run.
   */
  every(ms: number, fn: () => void): void {
    this.#timers.push(every(ms, fn));
  }

  /** Stops every timer started with `every`. */
  stopTimers(): void {
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers.length = 0;
  }

  /**
   * Leaves: stops timers, unregisters from the brokers of the subscribed topics (when asked) and
   * closes every connection.
   *
   * @param unregister Whether brokers know the member (it heartbeated).
   */
  async leave(unregister: boolean): Promise<void> {
    this.stopTimers();
    const client = this.#client;
    if (client === undefined) return;
    if (unregister) await client.unregister(this.topics(), this.clientId, this.group);
    await this.tracer?.dispatcher.shutdown();
    await this.#traceProducer?.shutdown();
    await client.shutdown();
  }

  /**
   * Answers a request message (`Producer.request`) through the broker that stored it.
   *
   * @param request The request.
   * @param body The reply's body.
   * @param properties The reply's user properties.
   * @returns The stored reply's offset message id.
   * @throws {ClientError} When the member is not running, the message is not a request or the reply is invalid.
   * @throws {BrokerError} REPLY_NOT_DELIVERED when the requester no longer waits.
   */
  reply(request: MessageExt, body: Uint8Array | string, properties?: Record<string, string>): Promise<string> {
    const client = this.#client;
    if (this.state !== "running" || client === undefined) return Promise.reject(new ClientError("Consumer is not running"));
    return sendReply(client.client, request, { body, ...(properties === undefined ? {} : { properties }) }, {
      group: this.group,
      maxMessageSize: MAX_REPLY_SIZE,
      uniqueKey: this.#replyKeys.next(),
      timeoutMs: this.#requestTimeoutMs,
      knownBrokers: client.routes.brokerAddresses(),
    });
  }

  /**
   * The pulled messages a subscription keeps, presented under their original topic when they
   * came from a retry topic.
   *
   * @param topic The topic pulled.
   * @param messages What the broker returned (filtered by tag hash only).
   * @returns The messages to hand over.
   */
  kept(topic: string, messages: MessageExt[]): MessageExt[] {
    const out = keptMessages(this.subscriptions.get(topic), messages);
    return topic.startsWith(RETRY_GROUP_TOPIC_PREFIX) ? out.map(restoreRetryTopic) : out;
  }
}
