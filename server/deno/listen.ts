/**
 * Deno's TCP server adapter on `Deno.listen`.
 *
 * @module
 */
import type { Listen } from "../../core/remoting/transport.ts";
import { readWriteTransport } from "../../core/remoting/read_write.ts";

/**
 * Listens with `Deno.listen`.
 *
 * @param options Address and port.
 * @param accept Gives the handlers for each new connection.
 * @returns The listener.
 */
export const listen: Listen = (options, accept) => {
  const listener = Deno.listen({ hostname: options.hostname ?? "0.0.0.0", port: options.port, transport: "tcp" });
  (async () => {
    try {
      for await (const conn of listener) {
        conn.setNoDelay(true);
        const remote = conn.remoteAddr as Deno.NetAddr;
        readWriteTransport(conn, `${remote.hostname}:${remote.port}`, accept);
      }
    } catch {
      // listener closed
    }
  })();
  const addr = listener.addr as Deno.NetAddr;
  return Promise.resolve({
    hostname: addr.hostname,
    port: addr.port,
    close() {
      try {
        listener.close();
      } catch {
        // already closed
      }
      return Promise.resolve();
    },
  });
};
