/**
 * Master + slave broker processes (ASYNC_MASTER): 10,000 messages sent to the master arrive on
 * the slave byte for byte at the same CommitLog offsets and can all be pulled from it; the slave
 * refuses sends; garbage on the HA port costs only that connection; a slave SIGKILLed mid-stream
 * and restarted resumes from its recovered offset; the admin API, /metrics and `rmq cluster list`
 * show roles and lag.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { Producer } from "../../client/producer.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { encodeHello, encodeReport, HA_PROTOCOL_VERSION } from "../../server/ha/ha_protocol.ts";
import { rmq } from "../cli/_cli.ts";
import { type Child, freePort, stop } from "../_helpers/process.ts";
import { drainTopic, startTestNameServer } from "../faults/_common.ts";
import { expectSameCommitLog, SEGMENT_SIZE, startMaster, slaveKnowsTopic, startSlave, until } from "./_ha.ts";

const TOPIC = "ha_orders";
const QUEUES = [0, 1, 2, 3];
let dir: string;
let nameServer: string;
let masterPort: number;
let haPort: number;
let adminPort: number;
let slavePort: number;
let master: Child;
let slave: Child;
const children: Child[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-ha-"));
  const nsPort = await freePort();
  [masterPort, haPort, adminPort, slavePort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  nameServer = `127.0.0.1:${nsPort}`;
  children.push(await startTestNameServer(nsPort));
  master = await startMaster({
    dataDir: join(dir, "master"),
    port: masterPort,
    haPort,
    namesrv: [nameServer],
    extraArgs: ["--admin-port", String(adminPort)],
  });
  children.push(master);
  // The slave learns the master's HA address from the NameServer.
  slave = await startSlave({ dataDir: join(dir, "slave"), port: slavePort, namesrv: [nameServer] });
  children.push(slave);
}, 30_000);

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

async function send(count: number, from: number): Promise<void> {
  const producer = new Producer({ nameServer, maxInFlight: 2000 });
  await producer.start();
  await Promise.all(Array.from({ length: count }, (_, i) =>
    producer.send({ topic: TOPIC, body: `m-${from + i}-${"x".repeat((from + i) % 300)}`, keys: [`k${from + i}`] })));
  await producer.shutdown();
}

async function pullAll(address: string): Promise<string[]> {
  const connection: Connection = await connect(dial, address);
  try {
    await slaveKnowsTopic(connection, TOPIC);
    return (await drainTopic(connection, TOPIC, QUEUES)).flat().map((m) => new TextDecoder().decode(m.body).split("-").slice(0, 2).join("-"));
  } finally {
    connection.close();
  }
}

describe("master/slave replication (ASYNC_MASTER)", () => {
  test("10,000 messages: the slave's CommitLog equals the master's and every message can be pulled from the slave", async () => {
    expect(master.output()).toContain(`accepts slaves on 127.0.0.1:${haPort}`);
    expect(slave.output()).toContain(`NameServer names the master's replication address: 127.0.0.1:${haPort}`);
    await send(10_000, 0);
    const bytes = await expectSameCommitLog(join(dir, "master"), join(dir, "slave"));
    expect(bytes).toBeGreaterThan(2 * SEGMENT_SIZE); // several segments, blank markers included
    const fromSlave = await pullAll(`127.0.0.1:${slavePort}`);
    expect(fromSlave.length).toBe(10_000);
    expect(new Set(fromSlave).size).toBe(10_000);
    console.log(`replication: 10,000 messages, ${bytes} CommitLog bytes identical on master and slave`);
  }, 30_000);

  test("the slave refuses sends clearly and serves offsets and message lookups", async () => {
    const connection = await connect(dial, `127.0.0.1:${slavePort}`);
    const answer = await connection.request(RequestCode.SEND_MESSAGE, { topic: TOPIC, queueId: 0, bornTimestamp: Date.now(), properties: "" }, new TextEncoder().encode("no"));
    expect(answer.code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE);
    expect(answer.remark).toBe('Broker "broker-a" slave 1 is read-only; send to the master (brokerId 0)');
    const batch = await connection.request(RequestCode.SEND_BATCH_MESSAGE, {
      topic: TOPIC, queueId: 0, bornTimestamp: Date.now(), messages: [{ size: 2, properties: "", flag: 0 }],
    }, new TextEncoder().encode("no"));
    expect(batch.code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE);
    const max = await connection.request(RequestCode.GET_MAX_OFFSET, { topic: TOPIC, queueId: 0 });
    expect(max.header.offset).toBeGreaterThan(2000);
    const view = await connection.request(RequestCode.VIEW_MESSAGE_BY_ID, { offset: 0 });
    expect(view.code).toBe(ResponseCode.SUCCESS);
    // Topics and offsets are copied from the master: the topic exists on the slave.
    const topics = await connection.request(RequestCode.GET_ALL_TOPIC_CONFIG, {});
    expect(Object.keys(topics.header.topicConfigs as object)).toContain(TOPIC);
    connection.close();
  });

  test("garbage and a wrong HELLO on the HA port are dropped with a log line; replication goes on", async () => {
    const closed = (bytes: Uint8Array) =>
      new Promise<string>((resolve, reject) => {
        const socket = netConnect(haPort, "127.0.0.1", () => socket.write(bytes));
        let answer = "";
        socket.on("data", (chunk) => (answer += chunk.toString("latin1")));
        socket.on("close", () => resolve(answer));
        socket.on("error", reject);
        setTimeout(() => reject(new Error("the master kept a garbage connection open")), 5000);
      });
    await closed(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    await closed(encodeReport(5)); // a REPORT before HELLO
    const wrongGroup = await closed(encodeHello({ version: HA_PROTOCOL_VERSION, offset: 0, segmentSize: SEGMENT_SIZE, brokerId: 2, brokerName: "broker-z" }));
    expect(wrongGroup).toContain('belongs to broker group "broker-z", this master to "broker-a"');
    const random = new Uint8Array(4096).map(() => Math.floor(Math.random() * 256));
    await closed(random);
    await until(() => (master.output().match(/Replication peer \S+ dropped: it sent/g) ?? []).length >= 2, 5000, "the drop log lines");
    expect(master.output()).toContain("dropped: it sent a malformed frame: Replication frame length");
    expect(master.output()).toContain("dropped: it sent frame type 0x2 before HELLO");
    await send(1000, 10_000);
    await expectSameCommitLog(join(dir, "master"), join(dir, "slave"));
    expect((await pullAll(`127.0.0.1:${slavePort}`)).length).toBe(11_000);
  }, 20_000);

  test("a slave SIGKILLed mid-stream resumes from its recovered offset after a restart", async () => {
    // Killed while a burst streams to it; more is sent while it is down.
    const sending = send(3000, 20_000);
    await new Promise((r) => setTimeout(r, 50));
    slave.kill("SIGKILL");
    await slave.exited;
    await sending;
    await send(3000, 23_000);
    const restarted = await startSlave({ dataDir: join(dir, "slave"), port: slavePort, namesrv: [nameServer] });
    children.push(restarted);
    slave = restarted;
    const resumedAt = Number(/from CommitLog offset (\d+)/.exec(restarted.output())![1]);
    expect(resumedAt).toBeGreaterThan(0);
    const view = await (await fetch(`http://127.0.0.1:${adminPort}/api/cluster`)).json() as { brokers: Array<{ local: boolean; commitLog: { maxOffset: number } }> };
    expect(resumedAt).toBeLessThan(view.brokers.find((b) => b.local)!.commitLog.maxOffset); // killed mid-stream: it had more to fetch
    await expectSameCommitLog(join(dir, "master"), join(dir, "slave"));
    expect((await pullAll(`127.0.0.1:${slavePort}`)).length).toBe(17_000);
    console.log(`replication: slave restarted and resumed at CommitLog offset ${resumedAt}`);
  }, 30_000);

  test("the admin API, /metrics and rmq cluster list show the role and each slave's lag", async () => {
    const base = `http://127.0.0.1:${adminPort}`;
    const view = await (await fetch(`${base}/api/cluster`)).json() as { brokers: Array<Record<string, any>> };
    const local = view.brokers.find((b) => b.local)!;
    expect(local.brokerRole).toBe("ASYNC_MASTER");
    expect(local.replication.haAddress).toBe(`127.0.0.1:${haPort}`);
    expect(local.replication.slaves).toHaveLength(1);
    expect(local.replication.slaves[0]).toMatchObject({ brokerId: 1, lagBytes: 0 });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/rocketmq_replication_lag_bytes\{broker="broker-a",broker_id="0",slave_id="1",slave="127\.0\.0\.1:\d+"\} 0/);
    expect(metrics).toContain('rocketmq_replication_slaves{broker="broker-a",broker_id="0"} 1');
    const run = await rmq(["cluster", "list", "--server", base]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("REPLICATION");
    expect(run.stdout).toMatch(/broker-a\s+0\s+master\s.*ASYNC_MASTER: #1 lag 0 B/);
  }, 15_000);
});
