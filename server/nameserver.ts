/**
 * Runs a NameServer until SIGINT or SIGTERM. The same as `rmq nameserver`.
 *
 * ```sh
 * bun run server/nameserver.ts --port 9876
 * deno run -A server/nameserver.ts --config config/config.yaml
 * ```
 *
 * @module
 */
import process from "node:process";
import { runServer } from "./_entry.ts";

await runServer("nameserver", process.argv.slice(2), {
  usage: "bun run server/nameserver.ts [flags]  |  deno run -A server/nameserver.ts [flags]",
});
