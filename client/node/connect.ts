/**
 * Node's TCP client adapter on `node:net`, or `node:tls` with TLS options (also works under Bun and
 * Deno's Node compatibility).
 *
 * The modules are imported on the first dial, through specifiers bundlers leave alone: the
 * runtime-neutral client imports this file (`defaultDialer` picks it on Node), and its edge and
 * browser bundles must hold no `node:` import.
 *
 * @module
 */
import type { Socket } from "node:net";
import { type Dialer, type DialOptions, parseAddress, type Transport } from "../../core/remoting/transport.ts";

const NET = "node:net";
const TLS = "node:tls";
let modules: Promise<[typeof import("node:net"), typeof import("node:tls")]> | undefined;

/** `node:net` and `node:tls`, imported once. */
function nodeModules(): Promise<[typeof import("node:net"), typeof import("node:tls")]> {
  return modules ??= Promise.all([import(NET), import(TLS)]);
}

/**
 * Makes a dialer on `net.createConnection`, or `tls.connect` (resolving after the handshake).
 *
 * @param options TLS settings; plain TCP without them.
 * @returns The dialer.
 */
export function createDialer(options: DialOptions = {}): Dialer {
  const tls = options.tls;
  return async (address, handlers) => {
    const { host, port } = parseAddress(address);
    const [{ createConnection, isIP }, { connect: connectTls }] = await nodeModules();
    return new Promise((resolve, reject) => {
      let socket: Socket;
      let readyEvent: string;
      if (tls === undefined) {
        socket = createConnection({ host, port, noDelay: true });
        readyEvent = "connect";
      } else {
        const serverName = tls.serverName ?? (isIP(host) === 0 ? host : undefined);
        socket = connectTls({
          host,
          port,
          rejectUnauthorized: tls.rejectUnauthorized ?? true,
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          ...(serverName === undefined ? {} : { servername: serverName }),
        });
        socket.setNoDelay(true);
        readyEvent = "secureConnect";
      }
      let connected = false;
      let closed = false;
      let lastError: Error | undefined;
      socket.on(readyEvent, () => {
        connected = true;
        const transport: Transport = {
          remoteAddress: address,
          get bufferedAmount() {
            return socket.writableLength;
          },
          write: (data) => {
            socket.write(data);
          },
          close: () => socket.end(),
        };
        resolve(transport);
      });
      socket.on("data", (chunk: Uint8Array) => handlers.data(chunk));
      socket.on("drain", () => handlers.drain?.());
      socket.on("error", (error) => {
        lastError = error;
        if (!connected) reject(error);
      });
      socket.on("close", () => {
        if (!connected) {
          reject(lastError ?? new Error(`Connection to ${address} closed before it was ready`));
          return;
        }
        if (closed) return;
        closed = true;
        handlers.close(lastError);
      });
    });
  };
}

/**
 * Dials `host:port` with `net.createConnection` over plain TCP.
 *
 * @param address The server.
 * @param handlers Where bytes and the close go.
 * @returns The transport.
 */
export const dial: Dialer = createDialer();
