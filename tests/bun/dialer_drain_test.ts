import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { createConnection, createServer, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { dial as bunClientDial } from "../../client/bun/connect.ts";
import { dial as nodeDial } from "../../client/node/connect.ts";
import { webSocketDialer } from "../../client/web_socket_dialer.ts";
import { connect } from "../../core/remoting/connection.ts";
import { duplexDialer } from "../../core/remoting/duplex.ts";
import type { Dialer } from "../../core/remoting/transport.ts";
import { dial as bunServerDial } from "../../server/bun/connect.ts";

/**
 * A server that stops reading until told to, so a client's socket buffer fills up. With
 * `webSocket`, it first completes a WebSocket handshake (then reads nothing, as before).
 */
async function stalledServer(webSocket = false): Promise<{ port: number; resume(): void; close(): void }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on("error", () => {});
    if (!webSocket) {
      socket.pause();
      socket.on("data", () => {});
      return;
    }
    let request = "";
    const onHandshake = (chunk: Buffer) => {
      request += chunk.toString("latin1");
      if (!request.includes("\r\n\r\n")) return;
      socket.off("data", onHandshake);
      socket.pause();
      socket.on("data", () => {});
      const key = /sec-websocket-key: *(\S+)/i.exec(request)![1]!;
      const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    };
    socket.on("data", onHandshake);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    resume: () => sockets.forEach((s) => s.resume()),
    close: () => {
      sockets.forEach((s) => s.destroy());
      server.close();
    },
  };
}

/** A real TCP socket in Web Streams form: `node:net` through `Duplex.toWeb`. */
const webStreamsDial = duplexDialer(({ host, port }) => {
  const socket = createConnection({ host, port });
  return {
    ...(Duplex.toWeb(socket) as unknown as { readable: ReadableStream<Uint8Array>; writable: WritableStream<Uint8Array> }),
    opened: new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject)),
    close: () => void socket.destroy(),
  };
});

const DIALERS: [string, Dialer, boolean][] = [
  ["client/bun", bunClientDial, false],
  ["server/bun", bunServerDial, false],
  ["client/node", nodeDial, false],
  ["duplexDialer (node:net as Web Streams)", webStreamsDial, false],
  ["webSocketDialer", webSocketDialer({ url: (address) => `ws://${address}/` }), true],
];

describe("dialers report drain, so oneway backpressure resumes", () => {
  for (const [name, dial, webSocket] of DIALERS) {
    test(`${name}: writable() waits while the peer does not read and resumes when it does`, async () => {
      const server = await stalledServer(webSocket);
      try {
        const connection = await connect(dial, `127.0.0.1:${server.port}`);
        const chunk = new Uint8Array(256 * 1024);
        let waited = false;
        // Fill the socket buffers well past the 4 MiB high-water mark.
        for (let i = 0; i < 200 && !waited; i++) {
          connection.oneway(1, {}, chunk);
          await Promise.resolve();
          const writable = connection.writable();
          const quick = await Promise.race([writable.then(() => true), Bun.sleep(20).then(() => false)]);
          if (!quick) {
            waited = true;
            server.resume();
            await writable; // resolves only if the dialer reports drain
          }
        }
        expect(waited).toBe(true);
        connection.close();
      } finally {
        server.close();
      }
    }, 20_000);
  }
});
