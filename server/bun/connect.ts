/**
 * Bun's TCP dialer for server-to-server links (broker to NameServer).
 *
 * @module
 */
import { BufferedWriter } from "../../core/remoting/buffered_writer.ts";
import { type Dialer, parseAddress } from "../../core/remoting/transport.ts";

/**
 * Dials `host:port` with `Bun.connect`.
 *
 * @param address The server.
 * @param handlers Where bytes and the close go.
 * @returns The transport.
 */
export const dial: Dialer = async (address, handlers) => {
  const { host, port } = parseAddress(address);
  let writer: BufferedWriter | undefined;
  let closed = false;
  const socket = await Bun.connect({
    hostname: host,
    port,
    socket: {
      data: (_socket, data) => handlers.data(data),
      drain: () => writer?.drain(),
      close: (_socket, error) => {
        if (!closed) handlers.close(error);
        closed = true;
      },
    },
  });
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
