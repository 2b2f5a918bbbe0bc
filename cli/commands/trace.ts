/**
 * `rmq trace <msgId|key> --topic <topic>`: a message's life as a timeline, from its trace records
 * (the admin API's `GET /api/messages/:id/trace`).
 *
 * @module
 */
import * as v from "valibot";
import { TopicName } from "../../core/protocol/headers.ts";
import type { TraceAnswer, TraceEventJson } from "../../server/admin/trace.ts";
import { segment } from "../_admin_client.ts";
import { ADMIN_ENTRIES, ADMIN_FLAGS, adminClient, type Command, parse } from "../_command.ts";
import { printJson, table, write } from "../_output.ts";

const spec = {
  usage: "rmq trace <msgId|key> --topic <topic> [flags]",
  summary: "Shows a message's life as a timeline: its send, each delivery to each group with its outcome, transaction commit or " +
    "rollback and its move to a dead-letter topic, from the trace records of clients with enableTrace and of a broker with " +
    "traceTopicEnable. The message is found by its unique key (the id RocketMQ clients show), offset message id or a key.",
  flags: {
    id: { description: "Unique key, offset message id or key (also accepted as the first argument)", valueName: "msgId|key", short: "i" },
    topic: { description: "The message's topic", valueName: "topic", short: "t" },
    ...ADMIN_FLAGS,
  },
  schema: v.object({
    id: v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(1024, "must be at most 1024 characters")),
    topic: TopicName,
    ...ADMIN_ENTRIES,
  }),
};

/** The time of an event with milliseconds, local time. */
function when(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

const COLUMNS = [
  { header: "TIME", cell: (e: TraceEventJson) => when(e.time) },
  { header: "STEP", cell: (e: TraceEventJson) => e.step },
  { header: "GROUP", cell: (e: TraceEventJson) => e.group },
  { header: "CLIENT", cell: (e: TraceEventJson) => e.clientId ?? (e.type === "EndTransaction" || e.type === "DeadLetter" ? "(broker)" : null) },
  { header: "ATTEMPT", cell: (e: TraceEventJson) => e.attempt, right: true },
  { header: "COST", cell: (e: TraceEventJson) => (e.costMs === null ? null : `${e.costMs}ms`), right: true },
  { header: "HOST", cell: (e: TraceEventJson) => e.storeHost },
  { header: "DETAIL", cell: (e: TraceEventJson) => e.detail },
];

/** `rmq trace`. */
export const trace: Command = {
  summary: "Show a message's life (send, deliveries, retries, dead letter) as a timeline",
  async run(args) {
    const first = args[0];
    const flags = parse(spec, first !== undefined && !first.startsWith("-") ? ["--id", first, ...args.slice(1)] : args);
    const answer = await adminClient(flags).get<TraceAnswer>(`/api/messages/${segment(flags.id)}/trace`, { topic: flags.topic });
    if (flags.json) {
      await printJson(answer);
      return 0;
    }
    for (const m of answer.messages) {
      await write(`Message ${m.msgId} of "${answer.topic}"${m.keys.length > 0 ? `, keys ${m.keys.join(" ")}` : ""}${m.tags === null ? "" : `, tag ${m.tags}`}\n`);
    }
    if (answer.messages.length > 0) await write("\n");
    if (answer.events.length > 0) await write(table(COLUMNS, answer.events));
    await write(`${answer.events.length} step(s). ${answer.note}\n`);
    return answer.messages.length === 0 ? 1 : 0;
  },
};
