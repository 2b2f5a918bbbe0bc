/**
 * Picks the TCP dialer of the runtime the client runs on.
 *
 * @module
 */
import type { Dialer } from "../core/remoting/transport.ts";

/*
 * The Bun and Deno adapters are named through variables so each type-checker only follows the
 * adapter it has types for (tsc runs without Deno's, `deno check` without Bun's); the runtime
 * resolves them relative to this module. The Node adapter needs no globals, so bundlers for Node
 * see it directly.
 */
const BUN_DIALER = "./bun/connect.ts";
const DENO_DIALER = "./deno/connect.ts";

/**
 * Loads the dialer for the current runtime: Bun's `Bun.connect`, Deno's `Deno.connect`, or
 * `node:net` everywhere else. The adapter is imported on demand, so no runtime's globals are touched
 * on the others.
 *
 * @returns The dialer.
 *
 * @example Dial through the runtime's own sockets
 * ```ts ignore
 * import { defaultDialer } from "./default_dialer.ts";
 * import { connect } from "../core/remoting/connection.ts";
 * const connection = await connect(await defaultDialer(), "127.0.0.1:9876");
 * connection.close();
 * ```
 */
export async function defaultDialer(): Promise<Dialer> {
  if ("Bun" in globalThis) return ((await import(BUN_DIALER)) as { dial: Dialer }).dial;
  if ("Deno" in globalThis) return ((await import(DENO_DIALER)) as { dial: Dialer }).dial;
  return (await import("./node/connect.ts")).dial;
}
