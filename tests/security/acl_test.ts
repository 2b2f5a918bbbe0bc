import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BrokerError } from "../../core/errors.ts";
import { canonicalString, importHmacKey, RequestSigner, verifySignature } from "../../core/auth/signing.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import type { Dialer } from "../../core/remoting/transport.ts";
import { dial } from "../../client/bun/connect.ts";
import { withCredentials } from "../../client/_signer.ts";
import { RemotingClient } from "../../client/remoting_client.ts";
import { Producer, PullConsumer } from "../../mod.ts";
import { listen } from "../../server/bun/listen.ts";
import { createAdminApp } from "../../server/admin/app.ts";
import { AclFile, type AclReload } from "../../server/acl/acl_file.ts";
import { AclGuard } from "../../server/acl/acl_guard.ts";
import { AclRules } from "../../server/acl/acl_rules.ts";
import { ReplayCache } from "../../server/acl/replay_cache.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { routed } from "./_routed.ts";

const ADMIN = { accessKey: "admin-ak", secretKey: "admin-secret-1" };
const AK1 = { accessKey: "ak1", secretKey: "ak1-secret-1" };

function aclYaml(ak1TopicPerms: string[]): string {
  return [
    "accounts:",
    `  - accessKey: ${ADMIN.accessKey}`,
    `    secretKey: ${ADMIN.secretKey}`,
    "    admin: true",
    `  - accessKey: ${AK1.accessKey}`,
    `    secretKey: ${AK1.secretKey}`,
    "    defaultTopicPerm: DENY",
    "    defaultGroupPerm: SUB",
    "    topicPerms:",
    ...ak1TopicPerms.map((line) => `      - "${line}"`),
    "",
  ].join("\n");
}

let dir: string;
let aclPath: string;
let aclFile: AclFile;
let system: Standalone;
let reloads: ((result: AclReload) => void)[] = [];
const nextReload = () => new Promise<AclReload>((resolve) => reloads.push(resolve));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-acl-"));
  aclPath = join(dir, "acl.yaml");
  writeFileSync(aclPath, aclYaml(["orders=PUB|SUB"]));
  aclFile = AclFile.open(aclPath, {
    pollIntervalMs: 25,
    log: () => {},
    onReload: (result) => {
      const waiting = reloads;
      reloads = [];
      for (const resolve of waiting) resolve(result);
    },
  });
  const rules = () => aclFile.rules;
  system = await startStandalone({
    listen,
    dial,
    hostname: "127.0.0.1",
    port: 0,
    nameServerPort: 0,
    dataDir: join(dir, "data"),
    acl: new AclGuard({ rules }),
    nameServerCredentials: () => ADMIN,
    log: () => {},
  });
});

afterAll(async () => {
  aclFile?.close();
  await system?.close();
  rmSync(dir, { recursive: true, force: true });
});

const body = new TextEncoder().encode("payload");

function sendHeader(topic: string) {
  return { topic, queueId: 0, bornTimestamp: Date.now(), producerGroup: "acl_producer" };
}

async function raw(): Promise<Connection> {
  return await connect(dial, system.brokerAddress);
}

describe("request signing", () => {
  test("a signature verifies, and fails once the body, header or secret differ", async () => {
    const signer = new RequestSigner(AK1);
    const header = await signer.sign(RequestCode.SEND_MESSAGE, { topic: "orders", nested: { b: 1, a: [1, 2] } }, body);
    const key = await importHmacKey(AK1.secretKey);
    expect(await verifySignature(key, RequestCode.SEND_MESSAGE, header, body)).toBe(true);
    expect(await verifySignature(key, RequestCode.SEND_MESSAGE, header, new TextEncoder().encode("Payload"))).toBe(false);
    expect(await verifySignature(key, RequestCode.PULL_MESSAGE, header, body)).toBe(false);
    expect(await verifySignature(key, RequestCode.SEND_MESSAGE, { ...header, topic: "other" }, body)).toBe(false);
    expect(await verifySignature(await importHmacKey("another-secret"), RequestCode.SEND_MESSAGE, header, body)).toBe(false);
  });

  test("the canonical string sorts fields at every level and leaves out the signature", () => {
    const text = canonicalString(10, { b: 1, a: { y: 2, x: [1, { d: 1, c: 2 }] }, signature: "x", skip: undefined }, "00");
    expect(text).toBe('RMQ-HMAC-SHA256\n10\na={"x":[1,{"c":2,"d":1}],"y":2}\nb=1\n00');
  });
});

describe("ACL on the broker", () => {
  test("an unsigned request is refused with a clear error", async () => {
    const connection = await raw();
    const response = await connection.request(RequestCode.SEND_MESSAGE, sendHeader("orders"), body);
    connection.close();
    expect(response.code).toBe(ResponseCode.NO_PERMISSION);
    expect(response.remark).toBe('Request is not signed: header fields "accessKey", "timestamp" and "signature" are required');
  });

  test("a wrongly signed request is refused", async () => {
    const connection = await raw();
    const forged = await new RequestSigner({ accessKey: AK1.accessKey, secretKey: "not-the-secret" }).sign(RequestCode.SEND_MESSAGE, sendHeader("orders"), body);
    const tampered = await new RequestSigner(AK1).sign(RequestCode.SEND_MESSAGE, sendHeader("orders"), body);
    const answers = [
      await connection.request(RequestCode.SEND_MESSAGE, forged, body),
      await connection.request(RequestCode.SEND_MESSAGE, tampered, new TextEncoder().encode("tampered")),
    ];
    connection.close();
    for (const answer of answers) {
      expect(answer.code).toBe(ResponseCode.NO_PERMISSION);
      expect(answer.remark).toBe("Request signature is invalid");
    }
  });

  test("an unknown account is refused", async () => {
    const connection = await raw();
    const header = await new RequestSigner({ accessKey: "nobody", secretKey: "whatever-1" }).sign(RequestCode.SEND_MESSAGE, sendHeader("orders"), body);
    const answer = await connection.request(RequestCode.SEND_MESSAGE, header, body);
    connection.close();
    expect(answer.code).toBe(ResponseCode.NO_PERMISSION);
    expect(answer.remark).toBe('Access key "nobody" is unknown');
  });

  test("a replayed signature is refused", async () => {
    const connection = await raw();
    const header = await new RequestSigner(AK1).sign(RequestCode.SEND_MESSAGE, sendHeader("orders"), body);
    const first = await connection.request(RequestCode.SEND_MESSAGE, { ...header }, body);
    const again = await connection.request(RequestCode.SEND_MESSAGE, { ...header }, body);
    connection.close();
    expect(first.code).toBe(ResponseCode.SUCCESS);
    expect(again.code).toBe(ResponseCode.NO_PERMISSION);
    expect(again.remark).toBe("Request was replayed");
  });

  test("a stale or future timestamp is refused", async () => {
    const connection = await raw();
    for (const skew of [-61_000, 61_000]) {
      const header = await new RequestSigner(AK1, { now: () => Date.now() + skew }).sign(RequestCode.SEND_MESSAGE, sendHeader("orders"), body);
      const answer = await connection.request(RequestCode.SEND_MESSAGE, header, body);
      expect(answer.code).toBe(ResponseCode.NO_PERMISSION);
      expect(answer.remark).toBe("Request timestamp is outside the 60 s window");
    }
    connection.close();
  });

  test("an account sends to its topic and not to another; pulls need SUB", async () => {
    const signed = dialWith(AK1);
    const producer = new Producer({ nameServer: system.nameServerAddress, dial: signed, group: "acl_producer", retryTimesWhenSendFailed: 0 });
    const consumer = new PullConsumer({ nameServer: system.nameServerAddress, dial: signed, group: "acl_consumer" });
    await producer.start();
    await consumer.start();
    try {
      const sent = await producer.send({ topic: "orders", body });
      expect(sent.status).toBe("SEND_OK");
      const error = await producer.send({ topic: "payments", body }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BrokerError);
      expect((error as BrokerError).code).toBe(ResponseCode.NO_PERMISSION);
      expect((error as BrokerError).message).toContain('Account "ak1" may not publish to topic "payments"');
      const batchError = await producer.sendBatch([{ topic: "payments", body }]).catch((e: unknown) => e);
      expect((batchError as BrokerError).code).toBe(ResponseCode.NO_PERMISSION);
      expect((batchError as BrokerError).message).toContain('Account "ak1" may not publish to topic "payments"');
      expect((await producer.sendBatch([{ topic: "orders", body }, { topic: "orders", body }])).msgIds).toHaveLength(2);
      await routed(consumer, "orders");
      const pulled = await consumer.pull(sent.messageQueue, sent.queueOffset);
      expect(pulled.messages.map((m) => new TextDecoder().decode(m.body))).toEqual(["payload"]);
      const connection = await raw();
      const pull = { consumerGroup: "acl_consumer", topic: "payments", queueId: 0, queueOffset: 0, maxMsgNums: 1 };
      const refused = await connection.request(RequestCode.PULL_MESSAGE, await new RequestSigner(AK1).sign(RequestCode.PULL_MESSAGE, pull));
      connection.close();
      expect(refused.code).toBe(ResponseCode.NO_PERMISSION);
      expect(refused.remark).toBe('Account "ak1" may not subscribe to topic "payments"');
    } finally {
      await producer.shutdown();
      await consumer.shutdown();
    }
  });

  test("topic creation needs the admin right", async () => {
    const connection = await raw();
    const create = { topic: "acl_created", readQueueNums: 2, writeQueueNums: 2 };
    const denied = await connection.request(RequestCode.UPDATE_AND_CREATE_TOPIC, await new RequestSigner(AK1).sign(RequestCode.UPDATE_AND_CREATE_TOPIC, create));
    const allowed = await connection.request(RequestCode.UPDATE_AND_CREATE_TOPIC, await new RequestSigner(ADMIN).sign(RequestCode.UPDATE_AND_CREATE_TOPIC, create));
    connection.close();
    expect(denied.code).toBe(ResponseCode.NO_PERMISSION);
    expect(denied.remark).toBe('Account "ak1" may not make request UPDATE_AND_CREATE_TOPIC: it needs the admin right');
    expect(allowed.code).toBe(ResponseCode.SUCCESS);
  });

  test("the NameServer refuses unsigned route queries and accepts signed ones", async () => {
    const plain = new RemotingClient({ dial });
    const signed = new RemotingClient({ dial, credentials: AK1 });
    try {
      const request = { code: RequestCode.GET_ROUTEINFO_BY_TOPIC, header: { topic: "orders" } };
      const refused = await plain.request(system.nameServerAddress, request);
      expect(refused.code).toBe(ResponseCode.NO_PERMISSION);
      expect((await signed.request(system.nameServerAddress, request)).code).toBe(ResponseCode.SUCCESS);
    } finally {
      await plain.shutdown();
      await signed.shutdown();
    }
  });

  test("signed requests of one connection keep their order", async () => {
    const client = new RemotingClient({ dial, credentials: AK1, connectionsPerAddress: 1 });
    try {
      const sends = Array.from({ length: 200 }, (_, i) =>
        client.invoke(system.brokerAddress, {
          code: RequestCode.SEND_MESSAGE,
          header: { ...sendHeader("orders"), queueId: 1 },
          body: new TextEncoder().encode(String(i)),
        })
      );
      const offsets = (await Promise.all(sends)).map((response) => response.header.queueOffset as number);
      for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBe(offsets[i - 1]! + 1);
    } finally {
      await client.shutdown();
    }
  });

  test("rules reload when the file changes, and a bad file keeps the old rules", async () => {
    const signed = dialWith(AK1);
    const client = new RemotingClient({ dial: signed });
    const send = () => client.request(system.brokerAddress, { code: RequestCode.SEND_MESSAGE, header: sendHeader("payments"), body });
    try {
      expect((await send()).code).toBe(ResponseCode.NO_PERMISSION);
      let reloaded = nextReload();
      writeFileSync(aclPath, aclYaml(["orders=PUB|SUB", "payments=PUB"]));
      expect(await reloaded).toEqual({ ok: true, accounts: 2 });
      expect((await send()).code).toBe(ResponseCode.SUCCESS);

      reloaded = nextReload();
      writeFileSync(aclPath, "accounts:\n  - accessKey: x\n");
      const bad = await reloaded;
      expect(bad.ok).toBe(false);
      expect(bad.ok ? "" : bad.error).toContain("is invalid");
      expect((await send()).code).toBe(ResponseCode.SUCCESS);

      reloaded = nextReload();
      writeFileSync(aclPath, aclYaml(["orders=PUB|SUB", "payments=SUB"]));
      expect((await reloaded).ok).toBe(true);
      const answer = await send();
      expect(answer.code).toBe(ResponseCode.NO_PERMISSION);
      expect(answer.remark).toBe('Account "ak1" may not publish to topic "payments"');
    } finally {
      await client.shutdown();
    }
  });
});

describe("admin HTTP with ACL on", () => {
  function basic(credentials: { accessKey: string; secretKey: string }): Record<string, string> {
    return { authorization: `Basic ${btoa(`${credentials.accessKey}:${credentials.secretKey}`)}` };
  }

  test("requires credentials; reads for any account, changes for admins", async () => {
    const app = createAdminApp({ broker: system.broker, nameServer: system.nameServer, version: "test", acl: () => aclFile.rules });
    expect((await app.request("/healthz")).status).toBe(200);
    const anonymous = await app.request("/api/topics");
    expect(anonymous.status).toBe(401);
    // Never a Basic challenge: a browser would prompt, cache the pair and attach it to forged requests.
    expect(anonymous.headers.get("www-authenticate")).toBe('Session realm="rocketmq-ts admin"');
    expect((await app.request("/api/topics", { headers: basic({ ...AK1, secretKey: "wrong-secret" }) })).status).toBe(401);
    expect((await app.request("/api/topics", { headers: basic(AK1) })).status).toBe(200);
    const create = (credentials: typeof AK1) =>
      app.request("/api/topics", {
        method: "POST",
        headers: { ...basic(credentials), "content-type": "application/json" },
        body: JSON.stringify({ topic: "admin_http_topic" }),
      });
    const forbidden = await create(AK1);
    expect(forbidden.status).toBe(403);
    expect(((await forbidden.json()) as { error: { message: string } }).error.message).toContain('Account "ak1"');
    expect((await create(ADMIN)).status).toBe(201);
  });
});

describe("ACL building blocks", () => {
  test("the ACL schema names the bad key", () => {
    expect(() => AclRules.parse({ accounts: [{ accessKey: "ak1", secretKey: "short" }] })).toThrow('"accounts.0.secretKey": must have at least 8 characters');
    expect(() => AclRules.parse({ accounts: [{ ...AK1, topicPerms: ["orders=WRITE"] }] })).toThrow("orders=WRITE");
    const rules = AclRules.parse({ accounts: [{ ...AK1, groupPerms: ["g1=SUB"], topicPerms: ["t=PUB|SUB"] }] });
    const account = rules.account("ak1")!;
    expect(rules.topicAllowed(account, "t", "PUB") && rules.topicAllowed(account, "t", "SUB")).toBe(true);
    expect(rules.topicAllowed(account, "%RETRY%g1", "PUB")).toBe(true);
    expect(rules.topicAllowed(account, "%DLQ%g2", "SUB")).toBe(false);
    expect(rules.groupAllowed(account, "g1")).toBe(true);
  });

  test("the replay cache is bounded and forgets expired signatures", () => {
    const cache = new ReplayCache({ maxEntries: 2 });
    expect(cache.admit("a", 100, 0)).toBe("fresh");
    expect(cache.admit("a", 100, 50)).toBe("replayed");
    expect(cache.admit("b", 100, 50)).toBe("fresh");
    expect(cache.admit("c", 100, 50)).toBe("full");
    expect(cache.admit("c", 300, 150)).toBe("fresh");
    expect(cache.size).toBe(1);
  });
});

function dialWith(credentials: typeof AK1): Dialer {
  return withCredentials(dial, credentials);
}
