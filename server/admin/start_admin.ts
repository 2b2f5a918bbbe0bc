/**
 * Starts the admin HTTP server for an entrypoint: serves with the runtime's `Serve` adapter at
 * once, and builds the app (Hono, the dashboard, the gateway: a tenth of an idle standalone's
 * memory) on the first request, which waits for it with those that arrive meanwhile.
 *
 * @module
 */
import type { AdminAppOptions } from "./_state.ts";
import { normalizeOrigins } from "./_request_guard.ts";
import type { FetchHandler, HttpServer, Serve } from "./serve_types.ts";
import type { TlsServerOptions } from "../../core/remoting/transport.ts";

/** The rocketmq-ts version the admin API reports. */
export const VERSION = "0.1.0";

/** Options of `startAdminServer`. */
export interface AdminServerOptions extends Omit<AdminAppOptions, "version" | "hostname"> {
  /** The runtime's HTTP adapter (`server/bun/serve.ts`, `server/deno/serve.ts`). */
  serve: Serve;
  /** Address to bind. @default "127.0.0.1" */
  hostname?: string;
  /** Port; 0 picks a free one. @default 8080 */
  port?: number;
  /** @default VERSION */
  version?: string;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: TlsServerOptions;
  /** Connections idle this long are closed (see `ServeOptions`). @default 40000 */
  idleTimeoutMs?: number;
}

/**
 * Serves the admin API, metrics and dashboard; the app is loaded and built on the first request.
 *
 * @param options What to show, where to listen, and the runtime's adapter.
 * @returns The running HTTP server.
 * @throws {TypeError} When an allowed origin is not an http(s) origin.
 */
export function startAdminServer(options: AdminServerOptions): Promise<HttpServer> {
  const { serve, hostname = "127.0.0.1", port = 8080, version = VERSION, tls, idleTimeoutMs, ...appOptions } = options;
  // Checked now, so that a bad setting fails the start rather than the first request.
  normalizeOrigins(appOptions.allowedOrigins ?? []);
  const startedAt = (appOptions.now ?? Date.now)();
  let app: Promise<FetchHandler> | undefined;
  const load = () =>
    app ??= import("./app.ts").then(
      ({ createAdminApp }) => createAdminApp({ ...appOptions, hostname, version, startedAt }).fetch,
      (error) => {
        app = undefined;
        throw error;
      },
    );
  const fetch: FetchHandler = async (request) => (await load())(request);
  return serve({ hostname, port, ...(tls === undefined ? {} : { tls }), ...(idleTimeoutMs === undefined ? {} : { idleTimeoutMs }) }, fetch);
}

/**
 * The URL people open for a running admin server.
 *
 * @param server The server.
 * @param secure Whether it serves HTTPS.
 * @returns `http(s)://host:port/`, the wildcard address shown as loopback.
 */
export function adminUrl(server: Pick<HttpServer, "hostname" | "port">, secure = false): string {
  let host = server.hostname;
  if (host === "0.0.0.0") host = "127.0.0.1";
  else if (host === "::") host = "[::1]";
  else if (host.includes(":")) host = `[${host}]`;
  return `${secure ? "https" : "http"}://${host}:${server.port}/`;
}
