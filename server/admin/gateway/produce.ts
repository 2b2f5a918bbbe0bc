/**
 * Produce over HTTP: one message (a raw body with its settings in the query or `X-Rmq-*` headers,
 * or a JSON message) or a batch (JSON), through the broker's own SEND_MESSAGE and
 * SEND_BATCH_MESSAGE processors in process, exactly as a client's send: validation, timers, the
 * dedup window of idempotent sends, counters and long-poll wake-ups. Needs PUB on the topic.
 *
 * A batch of plain messages is one SEND_BATCH_MESSAGE (one queue, consecutive offsets); a batch
 * holding a timer, an idempotency key or a message group is sent message by message, since each
 * of those is routed on its own.
 *
 * @module
 */
import type { Context } from "hono";
import * as v from "valibot";
import { MessageConst } from "../../../core/model/message.ts";
import { tagHash } from "../../../core/model/tag_hash.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { BrokerContext } from "../../broker/context.ts";
import { sendBatchProcessor, sendMessageProcessor } from "../../broker/processors/send.ts";
import { accessOfRequest, authorize } from "../_auth.ts";
import { bodyBytes, httpError, jsonBody, MAX_JSON_BODY, validate } from "../_http.ts";
import { type AdminState, brokerProcessor, localRequest, replyError } from "../_state.ts";
import {
  BatchInput,
  BatchResult,
  ErrorBody,
  MessageInput,
  ProduceResult,
  RAW_HEADER_OF,
  RawHeaders,
  RawQuery,
  type SendResult,
  TopicPath,
} from "./_schemas.ts";
import { type GatewayRoute, route } from "./_spec.ts";
import { requireMaster } from "./_broker.ts";

const ENCODER = new TextEncoder();
/** The producer group the gateway's sends name. */
const PRODUCER_GROUP = "rmq-http-gateway";

/** One message ready to send: its body and the properties of its settings. */
interface Outgoing {
  body: Uint8Array;
  properties: Record<string, string>;
  /** The queue a message group hashes to; -1 for any. */
  queueId: number;
  /** Whether it must go alone (timer, idempotency key, message group). */
  alone: boolean;
}

/** A message's settings, from JSON or from a raw body's query and headers. */
type Settings = Omit<MessageInput, "body" | "encoding">;

function decodeBase64(text: string, where: string): Uint8Array {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    throw httpError(400, "BAD_REQUEST", `Invalid body field "${where}": not base64`);
  }
  return Uint8Array.from(binary, (ch) => ch.charCodeAt(0));
}

/** Turns a message's settings into the properties a client's send would carry. */
function outgoing(ctx: BrokerContext, topic: string, body: Uint8Array, settings: Settings): Outgoing {
  const properties: Record<string, string> = { ...settings.properties };
  if (settings.tags !== undefined && settings.tags !== "") properties[MessageConst.TAGS] = settings.tags;
  const keys = settings.keys;
  if (keys !== undefined && keys.length > 0) properties[MessageConst.KEYS] = keys.join(MessageConst.KEY_SEPARATOR);
  if (settings.delayMs !== undefined) properties[MessageConst.TIMER_DELAY_MS] = String(settings.delayMs);
  if (settings.deliverAt !== undefined) properties[MessageConst.TIMER_DELIVER_MS] = String(settings.deliverAt);
  let queueId = -1;
  if (settings.messageGroup !== undefined) {
    properties[MessageConst.SHARDING_KEY] = settings.messageGroup;
    // As a producer picks it: the group's hash over the topic's write queues (here: this broker's).
    queueId = Math.abs(tagHash(settings.messageGroup)) % (ctx.topics.get(topic)?.writeQueueNums ?? 4);
  }
  if (settings.idempotencyKey !== undefined) {
    if (ctx.dedup.windowMs === 0) {
      throw httpError(422, "UNPROCESSABLE", `Broker "${ctx.brokerName}" keeps no dedup window (dedupWindowMs is 0): an idempotency key cannot be honoured`);
    }
    properties[MessageConst.DEDUP_ID] = settings.idempotencyKey;
  }
  const alone = settings.delayMs !== undefined || settings.deliverAt !== undefined || settings.idempotencyKey !== undefined || settings.messageGroup !== undefined;
  return { body, properties, queueId, alone };
}

/** The settings of a raw body: the query, or the same fields as headers (both ways must agree). */
function rawSettings(c: Context, query: v.InferOutput<typeof RawQuery>): Settings {
  const headers = validate(RawHeaders, Object.fromEntries(Object.values(RAW_HEADER_OF).concat("x-rmq-properties").map((h) => [h, c.req.header(h)])), "header");
  const merged: Record<string, unknown> = {};
  const raw = c.req.query();
  for (const [field, header] of Object.entries(RAW_HEADER_OF)) {
    const fromHeader = headers[header as keyof typeof headers];
    const fromQuery = raw[field];
    if (fromHeader !== undefined && fromQuery !== undefined && fromHeader !== fromQuery) {
      throw httpError(400, "BAD_REQUEST", `Invalid request: query parameter "${field}" and header "${header}" disagree`);
    }
    if (fromHeader !== undefined) merged[field] = fromHeader;
  }
  const settings: Settings = { ...query, ...validate(RawQuery, merged, "header") };
  if (settings.delayMs !== undefined && settings.deliverAt !== undefined) throw httpError(400, "BAD_REQUEST", "Invalid request: a message takes delayMs or deliverAt, not both");
  const props = headers["x-rmq-properties"];
  if (props !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(props);
    } catch {
      throw httpError(400, "BAD_REQUEST", 'Invalid header "x-rmq-properties": not JSON');
    }
    settings.properties = validate(v.record(v.pipe(v.string(), v.minLength(1), v.maxLength(255)), v.pipe(v.string(), v.maxLength(32767))), parsed, 'header "x-rmq-properties"');
  }
  return settings;
}

/** The answer of a send reply, or the HTTP error of a refused one. */
function sendResult(reply: { code: number; header?: Record<string, unknown>; remark?: string }): SendResult {
  if (reply.code !== ResponseCode.SUCCESS) throw replyError(reply);
  const h = reply.header as { msgId: string; queueId: number; queueOffset: number; duplicate?: boolean; recallHandle?: string };
  return {
    msgId: h.msgId,
    queueId: h.queueId,
    queueOffset: h.queueOffset,
    duplicate: h.duplicate === true,
    ...(h.recallHandle === undefined ? {} : { recallHandle: h.recallHandle }),
  };
}

/**
 * @param state The admin state.
 * @returns The produce routes.
 */
export function produceRoutes(state: AdminState): GatewayRoute[] {
  const send = brokerProcessor(state, sendMessageProcessor);
  const batch = brokerProcessor(state, sendBatchProcessor);

  const sendOne = async (topic: string, message: Outgoing): Promise<SendResult> => {
    const reply = await localRequest(send!(), RequestCode.SEND_MESSAGE, {
      producerGroup: PRODUCER_GROUP,
      topic,
      queueId: message.queueId,
      bornTimestamp: Date.now(),
      properties: message.properties,
    }, message.body);
    return sendResult(reply);
  };

  const sendBatch = async (topic: string, messages: Outgoing[]): Promise<SendResult[]> => {
    if (messages.some((m) => m.alone)) return await Promise.all(messages.map((m) => sendOne(topic, m)));
    let size = 0;
    for (const m of messages) size += m.body.length;
    const body = new Uint8Array(size);
    let at = 0;
    for (const m of messages) {
      body.set(m.body, at);
      at += m.body.length;
    }
    const reply = await localRequest(batch!(), RequestCode.SEND_BATCH_MESSAGE, {
      producerGroup: PRODUCER_GROUP,
      topic,
      queueId: -1,
      bornTimestamp: Date.now(),
      messages: messages.map((m) => ({ size: m.body.length, properties: m.properties })),
    }, body);
    if (reply.code !== ResponseCode.SUCCESS) throw replyError(reply);
    const h = reply.header as { msgIds: string[]; queueId: number; queueOffset: number };
    return h.msgIds.map((msgId, i) => ({ msgId, queueId: h.queueId, queueOffset: h.queueOffset + i, duplicate: false }));
  };

  /** Most bytes of a JSON message: its body as base64, plus room for its settings. */
  const jsonLimit = (ctx: BrokerContext) => Math.max(MAX_JSON_BODY, Math.ceil(ctx.maxMessageSize / 3) * 4 + 64 * 1024);

  return [
    route({
      method: "post",
      path: "/topics/{topic}/messages",
      operationId: "produce",
      summary: "Produce one message",
      description: "A JSON message (Content-Type: application/json), or a raw body of any other type forms cannot send " +
        "(application/octet-stream, application/xml, ...) with its settings in the query or X-Rmq-* headers. Needs PUB on the topic.",
      params: TopicPath,
      query: RawQuery,
      headers: RawHeaders,
      body: { json: MessageInput, raw: "The message body, stored as sent" },
      responses: {
        201: { description: "Stored", schema: ProduceResult },
        200: { description: "A repeat of an idempotency key: where the first send stored it", schema: ProduceResult },
        400: { description: "Bad input", schema: ErrorBody },
        403: { description: "No PUB right on the topic, or the topic is not writable", schema: ErrorBody },
        413: { description: "Body too large", schema: ErrorBody },
        422: { description: "An idempotency key where the broker keeps no dedup window", schema: ErrorBody },
      },
    }, async ({ c, params, query }) => {
      authorize(accessOfRequest(c).publish(params.topic));
      const ctx = requireMaster(state);
      const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      let message: Outgoing;
      if (type === "application/json") {
        const input = await jsonBody(c, MessageInput, jsonLimit(ctx));
        const { body, encoding, ...settings } = input;
        const idempotencyKey = c.req.header("idempotency-key");
        if (idempotencyKey !== undefined && settings.idempotencyKey !== undefined && idempotencyKey !== settings.idempotencyKey) {
          throw httpError(400, "BAD_REQUEST", 'Invalid request: header "idempotency-key" and body field "idempotencyKey" disagree');
        }
        if (idempotencyKey !== undefined) settings.idempotencyKey = validate(RawQuery.entries.idempotencyKey, idempotencyKey, 'header "idempotency-key"');
        message = outgoing(ctx, params.topic, encoding === "base64" ? decodeBase64(body, "body") : ENCODER.encode(body), settings);
      } else {
        const settings = rawSettings(c, query);
        const body = await bodyBytes(c, ctx.maxMessageSize);
        if (body.length === 0) throw httpError(400, "BAD_REQUEST", "Invalid body: the message body is empty");
        message = outgoing(ctx, params.topic, body, settings);
      }
      const sent = await sendOne(params.topic, message);
      return c.json({ topic: params.topic, ...sent }, sent.duplicate ? 200 : 201);
    }),

    route({
      method: "post",
      path: "/topics/{topic}/messages/batch",
      operationId: "produceBatch",
      summary: "Produce a batch of messages",
      description: "Plain messages are stored together in one queue with consecutive offsets; a batch with a timer, an idempotency key or a message group " +
        "is stored message by message. Needs PUB on the topic.",
      params: TopicPath,
      body: { json: BatchInput },
      responses: {
        201: { description: "Stored, one result per message in order", schema: BatchResult },
        400: { description: "Bad input", schema: ErrorBody },
        403: { description: "No PUB right on the topic", schema: ErrorBody },
        413: { description: "Body too large", schema: ErrorBody },
      },
    }, async ({ c, params }) => {
      authorize(accessOfRequest(c).publish(params.topic));
      const ctx = requireMaster(state);
      const { messages } = await jsonBody(c, BatchInput, jsonLimit(ctx));
      const out = messages.map(({ body, encoding, ...settings }, i) =>
        outgoing(ctx, params.topic, encoding === "base64" ? decodeBase64(body, `messages.${i}.body`) : ENCODER.encode(body), settings)
      );
      return c.json({ topic: params.topic, results: await sendBatch(params.topic, out) }, 201);
    }),
  ];
}
