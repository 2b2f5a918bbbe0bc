/**
 * The native protocol over WebSocket on Deno (`server/deno/listen_web_socket.ts`): `rmq standalone`
 * on Deno with WebSocket ports serves a Bun client dialing WebSockets, refuses text and oversized
 * messages on their own connection, and stops cleanly on SIGTERM with WebSocket clients connected.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Producer } from "../../client/producer.ts";
import { PullConsumer } from "../../client/pull_consumer.ts";
import { webSocketDialer } from "../../client/web_socket_dialer.ts";
import { encodeFrame } from "../../core/codec/frame.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { WEB_SOCKET_MAX_MESSAGE_BYTES, WebSocketCloseCode } from "../../core/remoting/web_socket.ts";
import { DENO, type Server, startServer, stop } from "../_helpers/process.ts";
import { openRawWebSocket } from "../_helpers/raw_web_socket.ts";

let dir: string;
let server: Server;
let nameServer: string;
let broker: string;
let urls: Map<string, string>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-deno-ws-"));
  server = await startServer(DENO, [
    "run", "-A", "cli/deno.ts", "standalone", "--host", "127.0.0.1", "--port", "0", "--namesrv-port", "0", "--no-admin",
    "--web-socket-port", "0", "--namesrv-web-socket-port", "0", "--data-dir", dir,
  ], { ready: /Standalone ready: NameServer \S+:(\d+),/, timeoutMs: 60_000 });
  const out = server.output();
  const [, nsWs] = /NameServer listening on \S+ \(WebSocket on port (\d+)\)/.exec(out)!;
  const [, brokerWs] = /listening on \S+ \(WebSocket on port (\d+)\), advertised/.exec(out)!;
  [, nameServer, broker] = /Standalone ready: NameServer (\S+), broker (\S+),/.exec(out)! as unknown as [string, string, string];
  urls = new Map([[nameServer, `ws://127.0.0.1:${nsWs}/`], [broker, `ws://127.0.0.1:${brokerWs}/`]]);
}, 90_000);

afterAll(async () => {
  if (server !== undefined) await stop(server);
  rmSync(dir, { recursive: true, force: true });
});

const url = (address: string) => urls.get(address) ?? (() => {
  throw new Error(`No WebSocket URL for ${address}`);
})();

describe("WebSocket clients (Deno server)", () => {
  test("a Bun Producer and PullConsumer dialing WebSockets send and read back messages, a 3 MiB body too", async () => {
    const dial = webSocketDialer({ url });
    const producer = new Producer({ nameServer, dial });
    const consumer = new PullConsumer({ nameServer, group: "deno-ws", dial });
    await producer.start();
    await consumer.start();
    try {
      const first = await producer.send({ topic: "deno_ws", body: "hello deno" }, { selector: (queues) => queues[0]! });
      const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 253);
      await producer.send({ topic: "deno_ws", body: big }, { selector: (queues) => queues[0]! });
      const pulled = await consumer.pull(first.messageQueue, first.queueOffset, { maxNums: 2 });
      expect(new TextDecoder().decode(pulled.messages[0]!.body)).toBe("hello deno");
      expect(pulled.messages[1]!.body).toEqual(big);
    } finally {
      await producer.shutdown();
      await consumer.shutdown();
    }
  });

  test("text and oversized messages close their own connection with 4003 and 4009; a bystander is answered", async () => {
    const bystander = await openRawWebSocket(url(broker));
    const text = await openRawWebSocket(url(broker));
    text.socket.send("hello");
    expect((await text.closed).code).toBe(WebSocketCloseCode.NOT_BINARY);
    const big = await openRawWebSocket(url(broker));
    big.socket.send(new Uint8Array(WEB_SOCKET_MAX_MESSAGE_BYTES + 1));
    const closed = await big.closed;
    expect(closed.code).toBe(WebSocketCloseCode.MESSAGE_TOO_BIG);
    expect(closed.reason).toContain("split frames over several messages");
    bystander.socket.send(encodeFrame({ code: RequestCode.GET_BROKER_RUNTIME_INFO, id: 1, flags: 0, header: {} }));
    expect((await bystander.received(1))[0]!.code).toBe(ResponseCode.SUCCESS);
    bystander.socket.close();
  });

  test("SIGTERM with a WebSocket client connected stops the process cleanly", async () => {
    const client = await openRawWebSocket(url(nameServer));
    await stop(server, 15_000);
    expect(await server.exited).toBe(0);
    expect(server.output()).toContain("Stopped");
    expect((await client.closed).code).toBeGreaterThan(0);
  }, 30_000);
});
