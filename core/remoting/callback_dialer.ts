/**
 * A dialer for runtimes whose sockets report through callbacks and write partially (Bun's). The
 * runtime adapter supplies only the call that opens the socket; buffering, TLS handshake waiting,
 * drain and close handling live here once for the client's and the server's dialers.
 *
 * @module
 */
import { BufferedWriter, type PartialWriteSocket } from "./buffered_writer.ts";
import { DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, type Dialer, type DialOptions, parseAddress, type TlsClientOptions, type Transport } from "./transport.ts";

/** A callback socket: partial writes, and `end()` to close after what was written. */
export interface CallbackSocket extends PartialWriteSocket {
  end(): void;
  /** Closes at once, without a TLS close_notify (used for a handshake that never completes). */
  terminate?(): void;
}

/** The callbacks a callback socket reports through. */
export interface CallbackSocketHandlers<S> {
  handshake(socket: S, success: boolean, authorizationError: Error | null): void;
  data(socket: S, data: Uint8Array): void;
  drain(socket: S): void;
  close(socket: S, error?: Error): void;
  error(socket: S, error: Error): void;
}

/** Opens a socket to `host:port` (TLS when `tls` is given) reporting to `handlers`. */
export type OpenCallbackSocket<S extends CallbackSocket> = (
  target: { host: string; port: number; tls: TlsClientOptions | undefined },
  handlers: CallbackSocketHandlers<S>,
) => Promise<S>;

/**
 * Makes a dialer from a runtime's socket-opening call. With TLS options the dial resolves only once
 * the handshake succeeded (an untrusted certificate fails the dial).
 *
 * @param open The runtime call that opens a callback socket (the Bun adapters supply it).
 * @param options TLS settings; plain TCP without them.
 * @returns The dialer.
 */
export function callbackDialer<S extends CallbackSocket>(open: OpenCallbackSocket<S>, options: DialOptions = {}): Dialer {
  const tls = options.tls;
  return async (address, handlers) => {
    const { host, port } = parseAddress(address);
    let writer: BufferedWriter | undefined;
    let closed = false;
    let handshake: { resolve(): void; reject(error: Error): void } | undefined;
    const handshakeDone = tls === undefined ? undefined : new Promise<void>((resolve, reject) => (handshake = { resolve, reject }));
    const finish = (error?: Error) => {
      if (closed) return;
      closed = true;
      if (handshake !== undefined) {
        handshake.reject(error ?? new Error(`TLS connection to ${address} closed during the handshake`));
        handshake = undefined;
        return;
      }
      handlers.close(error);
    };
    let handshakeTimer: ReturnType<typeof setTimeout> | undefined;
    const socket = await open({ host, port, tls }, {
      handshake(socket, success, authorizationError) {
        const pending = handshake;
        if (pending === undefined) return;
        handshake = undefined;
        clearTimeout(handshakeTimer);
        if (!success || (authorizationError !== null && tls?.rejectUnauthorized !== false)) {
          closed = true;
          socket.end();
          pending.reject(new Error(`TLS handshake with ${address} failed: ${authorizationError?.message ?? "not authorized"}`));
          return;
        }
        pending.resolve();
      },
      data: (_socket, data) => handlers.data(data),
      drain: () => {
        writer?.drain();
        if (writer?.buffered === 0) handlers.drain?.();
      },
      close: (_socket, error) => finish(error),
      error: (_socket, error) => finish(error),
    });
    if (handshakeDone !== undefined) {
      const timeoutMs = tls?.handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS;
      handshakeTimer = setTimeout(() => {
        const pending = handshake;
        if (pending === undefined) return;
        handshake = undefined;
        closed = true;
        (socket.terminate ?? socket.end).call(socket);
        pending.reject(new Error(`TLS handshake with ${address} did not complete within ${timeoutMs} ms`));
      }, timeoutMs);
      await handshakeDone;
    }
    const w = (writer = new BufferedWriter(socket));
    const transport: Transport = {
      remoteAddress: address,
      get bufferedAmount() {
        return w.buffered;
      },
      write: (data) => w.write(data),
      writeCopies: true,
      close: () => w.whenEmpty(() => socket.end()),
    };
    return transport;
  };
}
