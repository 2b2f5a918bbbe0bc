/**
 * What every broker request processor works with.
 *
 * @module
 */
import type { HostAddress } from "../../core/model/message.ts";
import type { MessageStore } from "../store/message_store.ts";
import type { LatencyHistogram, TopicCounters } from "./broker_stats.ts";
import type { ConsumerManager } from "./consumer_manager.ts";
import type { ConsumerOffsetManager } from "./consumer_offset_manager.ts";
import type { PullHoldService } from "./pull_hold_service.ts";
import type { QueueLockManager } from "./queue_lock_manager.ts";
import type { ScheduleMessageService } from "./schedule_service.ts";
import type { TopicConfigManager } from "./topic_config_manager.ts";
import type { TrafficWindow } from "./traffic_window.ts";
import type { TrafficHistory } from "./traffic_history.ts";
import type { SubscriptionGroupManager } from "./subscription_group_manager.ts";
import type { PopService } from "./pop/pop_service.ts";
import type { Replication } from "../ha/replication.ts";
import type { ConnectionGuard } from "../../core/remoting/connection_guard.ts";
import type { TimerMessageStore } from "../store/timer/timer_message_store.ts";
import type { DedupWindow } from "./dedup_window.ts";
import type { RecallSigner } from "./recall_signer.ts";
import type { ProducerManager } from "./producer_manager.ts";
import type { TransactionService } from "./transaction_service.ts";
import type { BrokerTraceWriter } from "./trace_writer.ts";

/** Counters the broker keeps for admin views and metrics. */
export interface BrokerStats {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  sendErrors: number;
  /** The same figures per topic (see `countIn` / `countOut` in `broker_stats.ts`). */
  byTopic: Map<string, TopicCounters>;
  /** Time from a send request's arrival to its store result. */
  sendLatency: LatencyHistogram;
  /** Messages moved to a dead-letter topic: consumer group → original topic → count (see `countDeadLetter`). */
  deadLetters: Map<string, Map<string, number>>;
  /** Timer messages: delivery stored minus due time, ms. */
  timerLateness: LatencyHistogram;
}

/** Shared broker state handed to processors. */
export interface BrokerContext {
  clusterName: string;
  brokerName: string;
  brokerId: number;
  /** Address clients are told to use, `host:port`. */
  advertisedAddress: string;
  storeHost: HostAddress;
  maxMessageSize: number;
  /** Largest properties text, in bytes. */
  maxPropertiesSize: number;
  /** Most messages one pull returns; a larger `maxMsgNums` is cut to it. */
  maxPullBatchSize: number;
  /** SQL92 subscriptions are served (RocketMQ's `enablePropertyFilter`). */
  enablePropertyFilter: boolean;
  store: MessageStore;
  topics: TopicConfigManager;
  offsets: ConsumerOffsetManager;
  holds: PullHoldService;
  /** Consumer groups and their members, from heartbeats. */
  consumers: ConsumerManager;
  /** Queue locks of orderly consumers. */
  locks: QueueLockManager;
  /** Producers from heartbeats, for transaction check-backs and replies. */
  producers: ProducerManager;
  /** Half messages, their resolution and check-backs. */
  transactions: TransactionService;
  /** Delayed delivery (delay levels, retry backoff). */
  schedule: ScheduleMessageService;
  /** Timer messages (any delivery time); undefined on a slave, whose master delivers. */
  timers: TimerMessageStore | undefined;
  /** Longest delay a timer message may have, ms. */
  timerMaxDelayMs: number;
  /** Issues and checks recall handles. */
  recallSigner: RecallSigner;
  /** Idempotent sends: the dedup ids of the window. */
  dedup: DedupWindow;
  /** Consumer group settings (FIFO, retry limit and policy). */
  groups: SubscriptionGroupManager;
  /** POP consumption: pops, acks, invisible times, revive. */
  pop: PopService;
  stats: BrokerStats;
  /** Messages in and out per second over the last few seconds, sampled once a second. */
  traffic: TrafficWindow;
  /** Messages in and out per second over the last hour (one point a second for the last minutes), sampled with `traffic`. */
  trafficHistory: TrafficHistory;
  /** Limits on unauthenticated connections (incomplete frames, timeouts) and the cuts made. */
  connectionGuard: ConnectionGuard;
  startedAt: number;
  /** Master/slave replication: the role, its peers, and for a SYNC_MASTER the wait a send makes for a slave. */
  replication: Replication;
  /** With `traceTopicEnable` on a master: the broker's own trace records (transaction ends, dead letters). */
  trace?: BrokerTraceWriter;
}
