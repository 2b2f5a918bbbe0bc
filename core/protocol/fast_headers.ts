/**
 * Hand-written parsers for the headers of the hottest requests (send and pull). Each accepts only
 * what its valibot schema accepts and returns the same output; anything unusual returns undefined so
 * the schema decides (and words the error). A property test holds them to that.
 *
 * @module
 */
import { MAX_EXPRESSION_LENGTH } from "../model/message_filter.ts";
import { type BatchRecordsHeader, type PullMessageHeader, type SendBatchHeader, type SendMessageHeader, TOPIC_MAX_LENGTH, TOPIC_PATTERN } from "./headers.ts";

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

/** Topics already checked against the pattern (bounded, so hostile names cannot grow it). */
const KNOWN_TOPICS = new Set<string>();
const KNOWN_TOPICS_MAX = 10_000;

function isTopic(value: unknown): value is string {
  if (typeof value !== "string") return false;
  if (KNOWN_TOPICS.has(value)) return true;
  if (value.length === 0 || value.length > TOPIC_MAX_LENGTH || !TOPIC_PATTERN.test(value) || value === "__proto__") return false;
  if (KNOWN_TOPICS.size < KNOWN_TOPICS_MAX) KNOWN_TOPICS.add(value);
  return true;
}

function isGroup(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= 255 && TOPIC_PATTERN.test(value) && value !== "__proto__";
}

function isInt(value: unknown, min: number, max: number): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max;
}

/** Every key of `header` is one of `keys` and none is undefined (the schema handles the rest). */
function onlyKnownKeys(header: Record<string, unknown>, keys: ReadonlySet<string>): boolean {
  for (const key in header) if (!keys.has(key) || header[key] === undefined) return false;
  return true;
}

const SEND_KEYS = new Set([
  "producerGroup", "topic", "queueId", "bornTimestamp", "flag", "sysFlag", "properties", "reconsumeTimes",
  "maxReconsumeTimes", "defaultTopicQueueNums",
]);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** A send header from its fields (defaults applied by the caller), or undefined when one is unusual. */
function sendHeaderOf(
  producerGroup: unknown,
  topic: unknown,
  queueId: unknown,
  bornTimestamp: unknown,
  flag: unknown,
  sysFlag: unknown,
  properties: unknown,
  reconsumeTimes: unknown,
  maxReconsumeTimes: unknown,
  defaultTopicQueueNums: unknown,
): SendMessageHeader | undefined {
  if (
    typeof producerGroup !== "string" || !isTopic(topic) || !isInt(queueId, -1, INT32_MAX) ||
    !isInt(bornTimestamp, 0, Number.MAX_SAFE_INTEGER) || !isInt(flag, INT32_MIN, INT32_MAX) || !isInt(sysFlag, 0, INT32_MAX) ||
    typeof properties !== "string" || properties.length > 65535 || !isInt(reconsumeTimes, 0, INT32_MAX) ||
    (maxReconsumeTimes !== undefined && !isInt(maxReconsumeTimes, 0, INT32_MAX)) || !isInt(defaultTopicQueueNums, 1, 1024)
  ) {
    return undefined;
  }
  const out: SendMessageHeader = { producerGroup, topic, queueId, bornTimestamp, flag, sysFlag, properties, reconsumeTimes, defaultTopicQueueNums };
  if (maxReconsumeTimes !== undefined) out.maxReconsumeTimes = maxReconsumeTimes as number;
  return out;
}

/**
 * Parses a SEND_MESSAGE header whose fields are all plainly valid.
 *
 * @param header The decoded header.
 * @returns The header with defaults, or undefined to let the schema decide.
 */
export function fastSendHeader(header: unknown): SendMessageHeader | undefined {
  if (!isPlainObject(header) || !onlyKnownKeys(header, SEND_KEYS)) return undefined;
  const { producerGroup = "", topic, queueId, bornTimestamp, flag = 0, sysFlag = 0, properties = "", reconsumeTimes = 0, maxReconsumeTimes, defaultTopicQueueNums = 4 } = header;
  return sendHeaderOf(producerGroup, topic, queueId, bornTimestamp, flag, sysFlag, properties, reconsumeTimes, maxReconsumeTimes, defaultTopicQueueNums);
}

const SEND_V2_KEYS = new Set(["a", "b", "d", "e", "f", "g", "h", "i", "j", "l"]);

/**
 * Parses a SEND_MESSAGE_V2 header (one-letter names) whose fields are all plainly valid.
 *
 * @param header The decoded header.
 * @returns The header with defaults, under SEND_MESSAGE's names, or undefined to let the schema decide.
 */
export function fastSendV2Header(header: unknown): SendMessageHeader | undefined {
  if (!isPlainObject(header) || !onlyKnownKeys(header, SEND_V2_KEYS)) return undefined;
  const { a = "", b, d = 4, e, f = 0, g, h = 0, i = "", j = 0, l } = header;
  return sendHeaderOf(a, b, e, g, h, f, i, j, l, d);
}

const BATCH_KEYS = new Set(["producerGroup", "topic", "queueId", "bornTimestamp", "messages", "defaultTopicQueueNums"]);
const ENTRY_KEYS = new Set(["size", "flag", "properties"]);

/** One batch entry from its fields, or undefined when one is unusual. */
function entryOf(size: unknown, flag: unknown, properties: unknown): SendBatchHeader["messages"][number] | undefined {
  if (!isInt(size, 0, INT32_MAX) || !isInt(flag, INT32_MIN, INT32_MAX) || typeof properties !== "string" || properties.length > 65535) {
    return undefined;
  }
  return { size, flag, properties };
}

/** A batch header from its fields, each entry read by `readEntry`; undefined when one is unusual. */
function batchHeaderOf(
  producerGroup: unknown,
  topic: unknown,
  queueId: unknown,
  bornTimestamp: unknown,
  messages: unknown,
  defaultTopicQueueNums: unknown,
  readEntry: (entry: unknown) => SendBatchHeader["messages"][number] | undefined,
): SendBatchHeader | undefined {
  if (
    typeof producerGroup !== "string" || !isTopic(topic) || !isInt(queueId, -1, INT32_MAX) ||
    !isInt(bornTimestamp, 0, Number.MAX_SAFE_INTEGER) || !Array.isArray(messages) || messages.length < 1 ||
    messages.length > 4096 || !isInt(defaultTopicQueueNums, 1, 1024)
  ) {
    return undefined;
  }
  const entries: SendBatchHeader["messages"] = new Array(messages.length);
  for (let i = 0; i < messages.length; i++) {
    const entry = readEntry(messages[i]);
    if (entry === undefined) return undefined;
    entries[i] = entry;
  }
  return { producerGroup, topic, queueId, bornTimestamp, messages: entries, defaultTopicQueueNums };
}

function objectEntry(entry: unknown): SendBatchHeader["messages"][number] | undefined {
  if (!isPlainObject(entry) || !onlyKnownKeys(entry, ENTRY_KEYS)) return undefined;
  const { size, flag = 0, properties = "" } = entry;
  return entryOf(size, flag, properties);
}

function tupleEntry(entry: unknown): SendBatchHeader["messages"][number] | undefined {
  return Array.isArray(entry) && entry.length === 3 ? entryOf(entry[0], entry[1], entry[2]) : undefined;
}

/**
 * Parses a SEND_BATCH_MESSAGE header whose fields and entries are all plainly valid.
 *
 * @param header The decoded header.
 * @returns The header with defaults, or undefined to let the schema decide.
 */
export function fastSendBatchHeader(header: unknown): SendBatchHeader | undefined {
  if (!isPlainObject(header) || !onlyKnownKeys(header, BATCH_KEYS)) return undefined;
  const { producerGroup = "", topic, queueId, bornTimestamp, messages, defaultTopicQueueNums = 4 } = header;
  return batchHeaderOf(producerGroup, topic, queueId, bornTimestamp, messages, defaultTopicQueueNums, objectEntry);
}

const BATCH_V2_KEYS = new Set(["a", "b", "d", "e", "g", "m"]);

/**
 * Parses a SEND_BATCH_MESSAGE_V2 header (one-letter names, entries as tuples) whose fields and
 * entries are all plainly valid.
 *
 * @param header The decoded header.
 * @returns The header with defaults, under SEND_BATCH_MESSAGE's names, or undefined to let the schema decide.
 */
export function fastSendBatchV2Header(header: unknown): SendBatchHeader | undefined {
  if (!isPlainObject(header) || !onlyKnownKeys(header, BATCH_V2_KEYS)) return undefined;
  const { a = "", b, d = 4, e, g, m } = header;
  return batchHeaderOf(a, b, e, g, m, d, tupleEntry);
}

const BATCH_RECORDS_KEYS = new Set(["a", "b", "d", "e", "g", "n"]);

/**
 * Parses a SEND_BATCH_RECORDS header whose fields are all plainly valid.
 *
 * @param header The decoded header.
 * @returns The header with defaults, under long names, or undefined to let the schema decide.
 */
export function fastSendBatchRecordsHeader(header: unknown): BatchRecordsHeader | undefined {
  if (!isPlainObject(header) || !onlyKnownKeys(header, BATCH_RECORDS_KEYS)) return undefined;
  const { a = "", b, d = 4, e, g, n } = header;
  if (
    typeof a !== "string" || !isTopic(b) || !isInt(e, -1, INT32_MAX) || !isInt(g, 0, Number.MAX_SAFE_INTEGER) || !isInt(n, 1, 4096) ||
    !isInt(d, 1, 1024)
  ) {
    return undefined;
  }
  return { producerGroup: a, topic: b, queueId: e, bornTimestamp: g, count: n, defaultTopicQueueNums: d };
}

const PULL_KEYS = new Set([
  "consumerGroup", "topic", "queueId", "queueOffset", "maxMsgNums", "sysFlag", "commitOffset", "suspendTimeoutMillis", "subscription",
  "expressionType",
]);

/**
 * Parses a PULL_MESSAGE header whose fields are all plainly valid.
 *
 * @param header The decoded header.
 * @returns The header with defaults, or undefined to let the schema decide.
 */
export function fastPullHeader(header: unknown): PullMessageHeader | undefined {
  if (!isPlainObject(header) || !onlyKnownKeys(header, PULL_KEYS)) return undefined;
  const h = header;
  const {
    consumerGroup, topic, queueId, queueOffset, maxMsgNums, sysFlag = 0, commitOffset = -1, suspendTimeoutMillis = 0, subscription = "*",
    expressionType = "TAG",
  } = h;
  if (
    !isGroup(consumerGroup) || !isTopic(topic) || !isInt(queueId, 0, INT32_MAX) || !isInt(queueOffset, 0, Number.MAX_SAFE_INTEGER) ||
    !isInt(maxMsgNums, 1, 1024) || !isInt(sysFlag, 0, INT32_MAX) || !isInt(commitOffset, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER) ||
    !isInt(suspendTimeoutMillis, 0, 120_000) || typeof subscription !== "string" || subscription.length > MAX_EXPRESSION_LENGTH ||
    (expressionType !== "TAG" && expressionType !== "SQL92")
  ) {
    return undefined;
  }
  return { consumerGroup, topic, queueId, queueOffset, maxMsgNums, sysFlag, commitOffset, suspendTimeoutMillis, subscription, expressionType };
}
