/**
 * CONSUMER_SEND_MSG_BACK: a message a consumer failed to handle is stored again for the group,
 * in its retry topic after a delay, or in its dead-letter topic once it failed too often.
 *
 * @module
 */
import { MessageConst } from "../../../core/model/message.ts";
import { dlqTopic, retryTopic } from "../../../core/model/system_topics.ts";
import { SendMessageBackHeader } from "../../../core/protocol/headers.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import { accessOf } from "../../acl/access.ts";
import { countDeadLetter } from "../broker_stats.ts";
import type { BrokerContext } from "../context.ts";
import { ensureGroupTopic, redeliveryInput, redeliveryProperties } from "../message_routing.ts";

/**
 * CONSUMER_SEND_MSG_BACK, following RocketMQ:
 * - the message is read back by its commit log offset; it must be one a pull of this broker
 *   delivered to the group, in a topic the request's account may subscribe to (the header names
 *   only the group, so without these checks any offset could be copied into a topic the caller
 *   reads); its redelivery count becomes `reconsumeTimes + 1`;
 * - past `maxReconsumeTimes` (or with delay level -1) it goes to `%DLQ%<group>` queue 0;
 * - otherwise to `%RETRY%<group>` queue 0 after delay level `delayLevel`, or `3 + reconsumeTimes`
 *   when 0 (clamped to the highest level);
 * - `RETRY_TOPIC` keeps the first topic it was sent to, `ORIGIN_MESSAGE_ID` the first message id;
 *   body, flag, tags, keys, unique key and born time are kept.
 *
 * The reply header is `{ topic, msgId, reconsumeTimes, delayLevel }` (`delayLevel` 0 for the DLQ).
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function sendBackProcessor(ctx: BrokerContext): Processor<SendMessageBackHeader> {
  return processor(SendMessageBackHeader, async (header, request) => {
    const original = ctx.store.lookMessageByOffset(header.offset);
    if (original === undefined) {
      return {
        code: ResponseCode.SYSTEM_ERROR,
        remark: `Cannot send message back for group "${header.consumerGroup}": no message at commit log offset ${header.offset}`,
      };
    }
    const access = accessOf(request);
    if (access.subscribe(original.topic) !== undefined) {
      return {
        code: ResponseCode.NO_PERMISSION,
        remark: `Account "${access.accessKey}" may not subscribe to the topic of the message at commit log offset ${header.offset}`,
      };
    }
    if (!ctx.offsets.wasDelivered(header.consumerGroup, original.topic, original.queueId, original.queueOffset)) {
      return {
        code: ResponseCode.NO_PERMISSION,
        remark: `Cannot send message back for group "${header.consumerGroup}": broker "${ctx.brokerName}" did not deliver ` +
          `the message at commit log offset ${header.offset} to the group`,
      };
    }
    const reconsumeTimes = original.reconsumeTimes + 1;
    const toDlq = header.delayLevel < 0 || reconsumeTimes > header.maxReconsumeTimes;
    const topic = toDlq ? dlqTopic(header.consumerGroup) : retryTopic(header.consumerGroup);
    const denied = access.publish(topic);
    if (denied !== undefined) return { code: ResponseCode.NO_PERMISSION, remark: denied };
    const config = await ensureGroupTopic(ctx, topic);
    if ("code" in config) return config;

    const properties = redeliveryProperties(original);
    let target = { topic, queueId: 0, properties };
    let delayLevel = 0;
    if (!toDlq) {
      delayLevel = Math.min(header.delayLevel > 0 ? header.delayLevel : 3 + original.reconsumeTimes, ctx.schedule.maxLevel);
      target = ctx.schedule.toScheduled(target, delayLevel);
    }
    const result = await ctx.store.putMessage(redeliveryInput(original, target, reconsumeTimes));
    if (result.status !== "PUT_OK") {
      return {
        code: result.status === "MESSAGE_ILLEGAL" || result.status === "PROPERTIES_SIZE_EXCEEDED"
          ? ResponseCode.MESSAGE_ILLEGAL
          : ResponseCode.SYSTEM_ERROR,
        remark: `Cannot store message ${original.msgId} in "${topic}": ${result.error ?? result.status}`,
      };
    }
    if (toDlq) {
      countDeadLetter(ctx.stats, header.consumerGroup, properties[MessageConst.RETRY_TOPIC]!);
      ctx.trace?.deadLetter(header.consumerGroup, original, topic, reconsumeTimes, result.msgId);
    }
    return { code: ResponseCode.SUCCESS, header: { topic, msgId: result.msgId, reconsumeTimes, delayLevel } };
  });
}
