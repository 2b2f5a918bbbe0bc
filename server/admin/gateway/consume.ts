/**
 * Consume over HTTP as a group, with POP semantics: receive (long-polled through the broker's
 * POP_MESSAGE processor in process, so it parks in the pull hold service like a SimpleConsumer's
 * pop), ack one or many receipt handles and change a message's invisible time (the broker's
 * `PopService`), and the group's offsets and lag. Receipt handles, redelivery after the invisible
 * time, retry and dead-letter topics are those of the wire protocol. Each needs the group right and
 * SUB on the topic, as POP over the wire does.
 *
 * @module
 */
import type { Context } from "hono";
import * as v from "valibot";
import { MessageConst } from "../../../core/model/message.ts";
import { decodeRecords } from "../../../core/model/record.ts";
import { PopMessageHeader, type PopMessageResponseHeader } from "../../../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Reply } from "../../../core/remoting/dispatcher.ts";
import type { BrokerContext } from "../../broker/context.ts";
import { PopRefusal } from "../../broker/pop/pop_service.ts";
import { popFilter, popMessageProcessor } from "../../broker/processors/pop.ts";
import { accessOfRequest, authorize } from "../_auth.ts";
import { groupLag } from "../_figures.ts";
import { type AdminErrorCode, httpError, jsonBody } from "../_http.ts";
import { messageJson } from "../_message_json.ts";
import { type AdminState, brokerProcessor, replyError, requireBroker } from "../_state.ts";
import { requireMaster } from "./_broker.ts";
import { requestInProcess } from "./_http_peer.ts";
import {
  AckBody,
  AckResult,
  ChangeInvisibleBody,
  ChangeInvisibleResult,
  ErrorBody,
  GroupPath,
  GroupTopicPath,
  OffsetsQuery,
  OffsetsResult,
  type ReceivedMessage,
  ReceiveBody,
  ReceiveResult,
} from "./_schemas.ts";
import { type GatewayRoute, route } from "./_spec.ts";

/** What one pop asks for, in the gateway's terms. */
export interface PopAsk {
  group: string;
  topic: string;
  maxMessages: number;
  invisibleTimeMs: number;
  waitMs: number;
  filterType: "TAG" | "SQL92";
  filter: string;
  from: "earliest" | "latest";
}

/**
 * Checks that the request may consume: the group right and SUB on the topic, at a master.
 *
 * @param c The request context.
 * @param state The admin state.
 * @param group The consumer group.
 * @param topic The topic.
 * @returns The broker.
 */
export function authorizeConsume(c: Context, state: AdminState, group: string, topic: string): BrokerContext {
  const access = accessOfRequest(c);
  authorize(access.group(group));
  authorize(access.subscribe(topic));
  return requireMaster(state);
}

/**
 * Checks that a pop's filter compiles on this broker.
 *
 * @param ctx The broker.
 * @param type `TAG` or `SQL92`.
 * @param expression The expression.
 * @throws {HTTPException} 400 naming what is wrong.
 */
export function checkFilter(ctx: BrokerContext, type: string, expression: string): void {
  const compiled = popFilter(ctx, type, expression);
  if ("code" in compiled) throw httpError(400, "BAD_REQUEST", `Invalid filter: ${compiled.remark}`);
}

/** The HTTP error of a refused pop. */
function popError(reply: Reply): Error {
  const message = reply.remark ?? `Broker answered code ${reply.code}`;
  if (reply.code === ResponseCode.SYSTEM_BUSY) return httpError(429, "TOO_MANY_REQUESTS", message);
  if (reply.code === ResponseCode.SUBSCRIPTION_PARSE_FAILED) return httpError(400, "BAD_REQUEST", message);
  return replyError(reply);
}

/**
 * Pops once through the broker's POP_MESSAGE processor, long-polled for `waitMs`.
 *
 * @param proc The processor (`popMessageProcessor(ctx)`).
 * @param ask What to pop.
 * @param signal Aborts the wait (the HTTP client went away).
 * @returns The messages (none when the wait ran out), or undefined when aborted.
 * @throws {HTTPException} When the broker refuses the pop.
 */
export async function popOnce(proc: ReturnType<typeof popMessageProcessor>, ask: PopAsk, signal: AbortSignal): Promise<ReceivedMessage[] | undefined> {
  const header = v.parse(PopMessageHeader, {
    consumerGroup: ask.group,
    topic: ask.topic,
    maxMsgNums: ask.maxMessages,
    invisibleTime: ask.invisibleTimeMs,
    pollTime: ask.waitMs,
    bornTime: Date.now(),
    initMode: ask.from === "earliest" ? 0 : 1,
    expType: ask.filterType,
    exp: ask.filter,
  });
  const reply = await requestInProcess(proc, RequestCode.POP_MESSAGE, header, signal);
  if (reply === undefined) return undefined;
  if (reply.code === ResponseCode.POLLING_TIMEOUT || reply.code === ResponseCode.PULL_NOT_FOUND) return [];
  if (reply.code !== ResponseCode.SUCCESS) throw popError(reply);
  const h = reply.header as unknown as PopMessageResponseHeader;
  const records = decodeRecords(reply.body ?? new Uint8Array(0));
  const invisibleUntil = h.popTime + h.invisibleTime;
  return records.map((record, i) => {
    const m = messageJson(record);
    return {
      receiptHandle: h.handles[i]!,
      deliveryAttempt: h.attempts[i]!,
      invisibleUntil,
      messageGroup: record.properties[MessageConst.SHARDING_KEY] ?? null,
      msgId: m.msgId,
      // A redelivery is read from the group's retry topic: it is shown under the topic popped.
      topic: ask.topic,
      queueId: m.queueId,
      queueOffset: m.queueOffset,
      bornTimestamp: m.bornTimestamp,
      storeTimestamp: m.storeTimestamp,
      reconsumeTimes: m.reconsumeTimes,
      tags: m.tags,
      keys: m.keys,
      uniqueKey: m.uniqueKey,
      properties: m.properties,
      body: m.body,
      bodyEncoding: m.bodyEncoding,
    };
  });
}

/** The gateway's error code of a refused receipt handle. */
function handleCode(code: number): AdminErrorCode {
  return code === ResponseCode.INVALID_RECEIPT_HANDLE ? "RECEIPT_HANDLE_INVALID" : code === ResponseCode.RECEIPT_HANDLE_EXPIRED ? "RECEIPT_HANDLE_EXPIRED" : "INTERNAL";
}

/** The HTTP error of a refused receipt handle: 400 not issued for this group and topic, 410 expired. */
function handleError(code: number, message: string): Error {
  const gateway = handleCode(code);
  return httpError(gateway === "RECEIPT_HANDLE_INVALID" ? 400 : gateway === "RECEIPT_HANDLE_EXPIRED" ? 410 : 500, gateway, message);
}

const HANDLE_ERRORS = {
  400: { description: "Bad input, or a receipt handle not issued for this group and topic (RECEIPT_HANDLE_INVALID)", schema: ErrorBody },
  403: { description: "No group right or no SUB right on the topic", schema: ErrorBody },
};

/**
 * @param state The admin state.
 * @returns The consume routes.
 */
export function consumeRoutes(state: AdminState): GatewayRoute[] {
  const pop = brokerProcessor(state, popMessageProcessor);

  return [
    route({
      method: "post",
      path: "/groups/{group}/topics/{topic}/receive",
      operationId: "receive",
      summary: "Receive messages as a consumer group (POP)",
      description: "Up to maxMessages messages, each invisible to the group for invisibleTimeMs: ack each within that time, or it is delivered again " +
        "(deliveryAttempt one higher; past the group's retryMaxTimes it goes to the dead-letter topic). With waitMs the request waits for messages.",
      params: GroupTopicPath,
      body: { json: ReceiveBody },
      responses: {
        200: { description: "The messages (none when the wait ran out)", schema: ReceiveResult },
        ...HANDLE_ERRORS,
        404: { description: "No such topic", schema: ErrorBody },
        429: { description: "Too many requests wait for messages on the broker (maxHeldPulls)", schema: ErrorBody },
      },
    }, async ({ c, params }) => {
      const ctx = authorizeConsume(c, state, params.group, params.topic);
      const body = await jsonBody(c, ReceiveBody);
      checkFilter(ctx, body.filter.type, body.filter.expression);
      const messages = await popOnce(pop!(), {
        group: params.group,
        topic: params.topic,
        maxMessages: body.maxMessages,
        invisibleTimeMs: body.invisibleTimeMs,
        waitMs: body.waitMs,
        filterType: body.filter.type,
        filter: body.filter.expression,
        from: body.from,
      }, c.req.raw.signal);
      return c.json({ messages: messages ?? [] });
    }),

    route({
      method: "post",
      path: "/groups/{group}/topics/{topic}/ack",
      operationId: "ack",
      summary: "Ack received messages",
      description: "One receiptHandle (an error status when refused) or up to 1024 receiptHandles (200 with the refused ones in failed).",
      params: GroupTopicPath,
      body: { json: AckBody },
      responses: {
        200: { description: "Settled", schema: AckResult },
        ...HANDLE_ERRORS,
        410: { description: "The handle expired: acked already, or its invisible time ran out (RECEIPT_HANDLE_EXPIRED)", schema: ErrorBody },
      },
    }, async ({ c, params }) => {
      const ctx = authorizeConsume(c, state, params.group, params.topic);
      const body = await jsonBody(c, AckBody);
      const handles = body.receiptHandles ?? [body.receiptHandle!];
      const outcomes = await ctx.pop.ack(params.group, params.topic, handles);
      if (body.receiptHandle !== undefined && !outcomes[0]!.ok) throw handleError(outcomes[0]!.code, outcomes[0]!.remark);
      const failed = outcomes.flatMap((o, index) => o.ok ? [] : [{ index, code: handleCode(o.code), message: o.remark }]);
      return c.json({ acked: outcomes.length - failed.length, failed });
    }),

    route({
      method: "post",
      path: "/groups/{group}/topics/{topic}/invisible-time",
      operationId: "changeInvisibleTime",
      summary: "Change a received message's invisible time",
      description: "The message stays invisible for invisibleTimeMs from now. The answer's receipt handle replaces the old one, which is stale from now on.",
      params: GroupTopicPath,
      body: { json: ChangeInvisibleBody },
      responses: {
        200: { description: "Changed", schema: ChangeInvisibleResult },
        ...HANDLE_ERRORS,
        410: { description: "The handle expired (RECEIPT_HANDLE_EXPIRED)", schema: ErrorBody },
      },
    }, async ({ c, params }) => {
      const ctx = authorizeConsume(c, state, params.group, params.topic);
      const body = await jsonBody(c, ChangeInvisibleBody);
      try {
        const changed = await ctx.pop.changeInvisibleTime(params.group, params.topic, body.receiptHandle, body.invisibleTimeMs);
        return c.json({ receiptHandle: changed.handle, invisibleUntil: changed.popTime + changed.invisibleTime });
      } catch (error) {
        if (error instanceof PopRefusal) {
          throw error.code === ResponseCode.INVALID_RECEIPT_HANDLE || error.code === ResponseCode.RECEIPT_HANDLE_EXPIRED
            ? handleError(error.code, error.message)
            : replyError({ code: error.code, remark: error.message });
        }
        throw error;
      }
    }),

    route({
      method: "get",
      path: "/groups/{group}/offsets",
      operationId: "offsets",
      summary: "A group's offsets and lag",
      description: "Per queue of the topic (or of every topic the group has offsets of and may be read): the queue's range, the group's committed " +
        "offset and the lag. Needs the group right and SUB on each topic shown.",
      params: GroupPath,
      query: OffsetsQuery,
      responses: {
        200: { description: "The group's progress", schema: OffsetsResult },
        400: { description: "Bad input", schema: ErrorBody },
        403: { description: "No group right, or no SUB right on the topic asked for", schema: ErrorBody },
        404: { description: "No such topic", schema: ErrorBody },
      },
    }, ({ c, params, query }) => {
      const access = accessOfRequest(c);
      authorize(access.group(params.group));
      if (query.topic !== undefined) authorize(access.subscribe(query.topic));
      const ctx = requireBroker(state);
      if (query.topic !== undefined && ctx.topics.get(query.topic) === undefined && ctx.store.queueIds(query.topic).length === 0) {
        throw httpError(404, "NOT_FOUND", `Topic "${query.topic}" does not exist on broker "${ctx.brokerName}"`);
      }
      const { queues } = groupLag(ctx, params.group, query.topic === undefined ? [] : [query.topic]);
      const shown = queues.filter((q) => query.topic === undefined ? access.subscribe(q.topic) === undefined : q.topic === query.topic);
      return c.json({
        group: params.group,
        brokerName: ctx.brokerName,
        totalLag: shown.reduce((n, q) => n + q.lag, 0),
        inflight: ctx.pop.groupStats().get(params.group)?.inflight ?? 0,
        queues: shown.map((q) => ({
          topic: q.topic,
          queueId: q.queueId,
          minOffset: ctx.store.getMinOffset(q.topic, q.queueId),
          brokerOffset: q.brokerOffset,
          consumerOffset: q.consumerOffset,
          lag: q.lag,
        })),
      });
    }),
  ];
}
