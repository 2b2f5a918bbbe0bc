/**
 * The portable connection: a Web Streams `Duplex` (Deno's `connect`, Cloudflare's `connect()`, a
 * WebSocket stream wrapper, an in-memory pair) as a push-style `Transport`, and a `Dialer` over any
 * function that opens one. It behaves as the callback adapters do: one write in flight at a time,
 * what is written meanwhile leaves together in the next write; `bufferedAmount` counts the bytes
 * the socket has not taken, and `drain` follows when it reaches 0; `close()` lets written bytes
 * leave first, `abort()` drops them; a failed read or write closes the transport with its error.
 *
 * @module
 */
import { type Dialer, type Duplex, parseAddress, type Transport, type TransportHandlers } from "./transport.ts";

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Closes a duplex, ignoring that it may be closed already. */
function closeQuietly(duplex: Duplex): void {
  try {
    Promise.resolve(duplex.close()).catch(() => {});
  } catch {
    // already closed
  }
}

function concat(parts: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let pos = 0;
  for (const part of parts) {
    out.set(part, pos);
    pos += part.length;
  }
  return out;
}

/**
 * Drives a duplex: reads its readable into `handlers.data` and writes through its writable.
 *
 * @param duplex The stream pair, connected.
 * @param handlers Where incoming bytes and the close go.
 * @param remoteAddress The peer, for logs and records.
 * @returns A transport writing to the duplex.
 *
 * @example Serve an in-memory pair
 * ```ts
 * import { duplexTransport } from "./duplex.ts";
 * const pipe = new TransformStream<Uint8Array, Uint8Array>();
 * const transport = duplexTransport(
 *   { readable: pipe.readable, writable: pipe.writable, close() {} },
 *   { data: (bytes) => console.log(bytes.length), close: () => {} },
 *   "loopback:0",
 * );
 * transport.write(new Uint8Array(3)); // echoed: logs 3
 * transport.close();
 * ```
 */
export function duplexTransport(duplex: Duplex, handlers: TransportHandlers, remoteAddress: string): Transport {
  const writer = duplex.writable.getWriter();
  const reader = duplex.readable.getReader();
  let closed = false;
  /** `close()` was called: the socket closes once what was written has left. */
  let closing = false;
  let writing = false;
  /** Arrays written while a write was in flight; they leave as one. */
  let queue: Uint8Array[] = [];
  let queued = 0;
  let buffered = 0;
  const finish = (error?: Error) => {
    if (closed) return;
    closed = true;
    queue = [];
    writer.abort(error).catch(() => {});
    reader.cancel(error).catch(() => {});
    closeQuietly(duplex);
    handlers.close(error);
  };
  const end = () => {
    // The writer holds the writable's lock, so the stream is ended through it; then the socket.
    writer.close().then(() => finish(), (error) => finish(asError(error)));
  };
  const send = (chunk: Uint8Array) => {
    writing = true;
    writer.write(chunk).then(
      () => {
        if (closed) return;
        buffered -= chunk.length;
        if (queue.length > 0) {
          const next = queue.length === 1 ? queue[0]! : concat(queue, queued);
          queue = [];
          queued = 0;
          send(next);
          return;
        }
        writing = false;
        if (closing) end();
        else if (buffered === 0) handlers.drain?.();
      },
      (error) => finish(asError(error)),
    );
  };
  (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || closed) break;
        handlers.data(value);
      }
      finish();
    } catch (error) {
      finish(closed ? undefined : asError(error));
    }
  })();
  return {
    remoteAddress,
    get bufferedAmount() {
      return buffered;
    },
    write(data) {
      if (closed || closing) return;
      buffered += data.length;
      if (writing) {
        queue.push(data);
        queued += data.length;
      } else {
        send(data);
      }
    },
    close() {
      if (closed || closing) return;
      closing = true;
      if (!writing) end();
    },
    abort() {
      finish();
    },
  };
}

/** Opens a Web Streams socket to a host and port (Deno's `connect`, Cloudflare's `connect()`, …). */
export type OpenDuplex = (target: { host: string; port: number }) => Duplex | Promise<Duplex>;

/**
 * A dialer over any function that opens a Web Streams socket. The dial resolves once the socket is
 * connected (`opened`, where it has one), so a refused connection fails the dial and the client's
 * connect timeout covers a slow one.
 *
 * @param open Opens the socket.
 * @returns The dialer, for the `dial` option of every client.
 *
 * @example Dial with Deno's `connect` (Deno Deploy and other Web Streams runtimes)
 * ```ts ignore
 * import { duplexDialer } from "./duplex.ts";
 * import { Producer } from "../../client/producer.ts";
 * const dial = duplexDialer(({ host, port }) => openSocket(host, port)); // Deno's connect, Cloudflare's connect(), …
 * const producer = new Producer({ nameServer: "127.0.0.1:9876", dial });
 * ```
 */
export function duplexDialer(open: OpenDuplex): Dialer {
  return async (address, handlers) => {
    const duplex = await open(parseAddress(address));
    if (duplex.opened !== undefined) {
      try {
        await duplex.opened;
      } catch (error) {
        closeQuietly(duplex);
        throw error;
      }
    }
    return duplexTransport(duplex, handlers, address);
  };
}
