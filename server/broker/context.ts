/**
 * What every broker request processor works with.
 *
 * @module
 */
import type { HostAddress } from "../../core/model/message.ts";
import type { MessageStore } from "../store/message_store.ts";
import type { ConsumerOffsetManager } from "./consumer_offset_manager.ts";
import type { PullHoldService } from "./pull_hold_service.ts";
import type { TopicConfigManager } from "./topic_config_manager.ts";

/** Counters the broker keeps for admin views and metrics. */
export interface BrokerStats {
  messagesIn: number;
  bytesIn: number;
  messagesOut: number;
  bytesOut: number;
  sendErrors: number;
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
  store: MessageStore;
  topics: TopicConfigManager;
  offsets: ConsumerOffsetManager;
  holds: PullHoldService;
  stats: BrokerStats;
  startedAt: number;
}
