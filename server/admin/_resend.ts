/**
 * What the admin routes that store a message again share: finding a stored message by its offset
 * message id, the user properties a copy keeps, and sending through the broker's SEND_MESSAGE
 * processor as a client would.
 *
 * @module
 */
import * as v from "valibot";
import { MessageConst, type MessageExt } from "../../core/model/message.ts";
import { decodeOffsetMessageId } from "../../core/model/message_id.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { BrokerContext } from "../broker/context.ts";
import type { sendMessageProcessor } from "../broker/processors/send.ts";
import { httpError } from "./_http.ts";
import { localRequest, replyError } from "./_state.ts";

/** The body of a re-send: the offset message id of the stored message to send again. */
export const ResendBody = v.object({
  msgId: v.pipe(v.string(), v.regex(/^([0-9a-fA-F]{32}|[0-9a-fA-F]{56})$/, "expected an offset message id: 32 or 56 hex characters")),
});

/** Properties the broker sets while a message moves through retry, delay and DLQ topics. */
const TRANSIT_PROPERTIES: ReadonlySet<string> = new Set([
  MessageConst.RETRY_TOPIC,
  MessageConst.REAL_TOPIC,
  MessageConst.REAL_QID,
  MessageConst.DELAY,
  MessageConst.RECONSUME_TIME,
  MessageConst.MAX_RECONSUME_TIMES,
  MessageConst.MIN_OFFSET,
  MessageConst.MAX_OFFSET,
]);

/** What an offset message id says about a message of the local store. */
export type OffsetLookup = { message: MessageExt } | { otherHost: string } | { missing: true };

/**
 * Looks an offset message id up directly: its host must be this broker, its offset a record with that id.
 *
 * @param ctx The broker.
 * @param msgId An offset message id (or anything else, which is reported missing).
 * @returns The message, the other broker the id names, or that there is none.
 */
export function lookUpOffsetId(ctx: BrokerContext, msgId: string): OffsetLookup {
  let decoded: ReturnType<typeof decodeOffsetMessageId>;
  try {
    decoded = decodeOffsetMessageId(msgId);
  } catch {
    // Not an offset id (a unique key decodes to an offset beyond 2^53).
    return { missing: true };
  }
  const { host } = decoded;
  if (host.address !== ctx.storeHost.address || host.port !== ctx.storeHost.port) return { otherHost: `${host.address}:${host.port}` };
  const message = ctx.store.lookMessageByOffset(decoded.commitLogOffset);
  return message !== undefined && message.msgId === msgId.toUpperCase() ? { message } : { missing: true };
}

/**
 * Finds a message to store again by its offset message id.
 *
 * @param ctx The broker.
 * @param msgId The offset message id.
 * @returns The message.
 * @throws {HTTPException} 404 naming the broker that stored it, or saying none did.
 */
export function lookUpStored(ctx: BrokerContext, msgId: string): MessageExt {
  const found = lookUpOffsetId(ctx, msgId);
  if ("message" in found) return found.message;
  if ("otherHost" in found) {
    throw httpError(
      404,
      "NOT_FOUND",
      `Message "${msgId}" was stored by the broker at ${found.otherHost}, not by "${ctx.brokerName}" (${ctx.storeHost.address}:${ctx.storeHost.port}): ask its admin endpoint`,
    );
  }
  throw httpError(404, "NOT_FOUND", `No message "${msgId}" on broker "${ctx.brokerName}": it never existed or retention deleted it`);
}

/**
 * The properties a copy of a message keeps: all but those the broker set on its way through
 * retry, delay and dead-letter topics, with `ORIGIN_MESSAGE_ID` naming the first message.
 *
 * @param message The stored message.
 * @returns Its properties for a new send.
 */
export function copyProperties(message: MessageExt): Record<string, string> {
  const properties: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.properties)) if (!TRANSIT_PROPERTIES.has(name)) properties[name] = value;
  properties[MessageConst.ORIGIN_MESSAGE_ID] = message.properties[MessageConst.ORIGIN_MESSAGE_ID] ?? message.msgId;
  return properties;
}

/**
 * Sends through the broker's SEND_MESSAGE processor, exactly as a client's send.
 *
 * @param send The processor.
 * @param topic The topic.
 * @param body The body.
 * @param properties The properties.
 * @param options The queue (-1: any) and the flag.
 * @returns The stored message's id, queue and offset.
 * @throws {HTTPException} The broker's refusal as an HTTP error.
 */
export async function sendLocal(
  send: ReturnType<typeof sendMessageProcessor>,
  topic: string,
  body: Uint8Array,
  properties: Record<string, string>,
  options: { queueId?: number; flag?: number } = {},
): Promise<{ msgId: string; queueId: number; queueOffset: number }> {
  const reply = await localRequest(send, RequestCode.SEND_MESSAGE, {
    producerGroup: "rmq-admin",
    topic,
    queueId: options.queueId ?? -1,
    bornTimestamp: Date.now(),
    flag: options.flag ?? 0,
    properties,
  }, body);
  if (reply.code !== ResponseCode.SUCCESS) throw replyError(reply);
  const header = reply.header as { msgId: string; queueId: number; queueOffset: number };
  return { msgId: header.msgId, queueId: header.queueId, queueOffset: header.queueOffset };
}
