/**
 * RocketMQ 5's `apache.rocketmq.v2.Message` and the broker's messages: a message sent over gRPC
 * becomes the properties and sysflag a remoting send carries (the way RocketMQ's proxy builds
 * them: tag, keys, the client's message id as `UNIQ_KEY`, the message group as `__SHARDINGKEY`,
 * the delivery time as `TIMER_DELIVER_MS`), and a stored message becomes a v2 message again.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { durationMs, timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { type MessageExt, MessageConst, SysFlag } from "../../core/model/message.ts";
import { type MessageType as ModelMessageType, messageTypeOf } from "../../core/model/message_type.ts";
import {
  Code,
  DigestType,
  Encoding,
  type Message,
  MessageSchema,
  MessageType,
  type Status,
} from "./gen/apache/rocketmq/v2/definition_pb.ts";
import { status } from "./_status.ts";

/** Property names the broker and RocketMQ's clients give meaning to: not for user properties. */
const RESERVED: ReadonlySet<string> = new Set([
  ...Object.values(MessageConst),
  "MSG_REGION",
  "TRACE_ON",
  "INSTANCE_ID",
  "CORRELATION_ID",
  "REPLY_TO_CLIENT",
  "TRAN_MSG",
  "BORN_HOST",
  "__BORNHOST",
  "__STARTDELIVERTIME",
  "POP_CK",
  "1ST_POP_TIME",
  "SHARDING_KEY",
]);

/** Longest message group, keys and tag (RocketMQ 5's proxy defaults). */
const MAX_MESSAGE_GROUP_LENGTH = 64;
const MAX_TAG_LENGTH = 1024;

/** A message ready for the broker's send processor, or why it cannot be sent. */
export type SendInput =
  | {
    topic: string;
    queueId: number;
    body: Uint8Array;
    properties: Record<string, string>;
    sysFlag: number;
    bornTimestamp: number;
    /** The client's message id (`UNIQ_KEY`), which the answer names. */
    messageId: string;
    type: ModelMessageType;
  }
  | { refusal: Status };

function refuse(code: Code, message: string): { refusal: Status } {
  return { refusal: status(code, message) };
}

function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * Reads a v2 message for a send: checks it the way RocketMQ 5's proxy does (message id, tag,
 * keys, message group, type against its properties, body encoding) and builds its properties.
 *
 * @param message The message as sent.
 * @param maxBodySize Largest body, bytes.
 * @returns The send, or a status saying what is wrong.
 */
export function readSentMessage(message: Message, maxBodySize: number): SendInput {
  const topic = message.topic?.name ?? "";
  if (topic === "") return refuse(Code.ILLEGAL_TOPIC, "Message has no topic");
  if ((message.topic?.resourceNamespace ?? "") !== "") {
    return refuse(Code.UNSUPPORTED, `Namespaces are not supported (message names namespace "${message.topic!.resourceNamespace}")`);
  }
  const sys = message.systemProperties;
  if (sys === undefined) return refuse(Code.BAD_REQUEST, "Message has no system properties");
  if (sys.messageId === "") return refuse(Code.ILLEGAL_MESSAGE_ID, "Message id is empty");
  if (sys.messageId.length > 128 || hasControl(sys.messageId)) return refuse(Code.ILLEGAL_MESSAGE_ID, `Message id "${sys.messageId.slice(0, 128)}" is malformed`);
  if (message.body.length === 0) return refuse(Code.MESSAGE_BODY_EMPTY, "Message body is empty");
  if (message.body.length > maxBodySize) {
    return refuse(Code.MESSAGE_BODY_TOO_LARGE, `Message body of ${message.body.length} bytes exceeds the limit of ${maxBodySize} bytes`);
  }
  if (sys.bodyEncoding !== Encoding.IDENTITY && sys.bodyEncoding !== Encoding.ENCODING_UNSPECIFIED) {
    return refuse(Code.UNSUPPORTED, `Body encoding ${Encoding[sys.bodyEncoding] ?? sys.bodyEncoding} is not supported: send bodies as they are (IDENTITY)`);
  }
  const properties: Record<string, string> = {};
  for (const name in message.userProperties) {
    if (RESERVED.has(name)) return refuse(Code.ILLEGAL_MESSAGE_PROPERTY_KEY, `Property "${name}" is reserved for the broker`);
    if (name === "" || hasControl(name)) return refuse(Code.ILLEGAL_MESSAGE_PROPERTY_KEY, `Property name "${name}" is empty or has control characters`);
    properties[name] = message.userProperties[name]!;
  }
  if (sys.tag !== undefined) {
    if (sys.tag === "" || sys.tag.includes("|") || sys.tag.length > MAX_TAG_LENGTH || hasControl(sys.tag)) {
      return refuse(Code.ILLEGAL_MESSAGE_TAG, `Tag "${sys.tag.slice(0, 64)}" is empty, too long, or has "|" or control characters`);
    }
    properties[MessageConst.TAGS] = sys.tag;
  }
  if (sys.keys.length > 0) {
    for (const key of sys.keys) {
      if (key === "" || key.includes(" ") || hasControl(key)) return refuse(Code.ILLEGAL_MESSAGE_KEY, `Key "${key.slice(0, 64)}" is empty or has spaces or control characters`);
    }
    properties[MessageConst.KEYS] = sys.keys.join(MessageConst.KEY_SEPARATOR);
  }
  properties[MessageConst.UNIQ_KEY] = sys.messageId;
  if (sys.traceContext !== undefined && sys.traceContext !== "") properties[MessageConst.TRACE_CONTEXT] = sys.traceContext;
  const group = sys.messageGroup;
  const due = sys.deliveryTimestamp;
  let sysFlag = 0;
  let type: ModelMessageType;
  switch (sys.messageType) {
    case MessageType.NORMAL:
    case MessageType.MESSAGE_TYPE_UNSPECIFIED:
      if (group !== undefined || due !== undefined) {
        return refuse(Code.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE, "A NORMAL message has neither a message group nor a delivery time");
      }
      type = "NORMAL";
      break;
    case MessageType.FIFO:
      if (group === undefined || group === "" || due !== undefined) {
        return refuse(Code.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE, "A FIFO message has a message group and no delivery time");
      }
      type = "FIFO";
      break;
    case MessageType.DELAY:
      if (due === undefined || group !== undefined) {
        return refuse(Code.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE, "A DELAY message has a delivery time and no message group");
      }
      type = "DELAY";
      break;
    case MessageType.TRANSACTION:
      if (group !== undefined || due !== undefined) {
        return refuse(Code.MESSAGE_PROPERTY_CONFLICT_WITH_TYPE, "A TRANSACTION message has neither a message group nor a delivery time");
      }
      type = "TRANSACTION";
      sysFlag = SysFlag.TRANSACTION_PREPARED;
      properties[MessageConst.TRAN_MSG] = "true";
      if (sys.orphanedTransactionRecoveryDuration !== undefined) {
        const seconds = Math.floor(durationMs(sys.orphanedTransactionRecoveryDuration) / 1000);
        if (seconds > 0) properties[MessageConst.CHECK_IMMUNITY_TIME_IN_SECONDS] = String(seconds);
      }
      break;
    default:
      return refuse(Code.UNSUPPORTED, `Message type ${MessageType[sys.messageType] ?? sys.messageType} is not supported`);
  }
  if (group !== undefined) {
    if (group.length > MAX_MESSAGE_GROUP_LENGTH || hasControl(group)) {
      return refuse(Code.ILLEGAL_MESSAGE_GROUP, `Message group "${group.slice(0, 64)}" is longer than ${MAX_MESSAGE_GROUP_LENGTH} characters or has control characters`);
    }
    properties[MessageConst.SHARDING_KEY] = group;
  }
  if (due !== undefined) {
    const ms = timestampMs(due);
    if (!Number.isSafeInteger(ms) || ms < 0) return refuse(Code.ILLEGAL_DELIVERY_TIME, "Delivery time is out of range");
    properties[MessageConst.TIMER_DELIVER_MS] = String(ms);
  }
  const born = sys.bornTimestamp === undefined ? Date.now() : timestampMs(sys.bornTimestamp);
  return {
    topic,
    queueId: sys.queueId,
    body: message.body,
    properties,
    sysFlag,
    bornTimestamp: Number.isSafeInteger(born) && born >= 0 ? born : Date.now(),
    messageId: sys.messageId,
    type,
  };
}

const TYPES: Readonly<Record<ModelMessageType, MessageType>> = {
  NORMAL: MessageType.NORMAL,
  FIFO: MessageType.FIFO,
  DELAY: MessageType.DELAY,
  TRANSACTION: MessageType.TRANSACTION,
};

/**
 * The v2 type of a model message type.
 *
 * @param type The type.
 * @returns Its v2 enum value.
 */
export function v2MessageType(type: ModelMessageType): MessageType {
  return TYPES[type];
}

function hostText(host: { address: string; port: number }): string {
  return host.address.includes(":") ? `[${host.address}]:${host.port}` : `${host.address}:${host.port}`;
}

/**
 * A stored message as RocketMQ 5's clients read it: system properties from the broker's, the rest
 * as user properties.
 *
 * @param message The stored message.
 * @param topic The topic to name (a delivered retry names its original topic).
 * @returns The v2 message.
 */
export function toV2Message(message: MessageExt, topic = message.topic): Message {
  const p = message.properties;
  const userProperties: Record<string, string> = {};
  for (const name in p) if (!RESERVED.has(name)) userProperties[name] = p[name]!;
  const due = p[MessageConst.TIMER_OUT_MS] ?? p[MessageConst.TIMER_DELIVER_MS];
  const dueMs = due === undefined ? NaN : Number(due);
  return create(MessageSchema, {
    topic: { name: topic },
    userProperties,
    body: message.body,
    systemProperties: {
      ...(message.tags === undefined ? {} : { tag: message.tags }),
      keys: message.keys,
      messageId: message.uniqueKey ?? message.msgId,
      // MD5 in upper-case hex: the one digest RocketMQ 5's Java and Node.js clients check alike.
      bodyDigest: { type: DigestType.MD5, checksum: createHash("md5").update(message.body).digest("hex").toUpperCase() },
      bodyEncoding: Encoding.IDENTITY,
      messageType: v2MessageType(messageTypeOf(p, message.sysFlag)),
      bornTimestamp: timestampFromMs(message.bornTimestamp),
      bornHost: hostText(message.bornHost),
      storeTimestamp: timestampFromMs(message.storeTimestamp),
      storeHost: hostText(message.storeHost),
      ...(Number.isSafeInteger(dueMs) ? { deliveryTimestamp: timestampFromMs(dueMs) } : {}),
      queueId: message.queueId,
      queueOffset: BigInt(message.queueOffset),
      deliveryAttempt: message.reconsumeTimes + 1,
      ...(p[MessageConst.SHARDING_KEY] === undefined ? {} : { messageGroup: p[MessageConst.SHARDING_KEY] }),
      ...(p[MessageConst.TRACE_CONTEXT] === undefined ? {} : { traceContext: p[MessageConst.TRACE_CONTEXT] }),
    },
  });
}
