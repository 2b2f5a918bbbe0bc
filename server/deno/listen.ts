/**
 * Deno's TCP server adapter on `Deno.listen` (`Deno.listenTls` with a TLS identity; `node:tls`
 * when client certificates are required, which `Deno.listenTls` cannot check).
 *
 * @module
 */
import type { Listen } from "../../core/remoting/transport.ts";
import { readWriteTransport } from "../../core/remoting/read_write.ts";
import { listenMutualTls } from "./_node_tls_listen.ts";

/**
 * Listens with `Deno.listen`.
 *
 * @param options Address and port.
 * @param accept Gives the handlers for each new connection.
 * @returns The listener.
 */
export const listen: Listen = (options, accept) => {
  if (options.tls?.clientCa !== undefined) return listenMutualTls(options, accept);
  const hostname = options.hostname ?? "0.0.0.0";
  const listener: Deno.Listener = options.tls === undefined
    ? Deno.listen({ hostname, port: options.port, transport: "tcp" })
    : Deno.listenTls({ hostname, port: options.port, transport: "tcp", cert: options.tls.cert, key: options.tls.key, ...(options.alpnProtocols === undefined ? {} : { alpnProtocols: [...options.alpnProtocols] }) });
  (async () => {
    try {
      for await (const conn of listener) {
        (conn as Partial<Deno.TcpConn>).setNoDelay?.(true);
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
