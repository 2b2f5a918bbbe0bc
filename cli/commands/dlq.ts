/**
 * `rmq dlq list|resend`: a consumer group's dead letters (`%DLQ%<group>`), browsed and sent back to
 * their original topics.
 *
 * @module
 */
import * as v from "valibot";
import { dlqTopic } from "../../core/model/system_topics.ts";
import { GroupName } from "../../core/protocol/headers.ts";
import { integerFlag } from "../../server/_flags.ts";
import { type AdminClient, segment } from "../_admin_client.ts";
import { ADMIN_ENTRIES, ADMIN_FLAGS, adminClient, group, parse } from "../_command.ts";
import { CliError, clip, ExitCode, formatTime, printJson, progress, table, write } from "../_output.ts";
import type { MessageView } from "./msg.ts";

const GROUP_FLAG = { group: { description: "Consumer group whose dead letters to use", valueName: "group", short: "g" } };
const PAGE = 100;

interface Page {
  nextOffset: number;
  maxOffset: number;
  messages: MessageView[];
}

/**
 * Reads a group's dead letters, oldest first per queue.
 *
 * @returns The dead letters (at most `limit`), and how many are stored in all.
 */
async function deadLetters(client: AdminClient, groupName: string, limit: number): Promise<{ messages: MessageView[]; total: number }> {
  const topic = segment(dlqTopic(groupName));
  let queues: Array<{ queueId: number; messages: number; minOffset: number }>;
  try {
    queues = (await client.get<{ queues: typeof queues }>(`/api/topics/${topic}/status`)).queues;
  } catch (error) {
    // No dead-letter topic: the group never dead-lettered a message.
    if (error instanceof CliError && error.httpStatus === 404) return { messages: [], total: 0 };
    throw error;
  }
  const total = queues.reduce((n, q) => n + q.messages, 0);
  const messages: MessageView[] = [];
  for (const queue of queues) {
    let offset = queue.minOffset;
    while (messages.length < limit) {
      const page = await client.get<Page>(`/api/topics/${topic}/queues/${queue.queueId}/messages`, { offset, limit: Math.min(PAGE, limit - messages.length) });
      messages.push(...page.messages);
      if (page.messages.length === 0 || page.nextOffset >= page.maxOffset) break;
      offset = page.nextOffset;
    }
  }
  return { messages, total };
}

const list = {
  summary: "List a group's dead letters",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq dlq list --group <group> [flags]",
      summary: "Lists the dead letters of a consumer group: messages that failed every redelivery, with their original topic.",
      flags: { ...GROUP_FLAG, limit: { description: "Most dead letters shown", default: "100", valueName: "n" }, ...ADMIN_FLAGS },
      schema: v.object({ group: GroupName, limit: integerFlag(1, 100_000), ...ADMIN_ENTRIES }),
    }, args);
    const { messages, total } = await deadLetters(adminClient(flags), flags.group, flags.limit);
    if (flags.json) {
      await printJson({ group: flags.group, topic: dlqTopic(flags.group), total, messages });
      return 0;
    }
    await write(table([
      { header: "MSG ID", cell: (m: MessageView) => m.msgId },
      { header: "ORIGINAL TOPIC", cell: (m) => m.properties.RETRY_TOPIC },
      { header: "RECONSUMED", cell: (m) => m.reconsumeTimes, right: true },
      { header: "KEYS", cell: (m) => m.keys.join(" ") },
      { header: "STORED", cell: (m) => formatTime(m.storeTimestamp) },
      { header: "BODY", cell: (m) => (m.bodyEncoding === "base64" ? `<${m.bodySize} bytes binary>` : clip(m.body, 40)) },
    ], messages));
    await write(`${total} dead letter(s) for group "${flags.group}"${messages.length < total ? `, ${messages.length} shown` : ""}\n`);
    return 0;
  },
};

interface Resent {
  deadLetterId: string;
  topic: string;
  msgId: string;
  queueId: number;
  queueOffset: number;
}

const resend = {
  summary: "Send dead letters back to their original topics",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq dlq resend --group <group> (--id <msgId> | --all) [flags]",
      summary: "Sends one dead letter (--id), or every dead letter of the group (--all), back to its original topic as a new message. " +
        "The dead letters stay in the dead-letter topic.",
      flags: {
        ...GROUP_FLAG,
        id: { description: "Message id of the dead letter", valueName: "msgId", short: "i" },
        all: { description: "Resend every dead letter of the group", type: "boolean" },
        ...ADMIN_FLAGS,
      },
      schema: v.object({
        group: GroupName,
        id: v.optional(v.pipe(v.string(), v.regex(/^([0-9a-fA-F]{32}|[0-9a-fA-F]{56})$/, "expected an offset message id: 32 or 56 hex characters"))),
        all: v.optional(v.boolean(), false),
        ...ADMIN_ENTRIES,
      }),
    }, args);
    if ((flags.id === undefined) === !flags.all) throw new CliError("Give either --id <msgId> or --all\nUsage: rmq dlq resend --group <group> (--id <msgId> | --all) [flags]", ExitCode.USAGE);
    const client = adminClient(flags);
    const path = `/api/dlq/${segment(flags.group)}/resend`;
    if (flags.id !== undefined) {
      const result = await client.request<Resent>("POST", path, { msgId: flags.id });
      if (flags.json) await printJson(result);
      else await write(`Resent ${result.deadLetterId} to "${result.topic}" as ${result.msgId} (queue ${result.queueId}, offset ${result.queueOffset})\n`);
      return 0;
    }
    const { messages } = await deadLetters(client, flags.group, Number.MAX_SAFE_INTEGER);
    const resent: Resent[] = [];
    const failed: Array<{ msgId: string; error: string }> = [];
    const bar = progress(`Resending dead letters of ${flags.group}`, messages.length);
    try {
      for (const dead of messages) {
        try {
          resent.push(await client.request<Resent>("POST", path, { msgId: dead.msgId }));
        } catch (error) {
          // Unreachable server: stop; a refused message: note it and go on.
          if (error instanceof CliError && error.exitCode === ExitCode.UNREACHABLE) throw error;
          failed.push({ msgId: dead.msgId, error: (error as Error).message });
        }
        bar.tick();
      }
    } finally {
      bar.done();
    }
    if (flags.json) await printJson({ group: flags.group, total: messages.length, resent, failed });
    else {
      await write(`Resent ${resent.length} of ${messages.length} dead letter(s) of group "${flags.group}"\n`);
      for (const f of failed) await write(`  failed ${f.msgId}: ${f.error}\n`);
    }
    return failed.length === 0 ? ExitCode.OK : ExitCode.FAILED;
  },
};

/** `rmq dlq …`. */
export const dlq = group("dlq", "Browse and resend dead letters", { list, resend });
