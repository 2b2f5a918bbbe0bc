/**
 * Native frames over WebSocket. The messages of a connection carry its frame stream as bytes: a
 * message may hold part of a frame, one frame or several, as TCP segments would, so the frame
 * decoder and its limits do the framing. Only binary messages are accepted: a text message closes
 * the connection (code 4003), and so does a message above `WEB_SOCKET_MAX_MESSAGE_BYTES` (code
 * 4009; writers split what they send to stay below it). A connection cut for a limit closes with
 * code 4008.
 *
 * `webSocketTransport` adapts a standard `WebSocket` (browsers, Workers, Deno, Bun, Node 22) that is
 * open; server adapters with their own socket API (Bun's) follow the same rules.
 *
 * @module
 */
import { LimitExceededError, ProtocolError } from "../errors.ts";
import type { Listener, ListenOptions, Transport, TransportHandlers } from "./transport.ts";

/**
 * Largest message a server accepts, and the size writers split their bytes into. A server holds a
 * message whole before the frame decoder sees it, so this bounds what one connection costs before
 * the frame limits apply.
 */
export const WEB_SOCKET_MAX_MESSAGE_BYTES = 1024 * 1024;

/** Close codes of WebSocket connections (4000–4999 are the application's). */
export const WebSocketCloseCode = {
  /** Closed on purpose by either side. */
  NORMAL: 1000,
  /** A text (or other non-binary) message arrived. */
  NOT_BINARY: 4003,
  /** A limit of the connection guard cut the connection (pending frame bytes, timeouts). */
  LIMIT_EXCEEDED: 4008,
  /** A message above `WEB_SOCKET_MAX_MESSAGE_BYTES` arrived. */
  MESSAGE_TOO_BIG: 4009,
} as const;
/** A close code of `WebSocketCloseCode`. */
export type WebSocketCloseCode = typeof WebSocketCloseCode[keyof typeof WebSocketCloseCode];

/** How often `bufferedAmount` is looked at while bytes wait, to report drain (WebSocket has no drain event). */
const DRAIN_POLL_MS = 5;

/** Options of a `WebSocketListen` call. */
export interface WebSocketListenOptions extends ListenOptions {
  /** The URL path upgrades are accepted at; other paths are answered 404. */
  path: string;
  /**
   * Origins of the pages that may connect (`https://app.example.com`), or `["*"]` for any. A
   * browser always sends its page's origin, so without this list any page a user opens could reach
   * the server through the user's browser; clients that send no Origin (servers, tools) are let in.
   * @default [] (no page)
   */
  allowedOrigins?: readonly string[];
}

/**
 * Answers an HTTP request that must not be upgraded: 404 off the path, 426 without an upgrade,
 * 403 from a page origin that is not allowed. Server adapters upgrade only what this lets through.
 *
 * @param request The request.
 * @param options The listener's path and allowed origins.
 * @returns The refusal, or undefined to upgrade.
 */
export function refuseUpgrade(request: Request, options: Pick<WebSocketListenOptions, "path" | "allowedOrigins">): Response | undefined {
  if (new URL(request.url).pathname !== options.path) return new Response("Not found", { status: 404 });
  if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
    return new Response(`Connect with a WebSocket to ${options.path}: it carries the native protocol`, { status: 426, headers: { upgrade: "websocket" } });
  }
  const origin = request.headers.get("origin");
  const allowed = options.allowedOrigins ?? [];
  if (origin !== null && !allowed.includes("*") && !allowed.some((o) => originOf(o) === origin)) {
    return new Response(`Origin "${origin}" may not connect: add it to webSocketAllowedOrigins`, { status: 403 });
  }
  return undefined;
}

/** `scheme://host[:port]` of an origin as configured (a trailing slash or path is dropped). */
function originOf(text: string): string | undefined {
  try {
    return new URL(text).origin;
  } catch {
    return undefined;
  }
}

/** Starts accepting WebSocket connections at a path; `accept` returns the handlers for each new one. */
export type WebSocketListen = (
  options: WebSocketListenOptions,
  accept: (transport: Transport) => TransportHandlers,
) => Promise<Listener>;

/**
 * The error a received message closes the connection with, if it breaks the rules above.
 *
 * @param data The message: bytes, or text (a string) for a text message.
 * @param remoteAddress The peer, for the message.
 * @returns The close code and error, or undefined for a message to decode.
 */
export function refuseMessage(data: unknown, remoteAddress: string): { code: WebSocketCloseCode; error: Error } | undefined {
  if (typeof data === "string" || !(data instanceof ArrayBuffer || ArrayBuffer.isView(data))) {
    return {
      code: WebSocketCloseCode.NOT_BINARY,
      error: new ProtocolError(`WebSocket ${remoteAddress} sent a text message: only binary messages carrying native frames are accepted`),
    };
  }
  if (data.byteLength > WEB_SOCKET_MAX_MESSAGE_BYTES) {
    return {
      code: WebSocketCloseCode.MESSAGE_TOO_BIG,
      error: new LimitExceededError(
        "webSocketMessageBytes",
        `WebSocket ${remoteAddress} sent a message of ${data.byteLength} bytes, above the ${WEB_SOCKET_MAX_MESSAGE_BYTES} allowed ` +
          "(split frames over several messages)",
      ),
    };
  }
  return undefined;
}

/**
 * Calls `send` with `data` in pieces of at most `WEB_SOCKET_MAX_MESSAGE_BYTES`.
 *
 * @param data The bytes.
 * @param send Sends one message.
 */
export function sendInMessages(data: Uint8Array, send: (message: Uint8Array) => void): void {
  if (data.length <= WEB_SOCKET_MAX_MESSAGE_BYTES) {
    send(data);
    return;
  }
  for (let pos = 0; pos < data.length; pos += WEB_SOCKET_MAX_MESSAGE_BYTES) {
    send(data.subarray(pos, Math.min(data.length, pos + WEB_SOCKET_MAX_MESSAGE_BYTES)));
  }
}

/**
 * The error a WebSocket connection closed with, from its close code.
 *
 * @param remoteAddress The peer.
 * @param code The close code.
 * @param reason The close reason.
 * @returns Undefined for a normal close (1000, or 1005: no code), else a `ProtocolError` naming the code.
 */
export function closedError(remoteAddress: string, code: number, reason: string): Error | undefined {
  if (code === WebSocketCloseCode.NORMAL || code === 1005) return undefined;
  return new ProtocolError(`WebSocket ${remoteAddress} closed (code ${code}${reason === "" ? "" : `: ${reason}`})`);
}

/**
 * Adapts an open standard `WebSocket` to a `Transport`. `bufferedAmount` is the socket's; as the
 * standard socket has no drain event, it is looked at every few milliseconds while bytes wait.
 *
 * @param socket The socket, open.
 * @param remoteAddress The peer as `host:port`.
 * @param getHandlers Called once with the transport; returns where bytes go.
 * @returns The transport.
 */
export function webSocketTransport(
  socket: WebSocket,
  remoteAddress: string,
  getHandlers: (transport: Transport) => TransportHandlers,
): Transport {
  let closed = false;
  let closeError: Error | undefined;
  let drainTimer: ReturnType<typeof setInterval> | undefined;
  let handlers: TransportHandlers;
  socket.binaryType = "arraybuffer";
  const finish = (error?: Error) => {
    if (closed) return;
    closed = true;
    clearInterval(drainTimer);
    drainTimer = undefined;
    handlers.close(error);
  };
  const closeWith = (code: WebSocketCloseCode, reason: string, error?: Error) => {
    closeError ??= error;
    try {
      socket.close(code, reason);
    } catch {
      // closing already
    }
    // Stop reading now; the close event may take a round trip.
    finish(closeError);
  };
  const watchDrain = () => {
    if (drainTimer !== undefined || socket.bufferedAmount === 0) return;
    drainTimer = setInterval(() => {
      if (socket.bufferedAmount > 0) return;
      clearInterval(drainTimer);
      drainTimer = undefined;
      if (!closed) handlers.drain?.();
    }, DRAIN_POLL_MS);
  };
  socket.addEventListener("message", (event) => {
    if (closed) return;
    const data: unknown = event.data;
    const refused = refuseMessage(data, remoteAddress);
    if (refused !== undefined) {
      closeWith(refused.code, refused.error.message.slice(0, 120), refused.error);
      return;
    }
    handlers.data(data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array((data as ArrayBufferView).buffer, (data as ArrayBufferView).byteOffset, (data as ArrayBufferView).byteLength));
  });
  socket.addEventListener("close", (event) => {
    const { code, reason } = event as CloseEvent;
    finish(closeError ?? closedError(remoteAddress, code, reason));
  });
  const transport: Transport = {
    remoteAddress,
    get bufferedAmount() {
      return socket.bufferedAmount;
    },
    write(data) {
      if (closed) return;
      try {
        sendInMessages(data, (message) => socket.send(message as Uint8Array<ArrayBuffer>));
      } catch (error) {
        closeWith(WebSocketCloseCode.NORMAL, "", error instanceof Error ? error : new Error(String(error)));
        return;
      }
      watchDrain();
    },
    close() {
      if (closed) return;
      // The close frame follows the messages already sent.
      try {
        socket.close(WebSocketCloseCode.NORMAL);
      } catch {
        // closing already
      }
    },
    abort() {
      closeWith(WebSocketCloseCode.LIMIT_EXCEEDED, "Limit exceeded");
    },
  };
  handlers = getHandlers(transport);
  return transport;
}
