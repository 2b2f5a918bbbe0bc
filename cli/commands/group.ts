/**
 * `rmq group list|progress`: consumer groups, their members and lag.
 *
 * @module
 */
import * as v from "valibot";
import { GroupName } from "../../core/protocol/headers.ts";
import { segment } from "../_admin_client.ts";
import { integerFlag } from "../../server/_flags.ts";
import { ADMIN_ENTRIES, ADMIN_FLAGS, adminClient, group as commandGroup, parse } from "../_command.ts";
import { keyValues, printJson, table, write } from "../_output.ts";
import { CLUSTER_FLAG, ClusterEntry, clusterBrokersText } from "../_cluster_flag.ts";

/** A group of `GET /api/groups`. */
export interface GroupSummary {
  group: string;
  members: number;
  consumeType: string | null;
  messageModel: string | null;
  topics: string[];
  totalLag: number;
  inconsistent: boolean;
}

/** Columns of the group table, shared with `rmq monitor`. */
export const GROUP_COLUMNS = [
  { header: "GROUP", cell: (g: GroupSummary) => g.group },
  { header: "MEMBERS", cell: (g: GroupSummary) => g.members, right: true },
  { header: "TYPE", cell: (g: GroupSummary) => g.consumeType },
  { header: "MODEL", cell: (g: GroupSummary) => g.messageModel },
  { header: "LAG", cell: (g: GroupSummary) => g.totalLag, right: true },
  { header: "TOPICS", cell: (g: GroupSummary) => g.topics.join(",") + (g.inconsistent ? "  (inconsistent subscriptions!)" : "") },
];

const list = {
  summary: "List consumer groups with members and lag",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq group list [flags]",
      summary: "Lists consumer groups with offsets or online members on the broker, with their total lag.",
      flags: ADMIN_FLAGS,
      schema: v.object(ADMIN_ENTRIES),
    }, args);
    const result = await adminClient(flags).get<{ groups: GroupSummary[] }>("/api/groups");
    if (flags.json) await printJson(result);
    else await write(table(GROUP_COLUMNS, result.groups));
    return 0;
  },
};

interface GroupDetail {
  group: string;
  brokerName: string;
  consumeType: string | null;
  messageModel: string | null;
  members: Array<{ clientId: string }>;
  subscriptions: Array<{ topic: string; expression?: string; subString?: string }>;
  inconsistency: unknown;
  totalLag: number;
  queues: Array<{ brokerName: string; topic: string; queueId: number; brokerOffset: number; consumerOffset: number; lag: number }>;
}

const progress = {
  summary: "Show a group's offsets and lag per queue",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq group progress --group <group> [flags]",
      summary: "Shows a consumer group's members and, per queue, the broker's offset, the group's committed offset and the lag.",
      flags: { group: { description: "Consumer group", valueName: "group", short: "g" }, ...ADMIN_FLAGS },
      schema: v.object({ group: GroupName, ...ADMIN_ENTRIES }),
    }, args);
    const detail = await adminClient(flags).get<GroupDetail>(`/api/groups/${segment(flags.group)}`);
    if (flags.json) {
      await printJson(detail);
      return 0;
    }
    await write(keyValues([
      ["Group", detail.group],
      ["Broker", detail.brokerName],
      ["Type", detail.consumeType],
      ["Model", detail.messageModel],
      ["Members", detail.members.length === 0 ? "none online" : detail.members.map((m) => m.clientId).join(", ")],
      ["Total lag", detail.totalLag],
      ...(detail.inconsistency === null ? [] : [["Inconsistent", detail.inconsistency] as const]),
    ]) + "\n");
    await write(table([
      { header: "TOPIC", cell: (q: GroupDetail["queues"][number]) => q.topic },
      { header: "BROKER", cell: (q) => q.brokerName },
      { header: "QUEUE", cell: (q) => q.queueId, right: true },
      { header: "BROKER OFFSET", cell: (q) => q.brokerOffset, right: true },
      { header: "CONSUMER OFFSET", cell: (q) => (q.consumerOffset < 0 ? "-" : q.consumerOffset), right: true },
      { header: "LAG", cell: (q) => q.lag, right: true },
    ], detail.queues));
    return 0;
  },
};

/** A group's settings, as `PUT /api/groups/:group/config` answers them. */
interface GroupConfig {
  groupName: string;
  consumeEnable: boolean;
  consumeMessageOrderly: boolean;
  retryMaxTimes: number;
  retryPolicy: { type: "EXPONENTIAL"; initialBackoffMs: number; maxBackoffMs: number; multiplier: number } | { type: "CUSTOMIZED"; backoffMs: number[] };
}

/** `exponential:<initialMs>:<maxMs>:<multiplier>` or `customized:<ms>,<ms>,…`. */
const RetryPolicyFlag = v.pipe(
  v.string(),
  v.regex(/^(exponential:\d+:\d+:\d+(\.\d+)?|customized:\d+(,\d+)*)$/i, 'expected "exponential:<initialMs>:<maxMs>:<multiplier>" or "customized:<ms>,<ms>,…"'),
  v.transform((text): GroupConfig["retryPolicy"] => {
    const [kind, ...rest] = text.split(":");
    if (kind!.toLowerCase() === "customized") return { type: "CUSTOMIZED", backoffMs: rest[0]!.split(",").map(Number) };
    return { type: "EXPONENTIAL", initialBackoffMs: Number(rest[0]), maxBackoffMs: Number(rest[1]), multiplier: Number(rest[2]) };
  }),
);

function describePolicy(policy: GroupConfig["retryPolicy"]): string {
  return policy.type === "CUSTOMIZED"
    ? `customized ${policy.backoffMs.join(", ")} ms`
    : `exponential from ${policy.initialBackoffMs} ms, x${policy.multiplier}, at most ${policy.maxBackoffMs} ms`;
}

const update = {
  summary: "Change a group's settings: FIFO, retry limit and policy, consuming on or off",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq group update --group <group> [flags]",
      summary: "Changes a consumer group's settings on the broker (what is left out stays as it is); " +
        "with --cluster, on every master of the cluster.",
      flags: {
        group: { description: "Consumer group", valueName: "group", short: "g" },
        fifo: { description: "FIFO: POP hands out one message of a message group at a time, in order (consumeMessageOrderly)", type: "boolean", negatable: true },
        "retry-max-times": { description: "Redeliveries before the dead-letter topic (retryMaxTimes, 0 to 64)", valueName: "n" },
        "retry-policy": { description: "Back-off of a message given back: exponential:<initialMs>:<maxMs>:<multiplier> or customized:<ms>,<ms>,…", valueName: "policy" },
        "consume-enable": { description: "Whether members may consume (consumeEnable)", type: "boolean", negatable: true },
        ...CLUSTER_FLAG,
        ...ADMIN_FLAGS,
      },
      schema: v.object({
        group: GroupName,
        fifo: v.optional(v.boolean()),
        retryMaxTimes: v.optional(integerFlag(0, 64)),
        retryPolicy: v.optional(RetryPolicyFlag),
        consumeEnable: v.optional(v.boolean()),
        cluster: ClusterEntry,
        ...ADMIN_ENTRIES,
      }),
    }, args);
    const body = {
      consumeMessageOrderly: flags.fifo,
      retryMaxTimes: flags.retryMaxTimes,
      retryPolicy: flags.retryPolicy,
      consumeEnable: flags.consumeEnable,
    };
    if (flags.cluster !== undefined) {
      const path = `/api/groups/${segment(flags.group)}/config?cluster=${encodeURIComponent(flags.cluster)}`;
      const changed = await adminClient(flags).request<{ group: string; cluster: string; brokers: Array<{ brokerName: string; address: string }> }>("PUT", path, body);
      if (flags.json) await printJson(changed);
      else await write(`Group "${changed.group}" changed on ${clusterBrokersText(changed)}\n`);
      return 0;
    }
    const result = await adminClient(flags).request<{ config: GroupConfig; brokerName: string }>("PUT", `/api/groups/${segment(flags.group)}/config`, body);
    if (flags.json) {
      await printJson(result);
      return 0;
    }
    const c = result.config;
    await write(keyValues([
      ["Group", c.groupName],
      ["Broker", result.brokerName],
      ["FIFO", c.consumeMessageOrderly ? "yes" : "no"],
      ["Retry max times", c.retryMaxTimes],
      ["Retry policy", describePolicy(c.retryPolicy)],
      ["Consume enabled", c.consumeEnable ? "yes" : "no"],
    ]) + "\n");
    return 0;
  },
};

/** `rmq group …`. */
export const group = commandGroup("group", "Inspect consumer groups and change their settings", { list, progress, update });
