/**
 * The registrar's dial to a NameServer that never answers: a listening socket that accepts TCP
 * connections and never writes (so a TLS handshake never completes). Registration with
 * the other NameServer still happens at once, `start()` returns within the connect timeout, the
 * failure is logged as an error, and the half-open sockets are closed by the TLS handshake timeout
 * rather than held forever.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createServer, type Server, type Socket } from "node:net";
import { createDialer } from "../../../server/bun/connect.ts";
import { listen } from "../../../server/bun/listen.ts";
import { NameServerRegistrar } from "../../../server/broker/name_server_registrar.ts";
import type { LogLevel } from "../../../server/logger.ts";
import { type NameServer, startNameServer } from "../../../server/namesrv/name_server.ts";
import { until } from "../../_helpers/wait.ts";
import { makeTestCert, type TestCert } from "../../security/_certs.ts";

let cert: TestCert;
let nameServer: NameServer;
let hole: Server;
const held = new Set<Socket>();

beforeAll(async () => {
  cert = makeTestCert();
  nameServer = await startNameServer({ listen, hostname: "127.0.0.1", port: 0, tls: { cert: cert.cert, key: cert.key } });
  hole = createServer((socket) => {
    socket.on("data", () => {}); // read (so a close is seen) and never answer
    held.add(socket);
    socket.on("close", () => held.delete(socket));
  });
  await new Promise<void>((resolve) => hole.listen(0, "127.0.0.1", resolve));
});

afterAll(async () => {
  for (const socket of held) socket.destroy();
  await new Promise<void>((resolve) => hole.close(() => resolve()));
  await nameServer?.close();
  cert?.remove();
});

describe("NameServer registration", () => {
  test("a NameServer that accepts TCP but never answers holds up neither start() nor the other NameServer", async () => {
    const holeAddress = `127.0.0.1:${(hole.address() as { port: number }).port}`;
    const realAddress = `127.0.0.1:${nameServer.port}`;
    const lines: Array<{ line: string; level: LogLevel | undefined }> = [];
    const registrar = new NameServerRegistrar({
      dial: createDialer({ tls: { ca: cert.cert, handshakeTimeoutMs: 1500 } }),
      nameServers: [holeAddress, realAddress],
      clusterName: "c",
      brokerName: "broker-hole",
      brokerId: 0,
      brokerAddr: "127.0.0.1:10911",
      topicConfigs: () => [{ topicName: "t", readQueueNums: 4, writeQueueNums: 4, perm: 6, order: false }],
      connectTimeoutMs: 500,
      log: (line, level) => lines.push({ line, level }),
    });
    try {
      const started = performance.now();
      const outcome = await Promise.race([
        registrar.start().then(() => "started"),
        new Promise((resolve) => setTimeout(() => resolve("still waiting after 5 s"), 5000)),
      ]);
      expect(outcome).toBe("started");
      expect(performance.now() - started).toBeLessThan(3000);
      expect(nameServer.routeTable.getRoute("t")?.brokerDatas.map((b) => b.brokerName)).toEqual(["broker-hole"]);
      expect(lines).toContainEqual({
        line: `Cannot register with NameServer ${holeAddress}: Cannot connect to ${holeAddress}: no answer within 500 ms`,
        level: "error",
      });
      // The dial that timed out does not keep its socket: the TLS handshake timeout closes it.
      expect(held.size).toBeGreaterThan(0);
    } finally {
      await registrar.stop();
    }
    await until(() => held.size === 0, 5000, "the half-open TLS sockets to close");
  }, 15_000);
});
