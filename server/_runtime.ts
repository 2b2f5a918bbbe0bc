/**
 * Picks the listen adapter of the runtime we run on, for entrypoints. Library code takes a `Listen`
 * as a parameter instead.
 *
 * @module
 */
import type { Dialer, DialOptions, Listen } from "../core/remoting/transport.ts";
import type { Serve } from "./admin/serve_types.ts";

/**
 * The adapters by runtime. The specifiers are resolved at run time on purpose: each adapter uses
 * its runtime's globals, so neither type checker may follow an import into the other's adapter.
 */
const LISTEN_ADAPTERS = {
  Bun: "./bun/listen.ts",
  Deno: "./deno/listen.ts",
} as const;

/**
 * Loads the listen adapter of the current runtime.
 *
 * @returns `server/bun/listen.ts` on Bun, `server/deno/listen.ts` on Deno.
 * @throws {Error} On any other runtime.
 */
export async function defaultListen(): Promise<Listen> {
  const runtime = (Object.keys(LISTEN_ADAPTERS) as Array<keyof typeof LISTEN_ADAPTERS>)
    .find((name) => name in globalThis);
  if (runtime === undefined) {
    throw new Error("No listen adapter for this runtime: run the server on Bun or Deno, or pass a Listen yourself");
  }
  const specifier = new URL(LISTEN_ADAPTERS[runtime], import.meta.url).href;
  const module = (await import(specifier)) as { listen: Listen };
  return module.listen;
}

const DIAL_ADAPTERS = {
  Bun: "./bun/connect.ts",
  Deno: "./deno/connect.ts",
} as const;

/**
 * Loads the dialer of the current runtime, for server-to-server links.
 *
 * @param options TLS settings (for NameServers that serve TLS); plain TCP without them.
 * @returns `server/bun/connect.ts` on Bun, `server/deno/connect.ts` on Deno.
 * @throws {Error} On any other runtime.
 */
export async function defaultDial(options: DialOptions = {}): Promise<Dialer> {
  const runtime = (Object.keys(DIAL_ADAPTERS) as Array<keyof typeof DIAL_ADAPTERS>).find((name) => name in globalThis);
  if (runtime === undefined) {
    throw new Error("No dialer for this runtime: run the server on Bun or Deno, or pass a Dialer yourself");
  }
  const specifier = new URL(DIAL_ADAPTERS[runtime], import.meta.url).href;
  const module = (await import(specifier)) as { dial: Dialer; createDialer(options: DialOptions): Dialer };
  return options.tls === undefined ? module.dial : module.createDialer(options);
}

const SERVE_ADAPTERS = {
  Bun: "./bun/serve.ts",
  Deno: "./deno/serve.ts",
} as const;

/**
 * Loads the HTTP server adapter of the current runtime, for the admin app.
 *
 * @returns `server/bun/serve.ts` on Bun, `server/deno/serve.ts` on Deno.
 * @throws {Error} On any other runtime.
 */
export async function defaultServe(): Promise<Serve> {
  const runtime = (Object.keys(SERVE_ADAPTERS) as Array<keyof typeof SERVE_ADAPTERS>).find((name) => name in globalThis);
  if (runtime === undefined) {
    throw new Error("No HTTP server adapter for this runtime: run the server on Bun or Deno, or pass a Serve yourself");
  }
  const specifier = new URL(SERVE_ADAPTERS[runtime], import.meta.url).href;
  const module = (await import(specifier)) as { serve: Serve };
  return module.serve;
}
