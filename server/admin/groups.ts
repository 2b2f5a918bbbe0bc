/**
 * Consumer groups: list, detail (members, per-queue offsets and lag), offset reset, and re-sending
 * one stored message to one group (RocketMQ's consumeMessageDirectly, done the way a failed
 * message comes back: stored in the group's retry topic, so only that group's members get it).
 * With ACL on an account sees only the groups it may use, and the queues of topics it may
 * subscribe to.
 *
 * @module
 */
import { Hono } from "hono";
import * as v from "valibot";
import { GroupName, TopicName } from "../../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { MessageConst } from "../../core/model/message.ts";
import { dlqTopic, retryTopic, TRANSACTION_GROUP } from "../../core/model/system_topics.ts";
import type { BrokerContext } from "../broker/context.ts";
import { ensureGroupTopic } from "../broker/message_routing.ts";
import { sendMessageProcessor } from "../broker/processors/send.ts";
import { groupLag, queueIdsOf, topicKind } from "./_figures.ts";
import { httpError, jsonBody, validate } from "./_http.ts";
import { copyProperties, lookUpStored, ResendBody, sendLocal } from "./_resend.ts";
import { type AdminState, brokerProcessor, replyError, requireBroker } from "./_state.ts";
import { accessOfRequest, authorize, callerCredentials } from "./_auth.ts";
import { ClusterQuery, clusterMasters, masterRequest, onEveryMaster } from "./_cluster_targets.ts";
import { updateGroupProcessor } from "../broker/processors/groups.ts";
import { SubscriptionGroupUpdate } from "../broker/subscription_group_manager.ts";

/** Path parameters naming a group. */
export const GroupParam = v.object({ group: GroupName });

const ResetOffsetBody = v.object({
  topic: TopicName,
  /** `earliest`, `latest`, or a time: ms since epoch or an ISO 8601 date. */
  to: v.union([
    v.picklist(["earliest", "latest"]),
    v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
    v.pipe(v.string(), v.check((t) => !Number.isNaN(Date.parse(t))), v.transform((t) => Date.parse(t))),
  ], 'expected "earliest", "latest", ms since epoch or an ISO 8601 time'),
  /** Reset even while members are online (they keep their in-memory offsets and may write them back). */
  force: v.optional(v.boolean(), false),
});

/** Every group with offsets or online members on the broker. */
function groupNames(ctx: BrokerContext): string[] {
  const names = new Set<string>(ctx.groups.all().map((g) => g.groupName));
  for (const group of ctx.pop.groupStats().keys()) names.add(group);
  for (const [, group] of ctx.offsets.entries()) names.add(group);
  for (const group of ctx.consumers.groups()) names.add(group);
  for (const group of ctx.stats.deadLetters.keys()) names.add(group);
  // The broker's own reading progress of transactions, not a consumer group.
  names.delete(TRANSACTION_GROUP);
  return [...names].sort();
}

/** Messages the group moved to its dead-letter topic since the broker started, in all and per original topic. */
function deadLettersOf(ctx: BrokerContext, group: string): { total: number; byTopic: Record<string, number> } {
  const byTopic = ctx.stats.deadLetters.get(group) ?? new Map<string, number>();
  let total = 0;
  for (const n of byTopic.values()) total += n;
  return { total, byTopic: Object.fromEntries([...byTopic].sort(([a], [z]) => (a < z ? -1 : 1))) };
}

function subscribedTopics(ctx: BrokerContext, group: string): string[] {
  return ctx.consumers.groupInfo(group)?.subscriptions.map((s) => s.topic) ?? [];
}

/** Whether a group consumes a topic: a member subscribes to it, or the group has offsets on it. */
function consumesTopic(ctx: BrokerContext, group: string, topic: string): boolean {
  if (subscribedTopics(ctx, group).includes(topic)) return true;
  for (const [t, g] of ctx.offsets.entries()) if (t === topic && g === group) return true;
  return false;
}

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/api/groups`.
 */
export function groupRoutes(state: AdminState): Hono {
  const app = new Hono();
  const send = brokerProcessor(state, sendMessageProcessor);
  const updateGroup = brokerProcessor(state, updateGroupProcessor);

  app.get("/", (c) => {
    const ctx = requireBroker(state);
    const access = accessOfRequest(c);
    const groups = groupNames(ctx).filter((group) => access.group(group) === undefined).map((group) => {
      const info = ctx.consumers.groupInfo(group);
      const topics = subscribedTopics(ctx, group).filter((topic) => access.subscribe(topic) === undefined);
      const { queues, totalLag } = groupLag(ctx, group, topics);
      return {
        group,
        members: info?.members.length ?? 0,
        consumeType: info?.consumeType ?? null,
        messageModel: info?.messageModel ?? null,
        topics: [...new Set(queues.map((q) => q.topic))],
        totalLag,
        inconsistent: info?.inconsistency !== undefined,
        deadLetters: deadLettersOf(ctx, group).total,
      };
    });
    return c.json({ groups });
  });

  app.get("/:group", (c) => {
    const { group } = validate(GroupParam, c.req.param(), "path");
    const access = accessOfRequest(c);
    authorize(access.group(group));
    const ctx = requireBroker(state);
    const info = ctx.consumers.groupInfo(group);
    const topics = subscribedTopics(ctx, group).filter((topic) => access.subscribe(topic) === undefined);
    const { queues, totalLag } = groupLag(ctx, group, topics);
    const deadLetters = deadLettersOf(ctx, group);
    const pop = ctx.pop.groupStats().get(group);
    if (info === undefined && queues.length === 0 && deadLetters.total === 0 && pop === undefined && !ctx.groups.has(group)) {
      throw httpError(404, "NOT_FOUND", `Consumer group "${group}" has no offsets and no online members on broker "${ctx.brokerName}"`);
    }
    return c.json({
      group,
      brokerName: ctx.brokerName,
      consumeType: info?.consumeType ?? null,
      messageModel: info?.messageModel ?? null,
      members: info?.members ?? [],
      subscriptions: info?.subscriptions ?? [],
      inconsistency: info?.inconsistency ?? null,
      totalLag,
      deadLetters,
      config: ctx.groups.get(group),
      pop: pop ?? { queues: 0, inflight: 0, waiting: 0 },
      queues: queues.map((q) => ({ brokerName: ctx.brokerName, ...q })),
    });
  });

  /** The group's settings (the defaults when it has none of its own). */
  app.get("/:group/config", (c) => {
    const { group } = validate(GroupParam, c.req.param(), "path");
    authorize(accessOfRequest(c).group(group));
    const ctx = requireBroker(state);
    return c.json({ config: ctx.groups.get(group), custom: ctx.groups.has(group), brokerName: ctx.brokerName });
  });

  /** Changes the group's settings (what the body leaves out stays); needs the admin right. */
  app.put("/:group/config", async (c) => {
    const { group } = validate(GroupParam, c.req.param(), "path");
    const body = await jsonBody(c, SubscriptionGroupUpdate);
    const { cluster } = validate(ClusterQuery, c.req.query(), "query");
    if (cluster !== undefined) {
      const caller = callerCredentials(c);
      const masters = await clusterMasters(state, cluster);
      const outcomes = await onEveryMaster(masters, `Group "${group}" was changed`, async (master) => {
        const reply = await masterRequest(state, master, updateGroup?.(), RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, { ...body, groupName: group }, caller);
        return reply.code === ResponseCode.SUCCESS ? undefined : reply.remark ?? `code ${reply.code}`;
      });
      return c.json({ group, cluster, brokers: outcomes.map((o) => ({ brokerName: o.brokerName, address: o.address })) });
    }
    const ctx = requireBroker(state);
    const config = await ctx.groups.update(group, body);
    return c.json({ config, brokerName: ctx.brokerName });
  });

  app.post("/:group/reset-offset", async (c) => {
    const { group } = validate(GroupParam, c.req.param(), "path");
    const access = accessOfRequest(c);
    authorize(access.group(group));
    const body = await jsonBody(c, ResetOffsetBody);
    authorize(access.subscribe(body.topic));
    const ctx = requireBroker(state);
    if (ctx.topics.get(body.topic) === undefined && ctx.store.queueIds(body.topic).length === 0) {
      throw httpError(404, "NOT_FOUND", `Topic "${body.topic}" does not exist on broker "${ctx.brokerName}"`);
    }
    const online = ctx.consumers.groupInfo(group)?.members.length ?? 0;
    if (online > 0 && !body.force) {
      throw httpError(
        409,
        "CONFLICT",
        `Consumer group "${group}" has ${online} online member(s): they keep their own offsets and would write them back. Stop them first, or pass "force": true`,
      );
    }
    const queues = queueIdsOf(ctx, body.topic).map((queueId) => {
      const previous = ctx.offsets.query(group, body.topic, queueId);
      const offset = body.to === "earliest"
        ? ctx.store.getMinOffset(body.topic, queueId)
        : body.to === "latest"
        ? ctx.store.getMaxOffset(body.topic, queueId)
        : ctx.store.getOffsetByTime(body.topic, queueId, body.to);
      ctx.offsets.commit(group, body.topic, queueId, offset);
      return { queueId, previous, offset };
    });
    await ctx.offsets.persist();
    return c.json({ group, topic: body.topic, to: body.to, queues });
  });

  app.post("/:group/resend", async (c) => {
    const { group } = validate(GroupParam, c.req.param(), "path");
    const access = accessOfRequest(c);
    authorize(access.group(group));
    const { msgId } = await jsonBody(c, ResendBody);
    const ctx = requireBroker(state);
    const message = lookUpStored(ctx, msgId);
    // Copying a message needs the right to read it.
    authorize(access.subscribe(message.topic));
    let topic = message.topic;
    const kind = topicKind(topic);
    if (kind === "system") throw httpError(400, "BAD_REQUEST", `Message "${msgId}" is in the broker's topic "${topic}": only messages of user topics can be re-sent`);
    if (kind !== "normal") {
      // A retry or dead letter of this group goes back as the message of its original topic.
      if (topic !== retryTopic(group) && topic !== dlqTopic(group)) {
        throw httpError(400, "BAD_REQUEST", `Message "${msgId}" is in "${topic}", a retry or dead-letter topic of another group than "${group}"`);
      }
      const original = message.properties[MessageConst.RETRY_TOPIC];
      if (original === undefined || original === "") {
        throw httpError(422, "UNPROCESSABLE", `Message "${msgId}" has no ${MessageConst.RETRY_TOPIC} property: its original topic is unknown`);
      }
      topic = original;
      authorize(access.subscribe(topic));
    }
    if (!consumesTopic(ctx, group, topic)) {
      throw httpError(
        409,
        "CONFLICT",
        `Consumer group "${group}" does not consume topic "${topic}": no member subscribes to it and the group has no offsets on it`,
      );
    }
    const target = retryTopic(group);
    authorize(access.publish(target));
    const config = await ensureGroupTopic(ctx, target);
    if ("code" in config) throw replyError(config);
    const properties = copyProperties(message);
    // The group's consumers present a message of the retry topic as one of RETRY_TOPIC.
    properties[MessageConst.RETRY_TOPIC] = topic;
    const sent = await sendLocal(send!(), target, message.body, properties, { queueId: 0, flag: message.flag });
    return c.json({ group, sourceId: message.msgId, originalTopic: topic, topic: target, ...sent }, 201);
  });

  return app;
}
