/**
 * Deno's HTTP server adapter: serves a fetch handler (the admin app) with `Deno.serve`.
 *
 * @module
 */
import type { Serve } from "../admin/serve_types.ts";

/**
 * Serves `fetch` with `Deno.serve`.
 *
 * @param options Address and port (0 picks a free one).
 * @param fetch The request handler, e.g. `app.fetch`.
 * @returns The running server, once it listens.
 */
export const serve: Serve = (options, fetch) => {
  return new Promise((resolve, reject) => {
    try {
      const server = Deno.serve({
        hostname: options.hostname,
        port: options.port,
        ...(options.tls === undefined ? {} : { cert: options.tls.cert, key: options.tls.key }),
        onListen: (addr) => {
          resolve({
            hostname: options.hostname,
            port: (addr as Deno.NetAddr).port,
            close: () => server.shutdown(),
          });
        },
      }, (request) => fetch(request));
    } catch (error) {
      reject(error);
    }
  });
};
