/**
 * Message trace records in RocketMQ's trace topic format (`RMQ_SYS_TRACE_TOPIC`): each record is a
 * line of fields separated by U+0001 and ended by U+0002; a trace message's body holds a batch of
 * them, and its keys are the traced messages' ids (unique keys) and keys, so the broker's key
 * index finds a message's records. The fields of `Pub`, `SubBefore`, `SubAfter` and
 * `EndTransaction` are RocketMQ's, in its order; fields of ours are appended after them (RocketMQ's
 * decoder reads by position and ignores the rest), and `DeadLetter` is a record type of ours
 * (RocketMQ's decoder skips unknown types). See docs/TRACE.md.
 *
 * @module
 */

/** The topic trace records are stored in (RocketMQ's `RMQ_SYS_TRACE_TOPIC`). */
export const TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC";
/** The region id written in every record (RocketMQ's default region). */
export const TRACE_REGION = "DefaultRegion";
/** Most records in one trace message (RocketMQ's batch limit). */
export const TRACE_BATCH_RECORDS = 20;
/** Most body bytes of one trace message (RocketMQ's trace producer limit). */
export const TRACE_MAX_BODY = 128_000;

const FIELD = "\u0001";
const RECORD = "\u0002";

/** What a record tells: a send, a delivery's start and end, a transaction's end, a move to the dead-letter topic. */
export type TraceType = "Pub" | "SubBefore" | "SubAfter" | "EndTransaction" | "DeadLetter";

/** RocketMQ's `MessageType` ordinals, as written in `Pub` and `EndTransaction` records. */
export const TraceMessageType = { NORMAL: 0, TRANS_HALF: 1, TRANS_COMMIT: 2, DELAY: 3, ORDER: 4 } as const;

/** RocketMQ's `ConsumeReturnType` ordinals, written as a `SubAfter` record's context code. */
export const ConsumeReturnCode = { SUCCESS: 0, TIME_OUT: 1, EXCEPTION: 2, RETURNNULL: 3, FAILED: 4 } as const;

/** A producer's send (RocketMQ's `Pub`). */
export interface PubRecord {
  type: "Pub";
  /** When the send began, ms since the epoch. */
  timestamp: number;
  regionId: string;
  /** The producer group. */
  group: string;
  topic: string;
  /** The message id clients show: the unique key (`UNIQ_KEY`). */
  msgId: string;
  tags: string;
  /** Keys, space separated. */
  keys: string;
  /** The broker that stored it (`host:port`), empty when the send failed. */
  storeHost: string;
  bodyLength: number;
  /** Time the send took, ms. */
  costMs: number;
  /** A `TraceMessageType`. */
  msgType: number;
  /** The offset message id the broker answered; empty when the send failed. */
  offsetMsgId: string;
  success: boolean;
  /** The producer's client id (RocketMQ's client host field). */
  clientId: string;
}

/** A delivery handed to a consumer (RocketMQ's `SubBefore`). */
export interface SubBeforeRecord {
  type: "SubBefore";
  timestamp: number;
  regionId: string;
  /** The consumer group. */
  group: string;
  /** Pairs the delivery with its `SubAfter`. */
  requestId: string;
  msgId: string;
  /** Earlier deliveries of the message to the group (`reconsumeTimes`). */
  retryTimes: number;
  keys: string;
  /** The consumer's client id (ours). */
  clientId: string;
  /** The message's topic (ours). */
  topic: string;
}

/** A delivery's outcome (RocketMQ's `SubAfter`). */
export interface SubAfterRecord {
  type: "SubAfter";
  requestId: string;
  msgId: string;
  /** Handling time, ms (a batch's time divided by its size, as RocketMQ). */
  costMs: number;
  success: boolean;
  keys: string;
  /** A `ConsumeReturnCode`. */
  contextCode: number;
  /** When handling ended, ms since the epoch. */
  timestamp: number;
  group: string;
  /** The consumer's client id (ours). */
  clientId: string;
  /** The message's topic (ours). */
  topic: string;
  /** Earlier deliveries of the message to the group (ours). */
  retryTimes: number;
}

/** A transactional message committed or rolled back, recorded by the broker (RocketMQ's `EndTransaction`). */
export interface EndTransactionRecord {
  type: "EndTransaction";
  timestamp: number;
  regionId: string;
  /** The producer group. */
  group: string;
  topic: string;
  msgId: string;
  tags: string;
  keys: string;
  storeHost: string;
  msgType: number;
  transactionId: string;
  /** `COMMIT_MESSAGE` or `ROLLBACK_MESSAGE` (RocketMQ's `LocalTransactionState` names). */
  transactionState: "COMMIT_MESSAGE" | "ROLLBACK_MESSAGE";
  /** Resolved by a check-back's answer or the broker's policy rather than by the producer. */
  fromTransactionCheck: boolean;
}

/** A message moved to a group's dead-letter topic, recorded by the broker (ours). */
export interface DeadLetterRecord {
  type: "DeadLetter";
  timestamp: number;
  regionId: string;
  /** The consumer group. */
  group: string;
  /** The topic the message was first sent to. */
  topic: string;
  msgId: string;
  tags: string;
  keys: string;
  storeHost: string;
  /** Deliveries it had. */
  retryTimes: number;
  /** `%DLQ%<group>`. */
  dlqTopic: string;
  /** The dead letter's offset message id. */
  offsetMsgId: string;
}

/** One trace record. */
export type TraceRecord = PubRecord | SubBeforeRecord | SubAfterRecord | EndTransactionRecord | DeadLetterRecord;

/** A field as text, the separators taken out (values come from messages and names already checked, so this is a guard). */
function clean(value: string | number | boolean): string {
  const text = String(value);
  return text.includes(FIELD) || text.includes(RECORD) ? text.replace(/[\u0001\u0002]/g, "") : text;
}

function line(fields: readonly (string | number | boolean)[]): string {
  let out = clean(fields[0]!);
  for (let i = 1; i < fields.length; i++) out += FIELD + clean(fields[i]!);
  return out + RECORD;
}

/**
 * Encodes one record as RocketMQ's trace text.
 *
 * @param record The record.
 * @returns Its line, ended by U+0002.
 */
export function encodeTraceRecord(record: TraceRecord): string {
  switch (record.type) {
    case "Pub":
      return line([
        "Pub", record.timestamp, record.regionId, record.group, record.topic, record.msgId, record.tags, record.keys,
        record.storeHost, record.bodyLength, record.costMs, record.msgType, record.offsetMsgId, record.success, record.clientId,
      ]);
    case "SubBefore":
      return line([
        "SubBefore", record.timestamp, record.regionId, record.group, record.requestId, record.msgId, record.retryTimes, record.keys,
        record.clientId, record.topic,
      ]);
    case "SubAfter":
      return line([
        "SubAfter", record.requestId, record.msgId, record.costMs, record.success, record.keys, record.contextCode, record.timestamp,
        record.group, record.clientId, record.topic, record.retryTimes,
      ]);
    case "EndTransaction":
      return line([
        "EndTransaction", record.timestamp, record.regionId, record.group, record.topic, record.msgId, record.tags, record.keys,
        record.storeHost, record.msgType, record.transactionId, record.transactionState, record.fromTransactionCheck,
      ]);
    case "DeadLetter":
      return line([
        "DeadLetter", record.timestamp, record.regionId, record.group, record.topic, record.msgId, record.tags, record.keys,
        record.storeHost, record.retryTimes, record.dlqTopic, record.offsetMsgId,
      ]);
  }
}

/**
 * The keys a trace message carrying these records is indexed by: each record's message id and
 * keys (as RocketMQ's trace dispatcher), once each.
 *
 * @param records The records.
 * @returns The keys.
 */
export function traceKeys(records: readonly TraceRecord[]): string[] {
  const keys = new Set<string>();
  for (const record of records) {
    if (record.msgId !== "") keys.add(record.msgId);
    for (const key of record.keys.split(" ")) if (key !== "") keys.add(key);
  }
  return [...keys];
}

function int(text: string | undefined): number | undefined {
  if (text === undefined || !/^-?\d{1,16}$/.test(text)) return undefined;
  return Number(text);
}

function bool(text: string | undefined): boolean {
  return text === "true";
}

/** Decodes one line; undefined when it is not a record this decoder knows or is malformed. */
function decodeLine(f: string[]): TraceRecord | undefined {
  const s = (i: number) => f[i] ?? "";
  switch (f[0]) {
    case "Pub": {
      const timestamp = int(f[1]);
      if (timestamp === undefined || f.length < 13) return undefined;
      // RocketMQ writes 14 fields (offset id at 12, success at 13); 13 in its oldest form (success at 12).
      const old = f.length === 13;
      return {
        type: "Pub", timestamp, regionId: s(2), group: s(3), topic: s(4), msgId: s(5), tags: s(6), keys: s(7), storeHost: s(8),
        bodyLength: int(f[9]) ?? 0, costMs: int(f[10]) ?? 0, msgType: int(f[11]) ?? 0,
        offsetMsgId: old ? "" : s(12), success: bool(old ? f[12] : f[13]), clientId: s(14),
      };
    }
    case "SubBefore": {
      const timestamp = int(f[1]);
      if (timestamp === undefined || f.length < 8) return undefined;
      return {
        type: "SubBefore", timestamp, regionId: s(2), group: s(3), requestId: s(4), msgId: s(5), retryTimes: int(f[6]) ?? 0, keys: s(7),
        clientId: s(8), topic: s(9),
      };
    }
    case "SubAfter": {
      if (f.length < 6) return undefined;
      return {
        type: "SubAfter", requestId: s(1), msgId: s(2), costMs: int(f[3]) ?? 0, success: bool(f[4]), keys: s(5),
        contextCode: int(f[6]) ?? (bool(f[4]) ? ConsumeReturnCode.SUCCESS : ConsumeReturnCode.FAILED),
        timestamp: int(f[7]) ?? 0, group: s(8), clientId: s(9), topic: s(10), retryTimes: int(f[11]) ?? 0,
      };
    }
    case "EndTransaction": {
      const timestamp = int(f[1]);
      if (timestamp === undefined || f.length < 13) return undefined;
      const state = s(11);
      if (state !== "COMMIT_MESSAGE" && state !== "ROLLBACK_MESSAGE") return undefined;
      return {
        type: "EndTransaction", timestamp, regionId: s(2), group: s(3), topic: s(4), msgId: s(5), tags: s(6), keys: s(7), storeHost: s(8),
        msgType: int(f[9]) ?? 0, transactionId: s(10), transactionState: state, fromTransactionCheck: bool(f[12]),
      };
    }
    case "DeadLetter": {
      const timestamp = int(f[1]);
      if (timestamp === undefined || f.length < 12) return undefined;
      return {
        type: "DeadLetter", timestamp, regionId: s(2), group: s(3), topic: s(4), msgId: s(5), tags: s(6), keys: s(7), storeHost: s(8),
        retryTimes: int(f[9]) ?? 0, dlqTopic: s(10), offsetMsgId: s(11),
      };
    }
    default:
      return undefined;
  }
}

/**
 * Decodes a trace message's body. Anyone allowed to write to the trace topic writes its bodies,
 * so nothing here throws: lines that are not well-formed records are skipped.
 *
 * @param text The body as text.
 * @returns The records it holds, in order.
 */
export function decodeTraceData(text: string): TraceRecord[] {
  const out: TraceRecord[] = [];
  for (const part of text.split(RECORD)) {
    if (part === "") continue;
    const record = decodeLine(part.split(FIELD));
    if (record !== undefined) out.push(record);
  }
  return out;
}
