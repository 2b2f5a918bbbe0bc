/**
 * The records POP keeps in the revive log (`rmq_sys_REVIVE_LOG_<cluster>`, queue 0), RocketMQ's
 * checkpoint and ack records in our own compact JSON: a checkpoint says which offsets of a queue
 * one pop delivered and until when they are invisible; an ack says which deliveries are settled
 * (acked by the consumer, superseded by a changed invisible time, redelivered through the retry
 * topic, moved to the dead-letter topic, or gone with retention). They sit in the CommitLog like
 * any message, so they survive a SIGKILL, replicate to slaves and are replayed at start.
 *
 * @module
 */
import * as v from "valibot";
import { GroupName, TopicName } from "../../../core/protocol/headers.ts";

const offset = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const time = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const messageGroup = v.pipe(v.string(), v.maxLength(1024));

/** A checkpoint record (fields as in `CheckpointRecord`'s schema). */
export interface CheckpointRecord {
  k: "ck";
  g: string;
  t: string;
  ot?: string | undefined;
  q: number;
  pt: number;
  it: number;
  o: number[];
  a: number[];
  b: number;
  n: number;
  mg: string[];
  w: [number, number, string][];
  f: boolean;
}

/** An ack record (fields as in `AckRecord`'s schema). */
export interface AckRecord {
  k: "ack";
  g: string;
  t: string;
  q: number;
  e: [number, number][];
  r: AckReason;
}

/** A checkpoint: one pop's deliveries from one queue. */
const checkpointSchema = v.object({
  k: v.literal("ck"),
  /** Consumer group. */
  g: GroupName,
  /** The queue's topic (the POP retry topic for retries). */
  t: TopicName,
  /** The original topic, when `t` is a retry topic. */
  ot: v.optional(TopicName),
  /** Queue id. */
  q: v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(0x7fffffff)),
  /** Pop time (ms since the epoch). */
  pt: time,
  /** Invisible time (ms). */
  it: time,
  /** The offsets delivered, ascending. */
  o: v.pipe(v.array(offset), v.maxLength(1024)),
  /** Each offset's delivery number (1 for the first). */
  a: v.pipe(v.array(v.pipe(v.number(), v.safeInteger(), v.minValue(1))), v.maxLength(1024)),
  /** Where the scan that found them started: the queue's frontier then. */
  b: offset,
  /** Where it ended: the queue's frontier after it. */
  n: offset,
  /** FIFO: the message group of each offset delivered. */
  mg: v.optional(v.pipe(v.array(messageGroup), v.maxLength(1024)), []),
  /**
   * FIFO: offsets the scan passed because their message group was busy, which wait for delivery:
   * [offset, deliveries so far, message group].
   */
  w: v.optional(v.pipe(v.array(v.tuple([offset, v.pipe(v.number(), v.safeInteger(), v.minValue(0)), messageGroup])), v.maxLength(4096)), []),
  /** Whether the group is FIFO. */
  f: v.optional(v.boolean(), false),
});
/** A checkpoint: one pop's deliveries from one queue. */
export const CheckpointRecord: v.GenericSchema<unknown, CheckpointRecord> = checkpointSchema;

/** Why deliveries were settled. */
export const ACK_REASONS = ["ack", "change", "revive", "dlq", "gone"] as const;
/** One of `ACK_REASONS`. */
export type AckReason = typeof ACK_REASONS[number];

/** An ack: deliveries of one queue settled. */
const ackSchema = v.object({
  k: v.literal("ack"),
  g: GroupName,
  t: TopicName,
  q: v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(0x7fffffff)),
  /** Pairs of (checkpoint revive offset, queue offset). */
  e: v.pipe(v.array(v.tuple([offset, offset])), v.minLength(1), v.maxLength(1024)),
  r: v.picklist(ACK_REASONS),
});
/** An ack: deliveries of one queue settled. */
export const AckRecord: v.GenericSchema<unknown, AckRecord> = ackSchema;

/** A record of the revive log. */
export type PopRecord = CheckpointRecord | AckRecord;
/** A record of the revive log. */
export const PopRecord: v.GenericSchema<unknown, PopRecord> = v.variant("k", [checkpointSchema, ackSchema]);

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The body of a revive log record.
 *
 * @param record The record.
 * @returns Its bytes.
 */
export function encodePopRecord(record: PopRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/**
 * Reads a revive log record's body.
 *
 * @param body The stored body.
 * @returns The record.
 * @throws {TypeError} When the body is not a valid record.
 */
export function decodePopRecord(body: Uint8Array): PopRecord {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(body));
  } catch (cause) {
    throw new TypeError(`Revive log record is not JSON: ${(cause as Error).message}`, { cause });
  }
  const parsed = v.safeParse(PopRecord, value);
  if (!parsed.success) throw new TypeError(`Revive log record is invalid: ${v.summarize(parsed.issues)}`);
  return parsed.output;
}

/**
 * The revive log's topic name for a cluster: `rmq_sys_REVIVE_LOG_<cluster>`, characters a topic
 * may not hold replaced by `_` and cut to the longest topic name.
 *
 * @param clusterName The broker's cluster.
 * @returns The topic.
 */
export function reviveTopic(clusterName: string): string {
  return `rmq_sys_REVIVE_LOG_${clusterName}`.replace(/[^%|a-zA-Z0-9_-]/g, "_").slice(0, 127);
}
