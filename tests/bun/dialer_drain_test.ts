import { describe, expect, test } from "bun:test";
import { createServer, type Socket } from "node:net";
import { dial as bunClientDial } from "../../client/bun/connect.ts";
import { dial as nodeDial } from "../../client/node/connect.ts";
import { connect } from "../../core/remoting/connection.ts";
import type { Dialer } from "../../core/remoting/transport.ts";
import { dial as bunServerDial } from "../../server/bun/connect.ts";

/** A server that stops reading until told to, so a client's socket buffer fills up. */
async function stalledServer(): Promise<{ port: number; resume(): void; close(): void }> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    socket.pause();
    sockets.push(socket);
    socket.on("data", () => {});
    socket.on("error", () => {});
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

const DIALERS: [string, Dialer][] = [["client/bun", bunClientDial], ["server/bun", bunServerDial], ["client/node", nodeDial]];

describe("dialers report drain, so oneway backpressure resumes", () => {
  for (const [name, dial] of DIALERS) {
    test(`${name}: writable() waits while the peer does not read and resumes when it does`, async () => {
      const server = await stalledServer();
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
