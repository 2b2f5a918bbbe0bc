/**
 * A dialer over the standard `WebSocket` (browsers, Workers, Deno, Bun, Node 22), for servers that
 * accept the native protocol over WebSocket (`webSocketPort`, docs/EDGE.md).
 *
 * @module
 */
import { ConnectionClosedError } from "../core/errors.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import { webSocketTransport } from "../core/remoting/web_socket.ts";

/** Options of `webSocketDialer`. */
export interface WebSocketDialerOptions {
  /**
   * The WebSocket URL of a server, from the `host:port` the client would dial over TCP: the
   * NameServer addresses it was given and the broker addresses the routes name. Throw for an
   * address that has none (the dial fails with that error).
   */
  url(address: string): string | URL;
  /**
   * Opens the socket: for a runtime option the standard constructor lacks, such as Bun's
   * `new WebSocket(url, { tls: { ca } })` for a private CA. @default `new WebSocket(url)`
   */
  open?: (url: string) => WebSocket;
}

/**
 * Makes a dialer that opens a WebSocket to the URL each address maps to. The dial resolves once the
 * socket is open, and fails if it closes first.
 *
 * @param options How addresses map to URLs.
 * @returns The dialer, for the `dial` option of every client.
 *
 * @example Produce from a page (NameServer and broker started with WebSocket ports)
 * ```ts ignore
 * import { webSocketDialer } from "./web_socket_dialer.ts";
 * import { Producer } from "./producer.ts";
 * const urls: Record<string, string> = {
 *   "127.0.0.1:9876": "ws://127.0.0.1:9877/", // NameServer: --namesrv-web-socket-port 9877
 *   "127.0.0.1:10911": "ws://127.0.0.1:10913/", // broker: --web-socket-port 10913
 * };
 * const dial = webSocketDialer({
 *   url: (address) => {
 *     const url = urls[address];
 *     if (url === undefined) throw new Error(`No WebSocket URL for ${address}`);
 *     return url;
 *   },
 * });
 * const producer = new Producer({ nameServer: "127.0.0.1:9876", dial });
 * ```
 */
export function webSocketDialer(options: WebSocketDialerOptions): Dialer {
  return (address, handlers) =>
    new Promise((resolve, reject) => {
      const url = String(options.url(address));
      const socket = options.open === undefined ? new WebSocket(url) : options.open(url);
      socket.binaryType = "arraybuffer";
      const opened = () => {
        socket.removeEventListener("close", failed);
        resolve(webSocketTransport(socket, address, () => handlers));
      };
      const failed = (event: Event) => {
        socket.removeEventListener("open", opened);
        const code = (event as CloseEvent).code;
        // Browsers tell a page nothing more about a refused upgrade than code 1006.
        const why = code === 1006 ? ": unreachable, or the upgrade was refused (a page's origin must be in the server's webSocketAllowedOrigins)" : "";
        reject(new ConnectionClosedError(`WebSocket ${url} for ${address} closed before it opened (code ${code})${why}`));
      };
      socket.addEventListener("open", opened, { once: true });
      socket.addEventListener("close", failed, { once: true });
    });
}
