/**
 * `rmq recall`: cancels a pending timer message by the recall handle its send printed.
 *
 * @module
 */
import * as v from "valibot";
import { Producer } from "../../client/producer.ts";
import { TopicName } from "../../core/protocol/headers.ts";
import { integerFlag } from "../../server/_flags.ts";
import { clientDial, clientFailure, type Command, CREDENTIAL_ENTRIES, CREDENTIAL_FLAGS, nameServers, NAMESRV_FLAG, NamesrvEntry, parse } from "../_command.ts";
import { write } from "../_output.ts";

const spec = {
  usage: "rmq recall --topic <topic> --handle <recallHandle> [flags]",
  summary: "Cancels a timer message that is not delivered yet (the handle is what `rmq send --delay-ms` or `--deliver-at` printed).",
  flags: {
    topic: { description: "Topic the timer message was sent to", valueName: "topic", short: "t" },
    handle: { description: "Recall handle of its send", valueName: "handle" },
    namesrv: NAMESRV_FLAG,
    ...CREDENTIAL_FLAGS,
    "timeout-ms": { description: "Time the recall may take", default: "3000", valueName: "ms" },
  },
  schema: v.object({
    topic: TopicName,
    handle: v.pipe(v.string(), v.minLength(1, "must not be empty")),
    namesrv: NamesrvEntry,
    ...CREDENTIAL_ENTRIES,
    timeoutMs: integerFlag(1, 600_000),
  }),
};

/** `rmq recall`. */
export const recall: Command = {
  summary: "Cancel a pending timer message by its recall handle",
  async run(args, runtime) {
    const flags = parse(spec, args);
    const producer = new Producer({ nameServer: nameServers(flags.namesrv), dial: clientDial(runtime, flags), sendTimeoutMs: flags.timeoutMs, group: "rmq-cli" });
    try {
      await producer.start();
      await producer.recall(flags.topic, flags.handle);
    } catch (error) {
      throw clientFailure(error, `Cannot recall the timer message of "${flags.topic}"`);
    } finally {
      await producer.shutdown().catch(() => {});
    }
    await write(`Recalled: the timer message will not be delivered\n`);
    return 0;
  },
};
