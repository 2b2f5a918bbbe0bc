/**
 * Client membership: HEART_BEAT, UNREGISTER_CLIENT and GET_CONSUMER_LIST_BY_GROUP.
 *
 * @module
 */
import { retryTopic } from "../../../core/model/system_topics.ts";
import { ConsumerGroupHeader, HeartbeatHeader, UnregisterClientHeader } from "../../../core/protocol/headers.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { processor, type Processor, type Reply } from "../../../core/remoting/dispatcher.ts";
import { type Access, accessOf, mayActFor } from "../../acl/access.ts";
import type { BrokerContext } from "../context.ts";
import { ensureGroupTopic } from "../message_routing.ts";

/**
 * Refuses a request that names a client id another account registered in a group (ACL on): it
 * would re-register, evict or unlock someone else's consumer.
 *
 * @param ctx The broker.
 * @param access The request's access.
 * @param group The consumer group.
 * @param clientId The client id the request names.
 * @returns The refusal, or undefined when the account may act for that client.
 */
export function foreignClient(ctx: BrokerContext, access: Access, group: string, clientId: string): Reply | undefined {
  const member = ctx.consumers.member(group, clientId);
  if (member === undefined || mayActFor(access, member.owner)) return undefined;
  return {
    code: ResponseCode.NO_PERMISSION,
    remark: `Account "${access.accessKey}" may not act for client "${clientId}" of consumer group "${group}": another account registered it`,
  };
}

/**
 * Refuses a producer heartbeat or unregister naming a client id another account registered (ACL
 * on): it would take over that producer's check-backs and replies.
 *
 * @param ctx The broker.
 * @param access The request's access.
 * @param clientId The client id the request names.
 * @returns The refusal, or undefined when the account may act for that client.
 */
function foreignProducer(ctx: BrokerContext, access: Access, clientId: string): Reply | undefined {
  const member = ctx.producers.client(clientId);
  if (member === undefined || mayActFor(access, member.owner)) return undefined;
  return {
    code: ResponseCode.NO_PERMISSION,
    remark: `Account "${access.accessKey}" may not act for producer "${clientId}": another account registered it`,
  };
}

/**
 * HEART_BEAT: records the client in each consumer group it names and creates the retry topic of
 * every clustering group, so members can pull it. A client id another account registered in one
 * of the groups is refused (it would take over that member's connection). A heartbeat naming no
 * consumer group is a producer's: the broker calls it back over this connection, with check-backs
 * of its `producerGroups`' transactions and with replies to its requests.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function heartbeatProcessor(ctx: BrokerContext): Processor<HeartbeatHeader> {
  return processor(HeartbeatHeader, async (header, request, connection: Connection) => {
    const access = accessOf(request);
    if (header.consumers.length === 0) {
      const refused = foreignProducer(ctx, access, header.clientId);
      if (refused !== undefined) return refused;
      ctx.producers.heartbeat(connection, header, access.accessKey);
      return { code: ResponseCode.SUCCESS };
    }
    for (const data of header.consumers) {
      const refused = foreignClient(ctx, access, data.group, header.clientId);
      if (refused !== undefined) return refused;
    }
    for (const data of header.consumers) {
      if (data.messageModel !== "CLUSTERING") continue;
      const created = await ensureGroupTopic(ctx, retryTopic(data.group));
      if ("code" in created) return created;
    }
    ctx.consumers.heartbeat(connection, header, access.accessKey);
    return { code: ResponseCode.SUCCESS };
  });
}

/**
 * UNREGISTER_CLIENT: the client leaves the named consumer group, or every group it is in when the
 * header names only the client; a header naming only a producer group unregisters that producer.
 * Every group it would leave is authorised, named or not, and so is the client id: the request is
 * refused unless the account may use each group and registered the client there.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function unregisterClientProcessor(ctx: BrokerContext): Processor<UnregisterClientHeader> {
  return processor(UnregisterClientHeader, (header, request) => {
    if (header.consumerGroup === undefined && header.producerGroup !== undefined) {
      const refused = foreignProducer(ctx, accessOf(request), header.clientId);
      if (refused !== undefined) return refused;
      ctx.producers.unregister(header.clientId);
      return { code: ResponseCode.SUCCESS };
    }
    const groups = header.consumerGroup !== undefined
      ? [header.consumerGroup]
      : header.producerGroup === undefined
      ? ctx.consumers.groupsOf(header.clientId)
      : [];
    const access = accessOf(request);
    for (const group of groups) {
      const refused = access.group(group) ?? foreignClient(ctx, access, group, header.clientId)?.remark;
      if (refused === undefined) continue;
      // Unnamed groups stay unnamed: the refusal does not tell which groups the client is in.
      const remark = header.consumerGroup !== undefined
        ? refused
        : `Account "${access.accessKey}" may not unregister client "${header.clientId}" from all its groups: one of them is closed to this account`;
      return { code: ResponseCode.NO_PERMISSION, remark };
    }
    for (const group of groups) ctx.consumers.unregister(header.clientId, group);
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
