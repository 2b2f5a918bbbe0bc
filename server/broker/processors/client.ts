/**
 * Client membership: HEART_BEAT, UNREGISTER_CLIENT and GET_CONSUMER_LIST_BY_GROUP.
 *
 * @module
 */
import { retryTopic } from "../../../core/model/system_topics.ts";
import { ConsumerGroupHeader, HeartbeatHeader, UnregisterClientHeader } from "../../../core/protocol/headers.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import type { BrokerContext } from "../context.ts";
import { ensureGroupTopic } from "../message_routing.ts";

/**
 * HEART_BEAT: records the client in each consumer group it names and creates the retry topic of
 * every clustering group, so members can pull it.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function heartbeatProcessor(ctx: BrokerContext): Processor<HeartbeatHeader> {
  return processor(HeartbeatHeader, async (header, _request, connection: Connection) => {
    for (const data of header.consumers) {
      if (data.messageModel !== "CLUSTERING") continue;
      const created = await ensureGroupTopic(ctx, retryTopic(data.group));
      if ("code" in created) return created;
    }
    ctx.consumers.heartbeat(connection, header);
    return { code: ResponseCode.SUCCESS };
  });
}

/**
 * UNREGISTER_CLIENT: the client leaves the named consumer group, or every group when the header
 * names only the client (or only a producer group, which the broker does not track).
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function unregisterClientProcessor(ctx: BrokerContext): Processor<UnregisterClientHeader> {
  return processor(UnregisterClientHeader, (header) => {
    if (header.consumerGroup !== undefined) ctx.consumers.unregister(header.clientId, header.consumerGroup);
    else if (header.producerGroup === undefined) ctx.consumers.unregister(header.clientId);
    return { code: ResponseCode.SUCCESS };
  });
}

/**
 * GET_CONSUMER_LIST_BY_GROUP: the client ids of a group's members, sorted. A group without
 * members is an error (as in RocketMQ), so a client never rebalances against an empty list.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function consumerListProcessor(ctx: BrokerContext): Processor<ConsumerGroupHeader> {
  return processor(ConsumerGroupHeader, (header) => {
    const clientIds = ctx.consumers.clientIds(header.consumerGroup);
    if (clientIds.length === 0) {
      return {
        code: ResponseCode.SYSTEM_ERROR,
        remark: `No consumer of group "${header.consumerGroup}" is connected to broker "${ctx.brokerName}"`,
      };
    }
    return { code: ResponseCode.SUCCESS, header: { clientIds } };
  });
}
