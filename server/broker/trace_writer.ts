/**
 * The broker's own trace records (`traceTopicEnable`): transactional messages committed or rolled
 * back (RocketMQ's `EndTransaction` record) and messages moved to a dead-letter topic (our
 * `DeadLetter` record), written to the trace topic in batches after the request that caused them,
 * in RocketMQ's trace text and keyed like a client's trace messages, so `rmq trace` finds them
 * beside the clients' records. A full buffer drops and counts; a failed write is logged and counted:
 * tracing never holds up or fails what it records.
 *
 * @module
 */
import { type HostAddress, MessageConst, type MessageExt } from "../../core/model/message.ts";
import { decodeProperties, encodeProperties } from "../../core/model/properties.ts";
import {
  encodeTraceRecord,
  TRACE_BATCH_RECORDS,
  TRACE_REGION,
  TraceMessageType,
  traceKeys,
  type TraceRecord,
} from "../../core/model/trace.ts";
import { Perm } from "../../core/protocol/request_code.ts";
import type { MessageStore } from "../store/message_store.ts";
import type { StoreInput } from "../store/store_types.ts";
import type { TopicConfigManager } from "./topic_config_manager.ts";
import type { ResolvedBy, TransactionOutcome } from "./transaction_service.ts";

/** Options of a `BrokerTraceWriter`. */
export interface BrokerTraceWriterOptions {
  store: MessageStore;
  topics: TopicConfigManager;
  /** The trace topic (`msgTraceTopicName`). */
  topic: string;
  /** Queues of the trace topic when the broker creates it. @default 1 */
  queueNums?: number;
  /** Store host and born host of the trace messages. */
  storeHost: HostAddress;
  /** `host:port` written as the store host of the records. */
  address: string;
  /** Records waiting at most; past it new ones are dropped and counted. @default 4096 */
  maxBuffered?: number;
  log: (line: string) => void;
}

/** What the writer has done since the broker started. */
export interface BrokerTraceStats {
  recorded: number;
  dropped: number;
  written: number;
  failed: number;
}

const ENCODER = new TextEncoder();

/**
 * What a dead-letter record needs of a stored copy.
 *
 * @param propertiesText The dead letter's properties, encoded.
 * @param topic The topic the message was first sent to.
 * @returns The fields `deadLetter` reads.
 */
export function deadLetterView(propertiesText: string, topic: string): Pick<MessageExt, "topic" | "msgId" | "uniqueKey" | "tags" | "keys" | "properties"> {
  const properties = decodeProperties(propertiesText);
  const keys = properties[MessageConst.KEYS];
  return {
    topic,
    msgId: "",
    properties,
    keys: keys === undefined ? [] : keys.split(MessageConst.KEY_SEPARATOR).filter((k) => k !== ""),
    ...(properties[MessageConst.UNIQ_KEY] === undefined ? {} : { uniqueKey: properties[MessageConst.UNIQ_KEY] }),
    ...(properties[MessageConst.TAGS] === undefined ? {} : { tags: properties[MessageConst.TAGS] }),
  };
}

/** Writes the broker's trace records to the trace topic of its own store. */
export class BrokerTraceWriter {
  readonly #o: BrokerTraceWriterOptions;
  readonly #max: number;
  #buffer: TraceRecord[] = [];
  #scheduled = false;
  #writing: Promise<void> = Promise.resolve();
  #queue = 0;
  readonly stats: BrokerTraceStats = { recorded: 0, dropped: 0, written: 0, failed: 0 };

  /** @param options The store, the topic and bounds. */
  constructor(options: BrokerTraceWriterOptions) {
    this.#o = options;
    this.#max = options.maxBuffered ?? 4096;
  }

  /** The trace topic. */
  get topic(): string {
    return this.#o.topic;
  }

  /** Creates the trace topic unless it exists (readable and writable, so clients' trace producers write there too). */
  async open(): Promise<void> {
    await this.#o.topics.ensure(this.#o.topic, this.#o.queueNums ?? 1, Perm.READ | Perm.WRITE);
  }

  /**
   * Records a message moved to a dead-letter topic.
   *
   * @param group The consumer group.
   * @param message The message as it was delivered (its first topic in `RETRY_TOPIC` when it came from a retry topic).
   * @param dlqTopic The dead-letter topic.
   * @param retryTimes Deliveries it had.
   * @param offsetMsgId The dead letter's offset message id.
   */
  deadLetter(group: string, message: Pick<MessageExt, "topic" | "msgId" | "uniqueKey" | "tags" | "keys" | "properties">, dlqTopic: string, retryTimes: number, offsetMsgId: string): void {
    this.#append({
      type: "DeadLetter",
      timestamp: Date.now(),
      regionId: TRACE_REGION,
      group,
      topic: message.properties[MessageConst.RETRY_TOPIC] ?? message.topic,
      msgId: message.uniqueKey ?? message.msgId,
      tags: message.tags ?? "",
      keys: message.keys.join(MessageConst.KEY_SEPARATOR),
      storeHost: this.#o.address,
      retryTimes,
      dlqTopic,
      offsetMsgId,
    });
  }

  /**
   * Records a transaction's end.
   *
   * @param half The half message: real topic, producer group, transaction id and its record's properties.
   * @param outcome Committed or rolled back.
   * @param by Who decided.
   */
  endTransaction(half: { topic: string; producerGroup: string; transactionId: string; properties?: Record<string, string> }, outcome: TransactionOutcome, by: ResolvedBy): void {
    const p = half.properties ?? {};
    this.#append({
      type: "EndTransaction",
      timestamp: Date.now(),
      regionId: TRACE_REGION,
      group: half.producerGroup,
      topic: half.topic,
      msgId: p[MessageConst.UNIQ_KEY] ?? half.transactionId,
      tags: p[MessageConst.TAGS] ?? "",
      keys: p[MessageConst.KEYS] ?? "",
      storeHost: this.#o.address,
      msgType: outcome === "COMMIT" ? TraceMessageType.TRANS_COMMIT : TraceMessageType.TRANS_HALF,
      transactionId: half.transactionId,
      transactionState: outcome === "COMMIT" ? "COMMIT_MESSAGE" : "ROLLBACK_MESSAGE",
      fromTransactionCheck: by !== "producer",
    });
  }

  /** Writes what is buffered and waits for it. */
  async flush(): Promise<void> {
    this.#write();
    await this.#writing;
  }

  #append(record: TraceRecord): void {
    if (this.#buffer.length >= this.#max) {
      this.stats.dropped++;
      return;
    }
    this.#buffer.push(record);
    this.stats.recorded++;
    if (this.#scheduled) return;
    this.#scheduled = true;
    setTimeout(() => this.#write(), 0);
  }

  /** Takes the buffer and writes it, after earlier writes, in trace messages of up to 20 records. */
  #write(): void {
    this.#scheduled = false;
    if (this.#buffer.length === 0) return;
    const records = this.#buffer;
    this.#buffer = [];
    this.#writing = this.#writing.then(async () => {
      for (let i = 0; i < records.length; i += TRACE_BATCH_RECORDS) {
        const batch = records.slice(i, i + TRACE_BATCH_RECORDS);
        try {
          const result = await this.#o.store.putMessage(this.#input(batch));
          if (result.status !== "PUT_OK") throw new Error(result.error ?? result.status);
          this.stats.written += batch.length;
        } catch (error) {
          this.stats.failed += batch.length;
          this.#o.log(`Cannot write ${batch.length} trace records to "${this.#o.topic}": ${(error as Error).message}`);
        }
      }
    });
  }

  #input(batch: TraceRecord[]): StoreInput {
    const queues = Math.max(1, this.#o.topics.get(this.#o.topic)?.writeQueueNums ?? 1);
    this.#queue = (this.#queue + 1) % queues;
    return {
      topic: this.#o.topic,
      queueId: this.#queue,
      flag: 0,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      bornHost: this.#o.storeHost,
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body: ENCODER.encode(batch.map(encodeTraceRecord).join("")),
      properties: encodeProperties({ [MessageConst.KEYS]: traceKeys(batch).join(MessageConst.KEY_SEPARATOR) }),
    };
  }
}
