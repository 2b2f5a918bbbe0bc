/**
 * `rmq standalone`: a NameServer, a broker and the admin API in one process, data under `./data`.
 * Settings come from `--config`, then `RMQ_*` variables, then flags.
 *
 * @module
 */
import { runServer } from "../../server/_entry.ts";
import type { Command } from "../_command.ts";

/** `rmq standalone [flags]`. */
export const standalone: Command = {
  summary: "Run a NameServer, a Broker and the admin API in one process",
  run: (args, runtime) => runServer("standalone", args, { usage: "rmq standalone [flags]", runtime }),
};
