/**
 * The valibot schemas of the HTTP gateway: what it validates every path, query, header and body
 * with, and what its answers look like. The OpenAPI document is generated from these
 * (`_spec.ts`), and the tests check answers against them.
 *
 * @module
 */
import * as v from "valibot";
import { checkDedupId } from "../../../core/model/dedup_id.ts";
import { GroupName, InvisibleTime, TopicName } from "../../../core/protocol/headers.ts";
import { MAX_POP_BATCH } from "../../broker/pop/pop_service.ts";
import { integerParam } from "../_http.ts";
import { Keys } from "../messages.ts";

/** Most messages one batch produce takes. */
export const MAX_BATCH = 1024;
/** Most receipt handles one ack takes. */
export const MAX_ACK_BATCH = 1024;
/** Longest long poll of a receive, ms. */
export const MAX_WAIT_MS = 30_000;

const Tag = v.pipe(v.string(), v.maxLength(255), v.regex(/^[^|\s]*$/, "a tag may not contain spaces or '|'"));
const Properties = v.pipe(
  v.record(v.pipe(v.string(), v.minLength(1), v.maxLength(255)), v.pipe(v.string(), v.maxLength(32767))),
  v.description("User properties, name to value"),
);
const IdempotencyKey = v.pipe(
  v.string(),
  v.check((id) => checkDedupId(id) === undefined, (issue) => checkDedupId(issue.input)!),
  v.description("Stored once per topic within the broker's dedup window (dedupWindowMs); a repeat answers with the first send's place and duplicate: true"),
);
const MessageGroup = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(1024),
  v.regex(/^[^\u0001\u0002]*$/, "may not contain the characters U+0001 or U+0002"),
  v.description("FIFO message group (__SHARDINGKEY): a group's messages go to one queue and a FIFO consumer group gets one of them at a time"),
);
const DelayMs = v.pipe(v.number(), v.safeInteger("expected a whole number of ms"), v.minValue(0), v.description("Deliver this many ms from now (a timer message)"));
const Iso = v.pipe(v.string(), v.check((t) => !Number.isNaN(Date.parse(t)), "expected an ISO 8601 time"), v.transform((t) => Date.parse(t)));
const DeliverAt = v.pipe(
  v.union([v.pipe(v.number(), v.safeInteger(), v.minValue(0)), Iso], "expected ms since the epoch or an ISO 8601 time"),
  v.description("Deliver at this time: ms since the epoch or an ISO 8601 time (a timer message)"),
);

/** Path parameters naming a topic. */
export const TopicPath = v.object({ topic: TopicName });
/** Path parameters naming a consumer group and a topic. */
export const GroupTopicPath = v.object({ group: GroupName, topic: TopicName });
/** Path parameters naming a consumer group. */
export const GroupPath = v.object({ group: GroupName });

/** One message to produce, as JSON. */
export const MessageInput = v.pipe(
  v.object({
    body: v.pipe(v.string(), v.minLength(1, "must not be empty"), v.description("The body: text, or base64 with encoding \"base64\"")),
    encoding: v.optional(v.picklist(["utf8", "base64"]), "utf8"),
    tags: v.optional(Tag),
    keys: v.optional(Keys),
    properties: v.optional(Properties),
    delayMs: v.optional(DelayMs),
    deliverAt: v.optional(DeliverAt),
    messageGroup: v.optional(MessageGroup),
    idempotencyKey: v.optional(IdempotencyKey),
  }),
  v.check((m) => m.delayMs === undefined || m.deliverAt === undefined, "a message takes delayMs or deliverAt, not both"),
);
export type MessageInput = v.InferOutput<typeof MessageInput>;

/** A batch of messages to produce, as JSON. */
export const BatchInput = v.object({
  messages: v.pipe(v.array(MessageInput), v.minLength(1, "must hold at least one message"), v.maxLength(MAX_BATCH, `must hold at most ${MAX_BATCH} messages`)),
});

/** A raw body's message settings, in the query (or the matching `X-Rmq-*` headers, see `RawHeaders`). */
export const RawQuery = v.object({
  tags: v.optional(Tag),
  keys: v.optional(v.pipe(Keys, v.description("Space-separated keys"))),
  delayMs: v.optional(v.pipe(integerParam(0), v.description("Deliver this many ms from now"))),
  deliverAt: v.optional(v.pipe(v.union([integerParam(0), Iso], "expected ms since the epoch or an ISO 8601 time"), v.description("Deliver at this time"))),
  messageGroup: v.optional(MessageGroup),
  idempotencyKey: v.optional(IdempotencyKey),
});

/** Headers of a raw produce, each the same as a `RawQuery` field (a field given both ways must agree). */
export const RawHeaders = v.object({
  "idempotency-key": v.optional(v.pipe(v.string(), v.description("As the idempotencyKey query parameter"))),
  "x-rmq-tags": v.optional(v.pipe(v.string(), v.description("As the tags query parameter"))),
  "x-rmq-keys": v.optional(v.pipe(v.string(), v.description("As the keys query parameter"))),
  "x-rmq-delay-ms": v.optional(v.pipe(v.string(), v.description("As the delayMs query parameter"))),
  "x-rmq-deliver-at": v.optional(v.pipe(v.string(), v.description("As the deliverAt query parameter"))),
  "x-rmq-message-group": v.optional(v.pipe(v.string(), v.description("As the messageGroup query parameter"))),
  "x-rmq-properties": v.optional(v.pipe(v.string(), v.description("User properties as a JSON object of strings"))),
});

/** The header each `RawQuery` field may come in instead. */
export const RAW_HEADER_OF: Readonly<Record<string, string>> = {
  idempotencyKey: "idempotency-key",
  tags: "x-rmq-tags",
  keys: "x-rmq-keys",
  delayMs: "x-rmq-delay-ms",
  deliverAt: "x-rmq-deliver-at",
  messageGroup: "x-rmq-message-group",
};

/** Where a produced message was stored. */
export const SendResult = v.object({
  msgId: v.pipe(v.string(), v.description("The offset message id")),
  queueId: v.number(),
  queueOffset: v.number(),
  duplicate: v.pipe(v.boolean(), v.description("Whether an earlier send of the same idempotency key stored it")),
  recallHandle: v.optional(v.pipe(v.string(), v.description("A timer message's handle, for recall"))),
});
export type SendResult = v.InferOutput<typeof SendResult>;

/** The answer to a single produce. */
export const ProduceResult = v.object({ topic: v.string(), ...SendResult.entries });
/** The answer to a batch produce: one result per message, in order. */
export const BatchResult = v.object({ topic: v.string(), results: v.array(SendResult) });

const Filter = v.object({
  type: v.optional(v.picklist(["TAG", "SQL92"]), "TAG"),
  expression: v.optional(v.pipe(v.string(), v.maxLength(4096)), "*"),
});
const From = v.pipe(v.picklist(["earliest", "latest"]), v.description("Where a queue the group never consumed starts"));

/** A receive: long-polled POP of a group on a topic. */
export const ReceiveBody = v.object({
  maxMessages: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(MAX_POP_BATCH)), 16),
  invisibleTimeMs: v.optional(v.pipe(InvisibleTime, v.description("How long received messages stay invisible to the group: ack or extend them within it")), 30_000),
  waitMs: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(MAX_WAIT_MS), v.description("Long poll: wait this long for a message when none is ready")), 0),
  filter: v.optional(Filter, { type: "TAG", expression: "*" }),
  from: v.optional(From, "earliest"),
});

/** A message as the gateway hands it to a consumer. */
export const ReceivedMessage = v.object({
  receiptHandle: v.pipe(v.string(), v.description("Ack or extend the message with it")),
  deliveryAttempt: v.pipe(v.number(), v.description("1 for the first delivery")),
  invisibleUntil: v.pipe(v.number(), v.description("ms since the epoch; unacked, the message is delivered again after it")),
  messageGroup: v.nullable(v.string()),
  msgId: v.string(),
  topic: v.string(),
  queueId: v.number(),
  queueOffset: v.number(),
  bornTimestamp: v.number(),
  storeTimestamp: v.number(),
  reconsumeTimes: v.number(),
  tags: v.nullable(v.string()),
  keys: v.array(v.string()),
  uniqueKey: v.nullable(v.string()),
  properties: v.record(v.string(), v.string()),
  body: v.string(),
  bodyEncoding: v.picklist(["utf8", "base64"]),
});
export type ReceivedMessage = v.InferOutput<typeof ReceivedMessage>;

/** The answer to a receive. */
export const ReceiveResult = v.object({ messages: v.array(ReceivedMessage) });

/** An ack of one handle (`receiptHandle`) or several (`receiptHandles`). */
export const AckBody = v.pipe(
  v.object({
    receiptHandle: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(512))),
    receiptHandles: v.optional(v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(512))), v.minLength(1), v.maxLength(MAX_ACK_BATCH))),
  }),
  v.check((b) => (b.receiptHandle === undefined) !== (b.receiptHandles === undefined), "give receiptHandle or receiptHandles, one of them"),
);

/** The answer to an ack: how many were settled, and why the others were not. */
export const AckResult = v.object({
  acked: v.number(),
  failed: v.array(v.object({ index: v.number(), code: v.picklist(["RECEIPT_HANDLE_INVALID", "RECEIPT_HANDLE_EXPIRED", "INTERNAL"]), message: v.string() })),
});

/** A change of a received message's invisible time. */
export const ChangeInvisibleBody = v.object({
  receiptHandle: v.pipe(v.string(), v.minLength(1), v.maxLength(512)),
  invisibleTimeMs: v.pipe(InvisibleTime, v.description("The new invisible time, from now")),
});

/** The answer to a change of invisible time: the new handle (the old one is stale). */
export const ChangeInvisibleResult = v.object({ receiptHandle: v.string(), invisibleUntil: v.number() });

/** A Server-Sent Events stream of a group's messages. */
export const StreamQuery = v.object({
  invisibleTimeMs: v.optional(v.pipe(integerParam(100, 43_200_000), v.description("How long each streamed message stays invisible (100 to 43200000)")), "30000"),
  maxMessages: v.optional(v.pipe(integerParam(1, MAX_POP_BATCH), v.description(`Messages fetched at once (1 to ${MAX_POP_BATCH})`)), "16"),
  filterType: v.optional(v.picklist(["TAG", "SQL92"]), "TAG"),
  filter: v.optional(v.pipe(v.string(), v.maxLength(4096)), "*"),
  from: v.optional(From, "earliest"),
});

/** An offsets query: one topic, or every topic the group has offsets of. */
export const OffsetsQuery = v.object({ topic: v.optional(TopicName) });

/** A group's progress per queue. */
export const OffsetsResult = v.object({
  group: v.string(),
  brokerName: v.string(),
  totalLag: v.number(),
  inflight: v.pipe(v.number(), v.description("POP deliveries not yet acked")),
  queues: v.array(v.object({
    topic: v.string(),
    queueId: v.number(),
    minOffset: v.number(),
    brokerOffset: v.pipe(v.number(), v.description("The queue's end")),
    consumerOffset: v.pipe(v.number(), v.description("The group's committed offset; -1 for none")),
    lag: v.number(),
  })),
});

/** Every error answer. */
export const ErrorBody = v.object({ error: v.object({ code: v.string(), message: v.string() }) });
