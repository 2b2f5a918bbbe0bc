/**
 * `rmq topic list|create|delete|route|status`: topics through the admin API.
 *
 * @module
 */
import * as v from "valibot";
import { TopicMessageTypeName, TopicName } from "../../core/protocol/headers.ts";
import { integerFlag } from "../../server/_flags.ts";
import { segment } from "../_admin_client.ts";
import { ADMIN_ENTRIES, ADMIN_FLAGS, adminClient, group, parse } from "../_command.ts";
import { formatTime, keyValues, printJson, table, write } from "../_output.ts";
import { CLUSTER_FLAG, ClusterEntry, type ClusterResult, clusterBrokersText } from "../_cluster_flag.ts";

const TOPIC_FLAG = { topic: { description: "Topic name", valueName: "topic", short: "t" } };

/** The flag that shows retry, dead-letter and system topics, which every topic view hides by default. */
export const ALL_TOPICS_FLAG = { description: "Include retry (%RETRY%…), dead-letter (%DLQ%…) and system topics", type: "boolean" as const };

/**
 * The topics a view shows: ordinary topics only, or every one with `--all` (the dashboard's "show
 * system topics" follows the same rule).
 *
 * @param topics Topics with their kind.
 * @param all Whether `--all` was given.
 * @returns The topics shown.
 */
export function shownTopics<T extends { kind: string }>(topics: readonly T[], all: boolean): T[] {
  return all ? [...topics] : topics.filter((t) => t.kind === "normal");
}

interface TopicSummary {
  topic: string;
  kind: string;
  readQueueNums: number | null;
  writeQueueNums: number | null;
  perm: string | null;
  order: boolean;
  retentionHours: number | null;
  messageType: string;
  queues: number;
  messages: number;
  maxOffset: number;
  brokers: string[];
}

const TOPIC_COLUMNS = [
  { header: "TOPIC", cell: (t: TopicSummary) => t.topic },
  { header: "KIND", cell: (t: TopicSummary) => t.kind },
  { header: "QUEUES(R/W)", cell: (t: TopicSummary) => t.readQueueNums === null ? "-" : `${t.readQueueNums}/${t.writeQueueNums}`, right: true },
  { header: "PERM", cell: (t: TopicSummary) => t.perm },
  { header: "ORDER", cell: (t: TopicSummary) => (t.order ? "yes" : "no") },
  { header: "RETENTION", cell: (t: TopicSummary) => (t.retentionHours === null ? "default" : `${t.retentionHours}h`) },
  { header: "MESSAGES", cell: (t: TopicSummary) => t.messages, right: true },
  { header: "WRITTEN", cell: (t: TopicSummary) => t.maxOffset, right: true },
  { header: "BROKERS", cell: (t: TopicSummary) => t.brokers.join(",") },
];

const list = {
  summary: "List topics with queue counts and stored messages",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq topic list [flags]",
      summary: "Lists topics: queues, permission, messages stored and written, and the brokers serving them. " +
        "Retry, dead-letter and system topics are hidden unless --all.",
      flags: { ...ADMIN_FLAGS, all: ALL_TOPICS_FLAG },
      schema: v.object({ ...ADMIN_ENTRIES, all: v.optional(v.boolean(), false) }),
    }, args);
    const { topics } = await adminClient(flags).get<{ topics: TopicSummary[] }>("/api/topics");
    const shown = shownTopics(topics, flags.all);
    if (flags.json) await printJson({ topics: shown });
    else await write(table(TOPIC_COLUMNS, shown));
    return 0;
  },
};

const create = {
  summary: "Create a topic or update its queues and permission",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq topic create --topic <topic> [flags]",
      summary: "Creates a topic on the broker, or updates an existing one (unset values stay as they are). " +
        "With --cluster, on every master of the cluster.",
      flags: {
        ...TOPIC_FLAG,
        queues: { description: "Read and write queue count (default: 4 for a new topic)", valueName: "n", short: "q" },
        "read-queues": { description: "Read queue count", valueName: "n" },
        "write-queues": { description: "Write queue count", valueName: "n" },
        perm: { description: "Permission: rw, r, w or - (no access)", valueName: "perm" },
        order: { description: "Mark the topic as ordered", type: "boolean" },
        "retention-hours": { description: "Serve the topic's messages this long (0: the broker's fileReservedTimeHours)", valueName: "h" },
        "message-type": { description: "What RocketMQ 5 clients may send: NORMAL, FIFO, DELAY, TRANSACTION or MIXED (every type)", valueName: "type" },
        ...CLUSTER_FLAG,
        ...ADMIN_FLAGS,
      },
      schema: v.object({
        topic: TopicName,
        queues: v.optional(integerFlag(1, 1024)),
        readQueues: v.optional(integerFlag(1, 1024)),
        writeQueues: v.optional(integerFlag(1, 1024)),
        perm: v.optional(v.pipe(v.picklist(["rw", "r", "w", "-"], "expected rw, r, w or -"), v.transform((p) => (p === "-" ? "" : p)))),
        order: v.optional(v.boolean()),
        retentionHours: v.optional(integerFlag(0, 87_600)),
        messageType: v.optional(TopicMessageTypeName),
        cluster: ClusterEntry,
        ...ADMIN_ENTRIES,
      }),
    }, args);
    const body = {
      topic: flags.topic,
      queueNums: flags.queues,
      readQueueNums: flags.readQueues,
      writeQueueNums: flags.writeQueues,
      perm: flags.perm,
      order: flags.order,
      retentionHours: flags.retentionHours,
      messageType: flags.messageType,
    };
    if (flags.cluster !== undefined) {
      const result = await adminClient(flags).request<ClusterResult & { topic: string }>("POST", "/api/topics", { ...body, cluster: flags.cluster });
      if (flags.json) await printJson(result);
      else {
        const created = result.brokers.filter((b) => b.created).map((b) => b.brokerName);
        await write(`Topic "${result.topic}" set on ${clusterBrokersText(result)}${created.length === 0 ? "" : ` (created on ${created.join(", ")})`}\n`);
      }
      return 0;
    }
    const result = await adminClient(flags).request<{ created: boolean; topic: TopicSummary }>("POST", "/api/topics", body);
    if (flags.json) await printJson(result);
    else {
      const t = result.topic;
      const retention = t.retentionHours === null ? "" : `, retention ${t.retentionHours} h`;
      const type = t.messageType === "MIXED" ? "" : `, ${t.messageType} messages`;
      await write(`${result.created ? "Created" : "Updated"} topic "${t.topic}": ${t.readQueueNums} read / ${t.writeQueueNums} write queues, perm ${t.perm}${t.order ? ", ordered" : ""}${retention}${type}\n`);
    }
    return 0;
  },
};

const remove = {
  summary: "Delete a topic and its stored queues",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq topic delete --topic <topic> [flags]",
      summary: "Deletes a topic from the broker and the NameServer's routes (with --cluster, from every master of the cluster). " +
        "Its messages can no longer be pulled.",
      flags: { ...TOPIC_FLAG, ...CLUSTER_FLAG, ...ADMIN_FLAGS },
      schema: v.object({ topic: TopicName, cluster: ClusterEntry, ...ADMIN_ENTRIES }),
    }, args);
    if (flags.cluster !== undefined) {
      const result = await adminClient(flags).request<ClusterResult & { deleted: string }>(
        "DELETE",
        `/api/topics/${segment(flags.topic)}?cluster=${encodeURIComponent(flags.cluster)}`,
      );
      if (flags.json) await printJson(result);
      else await write(`Deleted topic "${result.deleted}" from ${clusterBrokersText(result)}\n`);
      return 0;
    }
    const result = await adminClient(flags).request<{ deleted: string; broker: string }>("DELETE", `/api/topics/${segment(flags.topic)}`);
    if (flags.json) await printJson(result);
    else await write(`Deleted topic "${result.deleted}" from broker "${result.broker}"\n`);
    return 0;
  },
};

interface Route {
  topic: string;
  source: string;
  queueDatas: Array<{ brokerName: string; readQueueNums: number; writeQueueNums: number; perm: number }>;
  brokerDatas: Array<{ cluster: string; brokerName: string; brokerAddrs: Record<string, string> }>;
}

const route = {
  summary: "Show which brokers serve a topic's queues",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq topic route --topic <topic> [flags]",
      summary: "Shows the topic's route: each broker group with its queue counts, permission and addresses.",
      flags: { ...TOPIC_FLAG, ...ADMIN_FLAGS },
      schema: v.object({ topic: TopicName, ...ADMIN_ENTRIES }),
    }, args);
    const result = await adminClient(flags).get<Route>(`/api/topics/${segment(flags.topic)}/route`);
    if (flags.json) {
      await printJson(result);
      return 0;
    }
    const rows = result.queueDatas.map((q) => ({ ...q, broker: result.brokerDatas.find((b) => b.brokerName === q.brokerName) }));
    await write(table([
      { header: "BROKER", cell: (r: typeof rows[number]) => r.brokerName },
      { header: "CLUSTER", cell: (r) => r.broker?.cluster },
      { header: "READ", cell: (r) => r.readQueueNums, right: true },
      { header: "WRITE", cell: (r) => r.writeQueueNums, right: true },
      { header: "PERM", cell: (r) => `${r.perm & 4 ? "r" : "-"}${r.perm & 2 ? "w" : "-"}` },
      { header: "ADDRESSES", cell: (r) => Object.entries(r.broker?.brokerAddrs ?? {}).map(([id, a]) => `${id}=${a}`).join(" ") },
    ], rows));
    return 0;
  },
};

interface TopicStatus {
  topic: string;
  kind: string;
  messages: number;
  lastStoreTime: number | null;
  queues: Array<{ brokerName: string; queueId: number; minOffset: number; maxOffset: number; messages: number; lastStoreTime: number | null }>;
}

const status = {
  summary: "Show a topic's per-queue offsets",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq topic status --topic <topic> [flags]",
      summary: "Shows each queue of the topic on the broker: min and max offset, messages stored, newest store time.",
      flags: { ...TOPIC_FLAG, ...ADMIN_FLAGS },
      schema: v.object({ topic: TopicName, ...ADMIN_ENTRIES }),
    }, args);
    const result = await adminClient(flags).get<TopicStatus>(`/api/topics/${segment(flags.topic)}/status`);
    if (flags.json) {
      await printJson(result);
      return 0;
    }
    await write(keyValues([["Topic", result.topic], ["Kind", result.kind], ["Messages", result.messages], ["Last stored", formatTime(result.lastStoreTime)]]) + "\n");
    await write(table([
      { header: "BROKER", cell: (q: TopicStatus["queues"][number]) => q.brokerName },
      { header: "QUEUE", cell: (q) => q.queueId, right: true },
      { header: "MIN", cell: (q) => q.minOffset, right: true },
      { header: "MAX", cell: (q) => q.maxOffset, right: true },
      { header: "MESSAGES", cell: (q) => q.messages, right: true },
      { header: "LAST STORED", cell: (q) => formatTime(q.lastStoreTime) },
    ], result.queues));
    return 0;
  },
};

/** `rmq topic …`. */
export const topic = group("topic", "Create, inspect and delete topics", { list, create, update: { ...create, summary: "Update a topic (the same as create: unset values stay as they are)" }, delete: remove, route, status });
