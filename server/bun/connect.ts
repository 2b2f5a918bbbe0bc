/**
 * Bun's TCP dialer for server-to-server links (broker to NameServer), TLS when asked.
 *
 * @module
 */
import { BufferedWriter } from "../../core/remoting/buffered_writer.ts";
import { type Dialer, type DialOptions, parseAddress } from "../../core/remoting/transport.ts";

/**
 * Makes a dialer on `Bun.connect`; with TLS options it resolves once the handshake succeeded.
 *
 * @param options TLS settings; plain TCP without them.
 * @returns The dialer.
 */
export function createDialer(options: DialOptions = {}): Dialer {
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
    const socket = await Bun.connect({
      hostname: host,
      port,
      ...(tls === undefined ? {} : {
        tls: {
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
          ...(tls.serverName === undefined ? {} : { serverName: tls.serverName }),
        },
      }),
      socket: {
        handshake(socket, success, authorizationError) {
          const pending = handshake;
          if (pending === undefined) return;
          handshake = undefined;
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
      },
    });
    if (handshakeDone !== undefined) await handshakeDone;
    const w = (writer = new BufferedWriter(socket));
    return {
      remoteAddress: address,
      get bufferedAmount() {
        return w.buffered;
      },
      write: (data) => w.write(data),
      close: () => w.whenEmpty(() => socket.end()),
    };
  };
}

/**
 * Dials `host:port` with `Bun.connect` over plain TCP.
 *
 * @param address The server.
 * @param handlers Where bytes and the close go.
 * @returns The transport.
 */
export const dial: Dialer = createDialer();
