/**
 * Replication peers authenticate each other (docs/SECURITY.md, "Replication peers"): against real
 * broker processes, a fake slave without the cluster secret, or with a wrong one, or with an ACL
 * account that is not an admin, gets no CommitLog byte and cannot acknowledge a SYNC_MASTER send; a
 * real slave with a fake master (one that skips its proof, proves a wrong key, sends an oversized
 * frame or stalls) writes nothing and says why. Real slaves with the secret, or an ACL admin
 * account, keep replicating.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { RequestSigner } from "../../core/auth/signing.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { newNonce } from "../../server/ha/ha_auth.ts";
import { encodeChallenge, encodeData, encodeWelcome, HA_PROTOCOL_VERSION, HaFrameType } from "../../server/ha/ha_protocol.ts";
import { otherClusterSecretFile, TEST_CLUSTER_SECRET } from "../_helpers/cluster_secret.ts";
import { type Child, type Server, stop } from "../_helpers/process.ts";
import { acknowledgeEverything, fakeMaster, fakeSlave } from "./_fake_peer.ts";
import { commitLogSize, haPortOf, SEGMENT_SIZE, startMaster, startSlave, until } from "./_ha.ts";

const TOPIC = "ha_auth";
let dir: string;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-ha-auth-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

async function send(connection: Connection, body: string, header: Record<string, unknown> = {}, signer?: RequestSigner): Promise<{ code: number; remark?: string }> {
  const request = { topic: TOPIC, queueId: 0, bornTimestamp: Date.now(), properties: "", ...header };
  const bytes = new TextEncoder().encode(body);
  const signed = signer === undefined ? request : await signer.sign(RequestCode.SEND_MESSAGE, request, bytes);
  return await connection.request(RequestCode.SEND_MESSAGE, signed, bytes);
}

describe("replication peers with the cluster secret", () => {
  let master: Server;
  let haPort: number;
  let client: Connection;

  beforeAll(async () => {
    master = await startMaster({ dataDir: join(dir, "sync-master"), role: "SYNC_MASTER", extraArgs: ["--sync-slave-timeout-ms", "1000"] });
    children.push(master);
    haPort = haPortOf(master);
    client = await connect(dial, `127.0.0.1:${master.port}`);
    expect((await send(client, "before any slave")).code).toBe(ResponseCode.SLAVE_NOT_AVAILABLE);
  }, 30_000);

  afterAll(() => client?.close());

  test("a fake slave without the secret is refused before it learns anything and cannot acknowledge a SYNC_MASTER send", async () => {
    const peer = await fakeSlave({ port: haPort, segmentSize: SEGMENT_SIZE, ackWhatArrives: true });
    expect((await send(client, "fake slave connecting")).code).toBe(ResponseCode.SLAVE_NOT_AVAILABLE);
    const refusal = await peer.next(HaFrameType.REFUSE);
    await peer.closed;
    expect(refusal).toMatchObject({ reason: expect.stringContaining("did not authenticate: this master requires the cluster secret") });
    expect(peer.frames.map((f) => f.type)).toEqual([HaFrameType.REFUSE]); // no WELCOME, no DATA
    const pipelined = await fakeSlave({ port: haPort, segmentSize: SEGMENT_SIZE });
    acknowledgeEverything(pipelined, 1 << 30); // an acknowledgement right behind its HELLO
    await pipelined.closed;
    expect(pipelined.frames.map((f) => f.type)).toEqual([HaFrameType.REFUSE]);
    expect((await send(client, "still no slave")).code).toBe(ResponseCode.SLAVE_NOT_AVAILABLE);
    await until(() => master.output().includes("did not authenticate"), 5000, "the master's log line");
    expect(master.output()).toMatch(/Replication peer 127\.0\.0\.1:\d+ \(claiming slave 1\) dropped: it did not authenticate/);
  });

  test("a fake slave with a wrong secret gets a challenge but no CommitLog byte, and its acknowledgements count for nothing", async () => {
    const peer = await fakeSlave({ port: haPort, segmentSize: SEGMENT_SIZE, secret: "not-the-cluster-secret-at-all", ackWhatArrives: true });
    await peer.authSent;
    // A send while the impostor is connected: it is never welcomed, so nothing it sends counts.
    const sending = send(client, "impostor connected");
    const refusal = await peer.next(HaFrameType.REFUSE);
    acknowledgeEverything(peer, 1 << 30);
    await peer.closed;
    expect(refusal).toMatchObject({ reason: expect.stringContaining("failed authentication: its proof of the cluster secret is wrong") });
    expect(peer.frames.map((f) => f.type)).toEqual([HaFrameType.CHALLENGE, HaFrameType.REFUSE]);
    expect((await sending).code).toBe(ResponseCode.SLAVE_NOT_AVAILABLE);
  });

  test("a peer that proves the secret is served and its acknowledgement makes a SYNC_MASTER send SEND_OK (the control)", async () => {
    const peer = await fakeSlave({ port: haPort, segmentSize: SEGMENT_SIZE, secret: TEST_CLUSTER_SECRET, ackWhatArrives: true });
    await peer.next(HaFrameType.WELCOME);
    await until(() => peer.frames.some((f) => f.type === HaFrameType.DATA && f.bytes.length > 0), 5000, "CommitLog bytes");
    expect((await send(client, "acknowledged by a peer that proved the secret")).code).toBe(ResponseCode.SUCCESS);
    peer.socket.destroy();
    await until(() => master.output().includes("disconnected"), 5000, "the master to see it go");
  });

  test("a real slave with the secret replicates; one with another secret is refused and copies nothing", async () => {
    const good = await startSlave({ dataDir: join(dir, "good-slave"), haMaster: `127.0.0.1:${haPort}` });
    children.push(good);
    expect(good.output()).toContain("(authenticated with the cluster secret)");
    expect((await send(client, "with a real slave")).code).toBe(ResponseCode.SUCCESS);
    const wrongDir = join(dir, "wrong-slave");
    const wrong = await startSlave({
      dataDir: wrongDir,
      brokerId: 2,
      haMaster: `127.0.0.1:${haPort}`,
      clusterSecretFile: otherClusterSecretFile("another-cluster-secret-0123456789"),
      waitFor: "failed to prove",
    });
    children.push(wrong);
    expect(wrong.output()).toContain(
      `Master 127.0.0.1:${haPort} failed to prove the cluster secret: the secrets differ, or it is not the real master; nothing was replicated`,
    );
    expect(commitLogSize(wrongDir)).toBe(0);
    expect(wrong.output()).not.toContain("Replicating from master");
  }, 30_000);
});

describe("a real slave and a fake master", () => {
  test("a master that skips its proof, proves a wrong key, sends an oversized frame or stalls gets nothing written and no proof", async () => {
    let connection = 0;
    const fake = await fakeMaster((peer, hello) => {
      connection++;
      if (connection === 1) {
        // Welcomes at once and streams garbage "records": an open master, or an impostor.
        peer.send(encodeWelcome({ version: HA_PROTOCOL_VERSION, startOffset: hello.offset, masterOffset: 4096, masterAddress: "127.0.0.1:1" }));
        peer.send(encodeData(hello.offset, 4096, new Uint8Array(4096).fill(0x41)));
      } else if (connection === 2) {
        peer.send(encodeChallenge(newNonce(), newNonce())); // a proof it cannot make
      } else if (connection === 3) {
        peer.send(new Uint8Array([0x06, 0x40, 0x00, 0x00])); // claims a 100 MiB frame before WELCOME
      }
      // Later connections: silence, until the slave's handshake deadline.
    });
    try {
      const slaveDir = join(dir, "fooled-slave");
      const slave = await startSlave({
        dataDir: slaveDir,
        haMaster: `127.0.0.1:${fake.port}`,
        waitFor: "did not complete the replication handshake within 10 s",
      });
      children.push(slave);
      const out = slave.output();
      expect(out).toContain(`Master 127.0.0.1:${fake.port} accepted the link without proving the cluster secret: it has none set, or it is not the real master`);
      expect(out).toContain(`Master 127.0.0.1:${fake.port} failed to prove the cluster secret: the secrets differ, or it is not the real master`);
      expect(out).toContain(`Master 127.0.0.1:${fake.port} sent a malformed replication frame: Replication frame length 104857600 is outside 1..8192`);
      expect(out).toContain(`Master 127.0.0.1:${fake.port} did not complete the replication handshake within 10 s`);
      expect(out).not.toContain("Replicating from master");
      expect(commitLogSize(slaveDir)).toBe(0);
      // The slave never answered a challenge it could not check: no AUTH ever reached the fake.
      expect(fake.peers.flatMap((p) => p.frames).some((f) => f.type === HaFrameType.AUTH)).toBe(false);
      await stop(slave);
    } finally {
      await fake.close();
    }
  }, 40_000);
});

describe("replication peers with ACL accounts", () => {
  test("a slave authenticates as an ACL admin account; a fake slave with a non-admin account or a wrong key gets nothing", async () => {
    const aclFile = join(dir, "acl.yaml");
    writeFileSync(aclFile, [
      "accounts:",
      "  - accessKey: broker-admin",
      "    secretKey: broker-admin-secret",
      "    admin: true",
      "  - accessKey: app",
      "    secretKey: app-secret-123",
      "    defaultTopicPerm: PUB|SUB",
      "",
    ].join("\n"));
    const master = await startMaster({
      dataDir: join(dir, "acl-master"),
      role: "SYNC_MASTER",
      clusterSecretFile: false,
      extraArgs: ["--acl", aclFile, "--sync-slave-timeout-ms", "1000"],
    });
    children.push(master);
    const haPort = haPortOf(master);
    expect(master.output()).toContain(`accepts slaves on 127.0.0.1:${haPort} (ACL accounts)`);
    const client = await connect(dial, `127.0.0.1:${master.port}`);
    const app = new RequestSigner({ accessKey: "app", secretKey: "app-secret-123" });
    try {
      expect((await send(client, "no slave", {}, app)).code).toBe(ResponseCode.SLAVE_NOT_AVAILABLE);
      const notAdmin = await fakeSlave({ port: haPort, segmentSize: SEGMENT_SIZE, accessKey: "app", secret: "app-secret-123" });
      expect(await notAdmin.next(HaFrameType.REFUSE)).toMatchObject({
        reason: expect.stringContaining('offers ACL account "app", which is unknown here or lacks the admin right'),
      });
      const wrongKey = await fakeSlave({ port: haPort, segmentSize: SEGMENT_SIZE, accessKey: "broker-admin", secret: "guessed-secret" });
      expect(await wrongKey.next(HaFrameType.REFUSE)).toMatchObject({
        reason: expect.stringContaining('failed authentication: its proof of the secret key of account "broker-admin" is wrong'),
      });
      for (const peer of [notAdmin, wrongKey]) {
        await peer.closed;
        expect(peer.frames.some((f) => f.type === HaFrameType.WELCOME || f.type === HaFrameType.DATA)).toBe(false);
      }
      expect((await send(client, "still no slave", {}, app)).code).toBe(ResponseCode.SLAVE_NOT_AVAILABLE);

      const slave = await startSlave({
        dataDir: join(dir, "acl-slave"),
        haMaster: `127.0.0.1:${haPort}`,
        clusterSecretFile: false,
        extraArgs: ["--acl", aclFile],
      });
      children.push(slave);
      expect(slave.output()).toContain('(authenticated with the secret key of account "broker-admin")');
      expect((await send(client, "with a real slave", {}, app)).code).toBe(ResponseCode.SUCCESS);
    } finally {
      client.close();
    }
  }, 40_000);
});
