/**
 * `rmq nameserver`: a NameServer on its own, with `--config` and the flags of `server/nameserver.ts`.
 *
 * @module
 */
import { runServer } from "../../server/_entry.ts";
import type { Command } from "../_command.ts";

/** `rmq nameserver [flags]`. */
export const nameserver: Command = {
  summary: "Run a NameServer (route table and broker liveness)",
  run: (args, runtime) => runServer("nameserver", args, { usage: "rmq nameserver [flags]", runtime }),
};
