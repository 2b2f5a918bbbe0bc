/**
 * The PULL_MESSAGE request and its answer, shared by every consumer.
 *
 * @module
 */
import { BrokerError, CorruptMessageError, ProtocolError } from "../core/errors.ts";
import type { MessageExt } from "../core/model/message.ts";
import type { ExpressionType } from "../core/model/message_filter.ts";
import type { MessageQueue } from "../core/model/message_queue.ts";
import { COMPRESSION_TYPE_MASK, inflateZlib, isZlibCompressed } from "../core/model/compression.ts";
import { SysFlag } from "../core/model/message.ts";
import type { CorruptRecord } from "../core/model/record.ts";
import { decodeRecordViews } from "../core/model/record_view.ts";
import type { Command, Header } from "../core/protocol/command.ts";
import type { PullResponseHeader } from "../core/protocol/headers.ts";
import { PullSysFlag, ResponseCode } from "../core/protocol/request_code.ts";
import type { PullResult, PullStatus } from "./pull_consumer.ts";

// Every pulled body is CRC-checked: use the runtime's zlib CRC-32 where there is one.
import("./node/native_crc32.ts").catch(() => {});

const PULL_STATUS: Readonly<Record<number, PullStatus>> = {
  [ResponseCode.SUCCESS]: "FOUND",
  [ResponseCode.PULL_NOT_FOUND]: "NO_NEW_MSG",
  [ResponseCode.PULL_RETRY_IMMEDIATELY]: "NO_MATCHED_MSG",
  [ResponseCode.PULL_OFFSET_MOVED]: "OFFSET_ILLEGAL",
};

/** Response codes of a pull that are statuses, not errors. */
export const PULL_CODES: readonly number[] = Object.keys(PULL_STATUS).map(Number);

/**
 * Whether a pull failed only because the broker is busy: its long-polling slots are taken (in all
 * or for this connection), or it is shutting down. Nothing is wrong with the queue; pull loops back
 * off (with jitter) and try again, and say so once rather than at every attempt.
 *
 * @param error What the pull threw.
 * @returns True for a SYSTEM_BUSY answer.
 */
export function isBrokerBusy(error: unknown): boolean {
  return error instanceof BrokerError && error.code === ResponseCode.SYSTEM_BUSY;
}

/** What one pull asks for. */
export interface PullSpec {
  group: string;
  offset: number;
  maxNums: number;
  /** The subscription's expression, sent so the broker filters (by tag hash, or SQL92 exactly). */
  expression: string;
  /** How the broker reads `expression`. @default "TAG" */
  expressionType?: ExpressionType;
  /** Long-poll time; 0 answers at once. */
  suspendMs: number;
  /** Offset to commit with the pull; -1 for none. */
  commitOffset: number;
}

/**
 * The PULL_MESSAGE header for a queue.
 *
 * @param queue The queue.
 * @param pull What to pull.
 * @returns The header.
 */
export function pullHeader(queue: MessageQueue, pull: PullSpec): Header {
  const commit = pull.commitOffset >= 0;
  return {
    consumerGroup: pull.group,
    topic: queue.topic,
    queueId: queue.queueId,
    queueOffset: pull.offset,
    maxMsgNums: pull.maxNums,
    sysFlag: PullSysFlag.SUBSCRIPTION | (pull.suspendMs > 0 ? PullSysFlag.SUSPEND : 0) | (commit ? PullSysFlag.COMMIT_OFFSET : 0),
    commitOffset: commit ? pull.commitOffset : -1,
    suspendTimeoutMillis: pull.suspendMs,
    subscription: pull.expression,
    // Tag pulls leave the type out: the broker's default.
    ...(pull.expressionType === "SQL92" ? { expressionType: "SQL92" } : {}),
  };
}

/**
 * Inflates the zlib-compressed bodies among delivered messages (RocketMQ 4.x producers compress
 * bodies of 4 KiB and more): each gets its plain body and a sysflag without the compression bits.
 * A body that does not inflate is left out and described as corrupt. Messages compressed otherwise
 * (LZ4, ZSTD) are delivered as stored.
 *
 * @param messages Decoded messages; changed in place.
 * @param onCorrupt Told of each message that does not inflate.
 * @returns The messages that are left, or the same array when none is compressed.
 */
export async function inflateMessages(messages: MessageExt[], onCorrupt: (message: MessageExt, reason: string) => void): Promise<MessageExt[]> {
  if (!messages.some((message) => isZlibCompressed(message.sysFlag))) return messages;
  const kept: MessageExt[] = [];
  for (const message of messages) {
    if (isZlibCompressed(message.sysFlag)) {
      try {
        message.body = await inflateZlib(message.body);
        message.sysFlag &= ~(SysFlag.COMPRESSED | COMPRESSION_TYPE_MASK);
      } catch (error) {
        onCorrupt(message, (error as Error).message);
        continue;
      }
    }
    kept.push(message);
  }
  return kept;
}

/**
 * Reads a pull's answer (one of `PULL_CODES`), decoding the records of a FOUND into lazy views over
 * the answer's body (`decodeRecordViews`), checking each body's CRC and inflating compressed
 * bodies: a record that fails is left out of `messages` and described in `corrupt`.
 *
 * @param response The answer.
 * @param queue The queue pulled, for the error message.
 * @returns Status, offsets and messages (not yet filtered by exact tag).
 * @throws {ProtocolError} When the records cannot be decoded.
 */
export async function readPullResponse(response: Command, queue: MessageQueue): Promise<PullResult> {
  const header = response.header as unknown as PullResponseHeader;
  const status = PULL_STATUS[response.code]!;
  let messages: MessageExt[] = [];
  const corrupt: CorruptMessageError[] = [];
  if (status === "FOUND") {
    const onCorrupt = (record: CorruptRecord) => corrupt.push(new CorruptMessageError({ ...queue, ...record }));
    try {
      messages = decodeRecordViews(response.body ?? new Uint8Array(0), { onCorrupt });
    } catch (cause) {
      throw new ProtocolError(
        `Broker sent undecodable records for queue ${queue.queueId} of topic "${queue.topic}" on broker "${queue.brokerName}": ${(cause as Error).message}`,
        { cause },
      );
    }
    messages = await inflateMessages(messages, (message, reason) =>
      corrupt.push(new CorruptMessageError({ ...queue, queueOffset: message.queueOffset, commitLogOffset: message.commitLogOffset, reason })));
  }
  return { status, nextBeginOffset: header.nextBeginOffset, minOffset: header.minOffset, maxOffset: header.maxOffset, messages, corrupt };
}
