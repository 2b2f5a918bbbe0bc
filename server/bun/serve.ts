/**
 * Bun's HTTP server adapter: serves a fetch handler (the admin app) with `Bun.serve`.
 *
 * @module
 */
import type { Serve } from "../admin/serve_types.ts";

/**
 * Serves `fetch` with `Bun.serve`.
 *
 * @param options Address and port (0 picks a free one).
 * @param fetch The request handler, e.g. `app.fetch`.
 * @returns The running server.
 */
export const serve: Serve = (options, fetch) => {
  const server = Bun.serve({ hostname: options.hostname, port: options.port, fetch: (request) => fetch(request) });
  return Promise.resolve({
    hostname: options.hostname,
    port: server.port ?? options.port,
    close: () => server.stop(true),
  });
};
