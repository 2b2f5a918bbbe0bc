/**
 * Topics: list, create or update, delete, route and per-queue status.
 *
 * @module
 */
import { Hono } from "hono";
import * as v from "valibot";
import { RetentionHours, TopicConfig, TopicMessageTypeName, TopicName } from "../../core/protocol/headers.ts";
import { Perm, RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { BrokerContext } from "../broker/context.ts";
import { allTopicConfigProcessor, createTopicProcessor, deleteTopicProcessor } from "../broker/processors/topics.ts";
import { ClusterName, ClusterQuery, clusterMasters, masterRequest, onEveryMaster } from "./_cluster_targets.ts";
import { queueFigures, queueIdsOf, topicKind } from "./_figures.ts";
import { httpError, jsonBody, validate } from "./_http.ts";
import { type AdminState, brokerProcessor, localRequest, replyError, requireBroker } from "./_state.ts";
import { accessOfRequest, authorize, callerCredentials } from "./_auth.ts";

const QueueNums = v.pipe(v.number(), v.safeInteger("expected a whole number"), v.minValue(1), v.maxValue(1024));

/** `perm` as letters (`rw`, `r`, `w`) or RocketMQ's bits. */
const PermInput = v.union([
  v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(15)),
  v.pipe(
    v.string(),
    v.regex(/^r?w?$/, 'expected "rw", "r", "w" or ""'),
    v.transform((text) => (text.includes("r") ? Perm.READ : 0) | (text.includes("w") ? Perm.WRITE : 0)),
  ),
], 'expected "rw", "r", "w", "" or a number from 0 to 15');

const CreateTopicBody = v.object({
  topic: TopicName,
  /** Sets both read and write queue counts. */
  queueNums: v.optional(QueueNums),
  readQueueNums: v.optional(QueueNums),
  writeQueueNums: v.optional(QueueNums),
  perm: v.optional(PermInput),
  order: v.optional(v.boolean()),
  /** The topic's own retention in hours; 0 goes back to the broker's fileReservedTimeHours. */
  retentionHours: v.optional(v.union([v.literal(0), RetentionHours], "expected 0 (the broker's retention) or hours from 1 to 87600")),
  /** RocketMQ 5's message type the topic takes through gRPC; MIXED (the default) takes every type. */
  messageType: v.optional(TopicMessageTypeName),
  /** Create or update the topic on every master of this cluster (by the NameServer), not only this process's broker. */
  cluster: v.optional(ClusterName),
});
type CreateTopicBody = v.InferOutput<typeof CreateTopicBody>;

/** The UPDATE_AND_CREATE_TOPIC header of a body: what it leaves out stays as the broker has it. */
function createHeader(body: CreateTopicBody, existing: TopicConfig | undefined): Record<string, unknown> {
  const retentionHours = body.retentionHours ?? existing?.retentionHours ?? 0;
  const messageType = body.messageType ?? existing?.messageType ?? "MIXED";
  return {
    topic: body.topic,
    readQueueNums: body.readQueueNums ?? body.queueNums ?? existing?.readQueueNums ?? 4,
    writeQueueNums: body.writeQueueNums ?? body.queueNums ?? existing?.writeQueueNums ?? 4,
    perm: body.perm ?? existing?.perm ?? (Perm.READ | Perm.WRITE),
    order: body.order ?? existing?.order ?? false,
    ...(retentionHours === 0 ? {} : { retentionHours }),
    ...(messageType === "MIXED" ? {} : { messageType }),
  };
}

/** A broker's config of `topic` by GET_ALL_TOPIC_CONFIG's answer, if it has one. */
function existingIn(header: Record<string, unknown> | undefined, topic: string): TopicConfig | undefined {
  const configs = header?.topicConfigs;
  if (typeof configs !== "object" || configs === null || !Object.hasOwn(configs, topic)) return undefined;
  const parsed = v.safeParse(TopicConfig, (configs as Record<string, unknown>)[topic]);
  return parsed.success ? parsed.output : undefined;
}

/** Path parameters naming a topic. */
export const TopicParam = v.object({ topic: TopicName });

/** Letters of a permission: `rw`, `r-`, `-w`, `--`. */
export function permText(perm: number): string {
  return `${perm & Perm.READ ? "r" : "-"}${perm & Perm.WRITE ? "w" : "-"}`;
}

function topicSummary(ctx: BrokerContext | undefined, topic: string, brokers: string[], now: number) {
  const config = ctx?.topics.get(topic);
  let messages = 0;
  let maxOffset = 0;
  let queues = 0;
  if (ctx !== undefined) {
    for (const queueId of queueIdsOf(ctx, topic)) {
      const figures = queueFigures(ctx, topic, queueId, false);
      messages += figures.messages;
      maxOffset += figures.maxOffset;
      queues++;
    }
  }
  return {
    topic,
    kind: topicKind(topic),
    readQueueNums: config?.readQueueNums ?? null,
    writeQueueNums: config?.writeQueueNums ?? null,
    perm: config === undefined ? null : permText(config.perm),
    order: config?.order ?? false,
    /** The topic's own retention; null: the broker's fileReservedTimeHours. */
    retentionHours: config?.retentionHours ?? null,
    /** RocketMQ 5's message type it takes (MIXED: every type). */
    messageType: config?.messageType ?? "MIXED",
    queues,
    /** Messages still stored (sum of max - min over the queues). */
    messages,
    /** Messages ever written (sum of max offsets). */
    maxOffset,
    /** Messages in and out per second over the broker's trailing window. */
    tps: ctx === undefined ? null : ctx.traffic.topicRates(topic, now),
    brokers,
  };
}

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/api/topics`.
 */
export function topicRoutes(state: AdminState): Hono {
  const app = new Hono();
  const { broker, nameServer } = state.options;
  const create = brokerProcessor(state, createTopicProcessor);
  const remove = brokerProcessor(state, deleteTopicProcessor);
  const allConfigs = brokerProcessor(state, allTopicConfigProcessor);

  app.get("/", (c) => {
    const ctx = broker?.context;
    const names = new Map<string, string[]>();
    if (ctx !== undefined) {
      for (const config of ctx.topics.all()) names.set(config.topicName, [ctx.brokerName]);
      for (const topic of ctx.store.topics()) if (!names.has(topic)) names.set(topic, [ctx.brokerName]);
    }
    if (nameServer !== undefined) {
      for (const topic of nameServer.routeTable.getTopicList()) {
        const route = nameServer.routeTable.getRoute(topic);
        const brokers = route?.queueDatas.map((q) => q.brokerName) ?? [];
        names.set(topic, [...new Set([...(names.get(topic) ?? []), ...brokers])].sort());
      }
    }
    const now = state.now();
    const topics = [...names.keys()].sort().map((topic) => topicSummary(ctx, topic, names.get(topic)!, now));
    return c.json({ topics });
  });

  app.post("/", async (c) => {
    const body = await jsonBody(c, CreateTopicBody);
    if (body.cluster !== undefined) {
      const caller = callerCredentials(c);
      const masters = await clusterMasters(state, body.cluster);
      const created: string[] = [];
      const outcomes = await onEveryMaster(masters, `Topic "${body.topic}" was created or updated`, async (master) => {
        const configs = await masterRequest(state, master, allConfigs?.(), RequestCode.GET_ALL_TOPIC_CONFIG, {}, caller);
        if (configs.code !== ResponseCode.SUCCESS) return configs.remark ?? `code ${configs.code}`;
        const existing = existingIn(configs.header, body.topic);
        const reply = await masterRequest(state, master, create?.(), RequestCode.UPDATE_AND_CREATE_TOPIC, createHeader(body, existing), caller);
        if (reply.code !== ResponseCode.SUCCESS) return reply.remark ?? `code ${reply.code}`;
        if (existing === undefined) created.push(master.brokerName);
        return undefined;
      });
      return c.json({
        cluster: body.cluster,
        topic: body.topic,
        brokers: outcomes.map((o) => ({ brokerName: o.brokerName, address: o.address, created: created.includes(o.brokerName) })),
      });
    }
    const ctx = requireBroker(state);
    const existing = ctx.topics.get(body.topic);
    const reply = await localRequest(create!(), RequestCode.UPDATE_AND_CREATE_TOPIC, createHeader(body, existing));
    if (reply.code !== ResponseCode.SUCCESS) throw replyError(reply);
    return c.json({ created: existing === undefined, topic: topicSummary(ctx, body.topic, [ctx.brokerName], state.now()) }, existing === undefined ? 201 : 200);
  });

  app.delete("/:topic", async (c) => {
    const { topic } = validate(TopicParam, c.req.param(), "path");
    const { cluster } = validate(ClusterQuery, c.req.query(), "query");
    if (cluster !== undefined) {
      const caller = callerCredentials(c);
      const masters = await clusterMasters(state, cluster);
      const outcomes = await onEveryMaster(masters, `Topic "${topic}" was deleted`, async (master) => {
        const reply = await masterRequest(state, master, remove?.(), RequestCode.DELETE_TOPIC_IN_BROKER, { topic }, caller);
        // A master that never had the topic is fine: it is gone from the whole cluster.
        return reply.code === ResponseCode.SUCCESS || reply.code === ResponseCode.TOPIC_NOT_EXIST ? undefined : reply.remark ?? `code ${reply.code}`;
      });
      nameServer?.routeTable.deleteTopic(topic);
      return c.json({ deleted: topic, cluster, brokers: outcomes.map((o) => ({ brokerName: o.brokerName, address: o.address })) });
    }
    const ctx = requireBroker(state);
    const reply = await localRequest(remove!(), RequestCode.DELETE_TOPIC_IN_BROKER, { topic });
    // A refused or failed delete leaves the route alone (deleting TBW102's would stop auto-creation).
    if (reply.code !== ResponseCode.SUCCESS) throw replyError(reply);
    nameServer?.routeTable.deleteTopic(topic);
    return c.json({ deleted: topic, broker: ctx.brokerName });
  });

  app.get("/:topic/route", (c) => {
    const { topic } = validate(TopicParam, c.req.param(), "path");
    const fromNameServer = nameServer?.routeTable.getRoute(topic);
    if (fromNameServer !== undefined) return c.json({ topic, source: "nameserver", ...fromNameServer });
    const ctx = broker?.context;
    const config = ctx?.topics.get(topic);
    if (ctx === undefined || config === undefined) throw httpError(404, "NOT_FOUND", `No route for topic "${topic}": no live broker serves it`);
    return c.json({
      topic,
      source: "broker",
      queueDatas: [{ brokerName: ctx.brokerName, readQueueNums: config.readQueueNums, writeQueueNums: config.writeQueueNums, perm: config.perm }],
      brokerDatas: [{ cluster: ctx.clusterName, brokerName: ctx.brokerName, brokerAddrs: { [String(ctx.brokerId)]: ctx.advertisedAddress } }],
    });
  });

  app.get("/:topic/status", (c) => {
    const { topic } = validate(TopicParam, c.req.param(), "path");
    authorize(accessOfRequest(c).subscribe(topic));
    const ctx = requireBroker(state);
    const config = ctx.topics.get(topic);
    const ids = queueIdsOf(ctx, topic);
    if (config === undefined && ids.length === 0) throw httpError(404, "NOT_FOUND", `Topic "${topic}" does not exist on broker "${ctx.brokerName}"`);
    const queues = ids.map((queueId) => ({ brokerName: ctx.brokerName, ...queueFigures(ctx, topic, queueId, true) }));
    const lastStoreTime = queues.reduce<number | null>((t, q) => (q.lastStoreTime !== null && (t === null || q.lastStoreTime > t) ? q.lastStoreTime : t), null);
    return c.json({
      topic,
      kind: topicKind(topic),
      messages: queues.reduce((n, q) => n + q.messages, 0),
      lastStoreTime,
      queues,
    });
  });

  return app;
}
