/**
 * `rmq` on Bun: `bun run cli/bun.ts <command>`; also the entry of `bun build --compile`.
 *
 * @module
 */
import { dial } from "../server/bun/connect.ts";
import { listen } from "../server/bun/listen.ts";
import { serve } from "../server/bun/serve.ts";
import { main } from "./main.ts";

await main(process.argv.slice(2), { listen, dial, serve });
