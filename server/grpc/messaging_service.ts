/**
 * RocketMQ 5's `apache.rocketmq.v2.MessagingService`, mapped onto the broker: every call becomes
 * the request a remoting client would make (SEND_MESSAGE, END_TRANSACTION, RECALL_MESSAGE,
 * HEART_BEAT, PULL_MESSAGE, the offset requests) and is handled by the broker's own processor, with
 * the client as a `Connection` (`GrpcClient`) and the account's rights checked for that request
 * code. Routes come from the NameServers. Consumers receive through the broker's POP service
 * (POP_MESSAGE, long-polled in the pull hold service; BATCH_ACK_MESSAGE; CHANGE_MESSAGE_INVISIBLETIME)
 * and are told their group's settings (FIFO, delivery attempts, retry backoff) over Telemetry. What
 * is not supported (lite topics) is answered UNSUPPORTED at once.
 *
 * This module knows protobuf messages, not gRPC: `grpc_server.ts` binds it to a server.
 *
 * @module
 */
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import * as v from "valibot";
import { encodeProperties } from "../../core/model/properties.ts";
import { decodeOffsetMessageId, offsetMessageId } from "../../core/model/message_id.ts";
import { refuseMessageType } from "../../core/model/message_type.ts";
import { decodeRecord, decodeRecords } from "../../core/model/record.ts";
import { retryBackoffMs, type RetryPolicy as GroupRetryPolicy } from "../../core/model/retry_policy.ts";
import { RETRY_GROUP_TOPIC_PREFIX, SYSTEM_TOPICS } from "../../core/model/system_topics.ts";
import type { Command, Header } from "../../core/protocol/command.ts";
import { CheckTransactionStateHeader, GroupName, type TopicRouteData, TopicName } from "../../core/protocol/headers.ts";
import { PullSysFlag, RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { Connection } from "../../core/remoting/connection.ts";
import type { Processor, Reply } from "../../core/remoting/dispatcher.ts";
import type { Access } from "../acl/access.ts";
import type { AclAccount } from "../acl/acl_rules.ts";
import type { AclGuard } from "../acl/acl_guard.ts";
import type { BrokerContext } from "../broker/context.ts";
import { MAX_INVISIBLE_TIME_MS, MAX_POP_BATCH, MIN_INVISIBLE_TIME_MS, PopRefusal } from "../broker/pop/pop_service.ts";
import type { Log } from "../logger.ts";
import {
  ClientType,
  Code,
  FilterType,
  type MessageQueue,
  type Resource,
  type RetryPolicy,
  RetryPolicySchema,
  type Settings,
  SettingsSchema,
  type Status,
  TransactionResolution,
  TransactionSource,
} from "./gen/apache/rocketmq/v2/definition_pb.ts";
import {
  type AckMessageRequest,
  type AckMessageResponse,
  AckMessageResponseSchema,
  type AckMessageResultEntry,
  AckMessageResultEntrySchema,
  type ChangeInvisibleDurationRequest,
  type ChangeInvisibleDurationResponse,
  ChangeInvisibleDurationResponseSchema,
  type EndTransactionRequest,
  type EndTransactionResponse,
  EndTransactionResponseSchema,
  type ForwardMessageToDeadLetterQueueRequest,
  type ForwardMessageToDeadLetterQueueResponse,
  ForwardMessageToDeadLetterQueueResponseSchema,
  type GetOffsetRequest,
  type GetOffsetResponse,
  GetOffsetResponseSchema,
  type HeartbeatRequest,
  type HeartbeatResponse,
  HeartbeatResponseSchema,
  type NotifyClientTerminationResponse,
  NotifyClientTerminationResponseSchema,
  type PullMessageRequest,
  type PullMessageResponse,
  PullMessageResponseSchema,
  type QueryAssignmentRequest,
  type QueryAssignmentResponse,
  QueryAssignmentResponseSchema,
  type QueryOffsetRequest,
  type QueryOffsetResponse,
  QueryOffsetResponseSchema,
  type QueryRouteRequest,
  type QueryRouteResponse,
  QueryRouteResponseSchema,
  type RecallMessageRequest,
  type RecallMessageResponse,
  RecallMessageResponseSchema,
  type ReceiveMessageRequest,
  type ReceiveMessageResponse,
  ReceiveMessageResponseSchema,
  type SendMessageRequest,
  type SendMessageResponse,
  SendMessageResponseSchema,
  type SendResultEntry,
  SendResultEntrySchema,
  type SyncLiteSubscriptionResponse,
  SyncLiteSubscriptionResponseSchema,
  type TelemetryCommand,
  TelemetryCommandSchema,
  type UpdateOffsetRequest,
  type UpdateOffsetResponse,
  UpdateOffsetResponseSchema,
} from "./gen/apache/rocketmq/v2/service_pb.ts";
import { GrpcClient } from "./grpc_client.ts";
import { type AutoRenewOptions, ReceiptRenewal } from "./receipt_renewal.ts";
import { readSentMessage, toV2Message } from "./_message.ts";
import { assignedQueuesOf, messageQueuesOf } from "./_routes.ts";
import { OK_STATUS, status, statusOf, statusOfCode } from "./_status.ts";

/** What a call carries besides its message: its headers and peer. */
export interface CallInfo {
  /** A request header (`x-mq-client-id`, `authorization`, …), or undefined. */
  header(name: string): string | undefined;
  /** The peer, `host:port`. */
  readonly peer: string;
}

/** The server end of a stream of responses. */
export interface ResponseStream<T> {
  write(message: T): void;
  end(): void;
  /** Whether the client went away. */
  readonly cancelled: boolean;
  /** Aborts when the client goes away (the call cancelled, its connection lost). */
  readonly signal: AbortSignal;
}

/** The server end of the Telemetry stream. */
export interface TelemetryStream extends ResponseStream<TelemetryCommand> {
  /** Calls back with each command the client sends, and once when its side ends. */
  onCommand(command: (command: TelemetryCommand) => void, end: () => void): void;
}

/** Options of `MessagingService`. */
export interface MessagingServiceOptions {
  /** The broker. */
  ctx: BrokerContext;
  /** The broker's processors by request code (as its dispatcher has them: counted, read-only on a slave). */
  // deno-lint-ignore no-explicit-any -- each processor has its own header type, as createDispatcher takes them
  processors: Readonly<Record<number, Processor<any>>>;
  /** `host:port` of this broker's gRPC port, as clients are told (known once the port is bound). */
  grpcAddress: () => string;
  /** The route of a topic from the NameServers, with each broker's gRPC address; undefined when none knows it. */
  route: (topic: string) => Promise<TopicRouteData | undefined>;
  /** Checks calls against the ACL (RocketMQ 5's signature over `x-mq-date-time`). @default none: ACL off */
  acl?: AclGuard;
  /** The broker forgets a client's connection (producers, consumers, locks) as it does a closed one. */
  clientClosed: (connection: Connection) => void;
  /** A client with no Telemetry stream and no call for this long is forgotten. @default 120000 */
  clientExpiryMs?: number;
  /** Auto-renew of push consumers' deliveries (RocketMQ 5 proxy's settings). @default the proxy's defaults */
  autoRenew?: AutoRenewOptions;
  /** Where log lines go. @default no logging */
  log?: Log;
}

/** A topic created on first use gets as many queues as the broker's template (`defaultTopicQueueNums`). */
const AUTO_CREATE_QUEUES = 1024;
/** How long a ReceiveMessage or PullMessage may hold. */
const MAX_POLL_MS = 120_000;
/** RocketMQ 5's retry policy for producers: immediate tries, then exponential backoff. */
const PRODUCER_BACKOFF = { initial: durationFromMs(10), max: durationFromMs(1000), multiplier: 2 };
/** The long-polling timeout a consumer is told when its settings name none (RocketMQ's proxy default). */
const LONG_POLLING_MS = 30_000;

/** The v2 backoff policy of a consumer group: its delivery attempts and retry policy. */
function groupBackoff(retryMaxTimes: number, policy: GroupRetryPolicy): RetryPolicy {
  return create(RetryPolicySchema, {
    maxAttempts: retryMaxTimes + 1,
    strategy: policy.type === "EXPONENTIAL"
      ? {
        case: "exponentialBackoff",
        value: { initial: durationFromMs(policy.initialBackoffMs), max: durationFromMs(policy.maxBackoffMs), multiplier: policy.multiplier },
      }
      : { case: "customizedBackoff", value: { next: policy.backoffMs.map(durationFromMs) } },
  });
}

/** The v2 transaction id of a half message: its offset message id and its queue offset in the half topic. */
function transactionIdOf(messageIdPrefix: string, commitLogOffset: number, queueOffset: number): string {
  return `${offsetMessageId(messageIdPrefix, commitLogOffset)}:${queueOffset}`;
}

/** The offsets a v2 transaction id names, or undefined when it is not one of ours. */
function readTransactionId(id: string): { commitLogOffset: number; tranStateTableOffset: number } | undefined {
  const at = id.lastIndexOf(":");
  if (at < 0) return undefined;
  const queueOffset = Number(id.slice(at + 1));
  if (!/^\d{1,16}$/.test(id.slice(at + 1)) || !Number.isSafeInteger(queueOffset)) return undefined;
  try {
    return { commitLogOffset: decodeOffsetMessageId(id.slice(0, at)).commitLogOffset, tranStateTableOffset: queueOffset };
  } catch {
    return undefined;
  }
}

/** The names of a resource, validated: a v2 resource may carry no namespace. */
function resourceName(resource: Resource | undefined, schema: typeof TopicName | typeof GroupName, what: string, code: Code): string | Status {
  const name = resource?.name ?? "";
  if ((resource?.resourceNamespace ?? "") !== "") return status(Code.UNSUPPORTED, `Namespaces are not supported (${what} names namespace "${resource!.resourceNamespace}")`);
  const checked = v.safeParse(schema, name);
  if (!checked.success) return status(code, `Invalid ${what} "${name.slice(0, 255)}": ${checked.issues[0].message}`);
  return name;
}

/** The v2 service over one broker. */
export class MessagingService {
  readonly #o: MessagingServiceOptions;
  readonly #ctx: BrokerContext;
  readonly #clients = new Map<string, GrpcClient>();
  readonly #log: Log;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #expiryMs: number;
  readonly #renewal: ReceiptRenewal;
  /** @param options The broker, routes, ACL, expiry and auto-renew. */
  constructor(options: MessagingServiceOptions) {
    this.#o = options;
    const ctx = options.ctx;
    this.#ctx = ctx;
    this.#log = options.log ?? (() => {});
    this.#expiryMs = options.clientExpiryMs ?? 120_000;
    this.#timer = setInterval(() => this.#expire(), Math.min(10_000, this.#expiryMs));
    (this.#timer as { unref?: () => void }).unref?.();
    this.#renewal = new ReceiptRenewal({
      changeInvisibleTime: (group, topic, handle, ms) => ctx.pop.changeInvisibleTime(group, topic, handle, ms),
      backoffMs: (group, attempt) => retryBackoffMs(ctx.groups.get(group).retryPolicy, attempt),
    }, options.autoRenew, this.#log);
  }

  /** How many push consumers' deliveries are being renewed now. */
  get renewing(): number {
    return this.#renewal.size;
  }

  /** The clients known now. */
  get clients(): ReadonlyMap<string, GrpcClient> {
    return this.#clients;
  }

  /** Forgets every client and stops the expiry timer and auto-renew (what was being renewed is visible again in a second). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#renewal.close();
    for (const client of [...this.#clients.values()]) client.close();
  }

  // ---- calls ----

  /**
   * QueryRoute: the topic's queues on every master that serves gRPC. A topic no NameServer knows
   * is created here when auto-creation is on and the account may publish to it (as a first send
   * would create it).
   */
  async queryRoute(request: QueryRouteRequest, call: CallInfo): Promise<QueryRouteResponse> {
    const answer = (s: Status, messageQueues: MessageQueue[] = []) => create(QueryRouteResponseSchema, { status: s, messageQueues });
    const topic = resourceName(request.topic, TopicName, "topic", Code.ILLEGAL_TOPIC);
    if (typeof topic !== "string") return answer(topic);
    const begun = await this.#begin(call, RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic });
    if ("refusal" in begun) return answer(begun.refusal);
    // Creating a topic is publishing's business: only an account that may publish to it does (as a first send would).
    const route = await this.#routeOf(topic, begun.access?.publish(topic) === undefined);
    if (typeof route === "string") return answer(status(Code.TOPIC_NOT_FOUND, route));
    const queues = messageQueuesOf(topic, route);
    if (queues.length === 0) return answer(status(Code.TOPIC_NOT_FOUND, `No broker that serves topic "${topic}" serves RocketMQ 5 (gRPC) clients`));
    return answer(OK_STATUS, queues);
  }

  /** Heartbeat: the client stays known; a producer stays a member of its topics' producer groups. */
  async heartbeat(request: HeartbeatRequest, call: CallInfo): Promise<HeartbeatResponse> {
    const begun = await this.#begin(call, RequestCode.HEART_BEAT, { clientId: call.header("x-mq-client-id") ?? "" });
    if ("refusal" in begun) return create(HeartbeatResponseSchema, { status: begun.refusal });
    const { client } = begun;
    if (request.clientType === ClientType.PRODUCER && client.settings !== undefined) {
      const reply = await this.#registerProducer(client, client.settings, begun.access);
      if (reply.code !== ResponseCode.SUCCESS) return create(HeartbeatResponseSchema, { status: statusOf(reply) });
    }
    return create(HeartbeatResponseSchema, { status: OK_STATUS });
  }

  /** SendMessage: each message through the broker's SEND_MESSAGE processor (half messages for transactions). */
  async sendMessage(request: SendMessageRequest, call: CallInfo): Promise<SendMessageResponse> {
    if (request.messages.length === 0) return create(SendMessageResponseSchema, { status: status(Code.BAD_REQUEST, "Request has no messages") });
    const topic = request.messages[0]!.topic?.name ?? "";
    const begun = await this.#begin(call, RequestCode.SEND_MESSAGE, { topic });
    if ("refusal" in begun) return create(SendMessageResponseSchema, { status: begun.refusal });
    const entries: SendResultEntry[] = [];
    let first: Status | undefined;
    for (const message of request.messages) {
      const entry = await this.#sendOne(begun.client, begun.access, message, topic);
      if (entry.status!.code !== Code.OK) first ??= entry.status;
      entries.push(entry);
    }
    return create(SendMessageResponseSchema, { status: first ?? OK_STATUS, entries });
  }

  async #sendOne(client: GrpcClient, access: Access | undefined, message: SendMessageRequest["messages"][number], topic: string): Promise<SendResultEntry> {
    const ctx = this.#ctx;
    const fail = (s: Status) => create(SendResultEntrySchema, { status: s });
    const sent = readSentMessage(message, ctx.maxMessageSize);
    if ("refusal" in sent) return fail(sent.refusal);
    if (sent.topic !== topic) return fail(status(Code.BAD_REQUEST, `Messages of one request go to one topic: "${topic}" and "${sent.topic}"`));
    const checked = v.safeParse(TopicName, topic);
    if (!checked.success) return fail(status(Code.ILLEGAL_TOPIC, `Invalid topic "${topic.slice(0, 255)}": ${checked.issues[0].message}`));
    if (topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)) return fail(status(Code.ILLEGAL_TOPIC, `Topic "${topic}" is a retry topic: send to the topic itself`));
    const refusal = refuseMessageType(topic, ctx.topics.get(topic)?.messageType, sent.type);
    if (refusal !== undefined) return fail(status(Code.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE, refusal));
    const transactional = sent.type === "TRANSACTION";
    const reply = await client.call(this.#proc(RequestCode.SEND_MESSAGE), RequestCode.SEND_MESSAGE, {
      producerGroup: transactional ? topic : "",
      topic,
      queueId: sent.queueId,
      bornTimestamp: sent.bornTimestamp,
      flag: 0,
      sysFlag: sent.sysFlag,
      properties: encodeProperties(sent.properties),
      reconsumeTimes: 0,
      defaultTopicQueueNums: AUTO_CREATE_QUEUES,
    }, { body: sent.body, ...(access === undefined ? {} : { access }) });
    if (reply.code !== ResponseCode.SUCCESS) return fail(statusOf(reply));
    const h = reply.header as { msgId: string; queueOffset: number; recallHandle?: string };
    return create(SendResultEntrySchema, {
      status: OK_STATUS,
      messageId: sent.messageId,
      offset: BigInt(h.queueOffset),
      ...(transactional ? { transactionId: transactionIdOf(ctx.store.messageIdPrefix, decodeOffsetMessageId(h.msgId).commitLogOffset, h.queueOffset) } : {}),
      ...(h.recallHandle === undefined ? {} : { recallHandle: h.recallHandle }),
    });
  }

  /** EndTransaction: END_TRANSACTION for the half message the transaction id names. */
  async endTransaction(request: EndTransactionRequest, call: CallInfo): Promise<EndTransactionResponse> {
    const answer = (s: Status) => create(EndTransactionResponseSchema, { status: s });
    const topic = resourceName(request.topic, TopicName, "topic", Code.ILLEGAL_TOPIC);
    if (typeof topic !== "string") return answer(topic);
    const at = readTransactionId(request.transactionId);
    if (at === undefined) return answer(status(Code.INVALID_TRANSACTION_ID, `Transaction id "${request.transactionId.slice(0, 128)}" was not issued by this broker`));
    const commitOrRollback = request.resolution === TransactionResolution.COMMIT ? 8 : request.resolution === TransactionResolution.ROLLBACK ? 12 : undefined;
    if (commitOrRollback === undefined) return answer(status(Code.BAD_REQUEST, "Resolution must be COMMIT or ROLLBACK"));
    const header: Header = {
      producerGroup: topic,
      topic,
      tranStateTableOffset: at.tranStateTableOffset,
      commitLogOffset: at.commitLogOffset,
      commitOrRollback,
      fromTransactionCheck: request.source === TransactionSource.SOURCE_SERVER_CHECK,
      transactionId: request.messageId,
    };
    const begun = await this.#begin(call, RequestCode.END_TRANSACTION, header);
    if ("refusal" in begun) return answer(begun.refusal);
    const reply = await begun.client.call(this.#proc(RequestCode.END_TRANSACTION), RequestCode.END_TRANSACTION, header, this.#with(begun.access));
    return answer(statusOf(reply));
  }

  /** RecallMessage: RECALL_MESSAGE with the handle a timer message's send answered. */
  async recallMessage(request: RecallMessageRequest, call: CallInfo): Promise<RecallMessageResponse> {
    const answer = (s: Status, messageId = "") => create(RecallMessageResponseSchema, { status: s, messageId });
    const topic = resourceName(request.topic, TopicName, "topic", Code.ILLEGAL_TOPIC);
    if (typeof topic !== "string") return answer(topic);
    const header = { producerGroup: "", topic, recallHandle: request.recallHandle };
    const begun = await this.#begin(call, RequestCode.RECALL_MESSAGE, header);
    if ("refusal" in begun) return answer(begun.refusal);
    const reply = await begun.client.call(this.#proc(RequestCode.RECALL_MESSAGE), RequestCode.RECALL_MESSAGE, header, this.#with(begun.access));
    return answer(statusOf(reply), reply.code === ResponseCode.SUCCESS ? request.recallHandle : "");
  }

  /** QueryAssignment: one queue (id -1, any of its queues) per master that serves the topic over gRPC. */
  async queryAssignment(request: QueryAssignmentRequest, call: CallInfo): Promise<QueryAssignmentResponse> {
    const answer = (s: Status, queues: MessageQueue[] = []) => create(QueryAssignmentResponseSchema, { status: s, assignments: queues.map((messageQueue) => ({ messageQueue })) });
    const topic = resourceName(request.topic, TopicName, "topic", Code.ILLEGAL_TOPIC);
    if (typeof topic !== "string") return answer(topic);
    const group = resourceName(request.group, GroupName, "consumer group", Code.ILLEGAL_CONSUMER_GROUP);
    if (typeof group !== "string") return answer(group);
    const begun = await this.#begin(call, RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: group, topic, queueId: 0 });
    if ("refusal" in begun) return answer(begun.refusal);
    const route = await this.#routeOf(topic, false);
    if (typeof route === "string") return answer(status(Code.TOPIC_NOT_FOUND, route));
    return answer(OK_STATUS, assignedQueuesOf(topic, route));
  }

  /**
   * ReceiveMessage: POP_MESSAGE from any of the topic's queues on this broker (the queue a client
   * names only picks the broker: its SimpleConsumer rotates over the route's queues, and a pop of
   * one would long-poll an empty queue while others hold messages, so RocketMQ's proxy pops the
   * broker too), held up to the long-polling timeout while nothing is deliverable; FIFO for a FIFO
   * group. Answers a status, then the messages (each with its receipt handle and delivery
   * attempt), then the delivery timestamp — the order RocketMQ's proxy writes them in.
   */
  async receiveMessage(request: ReceiveMessageRequest, call: CallInfo, stream: ResponseStream<ReceiveMessageResponse>): Promise<void> {
    const write = (content: ReceiveMessageResponse["content"]) => {
      if (!stream.cancelled) stream.write(create(ReceiveMessageResponseSchema, { content }));
    };
    const finish = (s: Status) => {
      write({ case: "status", value: s });
      stream.end();
    };
    const group = resourceName(request.group, GroupName, "consumer group", Code.ILLEGAL_CONSUMER_GROUP);
    if (typeof group !== "string") return finish(group);
    const target = this.#queue(request.messageQueue, true);
    if ("refusal" in target) return finish(target.refusal);
    const holdMs = request.longPollingTimeout === undefined ? 0 : durationMs(request.longPollingTimeout);
    if (!(holdMs >= 0 && holdMs <= MAX_POLL_MS)) return finish(status(Code.ILLEGAL_POLLING_TIME, `Long-polling timeout must be 0 to ${MAX_POLL_MS} ms`));
    // A push consumer's receive: the proxy's invisible time, renewed while the client consumes.
    const invisibleMs = request.autoRenew ? this.#renewal.invisibleMs : request.invisibleDuration !== undefined ? durationMs(request.invisibleDuration) : NaN;
    if (!(invisibleMs >= MIN_INVISIBLE_TIME_MS && invisibleMs <= MAX_INVISIBLE_TIME_MS)) {
      return finish(status(Code.ILLEGAL_INVISIBLE_TIME, `Invisible duration must be ${MIN_INVISIBLE_TIME_MS} to ${MAX_INVISIBLE_TIME_MS} ms (or auto-renew)`));
    }
    if (!Number.isSafeInteger(request.batchSize) || request.batchSize < 1) return finish(status(Code.BAD_REQUEST, `Batch size ${request.batchSize} must be at least 1`));
    const filter = request.filterExpression;
    const header: Header = {
      consumerGroup: group,
      topic: target.topic,
      queueId: -1,
      maxMsgNums: Math.min(request.batchSize, MAX_POP_BATCH),
      invisibleTime: Math.round(invisibleMs),
      pollTime: Math.round(holdMs),
      bornTime: Date.now(),
      // A group's first receive starts at the queue's first message (as RocketMQ does for a queue still in memory).
      initMode: 0,
      expType: filter?.type === FilterType.SQL ? "SQL92" : "TAG",
      exp: filter?.expression || "*",
      order: this.#ctx.groups.get(group).consumeMessageOrderly,
    };
    const begun = await this.#begin(call, RequestCode.POP_MESSAGE, header);
    if ("refusal" in begun) return finish(begun.refusal);
    // A receive cancelled while its pop is parked takes nothing and frees its wait slot at once.
    const reply = await begun.client.call(this.#proc(RequestCode.POP_MESSAGE), RequestCode.POP_MESSAGE, header, { ...this.#with(begun.access), signal: stream.signal });
    if (reply.code === ResponseCode.POLLING_TIMEOUT || reply.code === ResponseCode.PULL_NOT_FOUND) return finish(status(Code.MESSAGE_NOT_FOUND, "No new message"));
    if (reply.code !== ResponseCode.SUCCESS) return finish(statusOf(reply));
    const h = reply.header as unknown as { handles: string[]; attempts: number[]; popTime: number; invisibleTime: number };
    if (stream.cancelled) {
      // The client went away while the pop waited: what it took is visible again at once.
      for (const handle of h.handles) void this.#ctx.pop.changeInvisibleTime(group, target.topic, handle, MIN_INVISIBLE_TIME_MS).catch(() => {});
      return;
    }
    write({ case: "status", value: OK_STATUS });
    const invisibleDuration = durationFromMs(h.invisibleTime);
    decodeRecords(reply.body ?? new Uint8Array(0)).forEach((record, i) => {
      // A redelivery is read from the group's retry topic: it is named by the topic received from.
      const message = toV2Message(record, target.topic);
      const sys = message.systemProperties!;
      sys.receiptHandle = h.handles[i]!;
      sys.deliveryAttempt = h.attempts[i]!;
      sys.invisibleDuration = invisibleDuration;
      write({ case: "message", value: message });
      if (request.autoRenew) {
        this.#renewal.track(begun.client.clientId, { group, topic: target.topic, handle: h.handles[i]!, popTime: h.popTime, invisibleTime: h.invisibleTime, attempt: h.attempts[i]! });
      }
    });
    write({ case: "deliveryTimestamp", value: timestampFromMs(Date.now()) });
    stream.end();
  }

  /** AckMessage: BATCH_ACK_MESSAGE of the entries' receipt handles; each entry gets its own status. */
  async ackMessage(request: AckMessageRequest, call: CallInfo): Promise<AckMessageResponse> {
    const answer = (s: Status, entries: AckMessageResultEntry[] = []) => create(AckMessageResponseSchema, { status: s, entries });
    const target = this.#groupTopic(request.group, request.topic);
    if ("refusal" in target) return answer(target.refusal);
    if (request.entries.length === 0) return answer(status(Code.BAD_REQUEST, "Request has no entries"));
    const header = { consumerGroup: target.group, topic: target.topic, extraInfos: request.entries.map((e) => e.receiptHandle) };
    const begun = await this.#begin(call, RequestCode.BATCH_ACK_MESSAGE, header);
    if ("refusal" in begun) return answer(begun.refusal);
    // A renewed delivery is acked with its current handle.
    header.extraInfos = await Promise.all(header.extraInfos.map((handle) => this.#renewal.settle(target.group, handle)));
    const reply = await begun.client.call(this.#proc(RequestCode.BATCH_ACK_MESSAGE), RequestCode.BATCH_ACK_MESSAGE, header, this.#with(begun.access));
    if (reply.code !== ResponseCode.SUCCESS) return answer(statusOf(reply));
    const failed = new Map((reply.header as { failed: { index: number; code: number; remark: string }[] }).failed.map((f) => [f.index, f]));
    const entries = request.entries.map((entry, index) => {
      const f = failed.get(index);
      return create(AckMessageResultEntrySchema, {
        messageId: entry.messageId,
        receiptHandle: entry.receiptHandle,
        status: f === undefined ? OK_STATUS : statusOfCode(f.code, f.remark),
      });
    });
    // One code for all entries is the call's; mixed outcomes are MULTIPLE_RESULTS, as RocketMQ's proxy answers.
    const codes = new Set(entries.map((e) => e.status!.code));
    return answer(codes.size === 1 ? entries[0]!.status! : status(Code.MULTIPLE_RESULTS, `${failed.size} of ${entries.length} entries were refused`), entries);
  }

  /**
   * ChangeInvisibleDuration: CHANGE_MESSAGE_INVISIBLETIME; the answer's receipt handle replaces the
   * old one. A duration under the broker's minimum (a push consumer's nack without backoff) is the minimum.
   */
  async changeInvisibleDuration(request: ChangeInvisibleDurationRequest, call: CallInfo): Promise<ChangeInvisibleDurationResponse> {
    const answer = (s: Status, receiptHandle = "") => create(ChangeInvisibleDurationResponseSchema, { status: s, receiptHandle });
    const target = this.#groupTopic(request.group, request.topic);
    if ("refusal" in target) return answer(target.refusal);
    const ms = request.invisibleDuration === undefined ? NaN : durationMs(request.invisibleDuration);
    if (!(ms >= 0 && ms <= MAX_INVISIBLE_TIME_MS)) return answer(status(Code.ILLEGAL_INVISIBLE_TIME, `Invisible duration must be 0 to ${MAX_INVISIBLE_TIME_MS} ms`));
    const header = {
      consumerGroup: target.group,
      topic: target.topic,
      extraInfo: request.receiptHandle,
      invisibleTime: Math.max(MIN_INVISIBLE_TIME_MS, Math.round(ms)),
    };
    const begun = await this.#begin(call, RequestCode.CHANGE_MESSAGE_INVISIBLETIME, header);
    if ("refusal" in begun) return answer(begun.refusal);
    header.extraInfo = await this.#renewal.settle(target.group, header.extraInfo);
    const code = RequestCode.CHANGE_MESSAGE_INVISIBLETIME;
    const reply = await begun.client.call(this.#proc(code), code, header, this.#with(begun.access));
    if (reply.code !== ResponseCode.SUCCESS) return answer(statusOf(reply));
    return answer(OK_STATUS, (reply.header as { extraInfo: string }).extraInfo);
  }

  /**
   * ForwardMessageToDeadLetterQueue: the delivery goes to the group's dead-letter topic now (a FIFO
   * push consumer that ran out of attempts); its handle is spent. Needs the rights of an ack.
   */
  async forwardMessageToDeadLetterQueue(request: ForwardMessageToDeadLetterQueueRequest, call: CallInfo): Promise<ForwardMessageToDeadLetterQueueResponse> {
    const answer = (s: Status) => create(ForwardMessageToDeadLetterQueueResponseSchema, { status: s });
    const target = this.#groupTopic(request.group, request.topic);
    if ("refusal" in target) return answer(target.refusal);
    const header = { consumerGroup: target.group, topic: target.topic, extraInfo: request.receiptHandle };
    const begun = await this.#begin(call, RequestCode.ACK_MESSAGE, header);
    if ("refusal" in begun) return answer(begun.refusal);
    const ctx = this.#ctx;
    if (ctx.brokerId !== 0) return answer(status(Code.FORBIDDEN, `Broker "${ctx.brokerName}" slave ${ctx.brokerId} is read-only: consume through the master`));
    try {
      await ctx.pop.deadLetter(target.group, target.topic, await this.#renewal.settle(target.group, request.receiptHandle));
    } catch (error) {
      if (error instanceof PopRefusal) return answer(statusOfCode(error.code, error.message));
      throw error;
    }
    return answer(OK_STATUS);
  }

  /** SyncLiteSubscription: lite topics are not supported. */
  syncLiteSubscription(): SyncLiteSubscriptionResponse {
    return create(SyncLiteSubscriptionResponseSchema, { status: status(Code.UNSUPPORTED, "Lite topics are not supported") });
  }

  /** NotifyClientTermination: the broker forgets the client (its producer groups, its streams). */
  async notifyClientTermination(_request: unknown, call: CallInfo): Promise<NotifyClientTerminationResponse> {
    const clientId = call.header("x-mq-client-id");
    const begun = await this.#begin(call, RequestCode.HEART_BEAT, { clientId: clientId ?? "" });
    if ("refusal" in begun) return create(NotifyClientTerminationResponseSchema, { status: begun.refusal });
    begun.client.close();
    return create(NotifyClientTerminationResponseSchema, { status: OK_STATUS });
  }

  /** GetOffset: the group's committed offset of a queue of this broker. */
  async getOffset(request: GetOffsetRequest, call: CallInfo): Promise<GetOffsetResponse> {
    const answer = (s: Status, offset = 0) => create(GetOffsetResponseSchema, { status: s, offset: BigInt(offset) });
    const target = this.#groupQueue(request.group, request.messageQueue);
    if ("refusal" in target) return answer(target.refusal);
    const header = { consumerGroup: target.group, topic: target.topic, queueId: target.queueId };
    const begun = await this.#begin(call, RequestCode.QUERY_CONSUMER_OFFSET, header);
    if ("refusal" in begun) return answer(begun.refusal);
    const reply = await begun.client.call(this.#proc(RequestCode.QUERY_CONSUMER_OFFSET), RequestCode.QUERY_CONSUMER_OFFSET, header, this.#with(begun.access));
    if (reply.code === ResponseCode.QUERY_NOT_FOUND) return answer(status(Code.OFFSET_NOT_FOUND, reply.remark ?? "No offset"));
    return answer(statusOf(reply), reply.code === ResponseCode.SUCCESS ? (reply.header as { offset: number }).offset : 0);
  }

  /** UpdateOffset: commits the group's offset of a queue of this broker. */
  async updateOffset(request: UpdateOffsetRequest, call: CallInfo): Promise<UpdateOffsetResponse> {
    const answer = (s: Status) => create(UpdateOffsetResponseSchema, { status: s });
    const target = this.#groupQueue(request.group, request.messageQueue);
    if ("refusal" in target) return answer(target.refusal);
    const offset = Number(request.offset);
    if (!Number.isSafeInteger(offset) || offset < 0) return answer(status(Code.ILLEGAL_OFFSET, `Offset ${request.offset} is out of range`));
    const header = { consumerGroup: target.group, topic: target.topic, queueId: target.queueId, commitOffset: offset };
    const begun = await this.#begin(call, RequestCode.UPDATE_CONSUMER_OFFSET, header);
    if ("refusal" in begun) return answer(begun.refusal);
    return answer(statusOf(await begun.client.call(this.#proc(RequestCode.UPDATE_CONSUMER_OFFSET), RequestCode.UPDATE_CONSUMER_OFFSET, header, this.#with(begun.access))));
  }

  /** QueryOffset: a queue's first or next offset, or the first stored at or after a time. */
  async queryOffset(request: QueryOffsetRequest, call: CallInfo): Promise<QueryOffsetResponse> {
    const answer = (s: Status, offset = 0) => create(QueryOffsetResponseSchema, { status: s, offset: BigInt(offset) });
    const target = this.#queue(request.messageQueue);
    if ("refusal" in target) return answer(target.refusal);
    const base = { topic: target.topic, queueId: target.queueId };
    // QueryOffsetPolicy: BEGINNING 0, END 1, TIMESTAMP 2.
    const [code, header] = request.queryOffsetPolicy === 2
      ? [RequestCode.SEARCH_OFFSET_BY_TIMESTAMP, { ...base, timestamp: request.timestamp === undefined ? 0 : Math.max(0, timestampMs(request.timestamp)) }] as const
      : request.queryOffsetPolicy === 1
      ? [RequestCode.GET_MAX_OFFSET, base] as const
      : [RequestCode.GET_MIN_OFFSET, base] as const;
    const begun = await this.#begin(call, code, header);
    if ("refusal" in begun) return answer(begun.refusal);
    const reply = await begun.client.call(this.#proc(code), code, header, this.#with(begun.access));
    return answer(statusOf(reply), reply.code === ResponseCode.SUCCESS ? (reply.header as { offset: number }).offset : 0);
  }

  /** PullMessage: PULL_MESSAGE from an offset (held up to the long-polling timeout): the messages, the next offset, then the status. */
  async pullMessage(request: PullMessageRequest, call: CallInfo, stream: ResponseStream<PullMessageResponse>): Promise<void> {
    const finish = (s: Status) => {
      if (!stream.cancelled) stream.write(create(PullMessageResponseSchema, { content: { case: "status", value: s } }));
      stream.end();
    };
    const target = this.#groupQueue(request.group, request.messageQueue);
    if ("refusal" in target) return finish(target.refusal);
    const offset = Number(request.offset);
    if (!Number.isSafeInteger(offset) || offset < 0) return finish(status(Code.ILLEGAL_OFFSET, `Offset ${request.offset} is out of range`));
    const holdMs = request.longPollingTimeout === undefined ? 0 : durationMs(request.longPollingTimeout);
    if (!(holdMs >= 0 && holdMs <= MAX_POLL_MS)) return finish(status(Code.ILLEGAL_POLLING_TIME, `Long-polling timeout must be 0 to ${MAX_POLL_MS} ms`));
    const filter = request.filterExpression;
    const header: Header = {
      consumerGroup: target.group,
      topic: target.topic,
      queueId: target.queueId,
      queueOffset: offset,
      maxMsgNums: Math.min(Math.max(1, request.batchSize || 32), this.#ctx.maxPullBatchSize),
      sysFlag: holdMs > 0 ? PullSysFlag.SUSPEND : 0,
      suspendTimeoutMillis: holdMs,
      subscription: filter?.expression || "*",
      expressionType: filter?.type === FilterType.SQL ? "SQL92" : "TAG",
    };
    const begun = await this.#begin(call, RequestCode.PULL_MESSAGE, header);
    if ("refusal" in begun) return finish(begun.refusal);
    const reply = await begun.client.call(this.#proc(RequestCode.PULL_MESSAGE), RequestCode.PULL_MESSAGE, header, this.#with(begun.access));
    const h = reply.header as { nextBeginOffset?: number } | undefined;
    if (reply.code === ResponseCode.SUCCESS && reply.body !== undefined) {
      for (const message of decodeRecords(reply.body)) {
        if (stream.cancelled) return;
        stream.write(create(PullMessageResponseSchema, { content: { case: "message", value: toV2Message(message) } }));
      }
    }
    if (typeof h?.nextBeginOffset === "number" && !stream.cancelled) {
      stream.write(create(PullMessageResponseSchema, { content: { case: "nextOffset", value: BigInt(h.nextBeginOffset) } }));
    }
    switch (reply.code) {
      case ResponseCode.SUCCESS:
        return finish(OK_STATUS);
      case ResponseCode.PULL_NOT_FOUND:
      case ResponseCode.PULL_RETRY_IMMEDIATELY:
        return finish(status(Code.MESSAGE_NOT_FOUND, "No new message"));
      case ResponseCode.PULL_OFFSET_MOVED:
        return finish(status(Code.ILLEGAL_OFFSET, `Offset ${offset} is outside the queue: pull from the next offset given`));
      default:
        return finish(statusOf(reply));
    }
  }

  /**
   * Telemetry: the client's settings in, the broker's settings out; the broker's check-backs of
   * unresolved transactions go out as RecoverOrphanedTransactionCommand.
   */
  async telemetry(call: CallInfo, stream: TelemetryStream): Promise<void> {
    const begun = await this.#begin(call, RequestCode.HEART_BEAT, { clientId: call.header("x-mq-client-id") ?? "" });
    if ("refusal" in begun) {
      stream.write(create(TelemetryCommandSchema, { status: begun.refusal }));
      stream.end();
      return;
    }
    const { client, account } = begun;
    const sink = (command: TelemetryCommand) => {
      if (!stream.cancelled) stream.write(command);
    };
    client.streams.add(sink);
    stream.onCommand((command) => {
      client.lastSeen = Date.now();
      if (command.command.case !== "settings") return;
      void this.#settings(client, account, command.command.value).then(sink, (error) => {
        this.#log(`gRPC: settings of client "${client.clientId}" failed: ${(error as Error).message}`, "error");
        sink(create(TelemetryCommandSchema, { status: status(Code.INTERNAL_SERVER_ERROR, (error as Error).message) }));
      });
    }, () => {
      client.streams.delete(sink);
      stream.end();
    });
  }

  /** Applies a client's settings and answers with the broker's. */
  async #settings(client: GrpcClient, account: AclAccount | undefined, settings: Settings): Promise<TelemetryCommand> {
    const answer = (s: Status, value?: Settings) =>
      create(TelemetryCommandSchema, { status: s, ...(value === undefined ? {} : { command: { case: "settings", value } }) });
    const ctx = this.#ctx;
    switch (settings.pubSub.case) {
      case "publishing": {
        client.settings = settings;
        const access = account === undefined ? undefined : this.#o.acl!.authorize(account, RequestCode.HEART_BEAT, { clientId: client.clientId });
        if (access !== undefined && "denial" in access) return answer(status(Code.FORBIDDEN, access.denial.remark));
        const reply = await this.#registerProducer(client, settings, access?.access);
        if (reply.code !== ResponseCode.SUCCESS) return answer(statusOf(reply));
        return answer(OK_STATUS, create(SettingsSchema, {
          clientType: settings.clientType,
          backoffPolicy: { maxAttempts: settings.backoffPolicy?.maxAttempts || 3, strategy: { case: "exponentialBackoff", value: PRODUCER_BACKOFF } },
          requestTimeout: settings.requestTimeout ?? durationFromMs(3000),
          pubSub: { case: "publishing", value: { topics: settings.pubSub.value.topics, maxBodySize: ctx.maxMessageSize, validateMessageType: true } },
        }));
      }
      case "subscription": {
        client.settings = settings;
        const sub = settings.pubSub.value;
        const name = sub.group?.name ?? "";
        // The group's own settings, as RocketMQ's proxy tells them: FIFO, attempts, backoff.
        const group = ctx.groups.get(v.is(GroupName, name) ? name : "");
        const pollMs = sub.longPollingTimeout === undefined ? LONG_POLLING_MS : Math.min(Math.max(0, durationMs(sub.longPollingTimeout)), MAX_POLL_MS);
        return answer(OK_STATUS, create(SettingsSchema, {
          clientType: settings.clientType,
          backoffPolicy: groupBackoff(group.retryMaxTimes, group.retryPolicy),
          requestTimeout: settings.requestTimeout ?? durationFromMs(3000),
          pubSub: {
            case: "subscription",
            value: {
              ...(sub.group === undefined ? {} : { group: sub.group }),
              subscriptions: sub.subscriptions,
              fifo: group.consumeMessageOrderly,
              receiveBatchSize: MAX_POP_BATCH,
              longPollingTimeout: durationFromMs(pollMs),
            },
          },
        }));
      }
      default:
        return answer(status(Code.UNRECOGNIZED_CLIENT_TYPE, "Settings name neither publishing nor subscription"));
    }
  }

  /**
   * A RocketMQ 5 producer names no producer group: it is a member of the group named after each
   * topic it publishes to, and takes the check-backs of those topics' transactions. Under ACL only
   * the groups its account may use: without one it can still send, but not transactions.
   */
  #registerProducer(client: GrpcClient, settings: Settings, access: Access | undefined): Promise<Reply> {
    const topics = settings.pubSub.case === "publishing" ? settings.pubSub.value.topics : [];
    const ua = settings.userAgent;
    const header = {
      clientId: client.clientId,
      runtime: ua === undefined ? "gRPC" : `gRPC ${ua.version}`.slice(0, 100),
      producerGroups: [...new Set(topics.map((t) => t.name))].filter((name) => v.is(GroupName, name) && access?.group(name) === undefined),
    };
    return client.call(this.#proc(RequestCode.HEART_BEAT), RequestCode.HEART_BEAT, header, this.#with(access));
  }

  // ---- the broker's requests to clients ----

  /** CHECK_TRANSACTION_STATE: pushed to the producer as RecoverOrphanedTransactionCommand on its newest Telemetry stream. */
  #brokerRequest(client: GrpcClient, request: Command): boolean {
    if (request.code !== RequestCode.CHECK_TRANSACTION_STATE || request.body === undefined) return false;
    const header = v.safeParse(CheckTransactionStateHeader, request.header);
    if (!header.success) return false;
    const sink = [...client.streams].at(-1);
    if (sink === undefined) return false;
    let message;
    try {
      message = toV2Message(decodeRecord(request.body, 0), header.output.topic);
    } catch (error) {
      this.#log(`gRPC: cannot decode the half message of transaction "${header.output.transactionId}": ${(error as Error).message}`, "error");
      return false;
    }
    sink(create(TelemetryCommandSchema, {
      status: OK_STATUS,
      command: {
        case: "recoverOrphanedTransactionCommand",
        value: {
          message,
          transactionId: transactionIdOf(this.#ctx.store.messageIdPrefix, header.output.commitLogOffset, header.output.tranStateTableOffset),
        },
      },
    }));
    return true;
  }

  // ---- helpers ----

  /** The broker's processor of a request code (the one its remoting clients reach). */
  #proc(code: number): Processor<unknown> {
    const proc = this.#o.processors[code];
    if (proc === undefined) throw new Error(`The broker has no processor of request code ${code}`);
    return proc;
  }

  #with(access: Access | undefined): { access?: Access } {
    return access === undefined ? {} : { access };
  }

  /**
   * Authenticates a call (ACL on), checks the rights of the request it maps to, and finds its client.
   */
  async #begin(
    call: CallInfo,
    code: number,
    header: Header,
  ): Promise<{ refusal: Status } | { client: GrpcClient; access: Access | undefined; account: AclAccount | undefined }> {
    const clientId = call.header("x-mq-client-id");
    if (clientId === undefined || clientId === "" || clientId.length > 255) {
      return { refusal: status(Code.CLIENT_ID_REQUIRED, 'Header "x-mq-client-id" is required (1 to 255 characters)') };
    }
    let access: Access | undefined;
    let account: AclAccount | undefined;
    const acl = this.#o.acl;
    if (acl !== undefined) {
      const who = await acl.authenticateRocketmq5({ authorization: call.header("authorization"), dateTime: call.header("x-mq-date-time") });
      if ("denial" in who) return { refusal: status(Code.UNAUTHORIZED, who.denial.remark) };
      account = who.account;
      const may = acl.authorize(account, code, header);
      if ("denial" in may) return { refusal: status(Code.FORBIDDEN, may.denial.remark) };
      access = may.access;
    }
    let client = this.#clients.get(clientId);
    if (client !== undefined && account !== undefined && client.owner !== undefined && client.owner !== account.accessKey && !account.admin) {
      return { refusal: status(Code.FORBIDDEN, `Account "${account.accessKey}" may not act for client "${clientId}": another account registered it`) };
    }
    if (client === undefined || client.closed) {
      client = new GrpcClient({
        clientId,
        remoteAddress: call.peer,
        onBrokerRequest: (c, request) => this.#brokerRequest(c, request),
        drop: (request) => this.#ctx.holds.drop(request),
        onClose: (c) => {
          if (this.#clients.get(c.clientId) === c) this.#clients.delete(c.clientId);
          void this.#renewal.clear(c.clientId);
          this.#o.clientClosed(c.connection);
        },
      });
      this.#clients.set(clientId, client);
    }
    client.owner ??= account?.accessKey;
    client.lastSeen = Date.now();
    return { client, access, account };
  }

  /**
   * The route of a topic: the NameServers' with this broker's own queues as its topic table has
   * them now (a topic created a moment ago, before re-registration). `create` makes an unknown
   * topic here when auto-creation is on.
   */
  async #routeOf(topic: string, create: boolean): Promise<TopicRouteData | string> {
    const ctx = this.#ctx;
    if (SYSTEM_TOPICS.has(topic)) return `Topic "${topic}" is reserved for the broker`;
    let route: TopicRouteData | undefined;
    try {
      route = await this.#o.route(topic);
    } catch (error) {
      this.#log(`gRPC: cannot ask the NameServers for the route of "${topic}": ${(error as Error).message}`, "warn");
    }
    let local = ctx.topics.get(topic);
    if (local === undefined && route === undefined && create && ctx.topics.autoCreateTopicEnable && ctx.brokerId === 0) {
      const made = await ctx.topics.autoCreate(topic, AUTO_CREATE_QUEUES);
      if (made !== undefined && "remark" in made) return made.remark;
      local = made;
    }
    if (local === undefined || ctx.brokerId !== 0) return route ?? `Topic "${topic}" does not exist`;
    const own = {
      brokerName: ctx.brokerName,
      readQueueNums: local.readQueueNums,
      writeQueueNums: local.writeQueueNums,
      perm: local.perm,
      ...(local.messageType === undefined ? {} : { messageType: local.messageType }),
    };
    const others = route === undefined ? { queueDatas: [], brokerDatas: [] } : {
      queueDatas: route.queueDatas.filter((q) => q.brokerName !== ctx.brokerName),
      brokerDatas: route.brokerDatas.filter((b) => b.brokerName !== ctx.brokerName),
    };
    const brokerAddrs: Record<string, string> = { "0": ctx.advertisedAddress };
    return {
      queueDatas: [...others.queueDatas, own],
      brokerDatas: [...others.brokerDatas, { cluster: ctx.clusterName, brokerName: ctx.brokerName, brokerAddrs, grpcAddrs: { "0": this.#o.grpcAddress() } }],
    };
  }

  /** A queue of this broker a request names (id -1, any of its queues, where `any` allows it). */
  #queue(queue: MessageQueue | undefined, any = false): { refusal: Status } | { topic: string; queueId: number } {
    if (queue === undefined) return { refusal: status(Code.BAD_REQUEST, "Request names no message queue") };
    const topic = resourceName(queue.topic, TopicName, "topic", Code.ILLEGAL_TOPIC);
    if (typeof topic !== "string") return { refusal: topic };
    const brokerName = queue.broker?.name ?? "";
    if (brokerName !== "" && brokerName !== this.#ctx.brokerName) {
      return { refusal: status(Code.BAD_REQUEST, `Queue ${queue.id} of topic "${topic}" is on broker "${brokerName}", not on "${this.#ctx.brokerName}": ask its endpoints`) };
    }
    if (!Number.isSafeInteger(queue.id) || queue.id < (any ? -1 : 0)) return { refusal: status(Code.BAD_REQUEST, `Queue id ${queue.id} is not a queue of topic "${topic}"`) };
    return { topic, queueId: queue.id };
  }

  #groupQueue(group: Resource | undefined, queue: MessageQueue | undefined): { refusal: Status } | { group: string; topic: string; queueId: number } {
    const name = resourceName(group, GroupName, "consumer group", Code.ILLEGAL_CONSUMER_GROUP);
    if (typeof name !== "string") return { refusal: name };
    const target = this.#queue(queue);
    return "refusal" in target ? target : { group: name, ...target };
  }

  #groupTopic(group: Resource | undefined, topic: Resource | undefined): { refusal: Status } | { group: string; topic: string } {
    const groupName = resourceName(group, GroupName, "consumer group", Code.ILLEGAL_CONSUMER_GROUP);
    if (typeof groupName !== "string") return { refusal: groupName };
    const topicName = resourceName(topic, TopicName, "topic", Code.ILLEGAL_TOPIC);
    if (typeof topicName !== "string") return { refusal: topicName };
    return { group: groupName, topic: topicName };
  }

  /** Forgets clients with no Telemetry stream that made no call for `clientExpiryMs`. */
  #expire(): void {
    const oldest = Date.now() - this.#expiryMs;
    for (const client of [...this.#clients.values()]) {
      if (client.streams.size === 0 && client.lastSeen < oldest) {
        this.#log(`gRPC: client "${client.clientId}" expired`, "debug");
        client.close();
      }
    }
  }
}
