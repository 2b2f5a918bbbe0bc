/**
 * Deno's WebSocket server adapter: `Deno.serve` upgrades requests at one path with
 * `Deno.upgradeWebSocket`, and the standard socket it gives is adapted by `webSocketTransport`.
 * Deno offers no limit on a message's size before it holds it whole (its own cap is 64 MiB); a
 * message above `WEB_SOCKET_MAX_MESSAGE_BYTES` closes the connection once it arrived.
 *
 * @module
 */
import type { Listener } from "../../core/remoting/transport.ts";
import { refuseUpgrade, type WebSocketListen, webSocketTransport } from "../../core/remoting/web_socket.ts";

/**
 * Serves WebSocket upgrades with `Deno.serve` (TLS with a TLS identity); `refuseUpgrade` answers
 * requests off the path, without an upgrade or from a page origin not allowed.
 *
 * @param options Address, port, path and TLS identity.
 * @param accept Gives the handlers for each new connection.
 * @returns The listener, once it listens.
 */
export const listenWebSocket: WebSocketListen = (options, accept) => {
  const hostname = options.hostname ?? "0.0.0.0";
  // Deno's shutdown() also closes upgraded sockets (code 1001), so after close() upgrades are
  // refused and the server shuts down once its servers closed the sockets it accepted.
  const open = new Set<WebSocket>();
  let stopped = false;
  let server: Deno.HttpServer<Deno.NetAddr>;
  const shutdownWhenIdle = () => {
    if (stopped && open.size === 0) server.shutdown().catch(() => {});
  };
  return new Promise<Listener>((resolve, reject) => {
    try {
      server = Deno.serve({
        hostname,
        port: options.port,
        ...(options.tls === undefined ? {} : { cert: options.tls.cert, key: options.tls.key }),
        onListen: (addr) => {
          resolve({
            hostname,
            port: addr.port,
            close: () => {
              stopped = true;
              shutdownWhenIdle();
              return Promise.resolve();
            },
          });
        },
      }, (request, info) => {
        if (stopped) return new Response("Shutting down", { status: 503 });
        const refused = refuseUpgrade(request, options);
        if (refused !== undefined) return refused;
        // The peer's address is readable only before the upgrade takes the request over.
        const peer = info.remoteAddr;
        const { socket, response } = Deno.upgradeWebSocket(request);
        open.add(socket);
        socket.addEventListener("open", () => webSocketTransport(socket, `${peer.hostname}:${peer.port}`, accept), { once: true });
        socket.addEventListener("close", () => {
          open.delete(socket);
          shutdownWhenIdle();
        }, { once: true });
        return response;
      });
    } catch (error) {
      reject(error);
    }
  });
};
