/**
 * The native protocol over WebSocket on Bun (`server/bun/listen_web_socket.ts`), against a real
 * NameServer and broker: clients produce and consume through `webSocketDialer`; frames may be split
 * over messages or packed into one; text and oversized messages, idle sockets and half frames cost
 * their own connection only; ACL and TLS apply as on TCP.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDialer, dial as tcpDial } from "../../client/bun/connect.ts";
import { withCredentials } from "../../client/_signer.ts";
import { webSocketDialer } from "../../client/web_socket_dialer.ts";
import { Producer } from "../../client/producer.ts";
import { PullConsumer } from "../../client/pull_consumer.ts";
import { encodeFrame } from "../../core/codec/frame.ts";
import { BrokerError } from "../../core/errors.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { WEB_SOCKET_MAX_MESSAGE_BYTES, WebSocketCloseCode } from "../../core/remoting/web_socket.ts";
import { AclGuard } from "../../server/acl/acl_guard.ts";
import { AclRules } from "../../server/acl/acl_rules.ts";
import { listen } from "../../server/bun/listen.ts";
import { listenWebSocket } from "../../server/bun/listen_web_socket.ts";
import { type Standalone, type StandaloneOptions, startStandalone } from "../../server/standalone.ts";
import { openRawWebSocket } from "../_helpers/raw_web_socket.ts";
import { partialFrame } from "../_helpers/raw_socket.ts";
import { until } from "../_helpers/wait.ts";
import { makeTestCert, type TestCert } from "../security/_certs.ts";

const dirs: string[] = [];
const systems: Standalone[] = [];
let cert: TestCert | undefined;

afterAll(async () => {
  for (const system of systems) await system.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  cert?.remove();
});

/** A standalone on free ports, with WebSocket ports for its NameServer and broker. */
async function startWithWebSockets(options: Partial<StandaloneOptions> = {}): Promise<Standalone> {
  const dir = mkdtempSync(join(tmpdir(), "rmq-ws-"));
  dirs.push(dir);
  const system = await startStandalone({
    listen,
    dial: tcpDial,
    listenWebSocket,
    hostname: "127.0.0.1",
    port: 0,
    nameServerPort: 0,
    webSocketPort: 0,
    webSocketPath: "/rocketmq",
    nameServer: { webSocketPort: 0, webSocketPath: "/rocketmq" },
    dataDir: dir,
    log: () => {},
    ...options,
  });
  systems.push(system);
  return system;
}

/** The URL of each server's WebSocket, by the TCP address clients know it by. */
function urlsOf(system: Standalone, scheme = "ws"): (address: string) => string {
  const urls = new Map([
    [system.nameServerAddress, `${scheme}://127.0.0.1:${system.nameServer.webSocketPort}/rocketmq`],
    [system.brokerAddress, `${scheme}://127.0.0.1:${system.broker.webSocketPort}/rocketmq`],
  ]);
  return (address) => {
    const url = urls.get(address);
    if (url === undefined) throw new Error(`No WebSocket URL for ${address}`);
    return url;
  };
}

const ROUTE = (id: number) => encodeFrame({ code: RequestCode.GET_ROUTEINFO_BY_TOPIC, id, flags: 0, header: { topic: "TBW102" } });

let system: Standalone;

beforeAll(async () => {
  system = await startWithWebSockets();
});

describe("WebSocket clients (Bun)", () => {
  test("a Producer and a PullConsumer dialing WebSockets send messages and read them back", async () => {
    const dial = webSocketDialer({ url: urlsOf(system) });
    const producer = new Producer({ nameServer: system.nameServerAddress, dial });
    const consumer = new PullConsumer({ nameServer: system.nameServerAddress, group: "ws-readers", dial });
    await producer.start();
    await consumer.start();
    try {
      const bodies = Array.from({ length: 20 }, (_, i) => `over websocket ${i}`);
      const sent = [];
      for (const body of bodies) sent.push(await producer.send({ topic: "ws_orders", body }, { selector: (queues) => queues[0]! }));
      // A 3 MiB body crosses the 1 MiB message limit: the writers split it, the decoders join it.
      const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 251);
      const bigSent = await producer.send({ topic: "ws_orders", body: big }, { selector: (queues) => queues[0]! });
      const queue = sent[0]!.messageQueue;
      const pulled = await consumer.pull(queue, sent[0]!.queueOffset, { maxNums: 32 });
      expect(pulled.messages.map((m) => new TextDecoder().decode(m.body)).slice(0, 20)).toEqual(bodies);
      const bigPulled = await consumer.pull(queue, bigSent.queueOffset, { maxNums: 1 });
      expect(bigPulled.messages[0]!.body).toEqual(big);
    } finally {
      await producer.shutdown();
      await consumer.shutdown();
    }
  });

  test("frames split byte by byte over messages, and several frames in one message, are all answered", async () => {
    const socket = await openRawWebSocket(urlsOf(system)(system.nameServerAddress));
    const first = ROUTE(1);
    for (const byte of first) socket.socket.send(new Uint8Array([byte]));
    const packed = [ROUTE(2), ROUTE(3), ROUTE(4)];
    const message = new Uint8Array(packed.reduce((n, f) => n + f.length, 0));
    let pos = 0;
    for (const frame of packed) {
      message.set(frame, pos);
      pos += frame.length;
    }
    socket.socket.send(message);
    const answers = await socket.received(4);
    expect(answers.map((a) => a.id).sort()).toEqual([1, 2, 3, 4]);
    expect(answers.every((a) => a.code === ResponseCode.SUCCESS)).toBe(true);
    socket.socket.close();
  });

  test("a text message closes only its own connection, with code 4003 and a reason", async () => {
    const bystander = await openRawWebSocket(urlsOf(system)(system.brokerAddress));
    const socket = await openRawWebSocket(urlsOf(system)(system.brokerAddress));
    socket.socket.send("GET_ROUTEINFO_BY_TOPIC TBW102");
    const closed = await socket.closed;
    expect(closed.code).toBe(WebSocketCloseCode.NOT_BINARY);
    expect(closed.reason).toContain("only binary messages carrying native frames are accepted");
    bystander.socket.send(encodeFrame({ code: RequestCode.GET_BROKER_RUNTIME_INFO, id: 7, flags: 0, header: {} }));
    expect((await bystander.received(1))[0]!.code).toBe(ResponseCode.SUCCESS);
    bystander.socket.close();
  });

  test("a message above the limit closes its connection (1009) before it is decoded", async () => {
    const socket = await openRawWebSocket(urlsOf(system)(system.brokerAddress));
    socket.socket.send(new Uint8Array(WEB_SOCKET_MAX_MESSAGE_BYTES + 1));
    expect((await socket.closed).code).toBe(1009);
  });

  test("a page's origin must be allowed; clients that send no Origin always get in", async () => {
    const guarded = await startWithWebSockets({ webSocketAllowedOrigins: ["http://allowed.test/"] });
    const url = urlsOf(guarded)(guarded.brokerAddress);
    const refused = await fetch(url.replace("ws:", "http:"), { headers: { upgrade: "websocket", connection: "upgrade", origin: "http://evil.test" } });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toBe('Origin "http://evil.test" may not connect: add it to webSocketAllowedOrigins');
    const opens = (origin?: string) =>
      new Promise<boolean>((resolve) => {
        const socket = new WebSocket(url, (origin === undefined ? {} : { headers: { origin } }) as unknown as string[]);
        socket.onopen = () => {
          socket.close();
          resolve(true);
        };
        socket.onerror = () => resolve(false);
      });
    expect(await opens("http://evil.test")).toBe(false);
    expect(await opens("http://allowed.test")).toBe(true);
    expect(await opens()).toBe(true);
    // The NameServer was given no origins: no page may connect to it.
    expect(await new Promise<boolean>((resolve) => {
      const socket = new WebSocket(urlsOf(guarded)(guarded.nameServerAddress), { headers: { origin: "http://allowed.test" } } as unknown as string[]);
      socket.onopen = () => resolve(true);
      socket.onerror = () => resolve(false);
    })).toBe(false);
  });

  test("HTTP requests get 404 off the path and 426 on it without an upgrade", async () => {
    const base = `http://127.0.0.1:${system.broker.webSocketPort}`;
    expect((await fetch(`${base}/elsewhere`)).status).toBe(404);
    const plain = await fetch(`${base}/rocketmq`);
    expect(plain.status).toBe(426);
    expect(await plain.text()).toContain("Connect with a WebSocket");
  });

  test("half a frame, then the socket dropped: the bytes it held come back, nothing acknowledged is lost", async () => {
    const dial = webSocketDialer({ url: urlsOf(system) });
    const producer = new Producer({ nameServer: system.nameServerAddress, dial });
    await producer.start();
    const sent = await producer.send({ topic: "ws_dropped", body: "kept" }, { selector: (queues) => queues[0]! });
    const guard = system.broker.context.connectionGuard;
    const socket = await openRawWebSocket(urlsOf(system)(system.brokerAddress));
    socket.socket.send(partialFrame(200_000, 150_000));
    await until(() => guard.pendingFrameBytes.untrusted > 0, 5000, "the half frame to be held");
    socket.socket.close();
    await until(() => guard.pendingFrameBytes.untrusted === 0, 5000, "the held bytes to come back");
    const consumer = new PullConsumer({ nameServer: system.nameServerAddress, group: "ws-dropped", dial });
    await consumer.start();
    const pulled = await consumer.pull(sent.messageQueue, sent.queueOffset);
    expect(new TextDecoder().decode(pulled.messages[0]!.body)).toBe("kept");
    await consumer.shutdown();
    await producer.shutdown();
  });
});

describe("WebSocket connections pass the TCP limits", () => {
  test("a WebSocket that sends no frame is cut after handshakeTimeoutMs; the cut is counted", async () => {
    const limited = await startWithWebSockets({ handshakeTimeoutMs: 300 });
    const socket = await openRawWebSocket(urlsOf(limited)(limited.brokerAddress));
    const opened = Date.now();
    await socket.closed;
    expect(Date.now() - opened).toBeGreaterThanOrEqual(250);
    expect(limited.broker.context.connectionGuard.cuts.get("handshakeTimeoutMs")).toBeGreaterThanOrEqual(1);
  });

  test("half frames of one IP's WebSockets are bounded by maxPendingFrameBytesPerIp, and a TCP client is still served", async () => {
    const limited = await startWithWebSockets({ maxPendingFrameBytesPerIp: 256 * 1024 });
    const url = urlsOf(limited)(limited.brokerAddress);
    const sockets = await Promise.all(Array.from({ length: 8 }, () => openRawWebSocket(url)));
    // Each announces a 1 MiB frame and sends 100 KiB of it: the 64 KiB buffer grows to 256 KiB.
    for (const socket of sockets) socket.socket.send(partialFrame(1024 * 1024, 100 * 1024));
    await until(() => sockets.some((s) => s.isClosed()), 5000, "a connection past the per-IP share to be cut");
    const guard = limited.broker.context.connectionGuard;
    expect(guard.cuts.get("maxPendingFrameBytesPerIp")).toBeGreaterThanOrEqual(1);
    expect(guard.pendingFrameBytesOf("127.0.0.1")).toBeLessThanOrEqual(256 * 1024);
    const producer = new Producer({ nameServer: limited.nameServerAddress, dial: tcpDial });
    await producer.start();
    expect((await producer.send({ topic: "ws_limits", body: "still served" })).status).toBe("SEND_OK");
    await producer.shutdown();
    for (const socket of sockets) socket.socket.close();
  });

  test("with ACL on, an unsigned WebSocket client is refused and a signed one is served", async () => {
    const account = { accessKey: "web-page", secretKey: "web-page-secret-1" };
    const rules = AclRules.parse({ accounts: [{ ...account, admin: true }] });
    const secured = await startWithWebSockets({ acl: new AclGuard({ rules: () => rules }), nameServerCredentials: () => account });
    const unsigned = new Producer({ nameServer: secured.nameServerAddress, dial: webSocketDialer({ url: urlsOf(secured) }) });
    const refusal = await unsigned.start().then(() => unsigned.send({ topic: "ws_acl", body: "no" })).catch((error: Error) => error);
    expect(refusal).toBeInstanceOf(BrokerError);
    expect((refusal as BrokerError).message).toContain("Request is not signed");
    await unsigned.shutdown();
    const signed = new Producer({ nameServer: secured.nameServerAddress, dial: withCredentials(webSocketDialer({ url: urlsOf(secured) }), account) });
    await signed.start();
    expect((await signed.send({ topic: "ws_acl", body: "yes" })).status).toBe("SEND_OK");
    await signed.shutdown();
  });

  test("with a TLS identity the WebSocket ports serve wss, and clients trusting the certificate work", async () => {
    cert = makeTestCert();
    const secure = await startWithWebSockets({ tls: { cert: cert.cert, key: cert.key }, dial: createDialer({ tls: { ca: cert.cert } }) });
    const ca = cert.cert;
    const dial = webSocketDialer({
      url: urlsOf(secure, "wss"),
      open: (url) => new WebSocket(url, { tls: { ca } } as unknown as string[]),
    });
    const producer = new Producer({ nameServer: secure.nameServerAddress, dial });
    await producer.start();
    expect((await producer.send({ topic: "ws_tls", body: "over wss" })).status).toBe("SEND_OK");
    await producer.shutdown();
    // Plain ws to a TLS port does not get through.
    const plain = new Producer({ nameServer: secure.nameServerAddress, dial: webSocketDialer({ url: urlsOf(secure) }), sendTimeoutMs: 1000 });
    await expect(plain.start().then(() => plain.send({ topic: "ws_tls", body: "plain" }))).rejects.toThrow();
    await plain.shutdown();
  });
});
