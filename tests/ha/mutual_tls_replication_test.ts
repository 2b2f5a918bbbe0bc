/**
 * Mutual TLS on the replication port (`tls.replicationClientCa`), on Bun and on Deno (where the
 * HA listener runs on `node:tls`, since `Deno.listenTls` checks no client certificate). The
 * certificates are made here: a group CA that signs the master's and the slave's, and another CA
 * that signs an intruder's. A peer without a certificate and one with the other CA's are cut during
 * the TLS handshake, before the replication protocol begins (even knowing the cluster secret), and
 * the master logs each; the slave with the group's certificate replicates every message.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDialer } from "../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { TEST_CLUSTER_SECRET } from "../_helpers/cluster_secret.ts";
import { type Child, stop } from "../_helpers/process.ts";
import { makeTestCa, type TestCa, type TestCert } from "../security/_certs.ts";
import { fakeSlave } from "./_fake_peer.ts";
import { expectSameCommitLog, haPortOf, SEGMENT_SIZE, startMaster, startSlave } from "./_ha.ts";

let dir: string;
let groupCa: TestCa;
let otherCa: TestCa;
let masterCert: TestCert;
let slaveCert: TestCert;
let intruderCert: TestCert;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-ha-mtls-"));
  groupCa = makeTestCa("group CA");
  otherCa = makeTestCa("other CA");
  masterCert = groupCa.issue("master");
  slaveCert = groupCa.issue("slave");
  intruderCert = otherCa.issue("intruder");
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
  groupCa?.remove();
  otherCa?.remove();
});

/** Whether a TLS peer got any replication frame before the master cut it (it must not). */
async function framesBeforeCut(port: number, tls: { ca: string; cert?: string; key?: string }): Promise<number> {
  let peer;
  try {
    peer = await fakeSlave({ port, segmentSize: SEGMENT_SIZE, secret: TEST_CLUSTER_SECRET, brokerId: 7, tls });
  } catch {
    return 0; // refused within the handshake itself
  }
  await peer.closed;
  return peer.frames.length;
}

for (const runtime of ["bun", "deno"] as const) {
  describe(`mutual TLS on the replication port (${runtime} brokers)`, () => {
    test("a peer without a certificate or with another CA's is cut at the handshake; the group's slave replicates", async () => {
      const base = join(dir, runtime);
      const tlsOf = (cert: TestCert) => ["--tls-cert", cert.certFile, "--tls-key", cert.keyFile, "--tls-ca", groupCa.certFile];
      const master = await startMaster({
        dataDir: join(base, "master"),
        runtime,
        extraArgs: [...tlsOf(masterCert), "--tls-replication-client-ca", groupCa.certFile],
      });
      children.push(master);
      const haPort = haPortOf(master);
      expect(master.output()).toContain(`accepts slaves on 127.0.0.1:${haPort} (mutual TLS, cluster secret)`);

      // Knowing the cluster secret is not enough: without a certificate of the group CA the TLS
      // handshake fails, so not even the secret's CHALLENGE is sent.
      expect(await framesBeforeCut(haPort, { ca: groupCa.cert })).toBe(0);
      expect(await framesBeforeCut(haPort, { ca: groupCa.cert, cert: intruderCert.cert, key: intruderCert.key })).toBe(0);
      await master.waitFor(/Replication peer 127\.0\.0\.1:\d+ refused: TLS handshake failed: .*tls\.replicationClientCa/, 10_000);

      // A real slave broker with the other CA's certificate: refused, and its log says what to check.
      const intruder = await startSlave({
        dataDir: join(base, "intruder"),
        brokerId: 2,
        runtime,
        haMaster: `127.0.0.1:${haPort}`,
        extraArgs: tlsOf(intruderCert),
        waitFor: `Replication link to master 127.0.0.1:${haPort} closed before the master answered`,
      });
      children.push(intruder);
      expect(intruder.output()).toContain("tls.replicationClientCa");
      expect(intruder.output()).not.toContain("Replicating from master");
      await stop(intruder);

      // The group's slave replicates.
      const slave = await startSlave({ dataDir: join(base, "slave"), runtime, haMaster: `127.0.0.1:${haPort}`, extraArgs: tlsOf(slaveCert) });
      children.push(slave);
      const toMaster = await connect(createDialer({ tls: { ca: groupCa.cert } }), `127.0.0.1:${master.port}`);
      const answers = await Promise.all(Array.from({ length: 300 }, (_, i) =>
        toMaster.request(RequestCode.SEND_MESSAGE, { topic: "ha_mtls", queueId: i % 4, bornTimestamp: Date.now(), properties: "" }, new TextEncoder().encode(`m-${i}`))));
      toMaster.close();
      expect(answers.every((a) => a.code === ResponseCode.SUCCESS)).toBe(true);
      expect(await expectSameCommitLog(join(base, "master"), join(base, "slave"))).toBeGreaterThan(0);
      expect(slave.output()).toContain("(authenticated with the cluster secret)");
    }, 90_000);
  });
}
