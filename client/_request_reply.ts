/**
 * Request-reply: a requester's waiting requests, matched by `CORRELATION_ID` with the replies its
 * brokers push (PUSH_REPLY_MESSAGE_TO_CLIENT), and the replier's SEND_REPLY_MESSAGE_V2 to the
 * broker that stored the request.
 *
 * @module
 */
import { BrokerError, ClientError, ProtocolError, RequestTimeoutError } from "../core/errors.ts";
import { MessageConst, type MessageExt } from "../core/model/message.ts";
import { offsetMessageId } from "../core/model/message_id.ts";
import { joinProperties } from "../core/model/properties.ts";
import { decodeRecord } from "../core/model/record.ts";
import { replyTopic } from "../core/model/system_topics.ts";
import type { Command } from "../core/protocol/command.ts";
import { RequestCode, ResponseCode } from "../core/protocol/request_code.ts";
import type { Connection } from "../core/remoting/connection.ts";
import { prepareMessage } from "./_prepare_message.ts";
import { storedByAddress } from "./_stored_by.ts";
import type { RemotingClient } from "./remoting_client.ts";

/** Largest reply body a consumer sends (the broker's default message size limit). */
export const MAX_REPLY_SIZE = 4 * 1024 * 1024;

interface Waiter {
  resolve(reply: MessageExt): void;
  reject(error: Error): void;
  timer: ReturnType<typeof setTimeout>;
}

/** A request waiting for its reply. */
export interface PendingRequest {
  /** The reply, or `RequestTimeoutError` once the time is up. */
  reply: Promise<MessageExt>;
  /** Stops waiting (the send failed): `reply` rejects with `error`. */
  cancel(error: Error): void;
}

/** The requests of one requester waiting for replies, by correlation id. */
export class ReplyWaiters {
  readonly #waiting = new Map<string, Waiter>();

  /** Requests waiting now. */
  get size(): number {
    return this.#waiting.size;
  }

  /**
   * Starts waiting for the reply to a request.
   *
   * @param correlationId The request's `CORRELATION_ID`.
   * @param timeoutMs How long to wait.
   * @param what The request, for the timeout's message.
   * @returns The pending request.
   */
  wait(correlationId: string, timeoutMs: number, what: string): PendingRequest {
    let waiter!: Waiter;
    const reply = new Promise<MessageExt>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(correlationId);
        reject(new RequestTimeoutError(`${what} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      waiter = { resolve, reject, timer };
    });
    this.#waiting.set(correlationId, waiter);
    return {
      reply,
      cancel: (error) => {
        if (this.#waiting.get(correlationId) !== waiter) return;
        this.#waiting.delete(correlationId);
        clearTimeout(waiter.timer);
        waiter.reject(error);
      },
    };
  }

  /**
   * Takes a reply a broker pushed (PUSH_REPLY_MESSAGE_TO_CLIENT) and answers the broker: SUCCESS
   * when a request was waiting for it, REPLY_NOT_DELIVERED when none was (it timed out).
   *
   * @param request The broker's request; its body is the stored reply record.
   * @param connection Where to answer.
   */
  take(request: Command, connection: Connection): void {
    let reply: MessageExt;
    try {
      reply = decodeRecord(request.body ?? new Uint8Array(0), 0);
    } catch (error) {
      connection.respond(request, { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Reply record is undecodable: ${(error as Error).message}` });
      return;
    }
    const correlationId = reply.properties[MessageConst.CORRELATION_ID] ?? "";
    const waiter = this.#waiting.get(correlationId);
    if (waiter === undefined) {
      connection.respond(request, {
        code: ResponseCode.REPLY_NOT_DELIVERED,
        remark: `No request waits for a reply with correlation id "${correlationId}" (it timed out, or was not made by this client)`,
      });
      return;
    }
    this.#waiting.delete(correlationId);
    clearTimeout(waiter.timer);
    waiter.resolve(reply);
    connection.respond(request, { code: ResponseCode.SUCCESS });
  }

  /**
   * Fails every waiting request.
   *
   * @param error Why.
   */
  rejectAll(error: Error): void {
    for (const waiter of this.#waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.#waiting.clear();
  }
}

/** Options of `sendReply`. */
export interface SendReplyOptions {
  /** The replier's group, recorded with the reply. */
  group: string;
  /** Largest reply body. */
  maxMessageSize: number;
  /** The reply's unique key. */
  uniqueKey: string;
  /** Time the broker may take to store and push it. */
  timeoutMs: number;
  /** Broker addresses of the replier's routes, to find the one that stored the request. */
  knownBrokers: readonly string[];
}

/**
 * Sends the reply to a request message through the broker that stored the request, which pushes
 * it to the requester.
 *
 * @param client The replier's connections.
 * @param request The request message, as consumed.
 * @param reply The reply's body and user properties.
 * @param options Group, limits and timeout.
 * @returns The stored reply's offset message id.
 * @throws {ClientError} When `request` is not a request message, or the reply is invalid.
 * @throws {BrokerError} REPLY_NOT_DELIVERED when the requester is gone or no longer waits; other
 *   codes when the broker refuses the reply.
 */
export async function sendReply(
  client: RemotingClient,
  request: MessageExt,
  reply: { body: Uint8Array | string; properties?: Record<string, string> },
  options: SendReplyOptions,
): Promise<string> {
  const p = request.properties;
  for (const name of [MessageConst.CLUSTER, MessageConst.REPLY_TO_CLIENT, MessageConst.CORRELATION_ID]) {
    if (!p[name]) throw new ClientError(`Message ${request.msgId} is not a request: it has no "${name}" property`);
  }
  const prepared = prepareMessage(
    { topic: replyTopic(p[MessageConst.CLUSTER]!), body: reply.body, ...(reply.properties === undefined ? {} : { properties: reply.properties }) },
    { maxMessageSize: options.maxMessageSize, uniqueKey: options.uniqueKey },
  );
  prepared.properties[MessageConst.CORRELATION_ID] = p[MessageConst.CORRELATION_ID]!;
  prepared.properties[MessageConst.REPLY_TO_CLIENT] = p[MessageConst.REPLY_TO_CLIENT]!;
  prepared.properties[MessageConst.MESSAGE_TYPE] = "reply";
  if (p[MessageConst.TTL] !== undefined) prepared.properties[MessageConst.TTL] = p[MessageConst.TTL]!;
  const address = storedByAddress(options.knownBrokers, request.storeHost);
  const response = await client.request(address, {
    code: RequestCode.SEND_REPLY_MESSAGE_V2,
    header: { a: options.group, b: prepared.topic, d: 1, e: 0, g: Date.now(), h: prepared.flag, i: joinProperties(prepared.properties) },
    body: prepared.body,
    timeoutMs: options.timeoutMs,
  });
  if (response.code !== ResponseCode.SUCCESS) {
    throw new BrokerError(response.code, response.remark ?? `Broker ${address} refused the reply (code ${response.code})`);
  }
  const { c, s } = response.header;
  if (typeof c !== "number" || typeof s !== "string") throw new ProtocolError(`Broker ${address} answered the reply without its offset`);
  return offsetMessageId(s, c);
}
