/**
 * SYNC_MASTER: a send is acknowledged SEND_OK only once a slave holds it, so every acknowledged
 * message is on the slave after the master is SIGKILLed. Without a slave the answer is
 * SLAVE_NOT_AVAILABLE, with a stalled slave FLUSH_SLAVE_TIMEOUT — the message stored on the master
 * either way.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { Producer } from "../../client/producer.ts";
import { connect } from "../../core/remoting/connection.ts";
import { BUN, type Child, start, stop } from "../_helpers/process.ts";
import { drainTopic, startTestNameServer } from "../faults/_common.ts";
import { startMaster, startSlave, until } from "./_ha.ts";

const TOPIC = "ha_sync";
/** How long a send waits for a slave's copy: long, so "answered without waiting" is told apart from it. */
const SLAVE_TIMEOUT_MS = 2000;
let dir: string;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-ha-sync-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

describe("SYNC_MASTER", () => {
  test("answers reflect the slave, and every acknowledged message is on the slave after the master is SIGKILLed", async () => {
    const ns = await startTestNameServer();
    children.push(ns);
    const nameServer = `127.0.0.1:${ns.port}`;
    const master = await startMaster({
      dataDir: join(dir, "master"),
      namesrv: [nameServer],
      role: "SYNC_MASTER",
      flush: "sync",
      extraArgs: ["--sync-slave-timeout-ms", String(SLAVE_TIMEOUT_MS)],
    });
    children.push(master);
    const producer = new Producer({ nameServer });
    await producer.start();

    // No slave yet: stored on the master, answered with SLAVE_NOT_AVAILABLE without waiting for one
    // (the second send is timed: the first also fetches the route and connects).
    expect((await producer.send({ topic: TOPIC, body: "alone" })).status).toBe("SLAVE_NOT_AVAILABLE");
    const started = Date.now();
    expect((await producer.send({ topic: TOPIC, body: "alone again" })).status).toBe("SLAVE_NOT_AVAILABLE");
    expect(Date.now() - started).toBeLessThan(SLAVE_TIMEOUT_MS);

    const slave = await startSlave({ dataDir: join(dir, "slave"), namesrv: [nameServer] });
    children.push(slave);
    const slavePort = slave.port;
    expect((await producer.send({ topic: TOPIC, body: "copied" })).status).toBe("SEND_OK");

    // A stalled slave: the send waits syncSlaveTimeoutMs, then FLUSH_SLAVE_TIMEOUT.
    slave.kill("SIGSTOP");
    const stalledAt = Date.now();
    expect((await producer.send({ topic: TOPIC, body: "stalled" })).status).toBe("FLUSH_SLAVE_TIMEOUT");
    expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(SLAVE_TIMEOUT_MS - 50);
    slave.kill("SIGCONT");
    await producer.shutdown();

    // Many sends in flight, then the master dies.
    const senderStarted = Date.now();
    const sender = start(BUN, ["tests/_fixtures/sync_sender.ts", `127.0.0.1:${master.port}`, TOPIC, "50000", "16"]);
    children.push(sender);
    const acked = () => [...sender.output().matchAll(/^ACK (\d+) /gm)].map((m) => Number(m[1]));
    await until(() => acked().length >= 2000, 20_000, "2,000 acknowledged sends");
    master.kill("SIGKILL");
    const sendingMs = Date.now() - senderStarted;
    await master.exited;
    await sender.exited;
    const ackedSeqs = acked();
    const others = [...sender.output().matchAll(/^ERR \d+ (\d+)/gm)].map((m) => Number(m[1]));
    expect(others.every((code) => code === 12 || code === 11)).toBe(true); // only slave statuses, never a failure

    const connection = await connect(dial, `127.0.0.1:${slavePort}`);
    const onSlave = new Set<number>();
    for (const messages of await drainTopic(connection, TOPIC, [0, 1, 2, 3])) {
      for (const m of messages) if (m.keys[0]?.startsWith("seq-")) onSlave.add(Number(m.keys[0].slice(4)));
    }
    connection.close();
    const missing = ackedSeqs.filter((seq) => !onSlave.has(seq));
    console.log(
      `sync master: ${ackedSeqs.length} sends acknowledged SEND_OK (16 in flight, sync flush, ~${Math.round(ackedSeqs.length / (sendingMs / 1000))}/s ` +
        `including process start) before the master was SIGKILLed, ${onSlave.size} on the slave, ` +
        `${missing.length} acknowledged but missing`,
    );
    expect(missing).toEqual([]);
  }, 60_000);
});
