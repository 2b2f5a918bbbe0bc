/**
 * The HTTP serving port: what `server/bun/serve.ts` and `server/deno/serve.ts` implement, so the
 * admin app is served the same way on every runtime and tests can call `app.request()` instead.
 *
 * @module
 */
import type { TlsServerOptions } from "../../core/remoting/transport.ts";

/** Answers one HTTP request (Hono's `app.fetch`). */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** Where to listen. */
export interface ServeOptions {
  /** Address to bind. */
  hostname: string;
  /** Port to bind; 0 picks a free one. */
  port: number;
  /** Serve HTTPS with this certificate and key (PEM text). */
  tls?: TlsServerOptions;
  /**
   * A connection through which nothing moved this long during a request is closed, also one whose
   * client stopped reading a stream. @default 40000
   */
  idleTimeoutMs?: number;
}

/** A running HTTP server. */
export interface HttpServer {
  /** The bound address. */
  readonly hostname: string;
  /** The bound port (the one picked when 0 was asked for). */
  readonly port: number;
  /** Stops accepting and closes open connections. */
  close(): Promise<void>;
}

/** Serves a fetch handler over HTTP with the runtime's server. */
export type Serve = (options: ServeOptions, fetch: FetchHandler) => Promise<HttpServer>;
