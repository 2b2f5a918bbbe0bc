/**
 * `rmq txn list`: transactional half messages still unresolved, per topic and producer group, with
 * `--topic` and `--group` the half messages of that pair.
 *
 * @module
 */
import * as v from "valibot";
import { GroupName, TopicName } from "../../core/protocol/headers.ts";
import { ADMIN_ENTRIES, ADMIN_FLAGS, adminClient, group as commandGroup, parse } from "../_command.ts";
import { formatDuration, formatTime, keyValues, printJson, table, write } from "../_output.ts";

/** A row of `GET /api/transactions`. */
interface PendingRow {
  topic: string;
  producerGroup: string;
  pending: number;
  oldestAgeMs: number;
  maxCheckTimes: number;
  nextCheckAt: number;
}

/** One pending half message (`?topic=&group=`). */
interface HalfRow {
  transactionId: string;
  queueId: number;
  halfQueueOffset: number;
  storeTimestamp: number;
  checkTimes: number;
  nextCheckAt: number;
}

/** `GET /api/transactions`. */
interface Transactions {
  brokerName: string;
  settings: { transactionTimeoutMs: number; transactionCheckMax: number; transactionCheckIntervalMs: number; transactionCheckMaxPolicy: string };
  counters: { halfMessages: number; committed: number; rolledBack: number; checks: number; resolvedByPolicy: number };
  totalPending: number;
  pending: PendingRow[];
  producers: Array<{ clientId: string; groups: string[]; remoteAddress: string }>;
  halves?: HalfRow[];
}

function dueText(at: number, now: number): string {
  return at > now ? `in ${formatDuration(at - now)}` : "due";
}

const list = {
  summary: "List unresolved transactions per topic and producer group",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq txn list [--topic <topic> --group <group>] [flags]",
      summary: "Lists the transactional half messages still waiting for a commit or rollback on the broker, per real topic and producer group, " +
        "with the counters since the broker started. With --topic and --group, lists that pair's half messages.",
      flags: {
        topic: { description: "With --group: list this topic's half messages", valueName: "topic", short: "t" },
        group: { description: "With --topic: of this producer group", valueName: "group", short: "g" },
        limit: { description: "Most half messages listed", valueName: "n", default: "100" },
        ...ADMIN_FLAGS,
      },
      schema: v.pipe(
        v.object({
          topic: v.optional(TopicName),
          group: v.optional(GroupName),
          limit: v.optional(v.pipe(v.string(), v.regex(/^\d+$/, "expected a whole number")), "100"),
          ...ADMIN_ENTRIES,
        }),
        v.check((f) => (f.topic === undefined) === (f.group === undefined), "--topic and --group go together"),
      ),
    }, args);
    const result = await adminClient(flags).get<Transactions>("/api/transactions", { topic: flags.topic, group: flags.group, limit: flags.limit });
    if (flags.json) {
      await printJson(result);
      return 0;
    }
    const now = Date.now();
    const c = result.counters;
    await write(keyValues([
      ["Broker", result.brokerName],
      ["Pending", result.totalPending],
      ["Since start", `${c.halfMessages} half, ${c.committed} committed, ${c.rolledBack} rolled back, ${c.checks} checks, ${c.resolvedByPolicy} resolved by policy`],
      ["Policy", `${result.settings.transactionCheckMaxPolicy} after ${result.settings.transactionCheckMax} checks, first after ${result.settings.transactionTimeoutMs} ms, then every ${result.settings.transactionCheckIntervalMs} ms`],
      ["Producers", result.producers.length === 0 ? "none connected" : result.producers.map((p) => `${p.clientId} (${p.groups.join(",") || "replies only"})`).join(", ")],
    ]) + "\n");
    if (result.halves !== undefined) {
      await write(table([
        { header: "TRANSACTION ID", cell: (h: HalfRow) => h.transactionId },
        { header: "QUEUE", cell: (h) => h.queueId, right: true },
        { header: "HALF OFFSET", cell: (h) => h.halfQueueOffset, right: true },
        { header: "STORED", cell: (h) => formatTime(h.storeTimestamp) },
        { header: "CHECKS", cell: (h) => h.checkTimes, right: true },
        { header: "NEXT CHECK", cell: (h) => dueText(h.nextCheckAt, now) },
      ], result.halves));
      return 0;
    }
    await write(table([
      { header: "TOPIC", cell: (r: PendingRow) => r.topic },
      { header: "PRODUCER GROUP", cell: (r) => r.producerGroup },
      { header: "PENDING", cell: (r) => r.pending, right: true },
      { header: "OLDEST", cell: (r) => formatDuration(r.oldestAgeMs), right: true },
      { header: "CHECKS", cell: (r) => r.maxCheckTimes, right: true },
      { header: "NEXT CHECK", cell: (r) => dueText(r.nextCheckAt, now) },
    ], result.pending));
    return 0;
  },
};

/** `rmq txn …`. */
export const txn = commandGroup("txn", "Inspect transactional messages", { list });
