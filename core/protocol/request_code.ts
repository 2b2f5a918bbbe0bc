/**
 * Request codes, with Apache RocketMQ's numbers where the concept matches.
 *
 * @module
 */

/** What a request asks for. */
export const RequestCode = {
  SEND_MESSAGE: 10,
  PULL_MESSAGE: 11,
  QUERY_MESSAGE: 12,
  QUERY_CONSUMER_OFFSET: 14,
  UPDATE_CONSUMER_OFFSET: 15,
  UPDATE_AND_CREATE_TOPIC: 17,
  GET_ALL_TOPIC_CONFIG: 21,
  GET_BROKER_RUNTIME_INFO: 28,
  SEARCH_OFFSET_BY_TIMESTAMP: 29,
  GET_MAX_OFFSET: 30,
  GET_MIN_OFFSET: 31,
  VIEW_MESSAGE_BY_ID: 33,
  HEART_BEAT: 34,
  UNREGISTER_CLIENT: 35,
  CONSUMER_SEND_MSG_BACK: 36,
  /** Commits or rolls back a transactional half message. */
  END_TRANSACTION: 37,
  GET_CONSUMER_LIST_BY_GROUP: 38,
  /** Broker to producer (oneway): what became of the local transaction of this half message? */
  CHECK_TRANSACTION_STATE: 39,
  NOTIFY_CONSUMER_IDS_CHANGED: 40,
  LOCK_BATCH_MQ: 41,
  UNLOCK_BATCH_MQ: 42,
  /** Every consumer group's committed offsets (a slave copies them from its master). */
  GET_ALL_CONSUMER_OFFSET: 43,
  /** Delivery progress of every delay level (a slave copies it from its master). */
  GET_ALL_DELAY_OFFSET: 45,
  REGISTER_BROKER: 103,
  UNREGISTER_BROKER: 104,
  GET_ROUTEINFO_BY_TOPIC: 105,
  GET_BROKER_CLUSTER_INFO: 106,
  GET_ALL_TOPIC_LIST_FROM_NAMESERVER: 206,
  DELETE_TOPIC_IN_BROKER: 215,
  DELETE_TOPIC_IN_NAMESRV: 216,
  /** SEND_MESSAGE with RocketMQ's one-letter header names and a compact answer (what producers send). */
  SEND_MESSAGE_V2: 310,
  SEND_BATCH_MESSAGE: 320,
  /** A consumer's reply to a request message, pushed by the broker to the requester. */
  SEND_REPLY_MESSAGE: 324,
  /** SEND_REPLY_MESSAGE with SEND_MESSAGE_V2's one-letter header names. */
  SEND_REPLY_MESSAGE_V2: 325,
  /** Broker to requester: the reply to one of its requests (body: the stored reply record). */
  PUSH_REPLY_MESSAGE_TO_CLIENT: 326,
  /** SEND_BATCH_MESSAGE with one-letter header names, entries as tuples and a compact answer (rocketmq-ts's own code). */
  SEND_BATCH_MESSAGE_V2: 330,
  /**
   * SEND_BATCH_MESSAGE_V2 whose body holds the messages laid out as stored records (`encodeBatchRecords`),
   * so the broker copies them instead of encoding each (rocketmq-ts's own code).
   */
  SEND_BATCH_RECORDS: 331,
  /** Cancels a pending timer message by the recall handle its send returned (RocketMQ 5's number). */
  RECALL_MESSAGE: 370,
  /** Admin to broker: change a consumer group's settings (what the header leaves out stays); the admin right. */
  UPDATE_AND_CREATE_SUBSCRIPTIONGROUP: 200,
  /** Broker to controller: it is alive, how far its CommitLog reaches; the answer is its group's state (RocketMQ's BROKER_HEARTBEAT). */
  CONTROLLER_BROKER_HEARTBEAT: 904,
  /** Master to controller: change its group's in-sync replica set (compare-and-swap on the epoch). */
  CONTROLLER_ALTER_SYNC_STATE_SET: 1001,
  /** Admin to controller: hand a group's mastership to an in-sync slave, safely (a switchover). */
  CONTROLLER_ELECT_MASTER: 1002,
  /** Admin to controller: every group's master, epoch, in-sync set and members. */
  CONTROLLER_GET_SYNC_STATE_DATA: 1006,
  /** Slave to master: the master's epochs and where each began in its CommitLog. */
  GET_BROKER_EPOCH_CACHE: 1007,
  /** POP: messages of a topic for a group, invisible to its other pops for a while, each with a receipt handle. */
  POP_MESSAGE: 200050,
  /** Settles a popped message by its receipt handle. */
  ACK_MESSAGE: 200051,
  /** Changes how long a popped message stays invisible, from now. */
  CHANGE_MESSAGE_INVISIBLETIME: 200053,
  /** Settles popped messages of one topic by their receipt handles. */
  BATCH_ACK_MESSAGE: 200151,
} as const;
/** One of the `RequestCode` values. */
export type RequestCode = typeof RequestCode[keyof typeof RequestCode];

/** What a response says. */
export const ResponseCode = {
  SUCCESS: 0,
  SYSTEM_ERROR: 1,
  SYSTEM_BUSY: 2,
  REQUEST_CODE_NOT_SUPPORTED: 3,
  FLUSH_DISK_TIMEOUT: 10,
  /** SYNC_MASTER: stored on the master, but no slave is connected (or close enough) to copy it. */
  SLAVE_NOT_AVAILABLE: 11,
  /** SYNC_MASTER: stored on the master, but no slave confirmed a copy within `syncSlaveTimeoutMs`. */
  FLUSH_SLAVE_TIMEOUT: 12,
  MESSAGE_ILLEGAL: 13,
  SERVICE_NOT_AVAILABLE: 14,
  NO_PERMISSION: 16,
  TOPIC_NOT_EXIST: 17,
  TOPIC_EXIST_ALREADY: 18,
  PULL_NOT_FOUND: 19,
  PULL_RETRY_IMMEDIATELY: 20,
  PULL_OFFSET_MOVED: 21,
  QUERY_NOT_FOUND: 22,
  SUBSCRIPTION_PARSE_FAILED: 23,
  /** A pull names no subscription and the group's members subscribe to nothing on its topic. */
  SUBSCRIPTION_NOT_EXIST: 24,
  /** END_TRANSACTION names a half message of another producer group. */
  TRANSACTION_STATE_GROUP_WRONG: 203,
  FLOW_CONTROL: 215,
  /** No half message is stored where END_TRANSACTION says, or it has another transaction id. (rocketmq-ts) */
  TRANSACTION_NOT_FOUND: 404,
  /** The requester of a reply is not connected to this broker, or no longer waits for it. (rocketmq-ts) */
  REPLY_NOT_DELIVERED: 410,
  /** The request contradicts what was already done, e.g. a commit of a rolled-back transaction. */
  ILLEGAL_OPERATION: 604,
  /** A header failed validation; the remark names the field. (rocketmq-ts) */
  INVALID_HEADER: 400,
  /** A receipt handle cannot be read, or this broker did not issue it for this group and topic. (rocketmq-ts) */
  INVALID_RECEIPT_HANDLE: 401,
  /** A receipt handle's delivery is over: acked, its invisible time ran out, or a later handle replaced it. (rocketmq-ts) */
  RECEIPT_HANDLE_EXPIRED: 402,
  /** POP: nothing to deliver before the poll time ran out (RocketMQ's code). */
  POLLING_TIMEOUT: 210,
  /** The broker failed to make a write durable (fsync or write error). (rocketmq-ts) */
  FLUSH_DISK_FAILED: 507,
} as const;
/** One of the `ResponseCode` values. */
export type ResponseCode = typeof ResponseCode[keyof typeof ResponseCode];

/** Topic and broker permission bits. */
export const Perm = {
  PRIORITY: 0x8,
  READ: 0x4,
  WRITE: 0x2,
  INHERIT: 0x1,
} as const;

/** The template topic a broker with auto-creation registers; producers fall back to its route. */
export const AUTO_CREATE_TOPIC_KEY = "TBW102";

/** Bits of a pull request's `sysFlag`. */
export const PullSysFlag = {
  COMMIT_OFFSET: 0x1,
  SUSPEND: 0x2,
  SUBSCRIPTION: 0x4,
} as const;
