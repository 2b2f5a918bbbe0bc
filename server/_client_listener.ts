/**
 * Where a server accepts clients: its TCP port and, when asked, a WebSocket port (for browsers).
 * Both hand their connections to the same `accept`, so a WebSocket client passes the same
 * connection limits, connection guard and ACL as a TCP one, and with a TLS identity both serve TLS.
 *
 * @module
 */
import type { Listen, Listener, ListenOptions, Transport, TransportHandlers } from "../core/remoting/transport.ts";
import type { WebSocketListen } from "../core/remoting/web_socket.ts";

/** The WebSocket endpoint of a server (the broker's or the NameServer's options). */
export interface WebSocketServerOptions {
  /**
   * Also accept clients over WebSocket on this port (0 picks a free one): browsers, which cannot
   * open TCP sockets. Each binary message carries bytes of the native frame stream. @default off
   */
  webSocketPort?: number;
  /** The URL path WebSocket clients connect to. @default "/" */
  webSocketPath?: string;
  /**
   * Origins of the pages that may connect over WebSocket (`https://app.example.com`), `["*"]` for
   * any page (with ACL on, say). Clients that send no Origin (not browsers) are always let in.
   * @default [] (no page: any page a user opens could otherwise reach the server through their browser)
   */
  webSocketAllowedOrigins?: readonly string[];
  /**
   * The runtime's WebSocket adapter (`server/bun/listen_web_socket.ts`,
   * `server/deno/listen_web_socket.ts`); needed when `webSocketPort` is set.
   */
  listenWebSocket?: WebSocketListen;
}

/** The WebSocket listener could not start (the TCP one was closed again); `code` is the system's (`EADDRINUSE`). */
export class WebSocketListenError extends Error {
  /** The system error code of the cause, if any. */
  readonly code: string | undefined;

  /**
   * @param message What failed.
   * @param options The adapter's error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebSocketListenError";
    const code = (options?.cause as { code?: unknown } | undefined)?.code;
    this.code = typeof code === "string" ? code : undefined;
  }
}

/** The listeners of a server. */
export interface ClientListener extends Listener {
  /** The WebSocket listener, when `webSocketPort` was set. */
  readonly webSocket?: Listener;
}

/**
 * Starts the TCP listener and, with `webSocketPort`, the WebSocket one beside it (same address and
 * TLS identity). If the second cannot start, the first is closed before the error is thrown.
 *
 * @param listen The runtime's TCP adapter.
 * @param listenOptions Address, port and TLS identity.
 * @param options The WebSocket endpoint.
 * @param accept Gives the handlers for each new connection, of either kind.
 * @returns Both listeners; closing it closes both.
 * @throws {TypeError} When `webSocketPort` is set without `listenWebSocket`, or the path does not start with "/".
 * @throws {WebSocketListenError} When the WebSocket listener cannot start.
 */
export async function listenForClients(
  listen: Listen,
  listenOptions: ListenOptions,
  options: WebSocketServerOptions,
  accept: (transport: Transport) => TransportHandlers,
): Promise<ClientListener> {
  if (options.webSocketPort !== undefined && options.listenWebSocket === undefined) {
    throw new TypeError("webSocketPort is set but no listenWebSocket adapter was given (server/bun/listen_web_socket.ts or server/deno/listen_web_socket.ts)");
  }
  const path = options.webSocketPath ?? "/";
  if (!path.startsWith("/")) throw new TypeError(`Invalid webSocketPath "${path}": expected a path starting with "/"`);
  const tcp = await listen(listenOptions, accept);
  if (options.webSocketPort === undefined) return tcp;
  let webSocket: Listener;
  try {
    webSocket = await options.listenWebSocket!({
      ...listenOptions,
      port: options.webSocketPort,
      path,
      allowedOrigins: options.webSocketAllowedOrigins ?? [],
    }, accept);
  } catch (error) {
    await tcp.close();
    const where = `${listenOptions.hostname ?? "0.0.0.0"}:${options.webSocketPort}`;
    throw new WebSocketListenError(`Cannot listen for WebSocket clients on ${where}: ${(error as Error).message}`, { cause: error });
  }
  return {
    hostname: tcp.hostname,
    port: tcp.port,
    webSocket,
    async close() {
      await Promise.all([tcp.close(), webSocket.close()]);
    },
  };
}
