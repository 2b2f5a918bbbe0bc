/**
 * A message's trace: `GET /api/messages/:id/trace?topic=T` finds the messages of topic `T` with
 * that id (unique key or offset message id) or key through the store's key index, then their trace
 * records in the trace topic (clients' `enableTrace` records and the broker's own), and answers
 * them as a timeline. It needs SUB on `T`, as reading the message does; only records of messages of
 * `T` are shown. See docs/TRACE.md for the answer's shape.
 *
 * @module
 */
import { Hono } from "hono";
import * as v from "valibot";
import { type MessageExt } from "../../core/model/message.ts";
import { decodeOffsetMessageId } from "../../core/model/message_id.ts";
import { decodeRecords } from "../../core/model/record.ts";
import { decodeTraceData, TRACE_TOPIC, type TraceRecord, type TraceType } from "../../core/model/trace.ts";
import { TopicName } from "../../core/protocol/headers.ts";
import type { BrokerContext } from "../broker/context.ts";
import { accessOfRequest, authorize } from "./_auth.ts";
import { httpError, validate } from "./_http.ts";
import { type AdminState, requireBroker } from "./_state.ts";

/** What happened at one step of a message's life. */
export type TraceStep = "sent" | "send failed" | "delivered" | "consumed" | "consume failed" | "committed" | "rolled back" | "dead-lettered";

/** One step of the timeline. */
export interface TraceEventJson {
  /** When, ms since the epoch (a send's start, a delivery's start or end, the broker's action). */
  time: number;
  /** The same as ISO 8601 (UTC). */
  isoTime: string;
  step: TraceStep;
  /** The record type it comes from. */
  type: TraceType;
  /** The message's unique key. */
  msgId: string;
  topic: string;
  /** Producer group (sent, committed, rolled back) or consumer group (delivered, consumed, dead-lettered). */
  group: string;
  /** The client that recorded it; null for the broker's records. */
  clientId: string | null;
  /** Delivery attempt to the group, from 1 (deliveries and dead letters). */
  attempt: number | null;
  /** Time a send or handler took, ms. */
  costMs: number | null;
  /** Broker that stored the message (sent) or acted (committed, rolled back, dead-lettered). */
  storeHost: string | null;
  /** What else the record says, for people (the dead-letter topic, who resolved a transaction, the handler's return code). */
  detail: string;
  /** Pairs a delivery with its outcome. */
  requestId: string | null;
  /** The record as decoded. */
  record: TraceRecord;
}

/** A message the trace is about. */
export interface TracedMessage {
  msgId: string;
  /** Where it was found: in the store (`stored`) or only named by a send record (`traced`). */
  source: "stored" | "traced";
  offsetMsgId: string | null;
  keys: string[];
  tags: string | null;
  storeTimestamp: number | null;
}

/** The answer of `GET /api/messages/:id/trace`. */
export interface TraceAnswer {
  topic: string;
  id: string;
  traceTopic: string;
  messages: TracedMessage[];
  /** Every step of every message found, oldest first. */
  events: TraceEventJson[];
  /** False when a lookup stopped early (too many matches): `note` says why. */
  complete: boolean;
  note: string;
}

/** Most messages one trace covers (copies of a unique key, messages sharing a key). */
const MAX_MESSAGES = 32;
/** Most trace messages read per key. */
const MAX_TRACE_MESSAGES = 1024;
/** Order of steps recorded in the same millisecond. */
const ORDER: Record<TraceType, number> = { Pub: 0, EndTransaction: 1, SubBefore: 2, SubAfter: 3, DeadLetter: 4 };
const UTF8 = new TextDecoder();

const Params = v.object({ id: v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(1024, "must be at most 1024 characters")) });
const Query = v.object({ topic: TopicName });

/**
 * The steps of a record, as the timeline shows them.
 *
 * @param record A decoded trace record.
 * @returns Its event.
 */
export function traceEvent(record: TraceRecord): TraceEventJson {
  const base = {
    time: record.timestamp,
    isoTime: new Date(Number.isFinite(record.timestamp) ? record.timestamp : 0).toISOString(),
    type: record.type,
    msgId: record.msgId,
    group: record.group,
    record,
  };
  switch (record.type) {
    case "Pub":
      return {
        ...base, step: record.success ? "sent" : "send failed", topic: record.topic, clientId: record.clientId || null, attempt: null,
        costMs: record.costMs, storeHost: record.storeHost || null, requestId: null,
        detail: record.success ? `offset id ${record.offsetMsgId}, ${record.bodyLength} bytes` : "the send failed",
      };
    case "SubBefore":
      return {
        ...base, step: "delivered", topic: record.topic, clientId: record.clientId || null, attempt: record.retryTimes + 1, costMs: null,
        storeHost: null, requestId: record.requestId, detail: "",
      };
    case "SubAfter":
      return {
        ...base, step: record.success ? "consumed" : "consume failed", topic: record.topic, clientId: record.clientId || null,
        attempt: record.retryTimes + 1, costMs: record.costMs, storeHost: null, requestId: record.requestId,
        detail: record.success ? "" : `return code ${record.contextCode}`,
      };
    case "EndTransaction":
      return {
        ...base, step: record.transactionState === "COMMIT_MESSAGE" ? "committed" : "rolled back", topic: record.topic, clientId: null,
        attempt: null, costMs: null, storeHost: record.storeHost || null, requestId: null,
        detail: record.fromTransactionCheck ? "resolved by check-back or policy" : "resolved by its producer",
      };
    case "DeadLetter":
      return {
        ...base, step: "dead-lettered", topic: record.topic, clientId: null, attempt: record.retryTimes, costMs: null,
        storeHost: record.storeHost || null, requestId: null, detail: `to ${record.dlqTopic} as ${record.offsetMsgId}`,
      };
  }
}

/** The messages of `topic` an id or key names in the local store. */
function storedMessages(ctx: BrokerContext, topic: string, id: string, notes: string[]): MessageExt[] {
  const found = new Map<number, MessageExt>();
  if (/^([0-9a-fA-F]{32}|[0-9a-fA-F]{56})$/.test(id)) {
    try {
      const { host, commitLogOffset } = decodeOffsetMessageId(id);
      if (host.address === ctx.storeHost.address && host.port === ctx.storeHost.port) {
        const m = ctx.store.lookMessageByOffset(commitLogOffset);
        if (m !== undefined && m.msgId === id.toUpperCase() && m.topic === topic) found.set(m.commitLogOffset, m);
      }
    } catch {
      // Not an offset message id: a unique key or a key.
    }
  }
  const lookups = [{ key: id.length === 32 ? id.toUpperCase() : id, uniqueKey: true }, { key: id, uniqueKey: false }];
  for (const { key, uniqueKey } of lookups) {
    const result = ctx.store.queryMessage(topic, key, { uniqueKey, maxNum: MAX_MESSAGES });
    if (!result.complete) notes.push(`Looking up "${id}" in "${topic}": ${result.incomplete}`);
    if (result.body !== undefined) for (const m of decodeRecords(result.body)) found.set(m.commitLogOffset, m);
  }
  return [...found.values()].sort((a, b) => a.commitLogOffset - b.commitLogOffset);
}

/** The trace records stored under a key, each trace message read once. */
function traceRecords(ctx: BrokerContext, traceTopic: string, key: string, seen: Set<number>, notes: string[]): TraceRecord[] {
  const result = ctx.store.queryMessage(traceTopic, key, { maxNum: MAX_TRACE_MESSAGES });
  if (!result.complete) notes.push(`Reading the trace records of "${key}": ${result.incomplete}`);
  const out: TraceRecord[] = [];
  if (result.body === undefined) return out;
  for (const m of decodeRecords(result.body)) {
    if (seen.has(m.commitLogOffset)) continue;
    seen.add(m.commitLogOffset);
    out.push(...decodeTraceData(UTF8.decode(m.body)));
  }
  return out;
}

/**
 * Builds a message's trace from the local store.
 *
 * @param ctx The broker.
 * @param topic The message's topic.
 * @param id Its unique key, offset message id or a key.
 * @returns The timeline.
 */
export function messageTrace(ctx: BrokerContext, topic: string, id: string): TraceAnswer {
  const traceTopic = ctx.trace?.topic ?? TRACE_TOPIC;
  const notes: string[] = [];
  const messages = new Map<string, TracedMessage>();
  for (const m of storedMessages(ctx, topic, id, notes)) {
    const msgId = m.uniqueKey ?? m.msgId;
    if (!messages.has(msgId)) {
      messages.set(msgId, { msgId, source: "stored", offsetMsgId: m.msgId, keys: m.keys, tags: m.tags ?? null, storeTimestamp: m.storeTimestamp });
    }
  }
  const seen = new Set<number>();
  const records: TraceRecord[] = [];
  const hasTraceTopic = ctx.store.topics().includes(traceTopic);
  if (hasTraceTopic) {
    records.push(...traceRecords(ctx, traceTopic, id, seen, notes));
    // Not stored here (another broker of the topic, or past retention): a send record of the topic names it.
    for (const r of records) {
      if (r.type !== "Pub" || r.topic !== topic || messages.has(r.msgId)) continue;
      if (r.msgId !== id.toUpperCase() && !r.keys.split(" ").includes(id)) continue;
      messages.set(r.msgId, { msgId: r.msgId, source: "traced", offsetMsgId: r.offsetMsgId || null, keys: r.keys.split(" ").filter((k) => k !== ""), tags: r.tags || null, storeTimestamp: null });
    }
    for (const msgId of messages.keys()) if (msgId !== id) records.push(...traceRecords(ctx, traceTopic, msgId, seen, notes));
  }
  const events = records
    .filter((r) => messages.has(r.msgId) && (r.type === "SubAfter" || r.type === "SubBefore" ? r.topic === "" || r.topic === topic : r.topic === topic))
    .sort((a, b) => a.timestamp - b.timestamp || ORDER[a.type] - ORDER[b.type])
    .map(traceEvent);
  const complete = notes.length === 0;
  const note = !hasTraceTopic
    ? `Broker "${ctx.brokerName}" has no trace topic "${traceTopic}": no client traced (enableTrace) and traceTopicEnable is off`
    : messages.size === 0
    ? `No message of topic "${topic}" has the id or key "${id}" on broker "${ctx.brokerName}"`
    : complete
    ? `Every trace record of ${messages.size} message(s) on broker "${ctx.brokerName}"`
    : notes.join("; ");
  return { topic, id, traceTopic, messages: [...messages.values()], events, complete, note };
}

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/api`.
 */
export function traceRoutes(state: AdminState): Hono {
  const app = new Hono();
  app.get("/messages/:id/trace", (c) => {
    const { id } = validate(Params, c.req.param(), "path");
    const { topic } = validate(Query, c.req.query(), "query");
    authorize(accessOfRequest(c).subscribe(topic));
    const ctx = requireBroker(state);
    if (!ctx.store.indexEnabled) {
      throw httpError(503, "NOT_AVAILABLE", `Cannot trace "${id}" on broker "${ctx.brokerName}": its key index is off (messageIndexEnable: false)`);
    }
    return c.json(messageTrace(ctx, topic, id));
  });
  return app;
}
