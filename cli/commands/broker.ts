/**
 * `rmq broker`: a broker on its own, with `--config` and the flags of `server/broker.ts`.
 *
 * @module
 */
import { runServer } from "../../server/_entry.ts";
import type { Command } from "../_command.ts";

/** `rmq broker [flags]`. */
export const broker: Command = {
  summary: "Run a Broker that registers with NameServers",
  run: (args, runtime) => runServer("broker", args, { usage: "rmq broker [flags]", runtime }),
};
