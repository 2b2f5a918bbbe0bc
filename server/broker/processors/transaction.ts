/**
 * Transactional sends: a send whose sysflag marks a prepared (half) message is stored in the half
 * topic instead of its own, and END_TRANSACTION commits or rolls it back (see
 * `transaction_service.ts`).
 *
 * @module
 */
import { MessageConst, SysFlag } from "../../../core/model/message.ts";
import { DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX, TRANSACTION_HALF_TOPIC } from "../../../core/model/system_topics.ts";
import type { Command } from "../../../core/protocol/command.ts";
import { EndTransactionHeader, GroupName, type SendMessageHeader } from "../../../core/protocol/headers.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { processor, type Processor, type Reply } from "../../../core/remoting/dispatcher.ts";
import * as v from "valibot";
import { accessOf } from "../../acl/access.ts";
import { toHostAddress } from "../_host.ts";
import type { BrokerContext } from "../context.ts";
import type { StoreInput } from "../../store/store_types.ts";
import { putReply, resolveQueue, type SendForm, storedProperties } from "./send.ts";
import { bodyRefusal, sentHeader, sentProperties } from "./_sent_message.ts";

const EMPTY = new Uint8Array(0);
const TRANSACTION_BITS = SysFlag.TRANSACTION_PREPARED | SysFlag.TRANSACTION_COMMIT;

/**
 * A send processor that stores half messages (sysflag `TRANSACTION_PREPARED`) in the half topic
 * and hands every other send to `send` unchanged.
 *
 * @param send SEND_MESSAGE's or SEND_MESSAGE_V2's processor.
 * @param ctx The broker.
 * @param form Which form `send` takes and answers in.
 * @returns The processor.
 */
export function withHalfMessages(send: Processor<SendMessageHeader>, ctx: BrokerContext, form: SendForm): Processor<SendMessageHeader> {
  const inner = send.handle;
  return {
    ...send,
    handle: (header, request, connection) =>
      (header.sysFlag & TRANSACTION_BITS) === 0 ? inner(header, request, connection) : sendHalf(ctx, header, request, connection, form),
  };
}

/** Stores a half message: in queue 0 of the half topic, its destination in `REAL_TOPIC`/`REAL_QID`. */
async function sendHalf(ctx: BrokerContext, header: SendMessageHeader, request: Command, connection: Connection, form: SendForm): Promise<Reply> {
  const started = performance.now();
  if ((header.sysFlag & TRANSACTION_BITS) !== SysFlag.TRANSACTION_PREPARED) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, remark: "A send may only mark a message as prepared (a half message); END_TRANSACTION commits or rolls it back" };
  }
  const body = request.body ?? EMPTY;
  const bad = bodyRefusal(ctx, body, "Message");
  if (bad !== undefined) return bad;
  const group = header.producerGroup;
  const named = v.safeParse(GroupName, group);
  if (!named.success) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `A transactional message needs a valid producer group, got "${group}": ${named.issues[0].message}` };
  }
  const access = accessOf(request);
  if (access.group(group) !== undefined) {
    return { code: ResponseCode.NO_PERMISSION, remark: `Account "${access.accessKey}" may not send transactional messages as producer group "${group}"` };
  }
  if (header.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX) || header.topic.startsWith(DLQ_GROUP_TOPIC_PREFIX)) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Topic "${header.topic}" cannot take transactional messages` };
  }
  const sent = sentProperties(header.properties);
  if ("refusal" in sent) return sent.refusal;
  const properties = sent.map;
  const delayed = Object.keys(properties).find((name) => name === MessageConst.DELAY || name.startsWith("TIMER_"));
  if (delayed !== undefined) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `A transactional message cannot be delayed (property "${delayed}")` };
  }
  const transactionId = properties[MessageConst.UNIQ_KEY];
  if (transactionId === undefined || transactionId === "" || transactionId.length > 128) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `A transactional message needs a unique key (property "${MessageConst.UNIQ_KEY}", 1 to 128 characters): it is the transaction id` };
  }
  const pgroup = properties[MessageConst.PGROUP];
  if (pgroup !== undefined && pgroup !== group) {
    return { code: ResponseCode.MESSAGE_ILLEGAL, remark: `Property "${MessageConst.PGROUP}" says "${pgroup}" but the send names producer group "${group}"` };
  }
  let resolved = resolveQueue(ctx, header.topic, header.queueId, header.defaultTopicQueueNums);
  if (resolved instanceof Promise) resolved = await resolved;
  if (typeof resolved !== "number") return resolved;
  const stored = {
    ...properties,
    [MessageConst.REAL_TOPIC]: header.topic,
    [MessageConst.REAL_QID]: String(resolved),
    [MessageConst.TRAN_MSG]: "true",
    [MessageConst.PGROUP]: group,
  };
  const text = storedProperties(ctx, stored);
  if (typeof text !== "string") return text;
  const input: StoreInput = {
    topic: TRANSACTION_HALF_TOPIC,
    queueId: 0,
    flag: header.flag,
    sysFlag: header.sysFlag,
    bornTimestamp: header.bornTimestamp,
    bornHost: toHostAddress(connection.remoteAddress),
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    body,
    properties: text,
  };
  const result = await ctx.store.putMessage(input);
  ctx.stats.sendLatency.observe(performance.now() - started);
  const failure = putReply(result);
  if (failure !== undefined) {
    ctx.stats.sendErrors++;
    return failure;
  }
  ctx.transactions.halfStored(input, stored, result);
  const awaitReplica = ctx.replication.awaitReplica;
  return {
    code: awaitReplica === undefined ? ResponseCode.SUCCESS : await awaitReplica(result.commitLogOffset),
    header: sentHeader(ctx, form, resolved, result),
  };
}

/**
 * END_TRANSACTION: commits or rolls back a half message (RocketMQ's EndTransactionProcessor). A
 * repeat of what was done is answered SUCCESS with `alreadyResolved` and changes nothing.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function endTransactionProcessor(ctx: BrokerContext): Processor<EndTransactionHeader> {
  return processor(EndTransactionHeader, (header, request) => ctx.transactions.end(header, accessOf(request)));
}
