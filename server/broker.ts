/**
 * The broker entrypoint: `bun run server/broker.ts` or `deno run -A server/broker.ts`, with
 * `--config config/config.yaml` to read settings from a file.
 *
 * @module
 */
import process from "node:process";
import { runBroker } from "./_entry_broker.ts";

await runBroker(process.argv.slice(2), { usage: "bun run server/broker.ts [flags]" });
