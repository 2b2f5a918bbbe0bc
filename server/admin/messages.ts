/**
 * Messages: look up by id (an offset message id directly, a unique key through the store's key
 * index), browse a queue page by page, search a topic by key (the key index), send a test
 * message, and re-send a dead letter to its original topic. Reads need SUB on the message's topic,
 * sends PUB on the topic, and a re-send the dead-letter group and PUB on the topic it writes to.
 *
 * @module
 */
import { Hono } from "hono";
import * as v from "valibot";
import { MessageConst, type MessageExt } from "../../core/model/message.ts";
import { decodeRecords } from "../../core/model/record.ts";
import { dlqTopic } from "../../core/model/system_topics.ts";
import { GroupName, TopicName } from "../../core/protocol/headers.ts";
import type { BrokerContext } from "../broker/context.ts";
import { sendMessageProcessor } from "../broker/processors/send.ts";
import { queueIdsOf, topicKind } from "./_figures.ts";
import { httpError, integerParam, jsonBody, validate } from "./_http.ts";
import { messageJson } from "./_message_json.ts";
import { copyProperties, lookUpOffsetId, lookUpStored, ResendBody, sendLocal } from "./_resend.ts";
import { type AdminState, brokerProcessor, requireBroker } from "./_state.ts";
import { accessOfRequest, authorize } from "./_auth.ts";

/** Most messages a browse page returns. */
export const MAX_PAGE = 100;
/** Body bytes shown per message in lists. */
const LIST_BODY_BYTES = 2048;
/** Copies of one unique key a lookup gathers per topic (retries, producer re-sends), as RocketMQ's `defaultQueryMaxNum`. */
const UNIQUE_KEY_COPIES = 32;

const ENCODER = new TextEncoder();

const MessageIdParam = v.object({
  msgId: v.pipe(
    v.string(),
    v.regex(/^([0-9a-fA-F]{32}|[0-9a-fA-F]{56})$/, "expected a message id: an offset id (32 or 56 hex characters) or a unique key (32 hex characters)"),
  ),
});

/** Narrows a unique-key lookup to one topic. */
const FindQuery = v.object({ topic: v.optional(TopicName) });

const BrowseParams = v.object({ topic: TopicName, queueId: integerParam(0, 0x7fffffff) });

const BrowseQuery = v.object({
  offset: v.optional(integerParam(0)),
  limit: v.optional(integerParam(1, MAX_PAGE), "20"),
});

const KeyQuery = v.object({
  topic: TopicName,
  key: v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(1024)),
  limit: v.optional(integerParam(1, MAX_PAGE), "32"),
  /** Earliest store time, ms since the epoch. */
  begin: v.optional(integerParam(0)),
  /** Latest store time, ms since the epoch. */
  end: v.optional(integerParam(0)),
});

/** Message keys: a space-separated string or an array of keys without spaces. */
export const Keys = v.union([
  v.pipe(v.string(), v.maxLength(1024), v.transform((text) => text.split(/\s+/).filter((k) => k !== ""))),
  v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.regex(/^\S+$/, "keys may not contain spaces"))), v.maxLength(64)),
]);

const SendBody = v.object({
  body: v.pipe(v.string(), v.minLength(1, "must not be empty")),
  tags: v.optional(v.pipe(v.string(), v.maxLength(255), v.regex(/^[^|\s]*$/, "a tag may not contain spaces or '|'"))),
  keys: v.optional(Keys),
  properties: v.optional(v.record(v.pipe(v.string(), v.minLength(1), v.maxLength(255)), v.pipe(v.string(), v.maxLength(32767)))),
  queueId: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(-1), v.maxValue(0x7fffffff)), -1),
});

/** Refuses key lookups on a broker whose key index is off. */
function requireIndex(ctx: BrokerContext, what: string): void {
  if (!ctx.store.indexEnabled) {
    throw httpError(503, "NOT_AVAILABLE", `Cannot look up ${what} on broker "${ctx.brokerName}": its key index is off (messageIndexEnable: false)`);
  }
}

/**
 * Finds a message by either id RocketMQ clients know: the offset message id (store host and
 * CommitLog offset) is looked up directly; a unique key (the producer's `UNIQ_KEY`, what RocketMQ
 * clients show as the message id) through the key index, in `topic` or in every topic `readable`
 * accepts. Of several copies of a unique key (retries, re-sends) the first stored in a normal
 * topic is shown.
 */
function findById(ctx: BrokerContext, id: string, topic: string | undefined, readable: (topic: string) => boolean) {
  const direct = lookUpOffsetId(ctx, id);
  if ("message" in direct) return { message: messageJson(direct.message), lookup: { by: "offsetId" } };
  const elsewhere = "otherHost" in direct ? ` (as an offset message id it names the broker at ${direct.otherHost}: ask its admin endpoint)` : "";
  if (id.length !== 32) throw httpError(404, "NOT_FOUND", `No message "${id}" on broker "${ctx.brokerName}"${elsewhere}: it never existed or retention deleted it`);
  if (topic !== undefined && queueIdsOf(ctx, topic).length === 0) throw httpError(404, "NOT_FOUND", `Topic "${topic}" does not exist on broker "${ctx.brokerName}"`);
  requireIndex(ctx, `unique key "${id}"`);
  const key = id.toUpperCase();
  const found: MessageExt[] = [];
  let complete = true;
  for (const t of topic === undefined ? ctx.store.topics().filter(readable) : [topic]) {
    const result = ctx.store.queryMessage(t, key, { uniqueKey: true, maxNum: UNIQUE_KEY_COPIES });
    if (result.body !== undefined) found.push(...decodeRecords(result.body));
    complete &&= result.complete;
  }
  const where = topic === undefined ? "any topic" : `topic "${topic}"`;
  if (found.length === 0) {
    throw httpError(
      404,
      "NOT_FOUND",
      `No message "${id}" on broker "${ctx.brokerName}"${elsewhere}: no offset message id matches, and no message of ${where} has that unique key` +
        (complete ? "" : " among the index entries read (the lookup stopped early)"),
    );
  }
  found.sort((a, b) => a.commitLogOffset - b.commitLogOffset);
  const first = found.find((m) => topicKind(m.topic) === "normal") ?? found[0]!;
  return { message: messageJson(first), lookup: { by: "uniqueKey", matches: found.length, complete } };
}

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/api`.
 */
export function messageRoutes(state: AdminState): Hono {
  const app = new Hono();
  const send = brokerProcessor(state, sendMessageProcessor);

  app.get("/messages/:msgId", (c) => {
    const { msgId } = validate(MessageIdParam, c.req.param(), "path");
    const { topic } = validate(FindQuery, c.req.query(), "query");
    const access = accessOfRequest(c);
    if (topic !== undefined) authorize(access.subscribe(topic));
    const found = findById(requireBroker(state), msgId, topic, (t) => access.subscribe(t) === undefined);
    if (access.subscribe(found.message.topic) !== undefined) {
      authorize(`Account "${access.accessKey}" may not read message "${msgId}": it may not subscribe to the message's topic`);
    }
    return c.json(found);
  });

  app.get("/messages", (c) => {
    const query = validate(KeyQuery, c.req.query(), "query");
    authorize(accessOfRequest(c).subscribe(query.topic));
    const ctx = requireBroker(state);
    if (queueIdsOf(ctx, query.topic).length === 0) throw httpError(404, "NOT_FOUND", `Topic "${query.topic}" does not exist on broker "${ctx.brokerName}"`);
    if (query.begin !== undefined && query.end !== undefined && query.begin > query.end) {
      throw httpError(400, "BAD_REQUEST", `Invalid query: begin ${query.begin} is after end ${query.end}`);
    }
    requireIndex(ctx, `key "${query.key}"`);
    const result = ctx.store.queryMessage(query.topic, query.key, {
      maxNum: query.limit,
      ...(query.begin === undefined ? {} : { beginTimestamp: query.begin }),
      ...(query.end === undefined ? {} : { endTimestamp: query.end }),
    });
    const messages = result.body === undefined ? [] : decodeRecords(result.body);
    return c.json({
      topic: query.topic,
      key: query.key,
      messages: messages.map((m) => messageJson(m, LIST_BODY_BYTES)),
      matched: messages.length,
      complete: result.complete,
      note: result.complete
        ? "Every stored message of the topic with this key (or unique key) in the time range"
        : `Not every match is shown: ${result.incomplete}`,
      indexLastUpdateTimestamp: result.indexLastUpdateTimestamp,
    });
  });

  app.get("/topics/:topic/queues/:queueId/messages", (c) => {
    const { topic, queueId } = validate(BrowseParams, c.req.param(), "path");
    const query = validate(BrowseQuery, c.req.query(), "query");
    authorize(accessOfRequest(c).subscribe(topic));
    const ctx = requireBroker(state);
    if (!queueIdsOf(ctx, topic).includes(queueId)) {
      throw httpError(404, "NOT_FOUND", `Queue ${queueId} of topic "${topic}" does not exist on broker "${ctx.brokerName}"`);
    }
    const minOffset = ctx.store.getMinOffset(topic, queueId);
    const maxOffset = ctx.store.getMaxOffset(topic, queueId);
    const offset = query.offset ?? minOffset;
    const page = { topic, queueId, offset, limit: query.limit, minOffset, maxOffset };
    if (offset >= maxOffset || maxOffset === minOffset) return c.json({ ...page, nextOffset: Math.max(offset, minOffset), messages: [] });
    const start = Math.max(offset, minOffset);
    const result = ctx.store.getMessage(topic, queueId, start, query.limit, undefined, 4 * 1024 * 1024);
    const messages = result.body === undefined ? [] : decodeRecords(result.body);
    return c.json({
      ...page,
      offset: start,
      nextOffset: result.nextBeginOffset,
      messages: messages.map((m) => messageJson(m, LIST_BODY_BYTES)),
    });
  });

  app.post("/topics/:topic/messages", async (c) => {
    const topic = validate(v.object({ topic: TopicName }), c.req.param(), "path").topic;
    authorize(accessOfRequest(c).publish(topic));
    const body = await jsonBody(c, SendBody);
    const ctx = requireBroker(state);
    const config = ctx.topics.get(topic);
    if (config !== undefined && body.queueId >= config.writeQueueNums) {
      throw httpError(400, "BAD_REQUEST", `Queue ${body.queueId} of topic "${topic}" does not exist (it has ${config.writeQueueNums} write queues)`);
    }
    const properties: Record<string, string> = { ...body.properties };
    if (body.tags !== undefined && body.tags !== "") properties[MessageConst.TAGS] = body.tags;
    if (body.keys !== undefined && body.keys.length > 0) properties[MessageConst.KEYS] = body.keys.join(MessageConst.KEY_SEPARATOR);
    const sent = await sendLocal(send!(), topic, ENCODER.encode(body.body), properties, { queueId: body.queueId });
    return c.json({ topic, ...sent }, 201);
  });

  app.post("/dlq/:group/resend", async (c) => {
    const { group } = validate(v.object({ group: GroupName }), c.req.param(), "path");
    const access = accessOfRequest(c);
    authorize(access.group(group));
    const { msgId } = await jsonBody(c, ResendBody);
    const ctx = requireBroker(state);
    const dead = lookUpStored(ctx, msgId);
    if (dead.topic !== dlqTopic(group)) {
      throw httpError(400, "BAD_REQUEST", `Message "${msgId}" is in topic "${dead.topic}", not in the dead-letter topic "${dlqTopic(group)}"`);
    }
    const original = dead.properties[MessageConst.RETRY_TOPIC];
    if (original === undefined || original === "") {
      throw httpError(422, "UNPROCESSABLE", `Dead letter "${msgId}" has no ${MessageConst.RETRY_TOPIC} property: its original topic is unknown`);
    }
    // The topic comes from the dead letter's own properties, which whoever could write to the
    // dead-letter topic chose: the re-send is a write on the caller's behalf, so it needs PUB there.
    authorize(access.publish(original));
    const sent = await sendLocal(send!(), original, dead.body, copyProperties(dead), { flag: dead.flag });
    return c.json({ group, deadLetterId: dead.msgId, topic: original, ...sent }, 201);
  });

  return app;
}
