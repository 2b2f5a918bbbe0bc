/**
 * Picks the listen adapter of the runtime we run on, for entrypoints. Library code takes a `Listen`
 * as a parameter instead.
 *
 * @module
 */
import type { Dialer, DialOptions, Listen } from "../core/remoting/transport.ts";
import type { WebSocketListen } from "../core/remoting/web_socket.ts";
import type { Serve } from "./admin/serve_types.ts";

/** An adapter module per runtime, relative to this file. */
type Adapters = { readonly Bun: string; readonly Deno: string };

/**
 * Imports the current runtime's adapter. The specifiers are resolved at run time on purpose: each
 * adapter uses its runtime's globals, so neither type checker may follow an import into the
 * other's adapter.
 *
 * @param adapters The module of each runtime.
 * @param what What is missing on another runtime, for the error ("listen adapter").
 * @param instead What to pass instead ("a Listen").
 * @returns The module.
 * @throws {Error} On a runtime other than Bun and Deno.
 */
async function loadAdapter<M>(adapters: Adapters, what: string, instead: string): Promise<M> {
  const runtime = (Object.keys(adapters) as Array<keyof Adapters>).find((name) => name in globalThis);
  if (runtime === undefined) throw new Error(`No ${what} for this runtime: run the server on Bun or Deno, or pass ${instead} yourself`);
  return (await import(new URL(adapters[runtime], import.meta.url).href)) as M;
}

/**
 * Loads the listen adapter of the current runtime.
 *
 * @returns `server/bun/listen.ts` on Bun, `server/deno/listen.ts` on Deno.
 * @throws {Error} On any other runtime.
 */
export async function defaultListen(): Promise<Listen> {
  const module = await loadAdapter<{ listen: Listen }>({ Bun: "./bun/listen.ts", Deno: "./deno/listen.ts" }, "listen adapter", "a Listen");
  return module.listen;
}

/**
 * Loads the WebSocket listen adapter of the current runtime, for a `webSocketPort`.
 *
 * @returns `server/bun/listen_web_socket.ts` on Bun, `server/deno/listen_web_socket.ts` on Deno.
 * @throws {Error} On any other runtime.
 */
export async function defaultListenWebSocket(): Promise<WebSocketListen> {
  const module = await loadAdapter<{ listenWebSocket: WebSocketListen }>(
    { Bun: "./bun/listen_web_socket.ts", Deno: "./deno/listen_web_socket.ts" },
    "WebSocket listen adapter",
    "a WebSocketListen",
  );
  return module.listenWebSocket;
}

/**
 * Loads the dialer of the current runtime, for server-to-server links.
 *
 * @param options TLS settings (for NameServers that serve TLS); plain TCP without them.
 * @returns `server/bun/connect.ts` on Bun, `server/deno/connect.ts` on Deno.
 * @throws {Error} On any other runtime.
 */
export async function defaultDial(options: DialOptions = {}): Promise<Dialer> {
  const module = await loadAdapter<{ dial: Dialer; createDialer(options: DialOptions): Dialer }>(
    { Bun: "./bun/connect.ts", Deno: "./deno/connect.ts" },
    "dialer",
    "a Dialer",
  );
  return options.tls === undefined ? module.dial : module.createDialer(options);
}

/**
 * Loads the HTTP server adapter of the current runtime, for the admin app.
 *
 * @returns `server/bun/serve.ts` on Bun, `server/deno/serve.ts` on Deno.
 * @throws {Error} On any other runtime.
 */
export async function defaultServe(): Promise<Serve> {
  const module = await loadAdapter<{ serve: Serve }>({ Bun: "./bun/serve.ts", Deno: "./deno/serve.ts" }, "HTTP server adapter", "a Serve");
  return module.serve;
}
