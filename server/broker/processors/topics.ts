/**
 * Topic administration: UPDATE_AND_CREATE_TOPIC, DELETE_TOPIC_IN_BROKER, GET_ALL_TOPIC_CONFIG.
 *
 * @module
 */
import { CreateTopicHeader, EmptyHeader, TopicHeader } from "../../../core/protocol/headers.ts";
import { SYSTEM_TOPICS } from "../../../core/model/system_topics.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import type { BrokerContext } from "../context.ts";

/** The refusal of a change to a topic the broker keeps for itself. */
function reserved(topic: string) {
  return { code: ResponseCode.NO_PERMISSION, remark: `Topic "${topic}" is reserved for the broker` };
}

/** UPDATE_AND_CREATE_TOPIC. */
export function createTopicProcessor(ctx: BrokerContext): Processor<CreateTopicHeader> {
  return processor(CreateTopicHeader, async (h) => {
    if (SYSTEM_TOPICS.has(h.topic)) return reserved(h.topic);
    try {
      await ctx.topics.put({
        topicName: h.topic,
        readQueueNums: h.readQueueNums,
        writeQueueNums: h.writeQueueNums,
        perm: h.perm,
        order: h.order,
        ...(h.retentionHours === undefined ? {} : { retentionHours: h.retentionHours }),
        ...(h.messageType === undefined || h.messageType === "MIXED" ? {} : { messageType: h.messageType }),
      });
    } catch (error) {
      if (error instanceof RangeError) return { code: ResponseCode.SYSTEM_ERROR, remark: error.message };
      throw error;
    }
    return { code: ResponseCode.SUCCESS };
  });
}

/**
 * DELETE_TOPIC_IN_BROKER: removes the topic, its queues and its offsets. A refused delete (a
 * system topic, an unknown topic) changes nothing; a topic the store still holds queues of
 * without a config (its table entry lost) can be deleted to clear them.
 */
export function deleteTopicProcessor(ctx: BrokerContext): Processor<TopicHeader> {
  return processor(TopicHeader, async (h) => {
    if (SYSTEM_TOPICS.has(h.topic)) return reserved(h.topic);
    if (ctx.topics.get(h.topic) === undefined && ctx.store.queueIds(h.topic).length === 0) {
      return { code: ResponseCode.TOPIC_NOT_EXIST, remark: `Topic "${h.topic}" does not exist on broker "${ctx.brokerName}"` };
    }
    // The table first: should the store's part fail, deleting again finishes the job.
    await ctx.topics.delete(h.topic);
    await ctx.store.deleteTopic(h.topic);
    ctx.offsets.deleteTopic(h.topic);
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
