/**
 * SEND_REPLY_MESSAGE and SEND_REPLY_MESSAGE_V2: a consumer's reply to a request message. The
 * broker stores it in its cluster's reply topic (`<cluster>_REPLY_TOPIC`) and pushes the stored
 * record to the requester named by `REPLY_TO_CLIENT` (PUSH_REPLY_MESSAGE_TO_CLIENT), over the
 * connection the requester heartbeats on; the replier hears whether it arrived.
 *
 * @module
 */
import { MessageConst } from "../../../core/model/message.ts";
import { replyTopic } from "../../../core/model/system_topics.ts";
import type { Command } from "../../../core/protocol/command.ts";
import { SendMessageHeader, SendMessageV2Header, TopicName } from "../../../core/protocol/headers.ts";
import { Perm, RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import * as v from "valibot";
import { toHostAddress } from "../_host.ts";
import { countIn } from "../broker_stats.ts";
import type { BrokerContext } from "../context.ts";
import { putReply, type SendForm, storedProperties } from "./send.ts";
import { bodyRefusal, sentHeader, sentProperties } from "./_sent_message.ts";

const EMPTY = new Uint8Array(0);
/** How long the broker waits for a requester to take a pushed reply. */
const PUSH_TIMEOUT_MS = 3000;

/**
 * SEND_REPLY_MESSAGE, or SEND_REPLY_MESSAGE_V2 (SEND_MESSAGE_V2's header names). The topic must
 * be this broker's reply topic; the properties must name `REPLY_TO_CLIENT` and `CORRELATION_ID`.
 * Answered SUCCESS once the requester took the reply, REPLY_NOT_DELIVERED when it is not
 * connected here or no longer waits.
 *
 * @param ctx The broker.
 * @param form `v2` for SEND_REPLY_MESSAGE_V2.
 * @returns The processor.
 */
export function sendReplyProcessor(ctx: BrokerContext, form: SendForm = "v1"): Processor<SendMessageHeader> {
  const schema = form === "v2" ? SendMessageV2Header : SendMessageHeader;
  return processor(schema, async (header, request: Command, connection: Connection) => {
    const topic = replyTopic(ctx.clusterName);
    if (!v.is(TopicName, topic)) {
      return { code: ResponseCode.SYSTEM_ERROR, remark: `Cluster name "${ctx.clusterName}" gives no valid reply topic ("${topic}"): rename the cluster to take replies` };
    }
    if (header.topic !== topic) {
      return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Replies go to topic "${topic}" on broker "${ctx.brokerName}", not "${header.topic}"` };
    }
    const body = request.body ?? EMPTY;
    const bad = bodyRefusal(ctx, body, "Reply");
    if (bad !== undefined) return bad;
    const sent = sentProperties(header.properties);
    if ("refusal" in sent) return sent.refusal;
    const properties = sent.map;
    const requester = properties[MessageConst.REPLY_TO_CLIENT];
    const correlationId = properties[MessageConst.CORRELATION_ID];
    for (const [name, value] of [[MessageConst.REPLY_TO_CLIENT, requester], [MessageConst.CORRELATION_ID, correlationId]] as const) {
      if (value === undefined || value === "") return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `A reply needs the request's "${name}" property` };
    }
    const member = ctx.producers.client(requester!);
    if (member === undefined) {
      return { code: ResponseCode.REPLY_NOT_DELIVERED, remark: `Requester "${requester}" is not connected to broker "${ctx.brokerName}"` };
    }
    properties[MessageConst.MESSAGE_TYPE] = "reply";
    const text = storedProperties(ctx, properties);
    if (typeof text !== "string") return text;
    const config = await ctx.topics.ensure(topic, 1, Perm.READ | Perm.WRITE);
    if ((config.perm & Perm.WRITE) === 0 || config.writeQueueNums === 0) {
      return { code: ResponseCode.NO_PERMISSION, remark: `Topic "${topic}" is not writable on broker "${ctx.brokerName}"` };
    }
    const result = await ctx.store.putMessage({
      topic,
      queueId: 0,
      flag: header.flag,
      sysFlag: 0,
      bornTimestamp: header.bornTimestamp,
      bornHost: toHostAddress(connection.remoteAddress),
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body,
      properties: text,
    });
    const failure = putReply(result);
    if (failure !== undefined) {
      ctx.stats.sendErrors++;
      return failure;
    }
    countIn(ctx.stats, topic, 1, body.length);
    const stored = sentHeader(ctx, form, 0, result);
    const record = ctx.store.lookMessageBytesByOffset(result.commitLogOffset);
    if (record === undefined) return { code: ResponseCode.SYSTEM_ERROR, remark: "The stored reply cannot be read back", header: stored };
    let pushed: Command;
    try {
      pushed = await member.connection.request(RequestCode.PUSH_REPLY_MESSAGE_TO_CLIENT, {}, record, PUSH_TIMEOUT_MS);
    } catch (error) {
      return {
        code: ResponseCode.REPLY_NOT_DELIVERED,
        remark: `Requester "${requester}" did not take the reply: ${(error as Error).message}`,
        header: stored,
      };
    }
    if (pushed.code !== ResponseCode.SUCCESS) {
      return {
        code: ResponseCode.REPLY_NOT_DELIVERED,
        remark: `Requester "${requester}" did not take the reply: ${pushed.remark ?? `code ${pushed.code}`}`,
        header: stored,
      };
    }
    return { code: ResponseCode.SUCCESS, header: stored };
  });
}
