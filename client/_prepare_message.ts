/**
 * Client-side message checks and the wire properties of a message.
 *
 * @module
 */
import { ClientError } from "../core/errors.ts";
import { type Message, MessageConst } from "../core/model/message.ts";
import { TOPIC_MAX_LENGTH, TOPIC_PATTERN } from "../core/protocol/headers.ts";
import { checkDedupId } from "../core/model/dedup_id.ts";
import { AUTO_CREATE_TOPIC_KEY } from "../core/protocol/request_code.ts";

/** A message checked and encoded for the wire. */
export interface PreparedMessage {
  topic: string;
  body: Uint8Array;
  flag: number;
  /** Everything the header carries: user properties plus TAGS, KEYS, DELAY and UNIQ_KEY. */
  properties: Record<string, string>;
  uniqueKey: string;
}

/** Property names set by the client or broker; users set them through `Message` fields, if at all. */
const RESERVED_PROPERTIES: ReadonlySet<string> = new Set(
  Object.entries(MessageConst).filter(([name]) => name !== "KEY_SEPARATOR").map(([, value]) => value),
);

const ENCODER = new TextEncoder();
/** Whether text holds a character the stored property encoding uses as a separator. */
function hasSeparator(text: string): boolean {
  return text.includes("\u0001") || text.includes("\u0002");
}

/**
 * Checks a topic name the way the broker will.
 *
 * @param topic The name.
 * @throws {ClientError} When it is empty, too long, has other characters or is reserved.
 */
export function checkTopic(topic: unknown): asserts topic is string {
  if (typeof topic !== "string" || topic.length === 0) throw new ClientError("Topic name is empty");
  if (topic.length > TOPIC_MAX_LENGTH) {
    throw new ClientError(`Topic "${topic.slice(0, 16)}…" is longer than ${TOPIC_MAX_LENGTH} characters`);
  }
  if (!TOPIC_PATTERN.test(topic)) {
    throw new ClientError(`Topic "${topic}" may only contain letters, digits, '%', '|', '_' and '-'`);
  }
  if (topic === AUTO_CREATE_TOPIC_KEY) throw new ClientError(`Topic "${topic}" is reserved for topic auto-creation`);
}

/**
 * Checks a message and builds what goes on the wire.
 *
 * @param message The message as the user gave it.
 * @param limits Body size limit, the unique key to stamp and whether it is also the dedup id.
 * @returns The prepared message.
 * @throws {ClientError} When the topic, body, tags, keys, properties, flag, delay level, delivery
 *   time or dedup id is invalid.
 */
export function prepareMessage(message: Message, limits: { maxMessageSize: number; uniqueKey: string; idempotent?: boolean }): PreparedMessage {
  if (message === null || typeof message !== "object") throw new ClientError("Message must be an object");
  checkTopic(message.topic);
  const topic = message.topic;
  let body: Uint8Array;
  if (typeof message.body === "string") body = ENCODER.encode(message.body);
  else if (message.body instanceof Uint8Array) body = message.body;
  else throw new ClientError(`Message body for topic "${topic}" must be a string or a Uint8Array`);
  if (body.length === 0) throw new ClientError(`Message body for topic "${topic}" is empty`);
  if (body.length > limits.maxMessageSize) {
    throw new ClientError(`Message body of ${body.length} bytes exceeds the limit of ${limits.maxMessageSize} bytes`);
  }
  const flag = message.flag ?? 0;
  if (!Number.isInteger(flag) || flag < -0x80000000 || flag > 0x7fffffff) {
    throw new ClientError(`Message flag "${flag}" is not a 32-bit integer`);
  }
  const properties: Record<string, string> = {};
  if (message.properties !== undefined) {
    for (const [name, value] of Object.entries(message.properties)) {
      if (typeof value !== "string") throw new ClientError(`Property "${name}" must have a string value`);
      if (name === "") throw new ClientError("Property names must not be empty");
      if (hasSeparator(name) || hasSeparator(value)) {
        throw new ClientError(`Property "${name}" contains a reserved separator character (U+0001 or U+0002)`);
      }
      if (RESERVED_PROPERTIES.has(name)) throw new ClientError(`Property "${name}" is reserved for the system`);
      properties[name] = value;
    }
  }
  if (message.tags !== undefined) {
    const tags = message.tags;
    if (typeof tags !== "string" || tags.trim() === "") throw new ClientError("Message tags must be a non-empty string");
    if (tags.includes("||") || hasSeparator(tags) || tags !== tags.trim()) {
      throw new ClientError(`Message tag "${tags}" must not contain "||", separators or surrounding spaces`);
    }
    properties[MessageConst.TAGS] = tags;
  }
  if (message.keys !== undefined) {
    const keys = typeof message.keys === "string" ? message.keys.split(" ") : message.keys;
    const cleanKeys: string[] = [];
    for (const key of keys) {
      if (typeof key !== "string") throw new ClientError("Message keys must be strings");
      if (hasSeparator(key)) throw new ClientError(`Message key "${key}" contains a reserved separator character`);
      if (typeof message.keys !== "string" && key.includes(MessageConst.KEY_SEPARATOR)) {
        throw new ClientError(`Message key "${key}" must not contain a space`);
      }
      if (key !== "") cleanKeys.push(key);
    }
    if (cleanKeys.length > 0) properties[MessageConst.KEYS] = cleanKeys.join(MessageConst.KEY_SEPARATOR);
  }
  const delayLevel = message.delayLevel ?? 0;
  if (!Number.isInteger(delayLevel) || delayLevel < 0) {
    throw new ClientError(`Delay level "${delayLevel}" must be a non-negative integer`);
  }
  if (delayLevel > 0) properties[MessageConst.DELAY] = String(delayLevel);
  timerProperties(message, properties);
  if (message.messageGroup !== undefined) {
    const group = message.messageGroup;
    if (typeof group !== "string" || group === "" || group.length > 1024 || hasSeparator(group)) {
      throw new ClientError("Message group must be a string of 1 to 1024 characters without separators");
    }
    properties[MessageConst.SHARDING_KEY] = group;
  }
  properties[MessageConst.UNIQ_KEY] = limits.uniqueKey;
  const dedupId = message.dedupId ?? (limits.idempotent ? limits.uniqueKey : undefined);
  if (dedupId !== undefined) {
    const bad = checkDedupId(dedupId);
    if (bad !== undefined) throw new ClientError(bad);
    properties[MessageConst.DEDUP_ID] = dedupId;
  }
  return { topic, body, flag, properties, uniqueKey: limits.uniqueKey };
}

/** Sets `TIMER_DELIVER_MS` or `TIMER_DELAY_MS` from a message's `deliveryTime` or `delayMs`. */
function timerProperties(message: Message, properties: Record<string, string>): void {
  const { deliveryTime, delayMs } = message;
  if (deliveryTime === undefined && delayMs === undefined) return;
  if (deliveryTime !== undefined && delayMs !== undefined) throw new ClientError("A message takes deliveryTime or delayMs, not both");
  if ((message.delayLevel ?? 0) > 0) throw new ClientError("A timer message (deliveryTime or delayMs) cannot also have a delay level");
  if (deliveryTime !== undefined) {
    const ms = deliveryTime instanceof Date ? deliveryTime.getTime() : deliveryTime;
    if (!Number.isSafeInteger(ms) || ms < 0) throw new ClientError(`Delivery time "${String(deliveryTime)}" must be a Date or a non-negative integer of ms since epoch`);
    properties[MessageConst.TIMER_DELIVER_MS] = String(ms);
  } else {
    if (!Number.isSafeInteger(delayMs) || delayMs! < 0) throw new ClientError(`Delay "${delayMs}" must be a non-negative integer of ms`);
    properties[MessageConst.TIMER_DELAY_MS] = String(delayMs);
  }
}

/**
 * The encoded size of a prepared message as the in-flight byte budget counts it.
 *
 * @param message The prepared message.
 * @returns Body bytes plus an estimate of the header.
 */
export function preparedSize(message: PreparedMessage): number {
  let size = message.body.length + message.topic.length + 64;
  for (const name in message.properties) size += name.length + message.properties[name]!.length + 2;
  return size;
}
