/**
 * Bun's TCP client adapter: `Bun.connect` callbacks feed the core connection directly.
 *
 * @module
 */
import { BufferedWriter } from "../../core/remoting/buffered_writer.ts";
import { type Dialer, parseAddress, type Transport } from "../../core/remoting/transport.ts";

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
  const finish = (error?: Error) => {
    if (closed) return;
    closed = true;
    handlers.close(error);
  };
  const socket = await Bun.connect({
    hostname: host,
    port,
    socket: {
      data(_socket, data) {
        handlers.data(data);
      },
      drain() {
        writer?.drain();
        if (writer?.buffered === 0) handlers.drain?.();
      },
      close(_socket, error) {
        finish(error);
      },
      error(_socket, error) {
        finish(error);
      },
    },
  });
  socket.setNoDelay(true);
  const w = new BufferedWriter(socket);
  writer = w;
  const transport: Transport = {
    remoteAddress: address,
    get bufferedAmount() {
      return w.buffered;
    },
    write: (data) => w.write(data),
    close: () => w.whenEmpty(() => socket.end()),
  };
  return transport;
};
