/**
 * `rmq nameserver`: a NameServer on its own, with `--config` and the flags of `server/nameserver.ts`.
 *
 * @module
 */
import { runNameServer } from "../../server/_entry_nameserver.ts";
import type { Command } from "../_command.ts";

/** `rmq nameserver [flags]`. */
export const nameserver: Command = {
  summary: "Run a NameServer (route table and broker liveness)",
  run: (args, runtime) => runNameServer(args, { usage: "rmq nameserver [flags]", listen: runtime.listen, serve: runtime.serve }),
};
