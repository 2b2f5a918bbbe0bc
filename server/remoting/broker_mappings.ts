/**
 * The broker's RocketMQ 4.x request codes, mapped onto its processors: sends (V1 names, V2's
 * one-letter names, batches), pulls, offsets, heartbeats and membership, send-back, queue locks,
 * topic administration and viewing a message. Field names and body shapes are those of RocketMQ
 * 4.9.4's header and body classes (see /docs/COMPATIBILITY.md).
 *
 * @module
 */
import * as v from "valibot";
import type { RemotingCommand } from "../../core/codec/remoting_frame.ts";
import { MessageConst, SysFlag } from "../../core/model/message.ts";
import { decodeProperties, isWellFormedProperties, joinProperties } from "../../core/model/properties.ts";
import type { Header } from "../../core/protocol/command.ts";
import type { HeartbeatHeader, LockBatchHeader } from "../../core/protocol/headers.ts";
import { PullSysFlag, RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type NativeReply, type RemotingReply, textFields } from "../../core/remoting/remoting_wire.ts";
import type { BrokerContext } from "../broker/context.ts";
import { defined, type ExtFields, flag, integer, jsonBody, text, toJsonBody } from "./_fields.ts";
import type { MappedRequest, Refusal, RemotingMapping } from "./remoting_dispatcher.ts";

/** Aliyun ONS's delivery-time property (ms since the epoch), set by ali-ons' `setStartDeliverTime`. */
const START_DELIVER_TIME = "__STARTDELIVERTIME";
/** The version from which RocketMQ honours `maxReconsumeTimes` in sends and send-backs (`V3_4_9`). */
const MAX_RECONSUME_TIMES_VERSION = 121;
/** Longest long poll the broker parks (the native limit); longer ones are cut to it. */
const MAX_SUSPEND_MS = 120_000;
/** The transaction type bits of a sysFlag. */
const TRANSACTION_BITS = 0xc;

function refuse(code: number, remark: string): Refusal {
  return { refuse: { code, remark } };
}

/**
 * Properties text as RocketMQ clients write it, made what the broker stores: ali-ons ends it with a
 * separator, Java does not; Java's reader skips entries with an empty name or value, and so does this.
 */
function storedProperties(text: string | undefined): string {
  if (text === undefined || text === "" || isWellFormedProperties(text)) return text ?? "";
  const closed = `${text}\u0002`;
  if (isWellFormedProperties(closed)) return closed;
  const kept: Record<string, string> = {};
  for (const [name, value] of Object.entries(decodeProperties(text))) {
    if (name !== "" && value !== "" && !name.includes("\u0002")) kept[name] = value;
  }
  return joinProperties(kept);
}

/** The send header's fields under RocketMQ's V1 names, or V2's letters. */
const V1_NAMES = {
  producerGroup: "producerGroup", topic: "topic", defaultTopicQueueNums: "defaultTopicQueueNums", queueId: "queueId",
  sysFlag: "sysFlag", bornTimestamp: "bornTimestamp", flag: "flag", properties: "properties", reconsumeTimes: "reconsumeTimes",
  maxReconsumeTimes: "maxReconsumeTimes", batch: "batch",
};
const V2_NAMES: typeof V1_NAMES = {
  producerGroup: "a", topic: "b", defaultTopicQueueNums: "d", queueId: "e", sysFlag: "f", bornTimestamp: "g", flag: "h",
  properties: "i", reconsumeTimes: "j", maxReconsumeTimes: "l", batch: "m",
};

/** A send header's fields: where it goes (a batch's too) and what one message carries. */
interface SendFields {
  target: {
    producerGroup: string | undefined;
    topic: string | undefined;
    queueId: number | undefined;
    bornTimestamp: number | undefined;
    defaultTopicQueueNums: number | undefined;
  };
  message: {
    flag: number | undefined;
    sysFlag: number;
    properties: string;
    reconsumeTimes: number | undefined;
    maxReconsumeTimes: number | undefined;
  };
  batch: boolean;
}

function sendFields(request: RemotingCommand, names: typeof V1_NAMES): SendFields {
  const f = request.extFields;
  return {
    target: {
      producerGroup: text(f, names.producerGroup),
      topic: text(f, names.topic),
      queueId: integer(f, names.queueId),
      bornTimestamp: integer(f, names.bornTimestamp),
      defaultTopicQueueNums: integer(f, names.defaultTopicQueueNums),
    },
    message: {
      flag: integer(f, names.flag),
      sysFlag: integer(f, names.sysFlag) ?? 0,
      properties: storedProperties(text(f, names.properties)),
      reconsumeTimes: integer(f, names.reconsumeTimes),
      maxReconsumeTimes: request.version >= MAX_RECONSUME_TIMES_VERSION ? integer(f, names.maxReconsumeTimes) : undefined,
    },
    batch: flag(f, names.batch) ?? false,
  };
}

/** Whether a send is a half message (RocketMQ sets the prepared sysflag; ali-ons adds it for `TRAN_MSG`). */
function prepared(fields: SendFields): boolean {
  return (fields.message.sysFlag & TRANSACTION_BITS) === SysFlag.TRANSACTION_PREPARED;
}

/**
 * Aliyun's timed delivery (`__STARTDELIVERTIME`, ms since the epoch, what ali-ons'
 * `setStartDeliverTime` sets) as the broker's timer property `TIMER_DELIVER_MS`.
 */
function withTimer(properties: string): string {
  const at = properties.indexOf(`${START_DELIVER_TIME}\u0001`);
  if (at < 0 || (at > 0 && properties[at - 1] !== "\u0002") || properties.includes(`${MessageConst.TIMER_DELIVER_MS}\u0001`)) return properties;
  const end = properties.indexOf("\u0002", at);
  const value = properties.slice(at + START_DELIVER_TIME.length + 1, end < 0 ? undefined : end);
  return `${properties}${MessageConst.TIMER_DELIVER_MS}\u0001${value}\u0002`;
}

/** A half message's answer also names its transaction id (its unique key), which Java's END_TRANSACTION sends back. */
function sendAnswer(reply: NativeReply, request: RemotingCommand, names: typeof V1_NAMES): RemotingReply | undefined {
  const properties = request.extFields[names.properties];
  if ((Number(request.extFields[names.sysFlag]) & TRANSACTION_BITS) !== SysFlag.TRANSACTION_PREPARED || properties === undefined) return undefined;
  const transactionId = decodeProperties(properties)[MessageConst.UNIQ_KEY];
  if (transactionId === undefined) return undefined;
  const answer: RemotingReply = { code: reply.code, extFields: { ...textFields(reply.header), transactionId } };
  if (reply.remark !== undefined) answer.remark = reply.remark;
  return answer;
}

function sendMapping(names: typeof V1_NAMES): RemotingMapping {
  return {
    code: RequestCode.SEND_MESSAGE,
    answer: (reply, request) => sendAnswer(reply, request, names),
    request(request) {
      const fields = sendFields(request, names);
      if (fields.batch) return refuse(ResponseCode.SYSTEM_ERROR, `A batch goes as request code ${RequestCode.SEND_BATCH_MESSAGE}, not ${request.code}`);
      return {
        header: defined({ ...fields.target, ...fields.message, properties: withTimer(fields.message.properties) }),
        ...(request.body === undefined ? {} : { body: request.body }),
      };
    },
  };
}

/**
 * A RocketMQ batch body: messages back to back, each `totalSize`, a zero magic code, a zero body
 * CRC, `flag`, `bodyLength` + body, `propertiesLength` (int16) + properties (`MessageDecoder.encodeMessage`).
 */
function batchRequest(request: RemotingCommand, fields: SendFields): MappedRequest | Refusal {
  if (prepared(fields)) return refuse(ResponseCode.MESSAGE_ILLEGAL, "A batch cannot hold transactional messages: send each alone");
  const body = request.body ?? new Uint8Array(0);
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const messages: { size: number; flag: number; properties: string }[] = [];
  const bodies: Uint8Array[] = [];
  const batchProperties = decodeProperties(fields.message.properties);
  delete batchProperties[MessageConst.WAIT];
  let pos = 0;
  while (pos < body.length) {
    const at = `Message ${messages.length} of the batch`;
    if (body.length - pos < 22) throw new TypeError(`${at} is truncated: ${body.length - pos} bytes left of its 22-byte head`);
    const totalSize = view.getInt32(pos);
    const bodyLength = view.getInt32(pos + 16);
    if (totalSize < 22 || totalSize > body.length - pos) throw new TypeError(`${at} claims ${totalSize} bytes, ${body.length - pos} are left`);
    if (bodyLength < 0 || 20 + bodyLength + 2 > totalSize) throw new TypeError(`${at} has a body length of ${bodyLength} that does not fit its ${totalSize} bytes`);
    const propertiesLength = view.getInt16(pos + 20 + bodyLength);
    if (propertiesLength < 0 || 22 + bodyLength + propertiesLength !== totalSize) {
      throw new TypeError(`${at} has ${propertiesLength} bytes of properties where ${totalSize - 22 - bodyLength} are left`);
    }
    let own: Record<string, string>;
    try {
      own = decodeProperties(decoder.decode(body.subarray(pos + 22 + bodyLength, pos + totalSize)));
    } catch {
      throw new TypeError(`${at} has properties that are not UTF-8`);
    }
    const properties = storedProperties(joinProperties({ ...batchProperties, ...own }));
    messages.push({ size: bodyLength, flag: view.getInt32(pos + 12), properties });
    bodies.push(body.subarray(pos + 20, pos + 20 + bodyLength));
    pos += totalSize;
  }
  if (messages.length === 0) throw new TypeError("Batch has no messages");
  const joined = new Uint8Array(bodies.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const part of bodies) {
    joined.set(part, at);
    at += part.length;
  }
  return {
    header: defined({ ...fields.target, messages }),
    body: joined,
  };
}

/** SEND_BATCH_MESSAGE: the message ids come back joined by commas, as a Java broker answers. */
function batchAnswer(reply: NativeReply): RemotingReply | undefined {
  const header = reply.header as { msgIds?: unknown } | undefined;
  if (!Array.isArray(header?.msgIds)) return undefined;
  const { msgIds, ...rest } = header as { msgIds: string[] };
  return { code: reply.code, extFields: { ...textFields(rest), msgId: msgIds.join(",") } };
}

/** The heartbeat body, `HeartbeatData` (unknown members are ignored). */
const HeartbeatData = v.object({
  clientID: v.string(),
  producerDataSet: v.optional(v.nullable(v.array(v.object({ groupName: v.string() }))), []),
  consumerDataSet: v.optional(v.nullable(v.array(v.object({
    groupName: v.string(),
    consumeType: v.picklist(["CONSUME_ACTIVELY", "CONSUME_PASSIVELY"]),
    messageModel: v.picklist(["CLUSTERING", "BROADCASTING"]),
    consumeFromWhere: v.optional(v.nullable(v.string()), "CONSUME_FROM_LAST_OFFSET"),
    subscriptionDataSet: v.optional(v.nullable(v.array(v.object({
      topic: v.string(),
      subString: v.optional(v.nullable(v.string()), "*"),
      expressionType: v.optional(v.nullable(v.string())),
      subVersion: v.optional(v.nullable(v.number())),
    }))), []),
  }))), []),
});

/** RocketMQ's `ConsumeFromWhere` names (deprecated ones included) as the native values. */
const CONSUME_FROM: Readonly<Record<string, HeartbeatHeader["consumers"][number]["consumeFromWhere"]>> = {
  CONSUME_FROM_LAST_OFFSET: "LAST_OFFSET",
  CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST: "LAST_OFFSET",
  CONSUME_FROM_MAX_OFFSET: "LAST_OFFSET",
  CONSUME_FROM_FIRST_OFFSET: "FIRST_OFFSET",
  CONSUME_FROM_MIN_OFFSET: "FIRST_OFFSET",
  CONSUME_FROM_TIMESTAMP: "TIMESTAMP",
};

function parseBody<T>(schema: v.GenericSchema<unknown, T>, body: Uint8Array | undefined, what: string): T {
  const parsed = v.safeParse(schema, jsonBody(body, what));
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  const path = v.getDotPath(issue);
  throw new TypeError(`Invalid ${what}${path ? ` field "${path}"` : ""}: ${issue.message}`);
}

const heartbeatMapping: RemotingMapping = {
  request(request) {
    const data = parseBody(HeartbeatData, request.body, "HeartbeatData");
    const header: HeartbeatHeader = {
      clientId: data.clientID,
      runtime: `RocketMQ remoting ${request.language} ${request.version}`.slice(0, 100),
      producerGroups: (data.producerDataSet ?? []).map((p) => p.groupName),
      consumers: (data.consumerDataSet ?? []).map((c) => ({
        group: c.groupName,
        consumeType: c.consumeType === "CONSUME_ACTIVELY" ? "PULL" : "PUSH",
        messageModel: c.messageModel,
        consumeFromWhere: CONSUME_FROM[c.consumeFromWhere ?? ""] ?? "LAST_OFFSET",
        subscriptions: (c.subscriptionDataSet ?? []).map((s) => ({
          topic: s.topic,
          expression: s.subString ?? "*",
          // RocketMQ writes TAG or SQL92 (absent: TAG); anything else is refused by the schema, naming it.
          expressionType: (s.expressionType ?? "TAG").toUpperCase() as "TAG" | "SQL92",
          version: Number.isSafeInteger(s.subVersion) && s.subVersion! >= 0 ? s.subVersion! : 0,
        })),
      })),
    };
    return { header: header as unknown as Header };
  },
};

/** `LockBatchRequestBody` / `UnlockBatchRequestBody`. */
const LockBatchBody = v.object({
  consumerGroup: v.string(),
  clientId: v.string(),
  mqSet: v.optional(v.nullable(v.array(v.object({ topic: v.string(), brokerName: v.string(), queueId: v.number() }))), []),
});

function lockMapping(answer: boolean): RemotingMapping {
  return {
    request(request) {
      const body = parseBody(LockBatchBody, request.body, answer ? "LockBatchRequestBody" : "UnlockBatchRequestBody");
      const header: LockBatchHeader = { consumerGroup: body.consumerGroup, clientId: body.clientId, mqs: body.mqSet ?? [] };
      return { header: header as unknown as Header };
    },
    ...(answer
      ? {
        answer: (reply: NativeReply) =>
          reply.code === ResponseCode.SUCCESS ? { code: reply.code, body: toJsonBody({ lockOKMQSet: reply.header?.lockOKMQSet ?? [] }) } : undefined,
      }
      : {}),
  };
}

/** Maps fields one to one: `[native name, remoting name, kind]`. */
function fieldsMapping(fields: readonly [string, string, "text" | "integer" | "flag"][], code?: number): RemotingMapping {
  const read = { text, integer, flag };
  return {
    ...(code === undefined ? {} : { code }),
    request(request) {
      const header: Record<string, unknown> = {};
      for (const [to, from, kind] of fields) header[to] = read[kind](request.extFields, from);
      return { header: defined(header) };
    },
  };
}

const QUEUE: readonly [string, string, "text" | "integer"][] = [["topic", "topic", "text"], ["queueId", "queueId", "integer"]];

function pullMapping(ctx: BrokerContext): RemotingMapping {
  return {
    request(request) {
      const f: ExtFields = request.extFields;
      const group = text(f, "consumerGroup");
      const topic = text(f, "topic");
      const sysFlag = integer(f, "sysFlag") ?? 0;
      let expressionType = text(f, "expressionType")?.toUpperCase();
      let subscription = (sysFlag & PullSysFlag.SUBSCRIPTION) !== 0 ? text(f, "subscription") : undefined;
      if (subscription === undefined && group !== undefined && topic !== undefined) {
        // RocketMQ's push consumers leave the subscription out: the broker uses the one of their heartbeats.
        const registered = ctx.consumers.subscription(group, topic);
        if (registered === undefined) {
          return refuse(
            ResponseCode.SUBSCRIPTION_NOT_EXIST,
            `Consumer group "${group}" has no subscription to topic "${topic}" on broker "${ctx.brokerName}": send a heartbeat first`,
          );
        }
        subscription = registered.expression;
        expressionType = registered.expressionType;
      }
      const suspend = integer(f, "suspendTimeoutMillis");
      return {
        header: defined({
          consumerGroup: group,
          topic,
          queueId: integer(f, "queueId"),
          queueOffset: integer(f, "queueOffset"),
          maxMsgNums: integer(f, "maxMsgNums"),
          sysFlag: sysFlag & (PullSysFlag.COMMIT_OFFSET | PullSysFlag.SUSPEND | PullSysFlag.SUBSCRIPTION),
          commitOffset: integer(f, "commitOffset"),
          suspendTimeoutMillis: suspend === undefined ? undefined : Math.min(Math.max(suspend, 0), MAX_SUSPEND_MS),
          subscription,
          expressionType,
        }),
      };
    },
  };
}

function sendBackMapping(): RemotingMapping {
  return {
    request(request) {
      const f = request.extFields;
      return {
        header: defined({
          consumerGroup: text(f, "group"),
          offset: integer(f, "offset"),
          delayLevel: integer(f, "delayLevel"),
          originMsgId: text(f, "originMsgId"),
          originTopic: text(f, "originTopic"),
          maxReconsumeTimes: request.version >= MAX_RECONSUME_TIMES_VERSION ? integer(f, "maxReconsumeTimes") : undefined,
        }),
      };
    },
    // The native answer says where the message went; RocketMQ's says nothing.
    answer: (reply) => (reply.code === ResponseCode.SUCCESS ? { code: reply.code } : undefined),
  };
}

/**
 * END_TRANSACTION as Java sends it (one-way): it names no topic, and the transaction id only when
 * the send's answer gave one; both come from the half message the offsets name.
 */
function endTransactionMapping(ctx: BrokerContext): RemotingMapping {
  return {
    request(request) {
      const f = request.extFields;
      const commitLogOffset = integer(f, "commitLogOffset");
      const half = commitLogOffset === undefined || commitLogOffset < 0 ? undefined : ctx.store.lookMessageByOffset(commitLogOffset);
      if (commitLogOffset !== undefined && half === undefined) {
        return refuse(ResponseCode.SYSTEM_ERROR, `No half message at commit log offset ${commitLogOffset} on broker "${ctx.brokerName}"`);
      }
      return {
        header: defined({
          producerGroup: text(f, "producerGroup"),
          topic: half?.properties[MessageConst.REAL_TOPIC] ?? half?.topic,
          tranStateTableOffset: integer(f, "tranStateTableOffset"),
          commitLogOffset,
          commitOrRollback: integer(f, "commitOrRollback"),
          fromTransactionCheck: flag(f, "fromTransactionCheck"),
          transactionId: text(f, "transactionId") || half?.properties[MessageConst.UNIQ_KEY] || text(f, "msgId"),
        }),
      };
    },
  };
}

/** The broker's runtime figures as RocketMQ's `KVTable`: top-level numbers and text only. */
function runtimeInfoAnswer(reply: NativeReply): RemotingReply | undefined {
  if (reply.code !== ResponseCode.SUCCESS) return undefined;
  const table: Record<string, string> = {};
  for (const [name, value] of Object.entries(reply.header ?? {})) {
    if (typeof value === "number" || typeof value === "string" || typeof value === "boolean") table[name] = String(value);
  }
  return { code: reply.code, body: toJsonBody({ table }) };
}

/**
 * The broker's mappings.
 *
 * @param ctx The broker.
 * @returns Mappings by remoting request code.
 */
export function brokerMappings(ctx: BrokerContext): Record<number, RemotingMapping> {
  return {
    [RequestCode.SEND_MESSAGE]: sendMapping(V1_NAMES),
    [RequestCode.SEND_MESSAGE_V2]: sendMapping(V2_NAMES),
    [RequestCode.SEND_BATCH_MESSAGE]: {
      code: RequestCode.SEND_BATCH_MESSAGE,
      // Java sends batches with V2's letters; a V1 header has "topic" where V2 has "b".
      request: (request) => batchRequest(request, sendFields(request, request.extFields.b === undefined ? V1_NAMES : V2_NAMES)),
      answer: batchAnswer,
    },
    [RequestCode.PULL_MESSAGE]: pullMapping(ctx),
    [RequestCode.QUERY_CONSUMER_OFFSET]: fieldsMapping([["consumerGroup", "consumerGroup", "text"], ...QUEUE]),
    [RequestCode.UPDATE_CONSUMER_OFFSET]: fieldsMapping([["consumerGroup", "consumerGroup", "text"], ...QUEUE, ["commitOffset", "commitOffset", "integer"]]),
    [RequestCode.GET_MAX_OFFSET]: fieldsMapping(QUEUE),
    [RequestCode.GET_MIN_OFFSET]: fieldsMapping(QUEUE),
    [RequestCode.SEARCH_OFFSET_BY_TIMESTAMP]: fieldsMapping([...QUEUE, ["timestamp", "timestamp", "integer"]]),
    [RequestCode.HEART_BEAT]: heartbeatMapping,
    [RequestCode.UNREGISTER_CLIENT]: fieldsMapping([
      ["clientId", "clientID", "text"],
      ["producerGroup", "producerGroup", "text"],
      ["consumerGroup", "consumerGroup", "text"],
    ]),
    [RequestCode.GET_CONSUMER_LIST_BY_GROUP]: {
      ...fieldsMapping([["consumerGroup", "consumerGroup", "text"]]),
      answer: (reply) =>
        reply.code === ResponseCode.SUCCESS ? { code: reply.code, body: toJsonBody({ consumerIdList: reply.header?.clientIds ?? [] }) } : undefined,
    },
    [RequestCode.CONSUMER_SEND_MSG_BACK]: sendBackMapping(),
    [RequestCode.LOCK_BATCH_MQ]: lockMapping(true),
    [RequestCode.UNLOCK_BATCH_MQ]: lockMapping(false),
    [RequestCode.VIEW_MESSAGE_BY_ID]: fieldsMapping([["offset", "offset", "integer"]]),
    [RequestCode.UPDATE_AND_CREATE_TOPIC]: fieldsMapping([
      ["topic", "topic", "text"],
      ["readQueueNums", "readQueueNums", "integer"],
      ["writeQueueNums", "writeQueueNums", "integer"],
      ["perm", "perm", "integer"],
      ["order", "order", "flag"],
    ]),
    [RequestCode.DELETE_TOPIC_IN_BROKER]: fieldsMapping([["topic", "topic", "text"]]),
    [RequestCode.GET_BROKER_RUNTIME_INFO]: { request: () => ({ header: {} }), answer: runtimeInfoAnswer },
    [RequestCode.END_TRANSACTION]: endTransactionMapping(ctx),
    [RequestCode.QUERY_MESSAGE]: fieldsMapping([
      ["topic", "topic", "text"],
      ["key", "key", "text"],
      ["maxNum", "maxNum", "integer"],
      ["beginTimestamp", "beginTimestamp", "integer"],
      ["endTimestamp", "endTimestamp", "integer"],
      ["_UNIQUE_KEY_QUERY", "_UNIQUE_KEY_QUERY", "text"],
    ]),
  };
}

/** RocketMQ broker codes the broker does not serve over remoting, and why. */
export const BROKER_UNSUPPORTED: Readonly<Record<number, string>> = {
  [RequestCode.GET_ALL_TOPIC_CONFIG]: "list topics through the NameServer (GET_ALL_TOPIC_LIST_FROM_NAMESERVER) or the admin API",
};
