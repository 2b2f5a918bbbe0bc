/**
 * SEND_MESSAGE and SEND_BATCH_MESSAGE, and their V2 forms (one-letter header names, answers with
 * numbers instead of message-id text): validate, resolve the topic and queue, append to the store.
 *
 * @module
 */
import { MessageConst } from "../../../core/model/message.ts";
import { decodeProperties, encodeProperties, isWellFormedProperties } from "../../../core/model/properties.ts";
import { DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX, SYSTEM_TOPICS } from "../../../core/model/system_topics.ts";
import type { Command } from "../../../core/protocol/command.ts";
import {
  type BatchRecordsHeader,
  SendBatchHeader,
  SendBatchRecordsHeader,
  SendBatchV2Header,
  SendMessageHeader,
  SendMessageV2Header,
  type TopicConfig,
} from "../../../core/protocol/headers.ts";
import {
  fastSendBatchHeader,
  fastSendBatchRecordsHeader,
  fastSendBatchV2Header,
  fastSendHeader,
  fastSendV2Header,
} from "../../../core/protocol/fast_headers.ts";
import { batchMessages, scanBatchRecords } from "../../../core/model/batch_records.ts";
import { Perm, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { processor, type Processor, type Reply } from "../../../core/remoting/dispatcher.ts";
import type { PutResult, StoreInput } from "../../store/store_types.ts";
import { toHostAddress } from "../_host.ts";
import { countDeadLetter, countIn } from "../broker_stats.ts";
import type { BrokerContext } from "../context.ts";
import { routeBatch, routeSend } from "../message_routing.ts";
import { deadLetterView } from "../trace_writer.ts";
import type { DedupResult } from "../dedup_window.ts";
import { checkDedupId } from "../../../core/model/dedup_id.ts";
import { offsetMessageId } from "../../../core/model/message_id.ts";

const ENCODER = new TextEncoder();
const EMPTY = new Uint8Array(0);

/** Maps a store status to a response code. */
export function putReply(result: Pick<PutResult, "status" | "error">): Reply | undefined {
  switch (result.status) {
    case "PUT_OK":
      return undefined;
    case "MESSAGE_ILLEGAL":
      return { code: ResponseCode.MESSAGE_ILLEGAL, remark: result.error ?? "Message is illegal" };
    case "FLUSH_DISK_FAILED":
      return { code: ResponseCode.FLUSH_DISK_FAILED, remark: result.error ?? "Broker failed to flush the message to disk" };
    case "SERVICE_NOT_AVAILABLE":
      return { code: ResponseCode.SERVICE_NOT_AVAILABLE, remark: result.error ?? "Store is not available" };
    default:
      return { code: ResponseCode.SYSTEM_ERROR, remark: result.error ?? `Store answered "${result.status}"` };
  }
}

/**
 * Finds (or auto-creates) a writable topic and checks the queue id.
 *
 * @returns The queue to write (a number: no object a send), or an error reply.
 */
export function resolveQueue(
  ctx: BrokerContext,
  topic: string,
  queueId: number,
  queueNums: number,
): number | Reply | Promise<number | Reply> {
  if (SYSTEM_TOPICS.has(topic)) {
    return { code: ResponseCode.NO_PERMISSION, remark: `Topic "${topic}" is reserved for the broker` };
  }
  const config = ctx.topics.get(topic);
  if (config === undefined && ctx.topics.autoCreateTopicEnable) {
    return ctx.topics.autoCreate(topic, queueNums).then((created) =>
      created !== undefined && "remark" in created ? created : checkQueue(ctx, topic, queueId, created)
    );
  }
  return checkQueue(ctx, topic, queueId, config);
}

function checkQueue(
  ctx: BrokerContext,
  topic: string,
  queueId: number,
  config: TopicConfig | undefined,
): number | Reply {
  if (config === undefined) {
    return { code: ResponseCode.TOPIC_NOT_EXIST, remark: `Topic "${topic}" does not exist on broker "${ctx.brokerName}"` };
  }
  if ((config.perm & Perm.WRITE) === 0) {
    return { code: ResponseCode.NO_PERMISSION, remark: `Topic "${topic}" is not writable on broker "${ctx.brokerName}"` };
  }
  const queues = config.writeQueueNums;
  if (queues === 0) return { code: ResponseCode.NO_PERMISSION, remark: `Topic "${topic}" has no write queues` };
  if (queueId < 0) queueId = Math.floor(Math.random() * queues);
  else if (queueId >= queues) {
    return { code: ResponseCode.SYSTEM_ERROR, remark: `Queue ${queueId} of topic "${topic}" does not exist (it has ${queues} write queues)` };
  }
  return queueId;
}

/** Properties the broker stores as sent (text, no object a send), or must look inside first (`map`). */
type SentProperties = string | { map: Record<string, string> };

/**
 * Reads a send's properties. Text goes to the store as it is unless it names `DELAY`, `WAIT`, a
 * timer property or `DEDUP_ID`, or the message is a retry (those need routing); a map is always routed.
 */
function readProperties(ctx: BrokerContext, topic: string, properties: string | Record<string, string>): SentProperties | Reply {
  if (typeof properties !== "string") return { map: properties };
  if (!isWellFormedProperties(properties)) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, remark: "Properties text is malformed: expected name U+0001 value U+0002 entries" };
  }
  if (
    properties.includes("DELAY\u0001") || properties.includes("WAIT\u0001") || properties.includes("TIMER_") ||
    properties.includes("DEDUP_ID\u0001") || topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)
  ) {
    return { map: decodeProperties(properties) };
  }
  if (properties.length * 3 > ctx.maxPropertiesSize && ENCODER.encode(properties).length > ctx.maxPropertiesSize) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Properties are larger than ${ctx.maxPropertiesSize} bytes` };
  }
  return properties;
}

/** Encodes the stored properties text, leaving out `WAIT`, and checks its size. */
export function storedProperties(ctx: BrokerContext, properties: Record<string, string>): string | Reply {
  for (const name in properties) {
    if (name.includes("\u0001") || name.includes("\u0002") || properties[name]!.includes("\u0001") || properties[name]!.includes("\u0002")) {
      return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Property "${name}" contains a reserved separator character` };
    }
  }
  if (MessageConst.WAIT in properties) {
    properties = { ...properties };
    delete properties[MessageConst.WAIT];
  }
  const text = encodeProperties(properties);
  // UTF-8 may take up to 3 bytes per UTF-16 unit; measure exactly only when it could matter.
  if (text.length * 3 > ctx.maxPropertiesSize && ENCODER.encode(text).length > ctx.maxPropertiesSize) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Properties are larger than ${ctx.maxPropertiesSize} bytes` };
  }
  return text;
}

/** Which form of a send request a processor takes, and answers in. */
export type SendForm = "v1" | "v2";

/**
 * SEND_MESSAGE, or SEND_MESSAGE_V2.
 *
 * @param ctx The broker.
 * @param form `v2` for SEND_MESSAGE_V2.
 * @returns The processor.
 */
export function sendMessageProcessor(ctx: BrokerContext, form: SendForm = "v1"): Processor<SendMessageHeader> {
  const schema = form === "v2" ? SendMessageV2Header : SendMessageHeader;
  return processor(schema, (header, request: Command, connection: Connection) => {
    const started = performance.now();
    const body = request.body ?? EMPTY;
    if (body.length === 0) return { code: ResponseCode.MESSAGE_ILLEGAL, remark: "Message body is empty" };
    if (body.length > ctx.maxMessageSize) {
      return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Message body of ${body.length} bytes exceeds the limit of ${ctx.maxMessageSize} bytes` };
    }
    const sent = readProperties(ctx, header.topic, header.properties);
    if (typeof sent !== "string" && "code" in sent) return sent;
    const send: SendJob = { ctx, form, header, sent, body, connection, started };
    const dedupId = typeof sent === "string" ? undefined : sent.map[MessageConst.DEDUP_ID];
    if (dedupId === undefined) return storeSend(send);
    const bad = checkDedupId(dedupId);
    if (bad !== undefined) return { code: ResponseCode.MESSAGE_ILLEGAL, remark: bad };
    if (ctx.dedup.windowMs === 0) return storeSend(send);
    return storeOnce(send, dedupId);
  }, form === "v2" ? fastSendV2Header : fastSendHeader);
}

/** One SEND_MESSAGE(_V2) being handled. */
interface SendJob {
  ctx: BrokerContext;
  form: SendForm;
  header: SendMessageHeader;
  sent: SentProperties;
  body: Uint8Array;
  connection: Connection;
  /** When the request arrived (`performance.now()`), for the latency histogram. */
  started: number;
}

/** Stores a send with a dedup id unless the window holds the id; a repeat gets the first result. */
async function storeOnce(send: SendJob, dedupId: string): Promise<Reply> {
  const { dedup } = send.ctx;
  const topic = send.header.topic;
  for (;;) {
    let first = dedup.lookup(topic, dedupId);
    if (first instanceof Promise) first = await first;
    if (first !== undefined) {
      dedup.duplicates++;
      return dedupReply(send, first);
    }
    // Another send of the same id may have claimed it while this one waited.
    if (dedup.lookup(topic, dedupId) !== undefined) continue;
    const settle = dedup.begin(topic, dedupId);
    let reply: Reply | undefined;
    try {
      reply = await storeSend(send, (result) => settle(result));
    } finally {
      // Not stored: the id is free again for a retry.
      if (reply === undefined || (reply.code !== ResponseCode.SUCCESS && !STORED.has(reply.code))) settle(undefined);
    }
    return reply;
  }
}

/** Codes of a reply whose message is stored (only a slave's copy may be missing). */
const STORED: ReadonlySet<number> = new Set([ResponseCode.FLUSH_SLAVE_TIMEOUT, ResponseCode.SLAVE_NOT_AVAILABLE]);

/** Routes, stores and answers one send; `stored` hears the result once the record is written. */
async function storeSend(send: SendJob, stored?: (result: DedupResult) => void): Promise<Reply> {
  const { ctx, form, header, sent, body, connection, started } = send;
  let properties = typeof sent === "string" ? sent : storedProperties(ctx, sent.map);
  if (typeof properties !== "string") return properties;
  let resolved = resolveQueue(ctx, header.topic, header.queueId, header.defaultTopicQueueNums);
  if (resolved instanceof Promise) resolved = await resolved;
  if (typeof resolved !== "number") return resolved;
  // Where it is stored, the queue its reply names, and when a timer's message is due (no object a send).
  let topic = header.topic;
  let queueId = resolved;
  let realQueueId = queueId;
  let dueMs: number | undefined;
  /** Set when a retry past its limit goes to the group's dead-letter topic. */
  let deadLetter: { group: string; topic: string } | undefined;
  if (typeof sent !== "string") {
    let routed = routeSend(ctx, {
      topic: header.topic,
      queueId: resolved,
      properties: sent.map,
      reconsumeTimes: header.reconsumeTimes,
      maxReconsumeTimes: header.maxReconsumeTimes,
    });
    if (routed instanceof Promise) routed = await routed;
    if ("code" in routed) return routed;
    if (routed.properties !== sent.map) properties = storedProperties(ctx, routed.properties);
    if (typeof properties !== "string") return properties;
    ({ topic, queueId, realQueueId, dueMs } = routed);
    if (topic.startsWith(DLQ_GROUP_TOPIC_PREFIX)) {
      deadLetter = { group: topic.slice(DLQ_GROUP_TOPIC_PREFIX.length), topic: routed.properties[MessageConst.RETRY_TOPIC] ?? header.topic };
    }
  }
  const result = await ctx.store.putMessage({
    topic,
    queueId,
    flag: header.flag,
    sysFlag: header.sysFlag,
    bornTimestamp: header.bornTimestamp,
    bornHost: toHostAddress(connection.remoteAddress),
    reconsumeTimes: header.reconsumeTimes,
    preparedTransactionOffset: 0,
    body,
    properties,
  });
  ctx.stats.sendLatency.observe(performance.now() - started);
  const failure = putReply(result);
  if (failure !== undefined) {
    ctx.stats.sendErrors++;
    return failure;
  }
  // Made only when a dedup window or a timer's reply needs it: not an object a plain send.
  let first: DedupResult | undefined;
  if (stored !== undefined || dueMs !== undefined) {
    first = { queueId: realQueueId, queueOffset: result.queueOffset, commitLogOffset: result.commitLogOffset };
    if (dueMs !== undefined) first.dueMs = dueMs;
    stored?.(first);
  }
  countIn(ctx.stats, header.topic, 1, body.length);
  if (deadLetter !== undefined) {
    countDeadLetter(ctx.stats, deadLetter.group, deadLetter.topic);
    ctx.trace?.deadLetter(deadLetter.group, deadLetterView(properties, deadLetter.topic), topic, header.reconsumeTimes, result.msgId);
  }
  // SYNC_MASTER: stored here either way; the code says whether a slave holds it too.
  const awaitReplica = ctx.replication.awaitReplica;
  const code = awaitReplica === undefined ? ResponseCode.SUCCESS : await awaitReplica(result.commitLogOffset);
  if (dueMs === undefined) {
    return {
      code,
      header: form === "v2"
        ? { q: realQueueId, o: result.queueOffset, c: result.commitLogOffset, s: ctx.store.messageIdPrefix }
        : { msgId: result.msgId, queueId: realQueueId, queueOffset: result.queueOffset },
    };
  }
  return { code, header: sendReplyHeader(send, first!, false) };
}

/** The answer to a send: its place, its recall handle when it is a timer, and whether it repeated one. */
function sendReplyHeader(send: SendJob, result: DedupResult, duplicate: boolean): Record<string, unknown> {
  const { ctx, form } = send;
  const topic = send.header.topic;
  const out: Record<string, unknown> = form === "v2"
    ? { q: result.queueId, o: result.queueOffset, c: result.commitLogOffset, s: ctx.store.messageIdPrefix }
    : { msgId: offsetMessageId(ctx.store.messageIdPrefix, result.commitLogOffset), queueId: result.queueId, queueOffset: result.queueOffset };
  if (result.dueMs !== undefined) {
    const handle = ctx.recallSigner.issue({ brokerName: ctx.brokerName, topic, dueMs: result.dueMs, timerId: result.commitLogOffset });
    out[form === "v2" ? "r" : "recallHandle"] = handle;
  }
  if (duplicate) out[form === "v2" ? "dup" : "duplicate"] = true;
  return out;
}

/** Answers a repeat of a dedup id with the first send's result. */
async function dedupReply(send: SendJob, first: DedupResult): Promise<Reply> {
  const awaitReplica = send.ctx.replication.awaitReplica;
  return {
    code: awaitReplica === undefined ? ResponseCode.SUCCESS : await awaitReplica(first.commitLogOffset),
    header: sendReplyHeader(send, first, true),
  };
}

/**
 * SEND_BATCH_MESSAGE, or SEND_BATCH_MESSAGE_V2: every message to one queue, consecutive offsets.
 *
 * @param ctx The broker.
 * @param form `v2` for SEND_BATCH_MESSAGE_V2.
 * @returns The processor.
 */
export function sendBatchProcessor(ctx: BrokerContext, form: SendForm = "v1"): Processor<SendBatchHeader> {
  const schema = form === "v2" ? SendBatchV2Header : SendBatchHeader;
  return processor(schema, (header, request: Command, connection: Connection) => {
    const started = performance.now();
    const body = request.body ?? EMPTY;
    const total = header.messages.reduce((n, m) => n + m.size, 0);
    if (total !== body.length) {
      return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Batch sizes add up to ${total} bytes but the body has ${body.length}` };
    }
    const entries: BatchEntry[] = new Array(header.messages.length);
    let pos = 0;
    for (let i = 0; i < entries.length; i++) {
      const { size, flag, properties } = header.messages[i]!;
      entries[i] = { body: body.subarray(pos, pos + size), flag, properties };
      pos += size;
    }
    return storeBatchApart({ ctx, form, header, entries, bytes: body.length, connection, started });
  }, form === "v2" ? fastSendBatchV2Header : fastSendBatchHeader);
}

/**
 * SEND_BATCH_RECORDS: the messages come laid out as stored records. One pass checks them
 * (`scanBatchRecords`); the store copies them and writes its fields into the copy. A batch that
 * needs routing (a delay level, a timer or dedup property, a retry topic) is stored message by
 * message as SEND_BATCH_MESSAGE_V2 stores it, and answered the same way.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function sendBatchRecordsProcessor(ctx: BrokerContext): Processor<BatchRecordsHeader> {
  return processor(SendBatchRecordsHeader, async (header, request: Command, connection: Connection) => {
    const started = performance.now();
    const body = request.body ?? EMPTY;
    const scan = scanBatchRecords(body, {
      topic: header.topic,
      count: header.count,
      maxBodySize: ctx.maxMessageSize,
      maxPropertiesSize: ctx.maxPropertiesSize,
    });
    if (typeof scan === "string") return { code: ResponseCode.MESSAGE_ILLEGAL, remark: scan };
    if (scan.routed || header.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX)) {
      const entries = batchMessages(scan);
      return storeBatchApart({ ctx, form: "v2", header, entries, bytes: scan.bodyBytes, connection, started });
    }
    let resolved = resolveQueue(ctx, header.topic, header.queueId, header.defaultTopicQueueNums);
    if (resolved instanceof Promise) resolved = await resolved;
    if (typeof resolved !== "number") return resolved;
    const result = await ctx.store.putBatch({
      topic: header.topic,
      queueId: resolved,
      bornTimestamp: header.bornTimestamp,
      bornHost: toHostAddress(connection.remoteAddress),
      scan,
    });
    ctx.stats.sendLatency.observe(performance.now() - started);
    const failure = putReply(result);
    if (failure !== undefined) {
      ctx.stats.sendErrors += header.count;
      return failure;
    }
    countIn(ctx.stats, header.topic, header.count, scan.bodyBytes);
    const offsets = result.commitLogOffsets;
    const awaitReplica = ctx.replication.awaitReplica;
    return {
      code: awaitReplica === undefined ? ResponseCode.SUCCESS : await awaitReplica(offsets[offsets.length - 1]!),
      header: { q: resolved, o: result.queueOffset, c: offsets, s: ctx.store.messageIdPrefix },
    };
  }, fastSendBatchRecordsHeader);
}

/** One message of a batch on the per-message path. */
interface BatchEntry {
  body: Uint8Array;
  flag: number;
  /** As sent: encoded text or a map. */
  properties: string | Record<string, string>;
}

/** A batch stored message by message: validated, routed (delay levels, retry topics), then put in one write. */
async function storeBatchApart(batch: {
  ctx: BrokerContext;
  form: SendForm;
  header: { topic: string; queueId: number; defaultTopicQueueNums: number; bornTimestamp: number };
  entries: BatchEntry[];
  /** Body bytes of all the messages, for the stats. */
  bytes: number;
  connection: Connection;
  started: number;
}): Promise<Reply> {
  const { ctx, form, header, entries, connection, started } = batch;
  const bornHost = toHostAddress(connection.remoteAddress);
  const inputs: StoreInput[] = new Array(entries.length);
  // Entries whose properties need routing (DELAY, retry topics), as maps; undefined while none does.
  let maps: (Record<string, string> | undefined)[] | undefined;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (entry.body.length === 0) return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Message ${i} of the batch has an empty body` };
    if (entry.body.length > ctx.maxMessageSize) {
      return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Message ${i} of the batch exceeds the limit of ${ctx.maxMessageSize} bytes` };
    }
    const sent = readProperties(ctx, header.topic, entry.properties);
    if (typeof sent !== "string" && "code" in sent) return { ...sent, remark: `Message ${i} of the batch: ${sent.remark}` };
    let properties: string | Reply;
    if (typeof sent === "string") properties = sent;
    else {
      properties = storedProperties(ctx, sent.map);
      (maps ??= new Array(entries.length))[i] = sent.map;
    }
    if (typeof properties !== "string") return properties;
    inputs[i] = {
      topic: header.topic,
      queueId: 0,
      flag: entry.flag,
      sysFlag: 0,
      bornTimestamp: header.bornTimestamp,
      bornHost,
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body: entry.body,
      properties,
    };
  }
  let resolved = resolveQueue(ctx, header.topic, header.queueId, header.defaultTopicQueueNums);
  if (resolved instanceof Promise) resolved = await resolved;
  if (typeof resolved !== "number") return resolved;
  if (maps === undefined) {
    // Text without DELAY or WAIT, not a retry topic: stored as sent.
    for (const input of inputs) input.queueId = resolved;
  } else {
    // Otherwise every entry is routed as a map.
    const known = maps;
    const mapped = entries.map((e, i) => known[i] ?? decodeProperties(e.properties as string));
    const route = routeBatch(ctx, { topic: header.topic, queueId: resolved, properties: mapped });
    if ("code" in route) return route;
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i]!;
      input.topic = route.topic;
      input.queueId = route.queueId;
      if (route.properties[i] !== mapped[i]) {
        const properties = storedProperties(ctx, route.properties[i]!);
        if (typeof properties !== "string") return properties;
        input.properties = properties;
      }
    }
  }
  const results = await ctx.store.putMessages(inputs);
  ctx.stats.sendLatency.observe(performance.now() - started);
  for (const result of results) {
    const failure = putReply(result);
    if (failure !== undefined) {
      ctx.stats.sendErrors += inputs.length;
      return failure;
    }
  }
  countIn(ctx.stats, header.topic, inputs.length, batch.bytes);
  const awaitReplica = ctx.replication.awaitReplica;
  return {
    code: awaitReplica === undefined ? ResponseCode.SUCCESS : await awaitReplica(results.at(-1)!.commitLogOffset),
    header: form === "v2"
      ? { q: resolved, o: results[0]!.queueOffset, c: results.map((r) => r.commitLogOffset), s: ctx.store.messageIdPrefix }
      : { msgIds: results.map((r) => r.msgId), queueId: resolved, queueOffset: results[0]!.queueOffset },
  };
}
