/**
 * Node's TCP client adapter on `node:net` (also works under Bun and Deno's Node compatibility).
 *
 * @module
 */
import { createConnection } from "node:net";
import { type Dialer, parseAddress, type Transport } from "../../core/remoting/transport.ts";

/**
 * Dials `host:port` with `net.createConnection`.
 *
 * @param address The server.
 * @param handlers Where bytes and the close go.
 * @returns The transport.
 */
export const dial: Dialer = (address, handlers) => {
  const { host, port } = parseAddress(address);
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port, noDelay: true });
    let connected = false;
    let closed = false;
    let lastError: Error | undefined;
    socket.on("connect", () => {
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
      if (!connected || closed) return;
      closed = true;
      handlers.close(lastError);
    });
  });
};
