/**
 * `rmq send`: sends messages through the client `Producer`, routed by the NameServer.
 *
 * @module
 */
import * as v from "valibot";
import { Producer, type SendResult } from "../../client/producer.ts";
import { TopicName } from "../../core/protocol/headers.ts";
import { integerFlag } from "../../server/_flags.ts";
import { clientDial, clientFailure, type Command, CREDENTIAL_ENTRIES, CREDENTIAL_FLAGS, nameServers, NAMESRV_FLAG, NamesrvEntry, parse } from "../_command.ts";
import { printJson, progress, table, write } from "../_output.ts";

const spec = {
  usage: "rmq send --topic <topic> --body <text> [flags]",
  summary: "Sends a message (or --count copies) with the client Producer, routed through the NameServer, and prints where each was stored.",
  flags: {
    topic: { description: "Topic name", valueName: "topic", short: "t" },
    body: { description: "Message body (text)", valueName: "text", short: "b" },
    tags: { description: "Tag", valueName: "tag" },
    keys: { description: "Keys, space separated", valueName: "keys", short: "k" },
    "delay-level": { description: "Delay level (1 = the first of messageDelayLevel)", valueName: "level" },
    "delay-ms": { description: "Timer message: deliver this many ms after storing (prints a recall handle)", valueName: "ms" },
    "deliver-at": { description: "Timer message: deliver at this time (ms since epoch or ISO 8601)", valueName: "time" },
    "dedup-id": { description: "Idempotent send: the broker stores this id once per dedup window", valueName: "id" },
    count: { description: "Messages to send", default: "1", valueName: "n" },
    namesrv: NAMESRV_FLAG,
    ...CREDENTIAL_FLAGS,
    "timeout-ms": { description: "Time one send may take, retries included", default: "3000", valueName: "ms" },
    json: { description: "Print JSON instead of a table", type: "boolean" as const },
  },
  schema: v.object({
    topic: TopicName,
    body: v.pipe(v.string(), v.minLength(1, "must not be empty")),
    tags: v.optional(v.pipe(v.string(), v.regex(/^[^|\s]+$/, "a tag may not contain spaces or '|'"))),
    keys: v.optional(v.pipe(v.string(), v.transform((k) => k.split(/\s+/).filter((s) => s !== "")))),
    delayLevel: v.optional(integerFlag(1, 100)),
    delayMs: v.optional(integerFlag(0, Number.MAX_SAFE_INTEGER)),
    deliverAt: v.optional(v.pipe(
      v.string(),
      v.transform((text) => (/^\d+$/.test(text) ? Number(text) : Date.parse(text))),
      v.check((ms) => Number.isSafeInteger(ms) && ms >= 0, "expected ms since epoch or an ISO 8601 time"),
    )),
    dedupId: v.optional(v.string()),
    count: integerFlag(1, 10_000_000),
    namesrv: NamesrvEntry,
    ...CREDENTIAL_ENTRIES,
    timeoutMs: integerFlag(1, 600_000),
    json: v.optional(v.boolean(), false),
  }),
};

/** `rmq send`. */
export const send: Command = {
  summary: "Send messages with the client Producer",
  async run(args, runtime) {
    const flags = parse(spec, args);
    const producer = new Producer({ nameServer: nameServers(flags.namesrv), dial: clientDial(runtime, flags), sendTimeoutMs: flags.timeoutMs, group: "rmq-cli" });
    const results: SendResult[] = [];
    const bar = progress(`Sending to ${flags.topic}`, flags.count > 1 ? flags.count : 0);
    try {
      await producer.start();
      for (let i = 0; i < flags.count; i++) {
        results.push(await producer.send({
          topic: flags.topic,
          body: flags.body,
          tags: flags.tags,
          keys: flags.keys,
          delayLevel: flags.delayLevel,
          delayMs: flags.delayMs,
          deliveryTime: flags.deliverAt,
          dedupId: flags.dedupId,
        }));
        bar.tick();
      }
    } catch (error) {
      throw clientFailure(error, `Cannot send to "${flags.topic}" after ${results.length} message(s)`);
    } finally {
      bar.done();
      await producer.shutdown().catch(() => {});
    }
    const rows = results.map((r) => ({
      status: r.status,
      msgId: r.msgId,
      uniqueKey: r.uniqueKey,
      topic: r.messageQueue.topic,
      brokerName: r.messageQueue.brokerName,
      queueId: r.messageQueue.queueId,
      queueOffset: r.queueOffset,
      ...(r.recallHandle === undefined ? {} : { recallHandle: r.recallHandle }),
      ...(r.duplicate === true ? { duplicate: true } : {}),
    }));
    if (flags.json) {
      await printJson(flags.count === 1 ? rows[0] : { sent: rows });
      return 0;
    }
    if (rows.length > 20) {
      await write(`Sent ${rows.length} message(s) to "${flags.topic}"; first ${rows[0]!.msgId}, last ${rows[rows.length - 1]!.msgId}\n`);
      return 0;
    }
    await write(table([
      { header: "STATUS", cell: (r: typeof rows[number]) => r.status },
      { header: "MSG ID", cell: (r) => r.msgId },
      { header: "BROKER", cell: (r) => r.brokerName },
      { header: "QUEUE", cell: (r) => r.queueId, right: true },
      { header: "OFFSET", cell: (r) => r.queueOffset, right: true },
      ...(rows.some((r) => r.recallHandle !== undefined) ? [{ header: "RECALL HANDLE", cell: (r: typeof rows[number]) => r.recallHandle ?? "" }] : []),
      ...(rows.some((r) => r.duplicate) ? [{ header: "DUPLICATE", cell: (r: typeof rows[number]) => (r.duplicate ? "yes" : "") }] : []),
    ], rows));
    return 0;
  },
};
