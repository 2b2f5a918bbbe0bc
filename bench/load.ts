/**
 * The load tool, `rmq bench` run from a checkout: produce, consume and e2e workloads against a
 * standalone server it starts in a child process (`--runtime bun|deno`) or against `--namesrv`.
 *
 *   bun bench/load.ts                                    # produce: sync, async, oneway, batch
 *   bun bench/load.ts consume --count 100000             # push and pull from a backlog
 *   bun bench/load.ts e2e --rate 10000 --duration 30     # end-to-end latency at a steady rate
 *   deno run -A bench/load.ts produce --runtime deno     # Deno client, Deno server
 *   bun bench/load.ts --help                             # every flag
 *
 * See docs/BENCHMARKS.md for the figures and how they were taken.
 */
import process from "node:process";
import type { Runtime } from "../cli/_command.ts";
import type { Dialer, Listen } from "../core/remoting/transport.ts";
import { main } from "../cli/main.ts";

/** The runtime's adapters, from `server/bun/` or `server/deno/` (a computed path, so each type-checks alone). */
async function adapters(): Promise<Runtime> {
  const name = "Deno" in globalThis ? "deno" : "bun";
  const [{ dial }, { listen }] = await Promise.all([
    import(`../server/${name}/connect.ts`) as Promise<{ dial: Dialer }>,
    import(`../server/${name}/listen.ts`) as Promise<{ listen: Listen }>,
  ]);
  return { dial, listen };
}

await main(["bench", ...process.argv.slice(2)], await adapters());
