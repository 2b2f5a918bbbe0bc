/**
 * Deno's TCP client adapter on `Deno.connect` (`Deno.connectTls` with TLS options), driven by
 * `read()`/`write()` loops.
 *
 * @module
 */
import { DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, type Dialer, type DialOptions, parseAddress } from "../../core/remoting/transport.ts";
import { readWriteTransport } from "../../core/remoting/read_write.ts";

/**
 * Makes a dialer on `Deno.connect`, or `Deno.connectTls` (which completes the handshake before it
 * resolves).
 *
 * @param options TLS settings; plain TCP without them.
 * @returns The dialer.
 * @throws {TypeError} When `tls.rejectUnauthorized` is false: Deno only allows that through its
 *   `--unsafely-ignore-certificate-errors` flag.
 */
export function createDialer(options: DialOptions = {}): Dialer {
  const tls = options.tls;
  if (tls?.rejectUnauthorized === false) {
    throw new TypeError("Deno cannot skip certificate checks per connection: pass the CA in tls.ca, or run with --unsafely-ignore-certificate-errors");
  }
  return async (address, handlers) => {
    const { host, port } = parseAddress(address);
    if (tls === undefined) {
      const conn = await Deno.connect({ hostname: host, port, transport: "tcp" });
      conn.setNoDelay(true);
      return readWriteTransport(conn, address, () => handlers);
    }
    const conn = await Deno.connectTls({
      hostname: tls.serverName ?? host,
      port,
      ...(tls.ca === undefined ? {} : { caCerts: [tls.ca] }),
      ...(tls.identity === undefined ? {} : { cert: tls.identity.cert, key: tls.identity.key }),
    });
    const timeoutMs = tls.handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      conn.close();
    }, timeoutMs);
    try {
      await conn.handshake();
    } catch (error) {
      if (!timedOut) conn.close();
      const why = timedOut ? `did not complete within ${timeoutMs} ms` : `failed: ${(error as Error).message}`;
      throw new Error(`TLS handshake with ${address} ${why}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
    return readWriteTransport(conn, address, () => handlers);
  };
}

/**
 * Dials `host:port` with `Deno.connect` over plain TCP.
 *
 * @param address The server.
 * @param handlers Where bytes and the close go.
 * @returns The transport.
 */
export const dial: Dialer = createDialer();
