/**
 * Checks and answers the processors that store a sent message other than by SEND_MESSAGE's own
 * path (half messages, replies) share with it.
 *
 * @module
 */
import { decodeProperties, isWellFormedProperties } from "../../../core/model/properties.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Reply } from "../../../core/remoting/dispatcher.ts";
import type { PutResult } from "../../store/store_types.ts";
import type { BrokerContext } from "../context.ts";
import type { SendForm } from "./send.ts";

/**
 * A sent body's size check.
 *
 * @param ctx The broker (its `maxMessageSize`).
 * @param body The body.
 * @param what What is sent, for the remark ("Message", "Reply").
 * @returns The refusal, or undefined when the body is fine.
 */
export function bodyRefusal(ctx: BrokerContext, body: Uint8Array, what: string): Reply | undefined {
  if (body.length === 0) return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `${what} body is empty` };
  if (body.length > ctx.maxMessageSize) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `${what} body of ${body.length} bytes exceeds the limit of ${ctx.maxMessageSize} bytes` };
  }
  return undefined;
}

/**
 * A send's properties as a map: the text form decoded once checked, the map form copied.
 *
 * @param properties The header's properties.
 * @returns The map, or the refusal of malformed text.
 */
export function sentProperties(properties: string | Record<string, string>): { map: Record<string, string> } | { refusal: Reply } {
  if (typeof properties !== "string") return { map: { ...properties } };
  if (!isWellFormedProperties(properties)) {
    return { refusal: { code: ResponseCode.MESSAGE_ILLEGAL, remark: "Properties text is malformed: expected name U+0001 value U+0002 entries" } };
  }
  return { map: decodeProperties(properties) };
}

/**
 * The header of a send's answer, in the form the request came in.
 *
 * @param ctx The broker.
 * @param form The request's form.
 * @param queueId The queue the answer names.
 * @param result Where the message was stored.
 * @returns The header.
 */
export function sentHeader(ctx: BrokerContext, form: SendForm, queueId: number, result: PutResult): Record<string, unknown> {
  return form === "v2"
    ? { q: queueId, o: result.queueOffset, c: result.commitLogOffset, s: ctx.store.messageIdPrefix }
    : { msgId: result.msgId, queueId, queueOffset: result.queueOffset };
}
