/**
 * `rmq` on Deno: `deno run -A cli/deno.ts <command>`.
 *
 * @module
 */
import { dial } from "../server/deno/connect.ts";
import { listen } from "../server/deno/listen.ts";
import { serve } from "../server/deno/serve.ts";
import { main } from "./main.ts";

await main(Deno.args, { listen, dial, serve });
