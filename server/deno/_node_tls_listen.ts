/**
 * Mutual TLS for Deno's server adapter. `Deno.listenTls` cannot ask for or check a client
 * certificate (its options are a certificate, a key and ALPN), so a listener with `tls.clientCa`
 * is served by Deno's `node:tls` instead, which requires and verifies one (`requestCert`,
 * `rejectUnauthorized`). A connection is accepted once its handshake succeeded; a failed one is
 * reported through `onTlsError` and never reaches `accept`.
 *
 * @module
 */
import { createServer, type TLSSocket } from "node:tls";
import type { Listen, Transport } from "../../core/remoting/transport.ts";

/** A TLS handshake that has not finished this long after the TCP connection arrived is cut. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Listens with `node:tls`, requiring client certificates signed by `options.tls.clientCa`.
 *
 * @param options Address, port and the TLS identity with its client CA.
 * @param accept Gives the handlers for each verified connection.
 * @returns The listener.
 */
export const listenMutualTls: Listen = (options, accept) => {
  const tls = options.tls;
  if (tls?.clientCa === undefined) throw new TypeError("listenMutualTls needs tls.clientCa");
  const server = createServer({
    cert: tls.cert,
    key: tls.key,
    ca: tls.clientCa,
    requestCert: true,
    rejectUnauthorized: true,
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
  }, (socket: TLSSocket) => {
    if (!socket.authorized) {
      // rejectUnauthorized closes such a connection before this; never serve one that slipped by.
      options.onTlsError?.(`${socket.remoteAddress}:${socket.remotePort}`, new Error(String(socket.authorizationError ?? "the client certificate was not verified")));
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    let lastError: Error | undefined;
    let closed = false;
    const transport: Transport = {
      remoteAddress: `${socket.remoteAddress}:${socket.remotePort}`,
      get bufferedAmount() {
        return socket.writableLength;
      },
      write: (data) => void socket.write(data),
      close: () => void socket.end(),
      abort: () => void socket.destroy(),
    };
    const handlers = accept(transport);
    socket.on("data", (chunk: Uint8Array) => handlers.data(chunk));
    socket.on("drain", () => handlers.drain?.());
    socket.on("error", (error: Error) => (lastError = error));
    socket.on("close", () => {
      if (closed) return;
      closed = true;
      handlers.close(lastError);
    });
  });
  server.on("tlsClientError", (error: Error, socket: TLSSocket) => {
    // Deno's TLSSocket leaves remoteAddress undefined here; the TCP socket under it knows.
    const tcp = (socket as TLSSocket & { _parent?: { remoteAddress?: string; remotePort?: number } })._parent;
    const host = socket.remoteAddress ?? tcp?.remoteAddress;
    options.onTlsError?.(host === undefined ? "(address unknown)" : `${host}:${socket.remotePort ?? tcp?.remotePort}`, error);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.hostname ?? "0.0.0.0", () => {
      server.off("error", reject);
      const address = server.address() as { address: string; port: number };
      resolve({
        hostname: address.address,
        port: address.port,
        close: () => {
          server.close();
          return Promise.resolve();
        },
      });
    });
  });
};
