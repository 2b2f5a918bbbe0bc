/**
 * Topic administration: UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER, GET_ALL_TOPIC_CONFIG.
 *
 * @module
 */
import { CreateTopicHeader, EmptyHeader, TopicHeader } from "../../../core/protocol/headers.ts";
import { AUTO_CREATE_TOPIC_KEY, ResponseCode } from "../../../core/protocol/request_code.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import type { BrokerContext } from "../context.ts";

/** UPDATE_AND_CREATE_TOPIC. */
export function createTopicProcessor(ctx: BrokerContext): Processor<CreateTopicHeader> {
  return processor(CreateTopicHeader, async (h) => {
    if (h.topic === AUTO_CREATE_TOPIC_KEY) {
      return { code: ResponseCode.NO_PERMISSION, remark: `Topic "${h.topic}" is reserved for the broker` };
    }
    await ctx.topics.put({
      topicName: h.topic,
      readQueueNums: h.readQueueNums,
      writeQueueNums: h.writeQueueNums,
      perm: h.perm,
      order: h.order,
      ...(h.retentionHours === undefined ? {} : { retentionHours: h.retentionHours }),
    });
    return { code: ResponseCode.SUCCESS };
  });
}

/** DELETE_TOPIC_IN_BROKER: removes the topic, its queues and its offsets. */
export function deleteTopicProcessor(ctx: BrokerContext): Processor<TopicHeader> {
  return processor(TopicHeader, async (h) => {
    if (h.topic === AUTO_CREATE_TOPIC_KEY) {
      return { code: ResponseCode.NO_PERMISSION, remark: `Topic "${h.topic}" is reserved for the broker` };
    }
    const existed = await ctx.topics.delete(h.topic);
    await ctx.store.deleteTopic(h.topic);
    ctx.offsets.deleteTopic(h.topic);
    if (!existed) return { code: ResponseCode.TOPIC_NOT_EXIST, remark: `Topic "${h.topic}" does not exist on broker "${ctx.brokerName}"` };
    return { code: ResponseCode.SUCCESS };
  });
}

/** GET_ALL_TOPIC_CONFIG: every topic with its queue counts. */
export function allTopicConfigProcessor(ctx: BrokerContext): Processor<Record<string, never>> {
  return processor(EmptyHeader, () => ({
    code: ResponseCode.SUCCESS,
    header: { topicConfigs: Object.fromEntries(ctx.topics.all().map((c) => [c.topicName, c])) },
  }));
}
