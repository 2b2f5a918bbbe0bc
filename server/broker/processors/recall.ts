/**
 * RECALL_MESSAGE: cancels a pending timer message by the handle its send returned. The handle's
 * signature, broker and topic are checked; then a recall record is stored in the timer topic (so
 * the recall is durable and replicated like the timer), which stops the timer in its second.
 *
 * @module
 */
import { encodeProperties } from "../../../core/model/properties.ts";
import { TIMER_TOPIC } from "../../../core/model/system_topics.ts";
import { RecallMessageHeader } from "../../../core/protocol/headers.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import { recallProperties } from "../../store/timer/timer_message_store.ts";
import { toHostAddress } from "../_host.ts";
import type { BrokerContext } from "../context.ts";

const BODY = new TextEncoder().encode("recall");

/**
 * RECALL_MESSAGE.
 *
 * @param ctx The broker.
 * @returns The processor: `SUCCESS` once the recall is stored, `MESSAGE_ILLEGAL` for a forged,
 *   altered or foreign handle, `QUERY_NOT_FOUND` when the timer is no longer pending.
 */
export function recallMessageProcessor(ctx: BrokerContext): Processor<RecallMessageHeader> {
  return processor(RecallMessageHeader, async (header, _request, connection: Connection) => {
    const timers = ctx.timers;
    if (timers === undefined) return { code: ResponseCode.SERVICE_NOT_AVAILABLE, remark: "Timer messages are not served here" };
    const fields = ctx.recallSigner.check(header.recallHandle, { topic: header.topic, brokerName: ctx.brokerName });
    if (typeof fields === "string") return { code: ResponseCode.MESSAGE_ILLEGAL, remark: fields };
    const refusal = timers.checkRecall(fields.timerId, fields.dueMs);
    if (refusal !== undefined) {
      return { code: refusal.code === "NOT_PENDING" ? ResponseCode.QUERY_NOT_FOUND : ResponseCode.SERVICE_NOT_AVAILABLE, remark: refusal.message };
    }
    timers.noteRecall(fields.timerId, fields.dueMs);
    const result = await ctx.store.putMessage({
      topic: TIMER_TOPIC,
      queueId: 0,
      flag: 0,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      bornHost: toHostAddress(connection.remoteAddress),
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body: BODY,
      properties: encodeProperties(recallProperties(header.topic, fields.timerId, fields.dueMs)),
    });
    if (result.status !== "PUT_OK") {
      timers.forgetRecall(fields.timerId);
      return { code: result.status === "MESSAGE_ILLEGAL" ? ResponseCode.MESSAGE_ILLEGAL : ResponseCode.SERVICE_NOT_AVAILABLE, remark: result.error ?? result.status };
    }
    const awaitReplica = ctx.replication.awaitReplica;
    return {
      code: awaitReplica === undefined ? ResponseCode.SUCCESS : await awaitReplica(result.commitLogOffset),
      header: { timerId: fields.timerId },
    };
  });
}
