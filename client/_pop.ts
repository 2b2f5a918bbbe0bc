/**
 * The POP requests and answers (POP_MESSAGE, ACK_MESSAGE, BATCH_ACK_MESSAGE,
 * CHANGE_MESSAGE_INVISIBLETIME) as every POP consumer makes them, and what a popped message
 * carries: its receipt handle and delivery attempt.
 *
 * @module
 */
import { ProtocolError } from "../core/errors.ts";
import { MessageConst, type MessageExt } from "../core/model/message.ts";
import { decodeRecords } from "../core/model/record.ts";
import type { ExpressionType } from "../core/model/message_filter.ts";
import { type RetryPolicy, RetryPolicySchema } from "../core/model/retry_policy.ts";
import * as v from "valibot";
import type { Command, Header } from "../core/protocol/command.ts";
import { ResponseCode } from "../core/protocol/request_code.ts";
import { inflateMessages } from "./_pull.ts";
import { restoreRetryTopic } from "./_retry_topic.ts";

/** Response codes of a pop that are answers, not errors (found, nothing now, nothing before the poll time ran out). */
export const POP_CODES: readonly number[] = [ResponseCode.SUCCESS, ResponseCode.PULL_NOT_FOUND, ResponseCode.POLLING_TIMEOUT];

/**
 * What acks a popped message, or changes how long it stays invisible: its broker, the topic it
 * was popped for, and the broker's handle for this delivery. A new one comes with each delivery
 * and each change of the invisible time; the old one then stops working.
 */
export interface ReceiptHandle {
  /** The topic the message was received from (its original topic, also for a redelivery). */
  readonly topic: string;
  /** The broker that delivered it. */
  readonly brokerName: string;
  /** The broker's handle text. */
  readonly value: string;
}

/** A message handed out by POP. */
export interface ReceivedMessage extends MessageExt {
  /** Acks it, or changes its invisible time (`SimpleConsumer.ack`, `changeInvisibleDuration`). */
  receiptHandle: ReceiptHandle;
  /** Which delivery of the message this is: 1 the first, 2 after its invisible time ran out once… */
  deliveryAttempt: number;
  /** When it becomes visible again unless acked or extended, ms since the epoch. */
  invisibleUntil: number;
  /** Its FIFO message group, when it has one. */
  messageGroup?: string;
}

/** What one pop asks for. */
export interface PopSpec {
  group: string;
  topic: string;
  maxNums: number;
  invisibleTimeMs: number;
  /** Long poll; 0 answers at once. */
  pollTimeMs: number;
  /** Where a queue the group never consumed starts. */
  initMode: "FIRST_OFFSET" | "LAST_OFFSET";
  expression: string;
  /** How the broker reads `expression`. */
  expressionType: ExpressionType;
}

/** A pop's answer. */
export interface PopAnswer {
  messages: ReceivedMessage[];
  /** The group's retry policy (with messages). */
  retryPolicy: RetryPolicy | undefined;
}

/**
 * The POP_MESSAGE header.
 *
 * @param spec What to pop.
 * @returns The header.
 */
export function popHeader(spec: PopSpec): Header {
  return {
    consumerGroup: spec.group,
    topic: spec.topic,
    queueId: -1,
    maxMsgNums: spec.maxNums,
    invisibleTime: spec.invisibleTimeMs,
    pollTime: spec.pollTimeMs,
    bornTime: Date.now(),
    initMode: spec.initMode === "FIRST_OFFSET" ? 0 : 1,
    expType: spec.expressionType,
    exp: spec.expression,
  };
}

/**
 * Reads a pop's answer: the records, each with the handle and attempt the header gives it in order,
 * presented under the topic popped (a redelivery is stored in the group's POP retry topic), and
 * compressed bodies inflated. A body that does not inflate is left out and told to `onCorrupt`: not
 * acked, it comes back after its invisible time until the group's retries send it to the DLQ.
 *
 * @param response The answer (one of `POP_CODES`).
 * @param topic The topic popped.
 * @param brokerName The broker asked.
 * @param onCorrupt Told of each message left out.
 * @returns The messages.
 * @throws {ProtocolError} When the records or the header do not add up.
 */
export async function readPopResponse(
  response: Command,
  topic: string,
  brokerName: string,
  onCorrupt: (message: MessageExt, reason: string) => void,
): Promise<PopAnswer> {
  if (response.code !== ResponseCode.SUCCESS) return { messages: [], retryPolicy: undefined };
  const header = response.header;
  const handles = header.handles;
  const attempts = header.attempts;
  const popTime = header.popTime;
  const invisibleTime = header.invisibleTime;
  let records: MessageExt[];
  try {
    records = decodeRecords(response.body ?? new Uint8Array(0), { copyBody: false });
  } catch (cause) {
    throw new ProtocolError(`Broker "${brokerName}" sent undecodable records for a pop of topic "${topic}"`, { cause });
  }
  if (
    !Array.isArray(handles) || !Array.isArray(attempts) || handles.length !== records.length || attempts.length !== records.length ||
    typeof popTime !== "number" || typeof invisibleTime !== "number"
  ) {
    throw new ProtocolError(`Broker "${brokerName}" sent a malformed pop answer for topic "${topic}"`);
  }
  const received = records.map((record, i): ReceivedMessage => {
    const message = restoreRetryTopic(record) as ReceivedMessage;
    const value = handles[i];
    if (typeof value !== "string") throw new ProtocolError(`Broker "${brokerName}" sent a malformed receipt handle for topic "${topic}"`);
    message.receiptHandle = { topic, brokerName, value };
    message.deliveryAttempt = Number(attempts[i]);
    message.invisibleUntil = popTime + invisibleTime;
    const group = message.properties[MessageConst.SHARDING_KEY];
    if (group !== undefined) message.messageGroup = group;
    return message;
  });
  const messages = await inflateMessages(received, onCorrupt) as ReceivedMessage[];
  const policy = v.safeParse(RetryPolicySchema, header.retryPolicy);
  return { messages, retryPolicy: policy.success ? policy.output : undefined };
}
