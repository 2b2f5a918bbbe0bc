/**
 * Raw TCP sockets for tests that play a hostile client: bytes out as given, and when the server
 * closed the connection.
 */
import { connect as netConnect, type Socket } from "node:net";

/** A raw connection to a server. */
export interface RawSocket {
  readonly socket: Socket;
  /** When the socket was connected (ms since the epoch). */
  readonly openedAt: number;
  /** Resolves with the time (ms since the epoch) the connection closed, by either side. */
  readonly closed: Promise<number>;
  /** Whether it has closed. */
  isClosed(): boolean;
  /** Writes bytes if the socket is still open. */
  write(bytes: Uint8Array): void;
  /** Closes it from our side. */
  destroy(): void;
}

/**
 * Opens a raw TCP connection.
 *
 * @param port The server's port.
 * @param host The server's address. @default "127.0.0.1"
 * @returns The connected socket.
 */
export async function openRaw(port: number, host = "127.0.0.1"): Promise<RawSocket> {
  const socket = netConnect({ port, host });
  socket.on("error", () => {});
  // Whatever the server sends back is read and dropped, so it never waits on us.
  socket.on("data", () => {});
  let closedFlag = false;
  const closed = new Promise<number>((resolve) => socket.once("close", () => {
    closedFlag = true;
    resolve(Date.now());
  }));
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  return {
    socket,
    openedAt: Date.now(),
    closed,
    isClosed: () => closedFlag,
    write(bytes) {
      if (!closedFlag && !socket.destroyed) socket.write(bytes);
    },
    destroy() {
      socket.destroy();
    },
  };
}

/**
 * The start of a frame: a 4-byte length prefix announcing `announced` bytes, then `fill` bytes
 * (never the whole frame).
 *
 * @param announced The length to announce.
 * @param fill How many bytes of the frame to include.
 * @returns The bytes.
 */
export function partialFrame(announced: number, fill: number): Uint8Array {
  if (fill >= announced) throw new RangeError(`A partial frame must hold fewer than ${announced} bytes, got ${fill}`);
  const bytes = new Uint8Array(4 + fill);
  new DataView(bytes.buffer).setUint32(0, announced);
  return bytes;
}

/**
 * Writes bytes on a fresh connection, half-closes it, and waits for the server to close it.
 *
 * @param port The server's port on 127.0.0.1.
 * @param bytes What to send.
 * @returns "closed" once the server closed it, "slow" when it did not within 5 s.
 */
export function exchange(port: number, bytes: Uint8Array): Promise<"closed" | "slow"> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: "127.0.0.1", port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve("slow");
    }, 5_000);
    socket.on("connect", () => {
      socket.write(bytes);
      socket.end();
    });
    socket.on("data", () => {});
    socket.on("error", () => {});
    socket.on("close", () => {
      clearTimeout(timer);
      resolve("closed");
    });
  });
}
