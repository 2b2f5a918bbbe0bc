/**
 * `rmq broker`: a broker on its own, with `--config` and the flags of `server/broker.ts`.
 *
 * @module
 */
import { runBroker } from "../../server/_entry_broker.ts";
import type { Command } from "../_command.ts";

/** `rmq broker [flags]`. */
export const broker: Command = {
  summary: "Run a Broker that registers with NameServers",
  run: (args, runtime) =>
    runBroker(args, { usage: "rmq broker [flags]", listen: runtime.listen, dial: runtime.dial, serve: runtime.serve }),
};
