/**
 * Bun's TCP server adapter: `Bun.listen` callbacks feed the core connection directly.
 *
 * @module
 */
/// <reference types="bun-types" />
import type { Listen, Transport, TransportHandlers } from "../../core/remoting/transport.ts";
import { BufferedWriter } from "../../core/remoting/buffered_writer.ts";

interface SocketState {
  handlers: TransportHandlers;
  writer: BufferedWriter;
  closed: boolean;
}

/** ALPN protocol names in their wire form: each length-prefixed. */
function alpnWire(protocols: readonly string[]): Uint8Array {
  const names = protocols.map((p) => new TextEncoder().encode(p));
  const out = new Uint8Array(names.reduce((n, b) => n + 1 + b.length, 0));
  let at = 0;
  for (const name of names) {
    out[at++] = name.length;
    out.set(name, at);
    at += name.length;
  }
  return out;
}

/**
 * Listens with `Bun.listen`.
 *
 * @param options Address and port.
 * @param accept Gives the handlers for each new connection.
 * @returns The listener.
 */
export const listen: Listen = (options, accept) => {
  const tls = options.tls;
  const clientCa = tls?.clientCa;
  const server = Bun.listen<SocketState>({
    hostname: options.hostname ?? "0.0.0.0",
    port: options.port,
    ...(tls === undefined ? {} : {
      tls: {
        cert: tls.cert,
        key: tls.key,
        ...(options.alpnProtocols === undefined ? {} : { ALPNProtocols: alpnWire(options.alpnProtocols) }),
        ...(clientCa === undefined ? {} : { ca: clientCa, requestCert: true, rejectUnauthorized: true }),
      },
    }),
    socket: {
      open(socket) {
        const writer = new BufferedWriter(socket);
        const state: SocketState = { handlers: undefined as unknown as TransportHandlers, writer, closed: false };
        socket.data = state;
        const transport: Transport = {
          remoteAddress: `${socket.remoteAddress}:${socket.remotePort}`,
          get bufferedAmount() {
            return writer.buffered;
          },
          write: (data) => writer.write(data),
          writeCopies: true,
          close: () => writer.whenEmpty(() => socket.end()),
          abort: () => socket.terminate(),
        };
        state.handlers = accept(transport);
      },
      // Having this callback makes Bun call `open` as the TCP connection arrives rather than after
      // the TLS handshake, so the connection's handshake timeout also covers a stalled TLS handshake.
      // With a client CA, a certificate that does not check out leaves `success` true but sets
      // `authorizationError`: the connection is closed here either way, before a byte is read.
      handshake(socket, success, authorizationError) {
        if (success && (clientCa === undefined || (authorizationError === null && socket.authorized))) return;
        const reason = authorizationError?.message ?? (success ? "the client certificate was not verified" : "the handshake failed");
        options.onTlsError?.(`${socket.remoteAddress}:${socket.remotePort}`, new Error(reason));
        socket.terminate();
      },
      data(socket, data) {
        socket.data.handlers.data(data);
      },
      drain(socket) {
        socket.data.writer.drain();
        if (socket.data.writer.buffered === 0) socket.data.handlers.drain?.();
      },
      close(socket, error) {
        const state = socket.data;
        if (state === undefined || state.closed) return;
        state.closed = true;
        state.handlers.close(error);
      },
      error(socket, error) {
        const state = socket.data;
        if (state === undefined || state.closed) return;
        state.closed = true;
        state.handlers.close(error);
      },
    },
  });
  return Promise.resolve({
    hostname: server.hostname,
    port: server.port,
    close() {
      server.stop(false);
      return Promise.resolve();
    },
  });
};
