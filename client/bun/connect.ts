/**
 * Bun's TCP client adapter: `Bun.connect` callbacks feed the core connection directly. With TLS
 * options it dials TLS and resolves only once the handshake succeeded.
 *
 * @module
 */
import { callbackDialer } from "../../core/remoting/callback_dialer.ts";
import type { Dialer, DialOptions } from "../../core/remoting/transport.ts";

/**
 * Makes a dialer on `Bun.connect`; with TLS options it resolves once the handshake succeeded.
 *
 * @param options TLS settings; plain TCP without them.
 * @returns The dialer.
 */
export function createDialer(options: DialOptions = {}): Dialer {
  return callbackDialer(async ({ host, port, tls }, handlers) => {
    const socket = await Bun.connect({
      hostname: host,
      port,
      ...(tls === undefined ? {} : {
        tls: {
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
          ...(tls.serverName === undefined ? {} : { serverName: tls.serverName }),
          ...(tls.identity === undefined ? {} : { cert: tls.identity.cert, key: tls.identity.key }),
        },
      }),
      socket: handlers,
    });
    socket.setNoDelay(true);
    return socket;
  }, options);
}

/**
 * Dials `host:port` with `Bun.connect` over plain TCP.
 *
 * @param address The server.
 * @param handlers Where bytes and the close go.
 * @returns The transport.
 */
export const dial: Dialer = createDialer();
