/**
 * `rmq consume`: tails a topic with the client `PullConsumer` and long polling, printing each
 * message until Ctrl-C or `--count` messages; `--tag` or `--sql` says which.
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import { PullConsumer } from "../../client/pull_consumer.ts";
import type { MessageExt } from "../../core/model/message.ts";
import { compileFilter } from "../../core/model/message_filter.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import { GroupName, TopicName } from "../../core/protocol/headers.ts";
import { integerFlag } from "../../server/_flags.ts";
import { clientDial, clientFailure, type Command, CREDENTIAL_ENTRIES, CREDENTIAL_FLAGS, nameServers, NAMESRV_FLAG, NamesrvEntry, parse } from "../_command.ts";
import { CliError, ExitCode, formatTime, write } from "../_output.ts";

const UTF8 = new TextDecoder("utf-8", { fatal: true });
/** How long the broker may hold one pull while the queue is empty. */
const SUSPEND_MS = 15_000;

const spec = {
  usage: "rmq consume --topic <topic> [flags]",
  summary: "Tails a topic: pulls every queue with long polling and prints each message, until Ctrl-C or --count messages. " +
    "Offsets are not committed. With --json, prints one JSON object per line.",
  flags: {
    topic: { description: "Topic name", valueName: "topic", short: "t" },
    tag: { description: "Tag expression: *, TagA or TagA || TagB", default: "*", valueName: "expr" },
    sql: { description: "SQL92 filter on message properties and TAGS, evaluated by the broker (instead of --tag), e.g. \"region = 'eu' AND amount > 100\"", valueName: "expr" },
    from: { description: "Where to start: latest (only new messages) or earliest (everything stored)", default: "latest", valueName: "where" },
    count: { description: "Stop after this many messages (default: run until Ctrl-C)", valueName: "n", short: "c" },
    group: { description: "Consumer group the pulls are made for", default: "rmq-cli-consume", valueName: "group", short: "g" },
    namesrv: NAMESRV_FLAG,
    ...CREDENTIAL_FLAGS,
    json: { description: "Print one JSON object per message and line", type: "boolean" as const },
  },
  schema: v.object({
    topic: TopicName,
    tag: v.pipe(v.string(), v.minLength(1, "must not be empty")),
    sql: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
    from: v.picklist(["latest", "earliest"], "expected latest or earliest"),
    count: v.optional(integerFlag(1)),
    group: GroupName,
    namesrv: NamesrvEntry,
    ...CREDENTIAL_ENTRIES,
    json: v.optional(v.boolean(), false),
  }),
};

function bodyText(body: Uint8Array): { body: string; bodyEncoding: "utf8" | "base64" } {
  try {
    return { body: UTF8.decode(body), bodyEncoding: "utf8" };
  } catch {
    let binary = "";
    for (const byte of body) binary += String.fromCharCode(byte);
    return { body: btoa(binary), bodyEncoding: "base64" };
  }
}

function line(message: MessageExt, queue: MessageQueue, json: boolean): string {
  const { body, bodyEncoding } = bodyText(message.body);
  if (json) {
    return JSON.stringify({
      msgId: message.msgId,
      topic: message.topic,
      brokerName: queue.brokerName,
      queueId: message.queueId,
      queueOffset: message.queueOffset,
      tags: message.tags ?? null,
      keys: message.keys,
      uniqueKey: message.uniqueKey ?? null,
      bornTimestamp: message.bornTimestamp,
      storeTimestamp: message.storeTimestamp,
      properties: message.properties,
      body,
      bodyEncoding,
    }) + "\n";
  }
  const tags = message.tags === undefined ? "" : ` tags=${message.tags}`;
  const keys = message.keys.length === 0 ? "" : ` keys=${message.keys.join(",")}`;
  const shown = bodyEncoding === "utf8" ? body : `<${message.body.length} bytes binary>`;
  return `${formatTime(message.storeTimestamp)} ${queue.brokerName}/${message.queueId}@${message.queueOffset} ${message.msgId}${tags}${keys} ${shown}\n`;
}

/** `rmq consume`. */
export const consume: Command = {
  summary: "Tail a topic with long polling, printing messages",
  async run(args, runtime) {
    const flags = parse(spec, args);
    if (flags.sql !== undefined && flags.tag !== "*") throw new CliError("Pass --tag or --sql, not both", ExitCode.USAGE);
    const selector = flags.sql === undefined ? { expression: flags.tag } : { sql: flags.sql };
    if (flags.sql !== undefined) {
      try {
        compileFilter("SQL92", flags.sql);
      } catch (error) {
        throw new CliError(`Invalid value of --sql: ${(error as Error).message}`, ExitCode.USAGE);
      }
    }
    const consumer = new PullConsumer({ nameServer: nameServers(flags.namesrv), group: flags.group, dial: clientDial(runtime, flags) });
    let stopping = false;
    let wake: () => void = () => {};
    const stopped = new Promise<void>((resolve) => (wake = resolve));
    const stop = () => {
      stopping = true;
      wake();
    };
    let remaining = flags.count ?? Infinity;
    let failure: unknown;
    const onSignal = () => stop();
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      let queues: MessageQueue[];
      try {
        await consumer.start();
        queues = await consumer.fetchMessageQueues(flags.topic);
      } catch (error) {
        throw clientFailure(error, `Cannot consume "${flags.topic}"`);
      }
      process.stderr.write(`Consuming "${flags.topic}" (${queues.length} queues) from ${flags.from}; Ctrl-C stops\n`);
      const tail = async (queue: MessageQueue) => {
        let offset: number;
        try {
          offset = flags.from === "earliest" ? await consumer.minOffset(queue) : await consumer.maxOffset(queue);
        } catch (error) {
          failure ??= error;
          stop();
          return;
        }
        let failures = 0;
        while (!stopping) {
          try {
            const result = await consumer.pull(queue, offset, { maxNums: 32, ...selector, suspendMs: SUSPEND_MS });
            failures = 0;
            offset = result.nextBeginOffset;
            for (const message of result.messages) {
              if (stopping || remaining <= 0) break;
              remaining--;
              await write(line(message, queue, flags.json));
              if (remaining === 0) stop();
            }
          } catch (error) {
            if (stopping) return;
            // The broker may be restarting: report it and retry with backoff, unless it never answers.
            if (++failures >= 5) {
              failure ??= error;
              stop();
              return;
            }
            process.stderr.write(`Pull of queue ${queue.queueId} failed (${(error as Error).message}); retrying\n`);
            await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, 500 * failures))]);
          }
        }
      };
      const tails = Promise.all(queues.map(tail));
      await Promise.race([stopped, tails]);
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      await consumer.shutdown().catch(() => {});
    }
    if (failure !== undefined) throw clientFailure(failure, `Cannot consume "${flags.topic}"`);
    return 0;
  },
};
