/**
 * Replication over TLS with a self-signed certificate generated here: a master with `--tls-cert`
 * serves its HA port over TLS, a slave with the same identity dials it with TLS (trusting that
 * certificate) and copies every message; a plaintext slave is turned away and says why.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createDialer } from "../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { type Child, stop } from "../_helpers/process.ts";
import { drainTopic } from "../faults/_common.ts";
import { makeTestCert, type TestCert } from "../security/_certs.ts";
import { expectSameCommitLog, haPortOf, slaveKnowsTopic, startMaster, startSlave } from "./_ha.ts";

const TOPIC = "ha_tls";
let dir: string;
let cert: TestCert;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-ha-tls-"));
  cert = makeTestCert();
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
  cert?.remove();
});

describe("replication over TLS", () => {
  test("a TLS slave copies a TLS master; a plaintext slave fails clearly", async () => {
    const tlsArgs = ["--tls-cert", cert.certFile, "--tls-key", cert.keyFile];
    const master = await startMaster({ dataDir: join(dir, "master"), extraArgs: tlsArgs });
    children.push(master);
    const [masterPort, haPort] = [master.port, haPortOf(master)];
    expect(master.output()).toContain(`accepts slaves on 127.0.0.1:${haPort} (TLS, cluster secret)`);
    const slave = await startSlave({ dataDir: join(dir, "slave"), haMaster: `127.0.0.1:${haPort}`, extraArgs: tlsArgs });
    children.push(slave);
    const slavePort = slave.port;

    // Clients reach both brokers over TLS too; sends go straight to the master (no NameServer here).
    const dial = createDialer({ tls: { ca: cert.cert } });
    const toMaster = await connect(dial, `127.0.0.1:${masterPort}`);
    const answers = await Promise.all(Array.from({ length: 500 }, (_, i) =>
      toMaster.request(RequestCode.SEND_MESSAGE, { topic: TOPIC, queueId: i % 4, bornTimestamp: Date.now(), properties: "" }, new TextEncoder().encode(`secret-${i}`))));
    expect(answers.every((a) => a.code === ResponseCode.SUCCESS)).toBe(true);
    toMaster.close();
    await expectSameCommitLog(join(dir, "master"), join(dir, "slave"));
    const connection = await connect(dial, `127.0.0.1:${slavePort}`);
    await slaveKnowsTopic(connection, TOPIC);
    const messages = (await drainTopic(connection, TOPIC, [0, 1, 2, 3])).flat();
    connection.close();
    expect(messages.length).toBe(500);

    // A slave without TLS settings cannot replicate from the TLS master, and its log says why.
    const plain = await startSlave({
      dataDir: join(dir, "plain"),
      brokerId: 2,
      haMaster: `127.0.0.1:${haPort}`,
      waitFor: "answered with TLS",
    });
    children.push(plain);
    expect(plain.output()).toContain(
      `Master 127.0.0.1:${haPort} answered with TLS: it serves replication over TLS; give the slave tls.cert and tls.key (and tls.ca) too`,
    );
    expect(plain.output()).not.toContain("Replicating from master");
  }, 40_000);
});
