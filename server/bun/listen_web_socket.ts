/**
 * Bun's WebSocket server adapter: `Bun.serve` upgrades requests at one path and its `websocket`
 * callbacks feed the core connection, as `Bun.listen`'s do for TCP. Bun refuses messages above
 * `WEB_SOCKET_MAX_MESSAGE_BYTES` itself (code 1009) before holding them whole.
 *
 * @module
 */
/// <reference types="bun-types" />
import { BufferedWriter } from "../../core/remoting/buffered_writer.ts";
import type { Transport, TransportHandlers } from "../../core/remoting/transport.ts";
import {
  closedError,
  refuseMessage,
  refuseUpgrade,
  WEB_SOCKET_MAX_MESSAGE_BYTES,
  WebSocketCloseCode,
  type WebSocketListen,
} from "../../core/remoting/web_socket.ts";

interface SocketState {
  remoteAddress: string;
  handlers: TransportHandlers;
  writer: BufferedWriter;
  closed: boolean;
}

/**
 * Serves WebSocket upgrades with `Bun.serve` (TLS with a TLS identity); `refuseUpgrade` answers
 * requests off the path, without an upgrade or from a page origin not allowed.
 *
 * @param options Address, port, path and TLS identity.
 * @param accept Gives the handlers for each new connection.
 * @returns The listener.
 */
export const listenWebSocket: WebSocketListen = (options, accept) => {
  const server = Bun.serve<SocketState>({
    hostname: options.hostname ?? "0.0.0.0",
    port: options.port,
    ...(options.tls === undefined ? {} : { tls: { cert: options.tls.cert, key: options.tls.key } }),
    fetch(request, server) {
      const refused = refuseUpgrade(request, options);
      if (refused !== undefined) return refused;
      const peer = server.requestIP(request);
      const state = { remoteAddress: peer === null ? "unknown:0" : `${peer.address}:${peer.port}`, closed: false } as SocketState;
      if (server.upgrade(request, { data: state })) return undefined;
      return new Response("WebSocket upgrade failed", { status: 400 });
    },
    websocket: {
      maxPayloadLength: WEB_SOCKET_MAX_MESSAGE_BYTES,
      open(ws) {
        const state = ws.data;
        ws.binaryType = "uint8array";
        // Bun's send() drops a message past its backpressure limit (returning 0): the writer keeps
        // what was not taken and offers it again on drain.
        const writer = new BufferedWriter({
          write(data) {
            let taken = 0;
            while (taken < data.length) {
              const end = Math.min(data.length, taken + WEB_SOCKET_MAX_MESSAGE_BYTES);
              if (ws.send(data.subarray(taken, end)) === 0) break;
              taken = end;
            }
            return taken;
          },
        });
        state.writer = writer;
        const transport: Transport = {
          remoteAddress: state.remoteAddress,
          get bufferedAmount() {
            return writer.buffered + ws.getBufferedAmount();
          },
          write: (data) => writer.write(data),
          writeCopies: true,
          close: () => writer.whenEmpty(() => ws.close(WebSocketCloseCode.NORMAL)),
          abort: () => ws.terminate(),
        };
        state.handlers = accept(transport);
      },
      message(ws, message) {
        const state = ws.data;
        if (state.closed) return;
        const refused = refuseMessage(message, state.remoteAddress);
        if (refused !== undefined) {
          state.closed = true;
          ws.close(refused.code, refused.error.message.slice(0, 120));
          state.handlers.close(refused.error);
          return;
        }
        state.handlers.data(message as Uint8Array);
      },
      drain(ws) {
        const state = ws.data;
        state.writer.drain();
        if (state.writer.buffered === 0) state.handlers.drain?.();
      },
      close(ws, code, reason) {
        const state = ws.data;
        if (state.closed || state.handlers === undefined) return;
        state.closed = true;
        state.handlers.close(closedError(state.remoteAddress, code, reason));
      },
    },
  });
  return Promise.resolve({
    hostname: server.hostname ?? options.hostname ?? "0.0.0.0",
    port: server.port ?? options.port,
    close() {
      server.stop(false);
      return Promise.resolve();
    },
  });
};
