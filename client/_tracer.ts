/**
 * Message trace on the client (`enableTrace`): the records of sends and deliveries, handed to a
 * `TraceDispatcher` that sends them to the trace topic through a producer of its own.
 *
 * @module
 */
import { ClientError } from "../core/errors.ts";
import { MessageConst, type MessageExt } from "../core/model/message.ts";
import { ConsumeReturnCode, TRACE_REGION, TRACE_TOPIC, TraceMessageType, type TraceRecord } from "../core/model/trace.ts";
import { checkTopic } from "./_prepare_message.ts";
import { TraceDispatcher, type TraceSend } from "./_trace_dispatcher.ts";

/** The trace options of every producer and consumer. */
export interface TraceOptions {
  /**
   * Record each send (producer) or delivery (consumer) in the trace topic, asynchronously and in
   * batches: `rmq trace <msgId|key> --topic <topic>` then shows a message's life. @default false
   */
  enableTrace?: boolean;
  /** Where trace records go. @default "RMQ_SYS_TRACE_TOPIC" */
  traceTopic?: string;
  /** Trace records waiting to be sent at most; past it new ones are dropped and counted (`traceStats`). @default 2048 */
  traceMaxBuffered?: number;
}

/** The trace topic of checked options, or undefined when tracing is off. */
export function traceTopicOf(options: TraceOptions): string | undefined {
  if (options.enableTrace !== true) return undefined;
  const topic = options.traceTopic ?? TRACE_TOPIC;
  checkTopic(topic);
  return topic;
}

/** The producer group of a client's trace producer (RocketMQ's `_INNER_TRACE_PRODUCER-<group>-<kind>`). */
export function traceProducerGroup(group: string, kind: "PRODUCER" | "CONSUMER"): string {
  return `_INNER_TRACE_PRODUCER-${group}-${kind}`.slice(0, 255);
}

/**
 * Makes the dispatcher of a traced client.
 *
 * @param send Sends a trace message (the client's trace producer).
 * @param options The client's trace options.
 * @param log Where failures go.
 * @returns The dispatcher.
 * @throws {ClientError} When `traceMaxBuffered` is invalid.
 */
export function traceDispatcher(send: TraceSend, options: TraceOptions, log: (line: string) => void): TraceDispatcher {
  if (options.traceMaxBuffered !== undefined && !Number.isSafeInteger(options.traceMaxBuffered)) {
    throw new ClientError(`traceMaxBuffered "${options.traceMaxBuffered}" must be an integer`);
  }
  return new TraceDispatcher({ send, log, ...(options.traceMaxBuffered === undefined ? {} : { maxBuffered: options.traceMaxBuffered }) });
}

/** What a producer knows of one send, for its `Pub` record. */
export interface SendTrace {
  group: string;
  clientId: string;
  topic: string;
  uniqueKey: string;
  properties: Record<string, string>;
  bodyLength: number;
  /** When the send began (ms since the epoch). */
  began: number;
  /** The broker that stored it; empty when the send failed. */
  storeHost: string;
  offsetMsgId: string;
  success: boolean;
}

/**
 * The `Pub` record of a send.
 *
 * @param send What the producer knows of it.
 * @returns The record.
 */
export function pubRecord(send: SendTrace): TraceRecord {
  const p = send.properties;
  const msgType = p[MessageConst.TRAN_MSG] === "true"
    ? TraceMessageType.TRANS_HALF
    : MessageConst.DELAY in p || MessageConst.TIMER_DELIVER_MS in p || MessageConst.TIMER_DELAY_MS in p || MessageConst.TIMER_DELAY_SEC in p
    ? TraceMessageType.DELAY
    : TraceMessageType.NORMAL;
  return {
    type: "Pub",
    timestamp: send.began,
    regionId: TRACE_REGION,
    group: send.group,
    topic: send.topic,
    msgId: send.uniqueKey,
    tags: p[MessageConst.TAGS] ?? "",
    keys: p[MessageConst.KEYS] ?? "",
    storeHost: send.storeHost,
    bodyLength: send.bodyLength,
    costMs: Date.now() - send.began,
    msgType,
    offsetMsgId: send.offsetMsgId,
    success: send.success,
    clientId: send.clientId,
  };
}

/** One delivery being handled: what its `SubAfter` records need. */
export interface ConsumeTrace {
  readonly requestId: string;
  readonly began: number;
  readonly messages: readonly MessageExt[];
}

/** Records the deliveries of one consumer group member. */
export class ConsumeTracer {
  readonly #dispatcher: TraceDispatcher;
  readonly #group: string;
  readonly #clientId: string;
  readonly #prefix = crypto.randomUUID().replaceAll("-", "").slice(0, 16).toUpperCase();
  #requests = 0;

  /**
   * @param dispatcher Where records go.
   * @param group The consumer group.
   * @param clientId The member's client id.
   */
  constructor(dispatcher: TraceDispatcher, group: string, clientId: string) {
    this.#dispatcher = dispatcher;
    this.#group = group;
    this.#clientId = clientId;
  }

  /** The dispatcher. */
  get dispatcher(): TraceDispatcher {
    return this.#dispatcher;
  }

  /**
   * Records that messages are handed to the application (a `SubBefore` each).
   *
   * @param messages The messages of one handler call (or one receive).
   * @returns What `after` needs.
   */
  before(messages: readonly MessageExt[]): ConsumeTrace {
    const requestId = this.#prefix + (++this.#requests).toString(16).padStart(8, "0");
    const began = Date.now();
    for (const m of messages) {
      this.#dispatcher.append({
        type: "SubBefore",
        timestamp: began,
        regionId: TRACE_REGION,
        group: this.#group,
        requestId,
        msgId: m.uniqueKey ?? m.msgId,
        retryTimes: m.reconsumeTimes,
        keys: m.keys.join(MessageConst.KEY_SEPARATOR),
        clientId: this.#clientId,
        topic: m.topic,
      });
    }
    return { requestId, began, messages };
  }

  /**
   * Records how handling went (a `SubAfter` each; the cost is the call's time divided by its messages, as RocketMQ).
   *
   * @param trace What `before` returned.
   * @param success Whether the messages were consumed.
   * @param contextCode A `ConsumeReturnCode`. @default SUCCESS or FAILED
   */
  after(trace: ConsumeTrace, success: boolean, contextCode: number = success ? ConsumeReturnCode.SUCCESS : ConsumeReturnCode.FAILED): void {
    const now = Date.now();
    const costMs = Math.round((now - trace.began) / Math.max(1, trace.messages.length));
    for (const m of trace.messages) {
      this.#dispatcher.append({
        type: "SubAfter",
        requestId: trace.requestId,
        msgId: m.uniqueKey ?? m.msgId,
        costMs,
        success,
        keys: m.keys.join(MessageConst.KEY_SEPARATOR),
        contextCode,
        timestamp: now,
        group: this.#group,
        clientId: this.#clientId,
        topic: m.topic,
        retryTimes: m.reconsumeTimes,
      });
    }
  }
}
