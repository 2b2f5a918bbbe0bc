/**
 * One valibot schema per request header, and the shapes of response headers.
 *
 * @module
 */
import * as v from "valibot";
import { EXPRESSION_TYPES, type ExpressionType, MAX_EXPRESSION_LENGTH } from "../model/message_filter.ts";
import { TOPIC_MESSAGE_TYPES, type TopicMessageType } from "../model/message_type.ts";
import { RequestCode } from "./request_code.ts";

/** Largest topic name, in characters (RocketMQ's limit). */
export const TOPIC_MAX_LENGTH = 127;
/** Characters allowed in topic and group names. */
export const TOPIC_PATTERN: RegExp = /^[%|a-zA-Z0-9_-]+$/;

// Schemas that exported types reach are typed explicitly, as JSR's fast check of the public API wants.
const int: v.GenericSchema<number> = v.pipe(v.number(), v.safeInteger());
const uint: v.GenericSchema<number> = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const int32 = v.pipe(v.number(), v.safeInteger(), v.minValue(-0x80000000), v.maxValue(0x7fffffff));
const nonNegInt32 = v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(0x7fffffff));

/** Names that would turn into prototypes when used as keys of plain objects. */
const RESERVED_NAME = (name: string) => name !== "__proto__";

/** A topic name: RocketMQ's charset, 1 to 127 characters. */
export const TopicName: v.GenericSchema<string> = v.pipe(
  v.string(),
  v.minLength(1, "Topic name is empty"),
  v.maxLength(TOPIC_MAX_LENGTH, `Topic name is longer than ${TOPIC_MAX_LENGTH} characters`),
  v.regex(TOPIC_PATTERN, "Topic name may only contain letters, digits, '%', '|', '_' and '-'"),
  v.check(RESERVED_NAME, 'Topic name "__proto__" is reserved'),
);
/** A consumer or producer group name: same rules as topics. */
export const GroupName: v.GenericSchema<string> = v.pipe(
  v.string(),
  v.minLength(1, "Group name is empty"),
  v.maxLength(255, "Group name is longer than 255 characters"),
  v.regex(TOPIC_PATTERN, "Group name may only contain letters, digits, '%', '|', '_' and '-'"),
  v.check(RESERVED_NAME, 'Group name "__proto__" is reserved'),
);
const QueueId = v.pipe(int32, v.minValue(-1));
/**
 * Message properties: RocketMQ's encoded text (`name` U+0001 `value` U+0002 …, what clients send:
 * one string is far cheaper to decode than a map) or a map of names to values.
 */
const Properties = v.union([
  v.pipe(v.string(), v.maxLength(65535)),
  v.record(v.pipe(v.string(), v.check(RESERVED_NAME, 'Property name "__proto__" is reserved')), v.string()),
]);
const Address = v.pipe(v.string(), v.minLength(3), v.maxLength(300), v.check((a: string) => a !== "__proto__", 'Address "__proto__" is reserved'));

/** SEND_MESSAGE request. `queueId` -1 lets the broker choose. */
export const SendMessageHeader = v.object({
  producerGroup: v.optional(v.string(), ""),
  topic: TopicName,
  queueId: QueueId,
  bornTimestamp: uint,
  flag: v.optional(int32, 0),
  sysFlag: v.optional(nonNegInt32, 0),
  properties: v.optional(Properties, ""),
  reconsumeTimes: v.optional(nonNegInt32, 0),
  maxReconsumeTimes: v.optional(nonNegInt32),
  /** Queue count for a topic created on first send. */
  defaultTopicQueueNums: v.optional(v.pipe(int, v.minValue(1), v.maxValue(1024)), 4),
});
export type SendMessageHeader = v.InferOutput<typeof SendMessageHeader>;

/** One message of a batch: body bytes are `size` bytes of the request body, in order. */
export const BatchEntry = v.object({
  size: nonNegInt32,
  flag: v.optional(int32, 0),
  properties: v.optional(Properties, ""),
});
export type BatchEntry = v.InferOutput<typeof BatchEntry>;

/** SEND_BATCH_MESSAGE request: all messages go to one queue with consecutive offsets. */
export const SendBatchHeader = v.object({
  producerGroup: v.optional(v.string(), ""),
  topic: TopicName,
  queueId: QueueId,
  bornTimestamp: uint,
  messages: v.pipe(v.array(BatchEntry), v.minLength(1, "Batch is empty"), v.maxLength(4096, "Batch has more than 4096 messages")),
  defaultTopicQueueNums: v.optional(v.pipe(int, v.minValue(1), v.maxValue(1024)), 4),
});
export type SendBatchHeader = v.InferOutput<typeof SendBatchHeader>;

/** The fields SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE_V2 share, under their one-letter names. */
const V2_SEND_FIELDS = {
  a: v.optional(v.string(), ""),
  b: TopicName,
  d: v.optional(v.pipe(int, v.minValue(1), v.maxValue(1024)), 4),
  e: QueueId,
  g: uint,
};

/**
 * SEND_MESSAGE_V2 request: SEND_MESSAGE's fields under RocketMQ's one-letter names (its
 * `SendMessageRequestHeaderV2`), which are cheaper to encode and decode on every send: `a`
 * producerGroup, `b` topic, `d` defaultTopicQueueNums, `e` queueId, `f` sysFlag, `g` bornTimestamp,
 * `h` flag, `i` properties, `j` reconsumeTimes, `l` maxReconsumeTimes. Parsed to a `SendMessageHeader`.
 */
export const SendMessageV2Header = v.pipe(
  v.object({
    ...V2_SEND_FIELDS,
    f: v.optional(nonNegInt32, 0),
    h: v.optional(int32, 0),
    i: v.optional(Properties, ""),
    j: v.optional(nonNegInt32, 0),
    l: v.optional(nonNegInt32),
  }),
  v.transform((h): SendMessageHeader => {
    const out: SendMessageHeader = {
      producerGroup: h.a, topic: h.b, queueId: h.e, bornTimestamp: h.g, flag: h.h, sysFlag: h.f, properties: h.i,
      reconsumeTimes: h.j, defaultTopicQueueNums: h.d,
    };
    if (h.l !== undefined) out.maxReconsumeTimes = h.l;
    return out;
  }),
);

/**
 * SEND_BATCH_MESSAGE_V2 request: SEND_BATCH_MESSAGE's fields under one-letter names (`a`
 * producerGroup, `b` topic, `d` defaultTopicQueueNums, `e` queueId, `g` bornTimestamp) and `m`, the
 * entries as `[size, flag, properties]` tuples. Parsed to a `SendBatchHeader`.
 */
export const SendBatchV2Header = v.pipe(
  v.object({
    ...V2_SEND_FIELDS,
    m: v.pipe(
      v.array(v.tuple([nonNegInt32, int32, Properties])),
      v.minLength(1, "Batch is empty"),
      v.maxLength(4096, "Batch has more than 4096 messages"),
    ),
  }),
  v.transform((h): SendBatchHeader => ({
    producerGroup: h.a,
    topic: h.b,
    queueId: h.e,
    bornTimestamp: h.g,
    messages: h.m.map(([size, flag, properties]) => ({ size, flag, properties })),
    defaultTopicQueueNums: h.d,
  })),
);

/**
 * SEND_BATCH_RECORDS request: SEND_BATCH_MESSAGE_V2's one-letter fields with `n`, how many records
 * the body holds, instead of the entries (each record carries its own size, flag and properties).
 */
export const SendBatchRecordsHeader = v.pipe(
  v.object({
    ...V2_SEND_FIELDS,
    n: v.pipe(int, v.minValue(1, "Batch is empty"), v.maxValue(4096, "Batch has more than 4096 messages")),
  }),
  v.transform((h): BatchRecordsHeader => ({
    producerGroup: h.a,
    topic: h.b,
    queueId: h.e,
    bornTimestamp: h.g,
    count: h.n,
    defaultTopicQueueNums: h.d,
  })),
);

/** A SEND_BATCH_RECORDS header under its long names. */
export interface BatchRecordsHeader {
  producerGroup: string;
  topic: string;
  queueId: number;
  bornTimestamp: number;
  /** Records in the body. */
  count: number;
  defaultTopicQueueNums: number;
}

/** What the one-letter fields of the V2 sends stand for, so errors can name them (`"b" (topic)`). */
const FIELD_NAMES = new WeakMap<object, Readonly<Record<string, string>>>();
const V2_FIELD_NAMES = {
  a: "producerGroup", b: "topic", d: "defaultTopicQueueNums", e: "queueId", f: "sysFlag", g: "bornTimestamp", h: "flag",
  i: "properties", j: "reconsumeTimes", l: "maxReconsumeTimes", m: "messages",
};
FIELD_NAMES.set(SendMessageV2Header, V2_FIELD_NAMES);
FIELD_NAMES.set(SendBatchV2Header, V2_FIELD_NAMES);
FIELD_NAMES.set(SendBatchRecordsHeader, { ...V2_FIELD_NAMES, n: "count" });

/** A subscription expression: tags joined by `||`, or SQL92, at most `MAX_EXPRESSION_LENGTH` characters. */
const Expression = v.pipe(v.string(), v.maxLength(MAX_EXPRESSION_LENGTH, `Expression is longer than ${MAX_EXPRESSION_LENGTH} characters`));
/** `TAG` or `SQL92`. */
const ExpressionTypeName = v.picklist(EXPRESSION_TYPES, 'Expression type must be "TAG" or "SQL92"');

/** PULL_MESSAGE request. */
export const PullMessageHeader = v.object({
  consumerGroup: GroupName,
  topic: TopicName,
  queueId: nonNegInt32,
  queueOffset: uint,
  maxMsgNums: v.pipe(int, v.minValue(1), v.maxValue(1024)),
  sysFlag: v.optional(nonNegInt32, 0),
  commitOffset: v.optional(int, -1),
  suspendTimeoutMillis: v.optional(v.pipe(int, v.minValue(0), v.maxValue(120_000)), 0),
  subscription: v.optional(Expression, "*"),
  /** How `subscription` is read: `TAG` (tags joined by `||`) or `SQL92`. */
  expressionType: v.optional(ExpressionTypeName, "TAG"),
});
export type PullMessageHeader = v.InferOutput<typeof PullMessageHeader>;

/** GET_MAX_OFFSET and GET_MIN_OFFSET requests. */
export const QueueHeader = v.object({ topic: TopicName, queueId: nonNegInt32 });
export type QueueHeader = v.InferOutput<typeof QueueHeader>;

/** SEARCH_OFFSET_BY_TIMESTAMP request. */
export const SearchOffsetHeader = v.object({ topic: TopicName, queueId: nonNegInt32, timestamp: uint });
export type SearchOffsetHeader = v.InferOutput<typeof SearchOffsetHeader>;

/** QUERY_CONSUMER_OFFSET request. */
export const QueryConsumerOffsetHeader = v.object({ consumerGroup: GroupName, topic: TopicName, queueId: nonNegInt32 });
export type QueryConsumerOffsetHeader = v.InferOutput<typeof QueryConsumerOffsetHeader>;

/** UPDATE_CONSUMER_OFFSET request. */
export const UpdateConsumerOffsetHeader = v.object({
  consumerGroup: GroupName,
  topic: TopicName,
  queueId: nonNegInt32,
  commitOffset: int,
});
export type UpdateConsumerOffsetHeader = v.InferOutput<typeof UpdateConsumerOffsetHeader>;

/** A topic's own retention in hours: 1 hour to 10 years. */
export const RetentionHours: v.GenericSchema<number> = v.pipe(int, v.minValue(1, "must be at least 1 hour"), v.maxValue(87_600, "must be at most 87600 hours (10 years)"));

/** A topic's message type (RocketMQ 5's `message.type` attribute). */
export const TopicMessageTypeName: v.GenericSchema<TopicMessageType> = v.picklist(TOPIC_MESSAGE_TYPES, 'expected "NORMAL", "FIFO", "DELAY", "TRANSACTION" or "MIXED"');

/** UPDATE_AND_CREATE_TOPIC request. */
export const CreateTopicHeader = v.object({
  topic: TopicName,
  readQueueNums: v.optional(v.pipe(int, v.minValue(1), v.maxValue(1024)), 4),
  writeQueueNums: v.optional(v.pipe(int, v.minValue(1), v.maxValue(1024)), 4),
  perm: v.optional(v.pipe(int, v.minValue(0), v.maxValue(15)), 6),
  order: v.optional(v.boolean(), false),
  /** The topic's own retention; absent: the broker's fileReservedTimeHours. */
  retentionHours: v.optional(RetentionHours),
  /** RocketMQ 5's topic message type; absent: every type (MIXED). */
  messageType: v.optional(TopicMessageTypeName),
});
export type CreateTopicHeader = v.InferOutput<typeof CreateTopicHeader>;

/** Requests that name only a topic. */
export const TopicHeader = v.object({ topic: TopicName });
export type TopicHeader = v.InferOutput<typeof TopicHeader>;

/** VIEW_MESSAGE_BY_ID request: the commit log offset decoded from an offset message id. */
export const ViewMessageHeader = v.object({ offset: uint });
export type ViewMessageHeader = v.InferOutput<typeof ViewMessageHeader>;

/** Most messages one QUERY_MESSAGE returns. */
export const QUERY_MESSAGE_MAX_NUM = 1024;

/**
 * QUERY_MESSAGE: a topic's messages with a key stored in a time range (ms since epoch,
 * inclusive), newest first. `_UNIQUE_KEY_QUERY` `"true"` (RocketMQ's ext field) matches the unique
 * key only and answers at most 32, as RocketMQ's "view message by unique key" asks. The answer's
 * header says `complete` (and `incomplete`, why not) besides RocketMQ's `indexLastUpdateTimestamp`
 * and `indexLastUpdatePhyoffset`; its body is the records as stored.
 */
export const QueryMessageHeader = v.object({
  topic: TopicName,
  key: v.pipe(v.string(), v.minLength(1, "Key is empty"), v.maxLength(32767, "Key is longer than 32767 characters")),
  maxNum: v.pipe(int, v.minValue(1, "maxNum must be at least 1"), v.maxValue(QUERY_MESSAGE_MAX_NUM, `maxNum must be at most ${QUERY_MESSAGE_MAX_NUM}`)),
  beginTimestamp: uint,
  endTimestamp: uint,
  _UNIQUE_KEY_QUERY: v.optional(v.picklist(["true", "false"], 'expected "true" or "false"')),
});
export type QueryMessageHeader = v.InferOutput<typeof QueryMessageHeader>;

/** Requests without fields. */
export const EmptyHeader = v.object({});

/** A topic's configuration, as brokers store it and register it. */
export interface TopicConfig {
  topicName: string;
  readQueueNums: number;
  writeQueueNums: number;
  /** `PERM_READ` (4) | `PERM_WRITE` (2). */
  perm: number;
  order: boolean;
  /** Messages older than this are no longer served; absent: the broker's fileReservedTimeHours. */
  retentionHours?: number;
  /** RocketMQ 5's topic message type: what sends through gRPC may carry; absent: every type (MIXED). */
  messageType?: TopicMessageType;
}

/** Schema of `TopicConfig`. */
export const TopicConfig: v.GenericSchema<unknown, TopicConfig> = v.object({
  topicName: TopicName,
  readQueueNums: v.pipe(int, v.minValue(0), v.maxValue(1024)),
  writeQueueNums: v.pipe(int, v.minValue(0), v.maxValue(1024)),
  perm: v.pipe(int, v.minValue(0), v.maxValue(15)),
  order: v.optional(v.boolean(), false),
  /** Messages older than this are no longer served; absent: the broker's fileReservedTimeHours. */
  retentionHours: v.optional(RetentionHours),
  /** RocketMQ 5's topic message type: what sends through gRPC may carry; absent: every type (MIXED). */
  messageType: v.optional(TopicMessageTypeName),
});

/**
 * Committed consumer offsets, `topic@group` → queue id → next offset: the GET_ALL_CONSUMER_OFFSET
 * answer a slave copies, and the broker's offsets file.
 */
export interface OffsetTable {
  offsets: Record<string, Record<string, number>>;
}

/** Schema of `OffsetTable`. */
export const OffsetTable: v.GenericSchema<unknown, OffsetTable> = v.object({
  offsets: v.record(v.string(), v.record(v.string(), int)),
});

/**
 * Delivery progress of the delay levels, level → next queue offset to deliver: the
 * GET_ALL_DELAY_OFFSET answer a slave copies, and the broker's delay offsets file.
 */
export interface DelayOffsetTable {
  offsets: Record<string, number>;
}

/** Schema of `DelayOffsetTable`. */
export const DelayOffsetTable: v.GenericSchema<unknown, DelayOffsetTable> = v.object({
  offsets: v.record(v.string(), uint),
});

/** Most topics one REGISTER_BROKER frame carries; a larger table is registered in chunks. */
export const REGISTER_TOPICS_PER_CHUNK = 4000;

/**
 * Which part of a chunked registration a REGISTER_BROKER request carries: `count` requests with
 * the same `id` and `index` 0 to `count - 1`, in order, together list the broker's topics; the
 * NameServer applies them once the last one arrived.
 */
export interface RegistrationChunk {
  id: string;
  index: number;
  count: number;
}

/** Schema of `RegistrationChunk`. */
export const RegistrationChunk: v.GenericSchema<unknown, RegistrationChunk> = v.object({
  id: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  index: uint,
  count: v.pipe(uint, v.minValue(1), v.maxValue(10_000)),
});

/** REGISTER_BROKER request. */
export const RegisterBrokerHeader = v.object({
  clusterName: v.pipe(v.string(), v.minLength(1), v.maxLength(255), v.check(RESERVED_NAME, 'Cluster name "__proto__" is reserved')),
  brokerName: v.pipe(v.string(), v.minLength(1), v.maxLength(255), v.check(RESERVED_NAME, 'Broker name "__proto__" is reserved')),
  brokerAddr: Address,
  brokerId: uint,
  haServerAddr: v.optional(v.string(), ""),
  /** Where the broker serves RocketMQ 5's gRPC clients; absent: it does not. */
  grpcAddr: v.optional(Address),
  topicConfigs: v.record(TopicName, TopicConfig),
  /** Set when the topic table is split over several requests. @default a whole registration */
  chunk: v.optional(RegistrationChunk),
  /** Controller mode: the epoch a master serves; a master registering an older epoch than its group's is refused. */
  epoch: v.optional(uint),
});
export type RegisterBrokerHeader = v.InferOutput<typeof RegisterBrokerHeader>;

/** UNREGISTER_BROKER request. */
export const UnregisterBrokerHeader = v.object({
  clusterName: v.string(),
  brokerName: v.string(),
  brokerAddr: v.string(),
  brokerId: uint,
});
export type UnregisterBrokerHeader = v.InferOutput<typeof UnregisterBrokerHeader>;

/** One subscription of a consumer group member. */
export interface SubscriptionData {
  topic: string;
  /** `*`, `TagA` or `TagA || TagB`; or SQL92 when `expressionType` says so. */
  expression: string;
  /** How `expression` is read. */
  expressionType: ExpressionType;
  /** When the member made this subscription (ms); newer wins. */
  version: number;
}

/** Schema of `SubscriptionData`. */
export const SubscriptionData: v.GenericSchema<unknown, SubscriptionData> = v.object({
  topic: TopicName,
  /** `*`, `TagA` or `TagA || TagB`; or SQL92 when `expressionType` says so. */
  expression: Expression,
  /** How `expression` is read. */
  expressionType: v.optional(ExpressionTypeName, "TAG"),
  /** When the member made this subscription (ms); newer wins. */
  version: v.optional(uint, 0),
});

/** A consumer group as one member describes it in its heartbeat. */
export interface ConsumerData {
  group: string;
  consumeType: "PULL" | "PUSH" | "POP";
  messageModel: "CLUSTERING" | "BROADCASTING";
  consumeFromWhere: "LAST_OFFSET" | "FIRST_OFFSET" | "TIMESTAMP";
  subscriptions: SubscriptionData[];
}

/** Schema of `ConsumerData`. */
export const ConsumerData: v.GenericSchema<unknown, ConsumerData> = v.object({
  group: GroupName,
  /** `PULL` (lite pull), `PUSH` (push, pulling queues), `POP` (simple consumer, push over POP). */
  consumeType: v.picklist(["PULL", "PUSH", "POP"]),
  messageModel: v.picklist(["CLUSTERING", "BROADCASTING"]),
  consumeFromWhere: v.optional(v.picklist(["LAST_OFFSET", "FIRST_OFFSET", "TIMESTAMP"]), "LAST_OFFSET"),
  subscriptions: v.pipe(v.array(SubscriptionData), v.maxLength(1024)),
});

/** HEART_BEAT: a client says it is alive, with its groups and subscriptions. */
export interface HeartbeatHeader {
  clientId: string;
  /** e.g. `bun 1.3.0`, shown in admin views. */
  runtime: string;
  producerGroups: string[];
  consumers: ConsumerData[];
}

/** Schema of `HeartbeatHeader`. */
export const HeartbeatHeader: v.GenericSchema<unknown, HeartbeatHeader> = v.object({
  clientId: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  /** e.g. `bun 1.3.0`, shown in admin views. */
  runtime: v.optional(v.pipe(v.string(), v.maxLength(100)), ""),
  /** A producer's heartbeat (no consumers): the producer groups whose transactions it takes check-backs for. */
  producerGroups: v.optional(v.pipe(v.array(GroupName), v.maxLength(1024)), []),
  consumers: v.optional(v.pipe(v.array(ConsumerData), v.maxLength(1024)), []),
});

/** UNREGISTER_CLIENT: a client leaves a group (or every group when none is named). */
export const UnregisterClientHeader = v.object({
  clientId: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  consumerGroup: v.optional(GroupName),
  producerGroup: v.optional(v.string()),
});
export type UnregisterClientHeader = v.InferOutput<typeof UnregisterClientHeader>;

/** GET_CONSUMER_LIST_BY_GROUP; the reply header is `{ clientIds: string[] }`, sorted. */
export const ConsumerGroupHeader = v.object({ consumerGroup: GroupName });
export type ConsumerGroupHeader = v.InferOutput<typeof ConsumerGroupHeader>;

/**
 * CONSUMER_SEND_MSG_BACK: a message the consumer failed to handle goes to the group's retry topic
 * (`%RETRY%<group>`) with a delay, or to its dead-letter topic (`%DLQ%<group>`) past the limit.
 */
export const SendMessageBackHeader = v.object({
  consumerGroup: GroupName,
  /** Commit log offset of the message as delivered. */
  offset: uint,
  /** 0: the broker picks `3 + reconsumeTimes`; -1: straight to the DLQ; > 0: this level. */
  delayLevel: v.pipe(int, v.minValue(-1), v.maxValue(64)),
  originMsgId: v.optional(v.string(), ""),
  originTopic: v.optional(v.string(), ""),
  /** Redeliveries before the DLQ. @default 16 */
  maxReconsumeTimes: v.optional(v.pipe(int, v.minValue(0), v.maxValue(64)), 16),
});
export type SendMessageBackHeader = v.InferOutput<typeof SendMessageBackHeader>;

const MessageQueueSchema = v.object({ topic: TopicName, brokerName: v.string(), queueId: nonNegInt32 });

/** LOCK_BATCH_MQ / UNLOCK_BATCH_MQ (orderly consumption); the lock reply is `{ lockOKMQSet }`. */
export const LockBatchHeader = v.object({
  consumerGroup: GroupName,
  clientId: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
  mqs: v.pipe(v.array(MessageQueueSchema), v.maxLength(4096)),
});
export type LockBatchHeader = v.InferOutput<typeof LockBatchHeader>;

/** RECALL_MESSAGE: cancel a pending timer message by the handle its send returned (RocketMQ 5's fields). */
export const RecallMessageHeader = v.object({
  producerGroup: v.optional(v.pipe(v.string(), v.maxLength(255)), ""),
  topic: TopicName,
  recallHandle: v.pipe(v.string(), v.minLength(1, "Recall handle is empty"), v.maxLength(512, "Recall handle is longer than 512 characters")),
});
export type RecallMessageHeader = v.InferOutput<typeof RecallMessageHeader>;

/** A transaction id: the producer's unique key of the half message (`UNIQ_KEY`). */
const TransactionId: v.GenericSchema<string> = v.pipe(v.string(), v.minLength(1, "Transaction id is empty"), v.maxLength(128, "Transaction id is longer than 128 characters"));

/**
 * END_TRANSACTION: commits or rolls back the half message stored at `commitLogOffset`, queue offset
 * `tranStateTableOffset` of the half topic, as its send answered. `topic` is the message's real
 * topic (the account needs PUB on it); `commitOrRollback` is RocketMQ's transaction type: 8
 * commit, 12 rollback, 0 unknown (nothing is done). Answered SUCCESS once the outcome is stored.
 */
export interface EndTransactionHeader {
  producerGroup: string;
  topic: string;
  tranStateTableOffset: number;
  commitLogOffset: number;
  commitOrRollback: 0 | 8 | 12;
  /** Whether this answers a CHECK_TRANSACTION_STATE. */
  fromTransactionCheck: boolean;
  transactionId: string;
}

/** Schema of `EndTransactionHeader`. */
export const EndTransactionHeader: v.GenericSchema<unknown, EndTransactionHeader> = v.object({
  producerGroup: GroupName,
  topic: TopicName,
  tranStateTableOffset: uint,
  commitLogOffset: uint,
  commitOrRollback: v.picklist([0, 8, 12], "expected 8 (commit), 12 (rollback) or 0 (unknown)"),
  /** Whether this answers a CHECK_TRANSACTION_STATE. */
  fromTransactionCheck: v.optional(v.boolean(), false),
  transactionId: TransactionId,
});

/**
 * CHECK_TRANSACTION_STATE (broker to producer, oneway): the body is the half message's stored
 * record; the producer answers with END_TRANSACTION (`fromTransactionCheck` true) naming these
 * offsets and transaction id.
 */
export const CheckTransactionStateHeader = v.object({
  /** The real topic. */
  topic: TopicName,
  tranStateTableOffset: uint,
  commitLogOffset: uint,
  transactionId: TransactionId,
  /** How often the broker has asked, this time included. */
  checkTimes: v.pipe(int, v.minValue(1)),
  brokerName: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
});
export type CheckTransactionStateHeader = v.InferOutput<typeof CheckTransactionStateHeader>;
/** Invisible times a POP request may ask for, ms: 100 ms to 12 hours. */
export const InvisibleTime = v.pipe(
  int,
  v.minValue(100, "must be at least 100 ms"),
  v.maxValue(43_200_000, "must be at most 43200000 ms (12 hours)"),
);

/** A receipt handle as POP answers give it. */
const ExtraInfo = v.pipe(v.string(), v.minLength(1, "Receipt handle is empty"), v.maxLength(512, "Receipt handle is longer than 512 characters"));

/**
 * POP_MESSAGE (RocketMQ's PopMessageRequestHeader): up to `maxMsgNums` messages of `topic` (any
 * queue with -1), each invisible to the group's other pops for `invisibleTime`; waits up to
 * `pollTime` for messages when there are none. The reply header is `PopMessageResponseHeader`.
 */
export const PopMessageHeader = v.object({
  consumerGroup: GroupName,
  topic: TopicName,
  queueId: v.optional(QueueId, -1),
  maxMsgNums: v.pipe(int, v.minValue(1), v.maxValue(32)),
  invisibleTime: InvisibleTime,
  /** Long poll: how long the broker may hold the pop while nothing is deliverable (0 answers at once). */
  pollTime: v.optional(v.pipe(int, v.minValue(0), v.maxValue(120_000)), 0),
  bornTime: v.optional(uint, 0),
  /** Where a queue the group never consumed starts: 0 its first message (RocketMQ's MIN), 1 its end (MAX). */
  initMode: v.optional(v.picklist([0, 1]), 0),
  /** The expression's type: `TAG` or `SQL92`. */
  expType: v.optional(v.pipe(v.string(), v.maxLength(16)), "TAG"),
  exp: v.optional(v.pipe(v.string(), v.maxLength(4096)), "*"),
  /** FIFO pop: only for a group whose `consumeMessageOrderly` is set. */
  order: v.optional(v.boolean(), false),
});
export type PopMessageHeader = v.InferOutput<typeof PopMessageHeader>;

/** The reply header of POP_MESSAGE: one handle and one delivery attempt per record of the body, in order. */
export interface PopMessageResponseHeader {
  popTime: number;
  invisibleTime: number;
  reviveQid: number;
  /** Messages left in the queues looked at. */
  restNum: number;
  /** Receipt handles, one per record. */
  handles: string[];
  /** Which delivery of its message each record is (1 for the first). */
  attempts: number[];
  /** How the group backs off a message given back (`SubscriptionGroupConfig.retryPolicy`). */
  retryPolicy: unknown;
}

/** ACK_MESSAGE: settles one popped message. `queueId` and `offset`, when given, must be the handle's. */
export const AckMessageHeader = v.object({
  consumerGroup: GroupName,
  topic: TopicName,
  queueId: v.optional(nonNegInt32),
  offset: v.optional(uint),
  extraInfo: ExtraInfo,
});
export type AckMessageHeader = v.InferOutput<typeof AckMessageHeader>;

/** BATCH_ACK_MESSAGE: settles popped messages of one topic; the reply lists the handles refused. */
export const BatchAckMessageHeader = v.object({
  consumerGroup: GroupName,
  topic: TopicName,
  extraInfos: v.pipe(v.array(ExtraInfo), v.minLength(1, "No receipt handles"), v.maxLength(1024, "More than 1024 receipt handles")),
});
export type BatchAckMessageHeader = v.InferOutput<typeof BatchAckMessageHeader>;

/**
 * CHANGE_MESSAGE_INVISIBLETIME: the message stays invisible for `invisibleTime` from now; the reply
 * header carries the new handle (`extraInfo`), `popTime` and `invisibleTime`.
 */
export const ChangeInvisibleTimeHeader = v.object({
  consumerGroup: GroupName,
  topic: TopicName,
  queueId: v.optional(nonNegInt32),
  offset: v.optional(uint),
  extraInfo: ExtraInfo,
  invisibleTime: InvisibleTime,
});
export type ChangeInvisibleTimeHeader = v.InferOutput<typeof ChangeInvisibleTimeHeader>;

/** The schema of each request code's header. */
export const REQUEST_HEADERS: Readonly<Record<number, v.GenericSchema>> = {
  [RequestCode.SEND_MESSAGE]: SendMessageHeader,
  [RequestCode.SEND_BATCH_MESSAGE]: SendBatchHeader,
  [RequestCode.SEND_MESSAGE_V2]: SendMessageV2Header,
  [RequestCode.SEND_BATCH_MESSAGE_V2]: SendBatchV2Header,
  [RequestCode.SEND_BATCH_RECORDS]: SendBatchRecordsHeader,
  [RequestCode.PULL_MESSAGE]: PullMessageHeader,
  [RequestCode.GET_MAX_OFFSET]: QueueHeader,
  [RequestCode.GET_MIN_OFFSET]: QueueHeader,
  [RequestCode.SEARCH_OFFSET_BY_TIMESTAMP]: SearchOffsetHeader,
  [RequestCode.QUERY_CONSUMER_OFFSET]: QueryConsumerOffsetHeader,
  [RequestCode.UPDATE_CONSUMER_OFFSET]: UpdateConsumerOffsetHeader,
  [RequestCode.UPDATE_AND_CREATE_TOPIC]: CreateTopicHeader,
  [RequestCode.DELETE_TOPIC_IN_BROKER]: TopicHeader,
  [RequestCode.GET_ALL_TOPIC_CONFIG]: EmptyHeader,
  [RequestCode.GET_BROKER_RUNTIME_INFO]: EmptyHeader,
  [RequestCode.VIEW_MESSAGE_BY_ID]: ViewMessageHeader,
  [RequestCode.QUERY_MESSAGE]: QueryMessageHeader,
  [RequestCode.REGISTER_BROKER]: RegisterBrokerHeader,
  [RequestCode.UNREGISTER_BROKER]: UnregisterBrokerHeader,
  [RequestCode.GET_ROUTEINFO_BY_TOPIC]: TopicHeader,
  [RequestCode.GET_BROKER_CLUSTER_INFO]: EmptyHeader,
  [RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER]: EmptyHeader,
  [RequestCode.DELETE_TOPIC_IN_NAMESRV]: TopicHeader,
  [RequestCode.HEART_BEAT]: HeartbeatHeader,
  [RequestCode.UNREGISTER_CLIENT]: UnregisterClientHeader,
  [RequestCode.GET_CONSUMER_LIST_BY_GROUP]: ConsumerGroupHeader,
  [RequestCode.NOTIFY_CONSUMER_IDS_CHANGED]: ConsumerGroupHeader,
  [RequestCode.CONSUMER_SEND_MSG_BACK]: SendMessageBackHeader,
  [RequestCode.LOCK_BATCH_MQ]: LockBatchHeader,
  [RequestCode.UNLOCK_BATCH_MQ]: LockBatchHeader,
  [RequestCode.GET_ALL_CONSUMER_OFFSET]: EmptyHeader,
  [RequestCode.GET_ALL_DELAY_OFFSET]: EmptyHeader,
  [RequestCode.RECALL_MESSAGE]: RecallMessageHeader,
  [RequestCode.END_TRANSACTION]: EndTransactionHeader,
  [RequestCode.CHECK_TRANSACTION_STATE]: CheckTransactionStateHeader,
  [RequestCode.SEND_REPLY_MESSAGE]: SendMessageHeader,
  [RequestCode.SEND_REPLY_MESSAGE_V2]: SendMessageV2Header,
  [RequestCode.PUSH_REPLY_MESSAGE_TO_CLIENT]: EmptyHeader,
  [RequestCode.POP_MESSAGE]: PopMessageHeader,
  [RequestCode.ACK_MESSAGE]: AckMessageHeader,
  [RequestCode.BATCH_ACK_MESSAGE]: BatchAckMessageHeader,
  [RequestCode.CHANGE_MESSAGE_INVISIBLETIME]: ChangeInvisibleTimeHeader,
};

/** The result of `validateHeader`. */
export type HeaderCheck<T> = { ok: true; header: T } | { ok: false; error: string };

/**
 * Validates a header against a schema.
 *
 * @param schema The schema of the request code.
 * @param header The decoded header.
 * @returns The parsed header (defaults filled in), or an error naming the field.
 */
export function validateHeader<T>(schema: v.GenericSchema<unknown, T>, header: unknown): HeaderCheck<T> {
  const result = v.safeParse(schema, header);
  if (result.success) return { ok: true, header: result.output };
  const issue = result.issues[0];
  const path = v.getDotPath(issue);
  if (!path) return { ok: false, error: `Invalid header: ${issue.message}` };
  const name = FIELD_NAMES.get(schema)?.[path.split(".")[0]!];
  return { ok: false, error: `Invalid header field "${path}"${name === undefined ? "" : ` (${name})`}: ${issue.message}` };
}

/** Response header of SEND_MESSAGE. */
export interface SendResponseHeader {
  msgId: string;
  queueId: number;
  queueOffset: number;
  /** A timer message: the handle that recalls it. */
  recallHandle?: string;
  /** A repeat of a dedup id inside the window: the first send's result, nothing stored. */
  duplicate?: boolean;
}

/** Response header of SEND_BATCH_MESSAGE: offsets are consecutive from `queueOffset`. */
export interface SendBatchResponseHeader {
  msgIds: string[];
  queueId: number;
  queueOffset: number;
}

/**
 * Response header of SEND_MESSAGE_V2: numbers instead of the message id's text, which the client
 * puts together (`offsetMessageId(s, c)` is SEND_MESSAGE's `msgId`).
 */
export interface SendV2ResponseHeader {
  /** Queue id. */
  q: number;
  /** Queue offset. */
  o: number;
  /** The record's CommitLog offset. */
  c: number;
  /** The store host as a message-id prefix (`messageIdPrefix`). */
  s: string;
  /** A timer message: the handle that recalls it (`recallHandle`). */
  r?: string;
  /** A repeat of a dedup id inside the window: the first send's result, nothing stored (`duplicate`). */
  dup?: boolean;
}

/** Response header of SEND_BATCH_MESSAGE_V2: queue offsets are consecutive from `o`. */
export interface SendBatchV2ResponseHeader {
  /** Queue id. */
  q: number;
  /** Queue offset of the first message. */
  o: number;
  /** Each record's CommitLog offset, in order. */
  c: number[];
  /** The store host as a message-id prefix (`messageIdPrefix`). */
  s: string;
}

/** Response header of PULL_MESSAGE (codes 0, 19, 20, 21). */
export interface PullResponseHeader {
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  suggestWhichBrokerId: number;
}

/** One broker's share of a topic. */
export interface QueueData {
  brokerName: string;
  readQueueNums: number;
  writeQueueNums: number;
  perm: number;
  /** The topic's RocketMQ 5 message type on that broker; absent: every type. */
  messageType?: TopicMessageType;
}

/** A broker group: its members by broker id (0 = master). */
export interface BrokerData {
  cluster: string;
  brokerName: string;
  brokerAddrs: Record<string, string>;
  /** The gRPC addresses (RocketMQ 5 clients) of the members that serve gRPC, by broker id. */
  grpcAddrs?: Record<string, string>;
}

/** Response header of GET_ROUTEINFO_BY_TOPIC. */
export interface TopicRouteData {
  queueDatas: QueueData[];
  brokerDatas: BrokerData[];
}

/** GET_ROUTEINFO_BY_TOPIC's answer, checked as a broker reads it from a NameServer. */
export const TopicRouteDataSchema: v.GenericSchema<unknown, TopicRouteData> = v.object({
  queueDatas: v.array(v.object({
    brokerName: v.string(),
    readQueueNums: v.pipe(int, v.minValue(0), v.maxValue(1024)),
    writeQueueNums: v.pipe(int, v.minValue(0), v.maxValue(1024)),
    perm: v.pipe(int, v.minValue(0), v.maxValue(15)),
    messageType: v.optional(TopicMessageTypeName),
  })),
  brokerDatas: v.array(v.object({
    cluster: v.string(),
    brokerName: v.string(),
    brokerAddrs: v.record(v.string(), v.string()),
    grpcAddrs: v.optional(v.record(v.string(), Address)),
  })),
});

/** Response header of GET_BROKER_CLUSTER_INFO. */
export interface ClusterInfo {
  brokerAddrTable: Record<string, BrokerData>;
  clusterAddrTable: Record<string, string[]>;
}
