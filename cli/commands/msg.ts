/**
 * `rmq msg get|query-key|browse`: stored messages by id, by key, or page by page.
 *
 * @module
 */
import type { MessageJson } from "../../server/admin/_message_json.ts";
import * as v from "valibot";
import { TopicName } from "../../core/protocol/headers.ts";
import { integerFlag } from "../../server/_flags.ts";
import { segment } from "../_admin_client.ts";
import { ADMIN_ENTRIES, ADMIN_FLAGS, adminClient, group, parse } from "../_command.ts";
import { clip, formatTime, keyValues, printJson, table, write } from "../_output.ts";

/** A message as the admin API shows it. */
export type MessageView = MessageJson;

/** Columns of message lists. */
export const MESSAGE_COLUMNS = [
  { header: "QUEUE", cell: (m: MessageView) => m.queueId, right: true },
  { header: "OFFSET", cell: (m: MessageView) => m.queueOffset, right: true },
  { header: "MSG ID", cell: (m: MessageView) => m.msgId },
  { header: "TAGS", cell: (m: MessageView) => m.tags },
  { header: "KEYS", cell: (m: MessageView) => m.keys.join(" ") },
  { header: "STORED", cell: (m: MessageView) => formatTime(m.storeTimestamp) },
  { header: "BODY", cell: (m: MessageView) => (m.bodyEncoding === "base64" ? `<${m.bodySize} bytes binary>` : clip(m.body, 50)) },
];

/** How `msg get` found a message. */
interface Lookup {
  by: "offsetId" | "uniqueKey";
  /** Set for a unique key: the stored copies of it found (the first stored is shown). */
  matches?: number;
}

/** A store time: ms since the epoch, or an ISO 8601 time; parsed to ms. */
const TimeFlag = v.union([
  v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number), v.safeInteger()),
  v.pipe(v.string(), v.check((t) => /^\d{4}-\d\d-\d\d/.test(t) && !Number.isNaN(Date.parse(t))), v.transform((t) => Date.parse(t))),
], "expected ms since the epoch or an ISO 8601 time such as 2025-01-31T12:00:00Z");

const get = {
  summary: "Show one message by its message id or unique key",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq msg get --id <msgId> [--topic <topic>] [flags]",
      summary: "Shows a stored message: where it is, when it was born and stored, its properties and its body. The id is the " +
        "offset message id (what the broker answers a send) or the unique key (what RocketMQ clients show as the message id), " +
        "which the broker's key index finds at any age.",
      flags: {
        id: { description: "Offset message id (32 or 56 hex characters) or unique key (32 hex characters)", valueName: "msgId", short: "i" },
        topic: { description: "Look for a unique key in this topic only (default: every topic)", valueName: "topic", short: "t" },
        ...ADMIN_FLAGS,
      },
      schema: v.object({
        id: v.pipe(v.string(), v.regex(/^([0-9a-fA-F]{32}|[0-9a-fA-F]{56})$/, "expected an offset message id (32 or 56 hex characters) or a unique key (32 hex characters)")),
        topic: v.optional(TopicName),
        ...ADMIN_ENTRIES,
      }),
    }, args);
    const { message: m, lookup } = await adminClient(flags).get<{ message: MessageView; lookup: Lookup }>(`/api/messages/${segment(flags.id)}`, { topic: flags.topic });
    if (flags.json) {
      await printJson({ message: m, lookup });
      return 0;
    }
    if (lookup.by === "uniqueKey" && lookup.matches !== undefined && lookup.matches > 1) {
      await write(`Found by unique key: ${lookup.matches} stored copies (retries or re-sends), the first stored is shown\n\n`);
    }
    await write(keyValues([
      ["Message id", m.msgId],
      ["Topic", m.topic],
      ["Queue", `${m.queueId} offset ${m.queueOffset}`],
      ["Tags", m.tags],
      ["Keys", m.keys.join(" ")],
      ["Unique key", m.uniqueKey],
      ["Born", `${formatTime(m.bornTimestamp)} from ${m.bornHost}`],
      ["Stored", `${formatTime(m.storeTimestamp)} on ${m.storeHost}`],
      ["Reconsumed", m.reconsumeTimes],
      ["Properties", Object.entries(m.properties).map(([k, val]) => `${k}=${val}`).join(" ")],
      ["Body", `${m.bodySize} bytes${m.bodyEncoding === "base64" ? ", base64" : ""}`],
    ]));
    await write(`\n${m.body}\n`);
    return 0;
  },
};

const queryKey = {
  summary: "Find a topic's messages by key",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq msg query-key --topic <topic> --key <key> [flags]",
      summary: "Finds messages of a topic with a key (or unique key), newest first, at any age, through the broker's key index; " +
        "the answer says when it is not every match (more than --limit, or a lookup cut short).",
      flags: {
        topic: { description: "Topic name", valueName: "topic", short: "t" },
        key: { description: "Message key", valueName: "key", short: "k" },
        limit: { description: "Most messages shown (1 to 100)", default: "32", valueName: "n" },
        begin: { description: "Stored at or after this time: ms since the epoch or ISO 8601 (default: any)", valueName: "time" },
        end: { description: "Stored at or before this time (default: any)", valueName: "time" },
        ...ADMIN_FLAGS,
      },
      schema: v.object({
        topic: TopicName,
        key: v.pipe(v.string(), v.minLength(1, "must not be empty")),
        limit: integerFlag(1, 100),
        begin: v.optional(TimeFlag),
        end: v.optional(TimeFlag),
        ...ADMIN_ENTRIES,
      }),
    }, args);
    const result = await adminClient(flags).get<{ messages: MessageView[]; matched: number; complete: boolean; note: string }>(
      "/api/messages",
      { topic: flags.topic, key: flags.key, limit: flags.limit, begin: flags.begin, end: flags.end },
    );
    if (flags.json) await printJson(result);
    else {
      await write(table(MESSAGE_COLUMNS, result.messages));
      await write(`${result.matched} match(es)${result.complete ? "" : `; ${result.note}`}\n`);
    }
    return 0;
  },
};

interface Page {
  topic: string;
  queueId: number;
  offset: number;
  minOffset: number;
  maxOffset: number;
  nextOffset: number;
  messages: MessageView[];
}

const browse = {
  summary: "Page through a topic's stored messages",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq msg browse --topic <topic> [--queue <id>] [--offset <n>] [flags]",
      summary: "Lists stored messages of a queue from an offset (default: the oldest), or of every queue when --queue is not given.",
      flags: {
        topic: { description: "Topic name", valueName: "topic", short: "t" },
        queue: { description: "Queue id (default: every queue)", valueName: "id", short: "q" },
        offset: { description: "First offset (default: each queue's oldest)", valueName: "n" },
        limit: { description: "Most messages per queue (1 to 100)", default: "20", valueName: "n" },
        ...ADMIN_FLAGS,
      },
      schema: v.object({
        topic: TopicName,
        queue: v.optional(integerFlag(0, 0x7fffffff)),
        offset: v.optional(integerFlag(0)),
        limit: integerFlag(1, 100),
        ...ADMIN_ENTRIES,
      }),
    }, args);
    const client = adminClient(flags);
    let queueIds: number[];
    if (flags.queue !== undefined) queueIds = [flags.queue];
    else {
      const status = await client.get<{ queues: Array<{ queueId: number }> }>(`/api/topics/${segment(flags.topic)}/status`);
      queueIds = status.queues.map((q) => q.queueId);
    }
    const pages: Page[] = [];
    for (const queueId of queueIds) {
      pages.push(await client.get<Page>(`/api/topics/${segment(flags.topic)}/queues/${queueId}/messages`, { offset: flags.offset, limit: flags.limit }));
    }
    if (flags.json) {
      await printJson(flags.queue !== undefined ? pages[0] : { topic: flags.topic, pages });
      return 0;
    }
    await write(table(MESSAGE_COLUMNS, pages.flatMap((p) => p.messages)));
    for (const p of pages) if (p.nextOffset < p.maxOffset) await write(`Queue ${p.queueId}: more from --offset ${p.nextOffset} (max ${p.maxOffset})\n`);
    return 0;
  },
};

/** `rmq msg …`. */
export const msg = group("msg", "Look up and browse stored messages", { get, "query-key": queryKey, browse });
