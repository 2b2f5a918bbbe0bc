/**
 * The message model shared by clients and servers.
 *
 * @module
 */

/** A message as a producer hands it to `send()`. */
export interface Message {
  /** Topic name: `[%|a-zA-Z0-9_-]`, at most 127 characters. */
  topic: string;
  /** Raw payload bytes. A string is encoded as UTF-8. */
  body: Uint8Array | string;
  /** One tag used for broker-side filtering (`TAGS` property). */
  tags?: string;
  /** Business keys, indexed for lookup (`KEYS` property, space separated on the wire). */
  keys?: string | string[];
  /** User properties. Names must not contain U+0001 or U+0002. */
  properties?: Record<string, string>;
  /** User flag stored with the message. @default 0 */
  flag?: number;
  /** Delay level (1-based, RocketMQ's levels); 0 means deliver now. @default 0 */
  delayLevel?: number;
  /**
   * Timer message: deliver at this time (ms since epoch, or a `Date`), any distance ahead up to the
   * broker's `timerMaxDelayMs`. A time already past is delivered at once. Not with `delayMs` or
   * `delayLevel`.
   */
  deliveryTime?: number | Date;
  /** Timer message: deliver this many ms after the broker stores it (see `deliveryTime`). */
  delayMs?: number;
  /**
   * Idempotent send: the broker stores a message with the same dedup id sent to the same topic
   * within its dedup window only once and answers every repeat with the first send's result.
   * 1 to 128 characters of `[A-Za-z0-9_.:@+=/-]`. Producers with `idempotent` use the unique key.
   */
  dedupId?: string;
  /**
   * FIFO message group: messages of one group go to one queue (unless a queue or selector is given)
   * and FIFO consumer groups get them one at a time, in order; groups are handed out in parallel.
   */
  messageGroup?: string;
}

/** A host as stored in a record: IPv4 or IPv6 address bytes and a port. */
export interface HostAddress {
  /** Dotted IPv4 (`127.0.0.1`) or IPv6 text. */
  address: string;
  /** TCP port. */
  port: number;
}

/** A stored message, as the broker returns it to consumers. */
export interface MessageExt {
  /** The topic it was stored under. */
  topic: string;
  /** The queue within the topic. */
  queueId: number;
  /** Index of this message in its ConsumeQueue. */
  queueOffset: number;
  /** Byte offset of this record in the CommitLog. */
  commitLogOffset: number;
  /** Size of the stored record in bytes. */
  storeSize: number;
  /** CRC32 of the body, ANDed with 0x7FFFFFFF. */
  bodyCRC: number;
  /** User flag from the producer. */
  flag: number;
  /** `SysFlag` bits. */
  sysFlag: number;
  /** When the producer created it, ms since epoch. */
  bornTimestamp: number;
  /** The producer's address as the broker saw it. */
  bornHost: HostAddress;
  /** When the broker stored it, ms since epoch. */
  storeTimestamp: number;
  /** The broker that stored it. */
  storeHost: HostAddress;
  /** How often it was redelivered after a failed consume. */
  reconsumeTimes: number;
  /** For transactional messages, the half message's offset; else 0. */
  preparedTransactionOffset: number;
  /**
   * The payload. Messages a consumer receives share the bytes of their pull response (no copy):
   * `slice()` a body to keep it apart from the rest of the response for long.
   */
  body: Uint8Array;
  /** All properties, system ones (`TAGS`, `KEYS`, …) included. */
  properties: Record<string, string>;
  /** Offset message id: store host + commit log offset as 32 (IPv4) upper-case hex characters. */
  msgId: string;
  /** Producer-side unique id (`UNIQ_KEY` property), when set. */
  uniqueKey?: string;
  /** The `TAGS` property. */
  tags?: string;
  /** The `KEYS` property, split on spaces. */
  keys: string[];
}

/** Well-known property names, as in RocketMQ's MessageConst. */
export const MessageConst = {
  TAGS: "TAGS",
  KEYS: "KEYS",
  UNIQ_KEY: "UNIQ_KEY",
  DELAY: "DELAY",
  WAIT: "WAIT",
  RETRY_TOPIC: "RETRY_TOPIC",
  REAL_TOPIC: "REAL_TOPIC",
  REAL_QID: "REAL_QID",
  /** `true` on a transactional message: its half and, once committed, the delivered copy (RocketMQ's `TRAN_MSG`). */
  TRAN_MSG: "TRAN_MSG",
  /** The producer group of a transactional message, whose members are asked when it stays unresolved. */
  PGROUP: "PGROUP",
  /** A half message's queue offset in the half topic, on the check-back message a producer is asked about. */
  TRAN_PREPARED_QUEUE_OFFSET: "TRAN_PREPARED_QUEUE_OFFSET",
  /** How often the broker has asked a producer about an unresolved half message. */
  TRANSACTION_CHECK_TIMES: "TRANSACTION_CHECK_TIMES",
  /** Seconds after storing before the broker first asks about an unresolved half message (instead of `transactionTimeoutMs`). */
  CHECK_IMMUNITY_TIME_IN_SECONDS: "CHECK_IMMUNITY_TIME_IN_SECONDS",
  /** On a transaction op record: `COMMIT` or `ROLLBACK`, and who decided (see `TRAN_RESOLVED_BY`). (rocketmq-ts) */
  TRAN_RESOLUTION: "TRAN_RESOLUTION",
  /** On a transaction op record: `producer`, `check` (a check-back's answer) or `policy` (`transactionCheckMaxPolicy`). (rocketmq-ts) */
  TRAN_RESOLVED_BY: "TRAN_RESOLVED_BY",
  /** Request-reply: pairs a reply with its request. */
  CORRELATION_ID: "CORRELATION_ID",
  /** Request-reply: the client id of the requester, which the broker pushes the reply to. */
  REPLY_TO_CLIENT: "REPLY_TO_CLIENT",
  /** Request-reply: how long the requester waits, ms. */
  TTL: "TTL",
  /** `reply` on a reply message. */
  MESSAGE_TYPE: "MSG_TYPE",
  MIN_OFFSET: "MIN_OFFSET",
  MAX_OFFSET: "MAX_OFFSET",
  RECONSUME_TIME: "RECONSUME_TIME",
  MAX_RECONSUME_TIMES: "MAX_RECONSUME_TIMES",
  ORIGIN_MESSAGE_ID: "ORIGIN_MESSAGE_ID",
  CLUSTER: "CLUSTER",
  /** Timer message, as sent: deliver at this time (ms since epoch). */
  TIMER_DELIVER_MS: "TIMER_DELIVER_MS",
  /** Timer message, as sent: deliver this many ms after storing. */
  TIMER_DELAY_MS: "TIMER_DELAY_MS",
  /** Timer message, as sent: deliver this many seconds after storing. */
  TIMER_DELAY_SEC: "TIMER_DELAY_SEC",
  /** Timer message, as stored and delivered: its due time (ms since epoch). */
  TIMER_OUT_MS: "TIMER_OUT_MS",
  /** When the broker first stored the timer message (ms since epoch). */
  TIMER_ENQUEUE_MS: "TIMER_ENQUEUE_MS",
  /** When the broker delivered the timer message to its topic (ms since epoch). */
  TIMER_DEQUEUE_MS: "TIMER_DEQUEUE_MS",
  /** How often a far timer was carried forward in the timer topic. */
  TIMER_ROLL_TIMES: "TIMER_ROLL_TIMES",
  /** A recall record: `topic+timerId` of the timer it cancels. */
  TIMER_DEL_UNIQKEY: "TIMER_DEL_UNIQKEY",
  /** A timer's id (the CommitLog offset of its first record), on its rolled and delivered copies. (rocketmq-ts) */
  TIMER_ID: "TIMER_ID",
  /** Idempotent send: the dedup id. (rocketmq-ts) */
  DEDUP_ID: "DEDUP_ID",
  /** FIFO: the message group (RocketMQ 5's message group, 4.x's sharding key): one of a group at a time is handed out over POP. */
  SHARDING_KEY: "__SHARDINGKEY",
  /** The trace context a RocketMQ 5 client attaches (OpenTelemetry `traceparent`). */
  TRACE_CONTEXT: "TRACE_CONTEXT",
  KEY_SEPARATOR: " ",
} as const;

/** sysflag bits of a stored record. */
export const SysFlag = {
  COMPRESSED: 0x1,
  MULTI_TAGS: 0x2,
  TRANSACTION_PREPARED: 0x4,
  TRANSACTION_COMMIT: 0x8,
  TRANSACTION_ROLLBACK: 0xc,
  BORN_HOST_V6: 0x10,
  STORE_HOST_V6: 0x20,
  NEED_UNWRAP: 0x40,
  INNER_BATCH: 0x80,
} as const;
