/**
 * Idempotent sends and timer messages through the client API against real NameServer and broker
 * processes: a producer retry after a lost answer stores one copy, a dedup id survives SIGKILL of
 * the broker, and `send({ delayMs })` / `recall()` round-trip.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { BrokerError, ClientError, Producer } from "../../mod.ts";
import { drainQueue } from "../_helpers/raw_client.ts";
import { BUN, type Child, freePort, start, stop } from "../_helpers/process.ts";

let dir: string;
const children: Child[] = [];
let nameServer: string;
let brokerPort: number;
let proxyPort: number;
let proxy: Server;
/** When set, the proxy drops the next answer the broker sends and cuts that connection: a lost acknowledgement. */
let dropNextAnswer = false;
let dropped = 0;

async function startBroker(): Promise<Child> {
  const broker = start(BUN, [
    "run", "server/broker.ts",
    "--host", "127.0.0.1",
    "--port", String(brokerPort),
    "--advertised-address", `127.0.0.1:${proxyPort}`,
    "--namesrv", nameServer,
    "--data-dir", dir,
    "--segment-size", String(1024 * 1024),
    "--auto-create-topic",
  ]);
  children.push(broker);
  await broker.waitFor("listening on", 30_000);
  return broker;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-idem-"));
  const nsPort = await freePort();
  brokerPort = await freePort();
  proxyPort = await freePort();
  const ns = start(BUN, ["run", "server/nameserver.ts", "--host", "127.0.0.1", "--port", String(nsPort)]);
  children.push(ns);
  await ns.waitFor("listening");
  nameServer = `127.0.0.1:${nsPort}`;
  proxy = createServer((client: Socket) => {
    const upstream = createConnection({ host: "127.0.0.1", port: brokerPort });
    client.on("data", (chunk) => upstream.write(chunk));
    upstream.on("data", (chunk) => {
      if (dropNextAnswer) {
        dropNextAnswer = false;
        dropped++;
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  await new Promise<void>((resolve) => proxy.listen(proxyPort, "127.0.0.1", resolve));
});

afterAll(async () => {
  proxy?.close();
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

async function storedCount(topic: string): Promise<number> {
  const connection = await connect(dial, `127.0.0.1:${brokerPort}`);
  let total = 0;
  for (let queueId = 0; queueId < 4; queueId++) total += (await drainQueue(connection, topic, queueId)).length;
  connection.close();
  return total;
}

describe("idempotent sends on real processes", () => {
  test("a retry after a lost answer stores one copy with idempotent on, two without", async () => {
    const broker = await startBroker();
    for (const idempotent of [true, false]) {
      const topic = idempotent ? "idem_on" : "idem_off";
      const producer = new Producer({ nameServer, idempotent, sendTimeoutMs: 10_000 });
      await producer.start();
      await producer.send({ topic, body: "warm-up" });
      dropNextAnswer = true;
      const before = dropped;
      const result = await producer.send({ topic, body: "exactly once" });
      expect(dropped).toBe(before + 1);
      expect(result.status).toBe("SEND_OK");
      expect(result.duplicate).toBe(idempotent ? true : undefined);
      await producer.shutdown();
      expect(await storedCount(topic)).toBe(idempotent ? 2 : 3);
    }
    await stop(broker);
  }, 60_000);

  test("the same dedup id sent three times across SIGKILLs of the broker is stored once", async () => {
    let broker = await startBroker();
    const answers = [];
    for (let round = 0; round < 3; round++) {
      const connection = await connect(dial, `127.0.0.1:${brokerPort}`);
      answers.push(await connection.request(RequestCode.SEND_MESSAGE_V2, {
        b: "dedup_kill", e: 0, g: Date.now(), i: "DEDUP_ID\u0001payment-7\u0002",
      }, new TextEncoder().encode("pay once")));
      connection.close();
      broker.kill("SIGKILL");
      expect(await broker.exited).toBe("SIGKILL");
      broker = await startBroker();
    }
    expect(answers.map((a) => a.code)).toEqual([ResponseCode.SUCCESS, ResponseCode.SUCCESS, ResponseCode.SUCCESS]);
    expect(answers.map((a) => a.header.dup)).toEqual([undefined, true, true]);
    expect(new Set(answers.map((a) => `${a.header.q}/${a.header.o}/${a.header.c}`)).size).toBe(1);
    expect(await storedCount("dedup_kill")).toBe(1);
    await stop(broker);
  }, 60_000);

  test("send({ delayMs }) returns a recall handle; recall() cancels it; a bad handle or dedup id is a clear error", async () => {
    const broker = await startBroker();
    const producer = new Producer({ nameServer });
    await producer.start();
    const topic = "client_timers";
    const sentAt = Date.now();
    const kept = await producer.send({ topic, body: "kept", delayMs: 800 });
    const doomed = await producer.send({ topic, body: "doomed", deliveryTime: new Date(Date.now() + 900) });
    expect(kept.recallHandle).toBeString();
    await producer.recall(topic, doomed.recallHandle!);
    await expect(producer.recall(topic, doomed.recallHandle!)).rejects.toThrow(BrokerError);
    await expect(producer.recall(topic, "forged")).rejects.toThrow(ClientError);
    await expect(producer.recall("other_topic", kept.recallHandle!)).rejects.toThrow('Recall handle is for topic "client_timers"');
    await expect(producer.send({ topic, body: "x", dedupId: "not valid!" })).rejects.toThrow("Dedup id");
    await expect(producer.send({ topic, body: "x", delayMs: -1 })).rejects.toThrow(ClientError);
    await expect(producer.send({ topic, body: "x", delayMs: 5, deliveryTime: 5 })).rejects.toThrow("not both");
    await expect(producer.sendBatch([{ topic, body: "x", delayMs: 5 }])).rejects.toThrow("batch");

    // Past both due times (and a second's grace): only the kept one was delivered.
    await Bun.sleep(Math.max(0, sentAt + 900 + 1000 - Date.now()));
    const connection = await connect(dial, `127.0.0.1:${brokerPort}`);
    const bodies: string[] = [];
    for (let queueId = 0; queueId < 4; queueId++) {
      for (const m of await drainQueue(connection, topic, queueId)) bodies.push(new TextDecoder().decode(m.body));
    }
    connection.close();
    expect(bodies).toEqual(["kept"]);
    await expect(producer.recall(topic, kept.recallHandle!)).rejects.toThrow("no longer pending");
    await producer.shutdown();
    await stop(broker);
  }, 60_000);
});
