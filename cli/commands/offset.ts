/**
 * `rmq offset reset`: moves a consumer group's committed offsets to the start, the end or a time.
 *
 * @module
 */
import * as v from "valibot";
import { GroupName, TopicName } from "../../core/protocol/headers.ts";
import { segment } from "../_admin_client.ts";
import { ADMIN_ENTRIES, ADMIN_FLAGS, adminClient, group, parse } from "../_command.ts";
import { CliError, printJson, progress, table, write } from "../_output.ts";

/** `earliest`, `latest`, ms since the epoch, or an ISO 8601 time. */
const ResetTarget = v.union([
  v.picklist(["earliest", "latest"]),
  v.pipe(v.string(), v.regex(/^\d+$/), v.transform(Number), v.safeInteger()),
  v.pipe(v.string(), v.check((t) => /^\d{4}-\d\d-\d\d/.test(t) && !Number.isNaN(Date.parse(t))), v.transform((t) => new Date(t).toISOString())),
], "expected earliest, latest, ms since the epoch or an ISO 8601 time such as 2025-01-31T12:00:00Z");

interface ResetResult {
  group: string;
  topic: string;
  to: string | number;
  queues: Array<{ queueId: number; previous: number; offset: number }>;
}

const reset = {
  summary: "Reset a group's offsets on one or more topics",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq offset reset --group <group> --topic <topic>[,<topic>…] --to <earliest|latest|time> [flags]",
      summary: "Moves the group's committed offset of every queue of each topic to its first message, past its last, " +
        "or to the first message stored at or after a time. Stop the group's consumers first (or pass --force).",
      flags: {
        group: { description: "Consumer group", valueName: "group", short: "g" },
        topic: { description: "Topics, comma separated", valueName: "topic,…", short: "t" },
        to: { description: "earliest, latest, ms since the epoch, or an ISO 8601 time", valueName: "target" },
        force: { description: "Reset even while members are online (they may write their old offsets back)", type: "boolean" },
        ...ADMIN_FLAGS,
      },
      schema: v.object({
        group: GroupName,
        topic: v.pipe(v.string(), v.transform((t) => t.split(",").map((s) => s.trim()).filter((s) => s !== "")), v.array(TopicName), v.minLength(1, "expected a topic")),
        to: ResetTarget,
        force: v.optional(v.boolean(), false),
        ...ADMIN_ENTRIES,
      }),
    }, args);
    const client = adminClient(flags);
    const bar = progress(`Resetting ${flags.group}`, flags.topic.length);
    const results: ResetResult[] = [];
    try {
      for (const topic of flags.topic) {
        results.push(await client.request<ResetResult>("POST", `/api/groups/${segment(flags.group)}/reset-offset`, { topic, to: flags.to, force: flags.force }));
        bar.tick();
      }
    } catch (error) {
      // The API names its body field; here the remedy is a flag.
      if (error instanceof CliError && error.httpStatus === 409) {
        throw new CliError(error.message.replace(/pass "force": true/, "pass --force"), error.exitCode, { cause: error, httpStatus: 409 });
      }
      throw error;
    } finally {
      bar.done();
    }
    if (flags.json) {
      await printJson(flags.topic.length === 1 ? results[0] : { results });
      return 0;
    }
    const rows = results.flatMap((r) => r.queues.map((q) => ({ topic: r.topic, ...q })));
    await write(table([
      { header: "TOPIC", cell: (r: typeof rows[number]) => r.topic },
      { header: "QUEUE", cell: (r) => r.queueId, right: true },
      { header: "PREVIOUS", cell: (r) => (r.previous < 0 ? "-" : r.previous), right: true },
      { header: "OFFSET", cell: (r) => r.offset, right: true },
    ], rows));
    await write(`Reset ${rows.length} queue(s) of group "${flags.group}" to ${flags.to}\n`);
    return 0;
  },
};

/** `rmq offset …`. */
export const offset = group("offset", "Change consumer group offsets", { reset });
