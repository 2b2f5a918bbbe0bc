import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConnectionClosedError } from "../../core/errors.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { Dialer } from "../../core/remoting/transport.ts";
import { dial as plainBunDial } from "../../client/bun/connect.ts";
import { createDialer as createNodeDialer } from "../../client/node/connect.ts";
import { defaultDialer } from "../../client/default_dialer.ts";
import { RemotingClient } from "../../client/remoting_client.ts";
import { Producer, PullConsumer } from "../../mod.ts";
import { createDialer as createServerDialer } from "../../server/bun/connect.ts";
import { listen } from "../../server/bun/listen.ts";
import { serve } from "../../server/bun/serve.ts";
import type { HttpServer } from "../../server/admin/serve_types.ts";
import { startAdminServer } from "../../server/admin/start_admin.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { makeTestCert, type TestCert } from "./_certs.ts";
import { routed } from "./_routed.ts";

let cert: TestCert;
let dataDir: string;
let system: Standalone;
let admin: HttpServer;

beforeAll(async () => {
  cert = makeTestCert();
  dataDir = mkdtempSync(join(tmpdir(), "rmq-tls-data-"));
  system = await startStandalone({
    listen,
    dial: createServerDialer({ tls: { ca: cert.cert } }),
    hostname: "127.0.0.1",
    port: 0,
    nameServerPort: 0,
    dataDir,
    tls: { cert: cert.cert, key: cert.key },
    log: () => {},
  });
  admin = await startAdminServer({
    serve,
    hostname: "127.0.0.1",
    port: 0,
    broker: system.broker,
    nameServer: system.nameServer,
    tls: { cert: cert.cert, key: cert.key },
  });
});

afterAll(async () => {
  await admin?.close();
  await system?.close();
  rmSync(dataDir, { recursive: true, force: true });
  cert?.remove();
});

async function sendAndPull(dial: Dialer, topic: string): Promise<string[]> {
  const producer = new Producer({ nameServer: system.nameServerAddress, dial, group: "tls_producer" });
  const consumer = new PullConsumer({ nameServer: system.nameServerAddress, dial, group: "tls_consumer" });
  await producer.start();
  await consumer.start();
  try {
    const sent = await producer.send({ topic, body: new TextEncoder().encode(`hello over TLS ${topic}`) });
    expect(sent.status).toBe("SEND_OK");
    await routed(consumer, topic);
    const result = await consumer.pull(sent.messageQueue, sent.queueOffset, { maxNums: 8 });
    return result.messages.map((message) => new TextDecoder().decode(message.body));
  } finally {
    await producer.shutdown();
    await consumer.shutdown();
  }
}

describe("TLS", () => {
  test("a Bun client sends and pulls over TLS against a Bun broker", async () => {
    const dial = await defaultDialer({ tls: { ca: cert.cert } });
    expect(await sendAndPull(dial, "tls_bun")).toEqual(["hello over TLS tls_bun"]);
  });

  test("the Node dialer sends and pulls over TLS", async () => {
    expect(await sendAndPull(createNodeDialer({ tls: { ca: cert.cert } }), "tls_node")).toEqual(["hello over TLS tls_node"]);
  });

  test("a plaintext client against the TLS port fails cleanly", async () => {
    const client = new RemotingClient({ dial: plainBunDial, requestTimeoutMs: 5000 });
    try {
      const started = Date.now();
      const error = await client.request(system.nameServerAddress, { code: RequestCode.GET_BROKER_CLUSTER_INFO, header: {} }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConnectionClosedError);
      expect(Date.now() - started).toBeLessThan(4000);
    } finally {
      await client.shutdown();
    }
  });

  test("a TLS client that does not trust the certificate is refused at the handshake", async () => {
    for (const dial of [await defaultDialer({ tls: {} }), createNodeDialer({ tls: {} })]) {
      const client = new RemotingClient({ dial });
      try {
        await expect(client.request(system.brokerAddress, { code: RequestCode.GET_BROKER_RUNTIME_INFO, header: {} }))
          .rejects.toBeInstanceOf(ConnectionClosedError);
      } finally {
        await client.shutdown();
      }
    }
  });

  test("rejectUnauthorized: false lets a Bun client through without the CA", async () => {
    const client = new RemotingClient({ dial: await defaultDialer({ tls: { rejectUnauthorized: false } }) });
    try {
      const response = await client.request(system.nameServerAddress, { code: RequestCode.GET_ROUTEINFO_BY_TOPIC, header: { topic: "TBW102" } });
      expect(response.code).toBe(ResponseCode.SUCCESS);
    } finally {
      await client.shutdown();
    }
  });

  test("the admin API serves HTTPS", async () => {
    const response = await fetch(`https://127.0.0.1:${admin.port}/healthz`, { tls: { ca: cert.cert } } as RequestInit);
    expect(response.status).toBe(200);
    await expect(fetch(`http://127.0.0.1:${admin.port}/healthz`)).rejects.toThrow();
  });
});
