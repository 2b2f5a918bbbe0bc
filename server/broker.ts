/**
 * The broker entrypoint: `bun run server/broker.ts` or `deno run -A server/broker.ts`, with
 * `--config config/config.yaml` to read settings from a file. The same as `rmq broker`.
 *
 * @module
 */
import process from "node:process";
import { runServer } from "./_entry.ts";

await runServer("broker", process.argv.slice(2), { usage: "bun run server/broker.ts [flags]  |  deno run -A server/broker.ts [flags]" });
