/**
 * Bun's HTTP server adapter: serves a fetch handler (the admin app) with `Bun.serve`.
 *
 * @module
 */
import type { Serve } from "../admin/serve_types.ts";

/**
 * Serves `fetch` with `Bun.serve`.
 *
 * @param options Address, port (0 picks a free one) and TLS identity.
 * @param fetch The request handler, e.g. `app.fetch`.
 * @returns The running server.
 */
export const serve: Serve = (options, fetch) => {
  const server = Bun.serve({
    hostname: options.hostname,
    port: options.port,
    // Past the gateway's longest receive wait (30 s) and its stream heartbeats (15 s); Bun's default is 10 s.
    idleTimeout: Math.min(255, Math.max(1, Math.ceil((options.idleTimeoutMs ?? 40_000) / 1000))),
    ...(options.tls === undefined ? {} : { tls: { cert: options.tls.cert, key: options.tls.key } }),
    fetch: (request) => fetch(request),
  });
  return Promise.resolve({
    hostname: options.hostname,
    port: server.port ?? options.port,
    close: () => server.stop(true),
  });
};
