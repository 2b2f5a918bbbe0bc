/**
 * Master + slave broker processes (ASYNC_MASTER): 10,000 messages sent to the master arrive on
 * the slave byte for byte at the same CommitLog offsets and can all be pulled from it; the slave
 * refuses sends; garbage on the HA port costs only that connection; a slave SIGKILLed mid-stream
 * and restarted resumes from its recovered offset; the admin API, /metrics and `rmq cluster list`
 * show roles and lag, and the lag grows while a slave is stopped and returns to 0 when it resumes.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { Producer } from "../../client/producer.ts";
import { decodeRecords } from "../../core/model/record.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { encodeHello, encodeReport, HA_PROTOCOL_VERSION, HaAuthKind } from "../../server/ha/ha_protocol.ts";
import { rmq } from "../cli/_cli.ts";
import { type Child, type Server, stop } from "../_helpers/process.ts";
import { replayable } from "../_helpers/random.ts";
import { drainTopic, startTestNameServer } from "../faults/_common.ts";
import { expectSameCommitLog, haPortOf, SEGMENT_SIZE, startMaster, slaveKnowsTopic, startSlave, until } from "./_ha.ts";

const TOPIC = "ha_orders";
const QUEUES = [0, 1, 2, 3];
let dir: string;
let nameServer: string;
let haPort: number;
let adminPort: number;
let slavePort: number;
let master: Server;
let slave: Server;
const children: Child[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-ha-"));
  const ns = await startTestNameServer();
  children.push(ns);
  nameServer = `127.0.0.1:${ns.port}`;
  master = await startMaster({
    dataDir: join(dir, "master"),
    namesrv: [nameServer],
    extraArgs: ["--admin-port", "0"],
  });
  children.push(master);
  await master.waitFor(/dashboard on http:\/\/127\.0\.0\.1:\d+/);
  [haPort, adminPort] = [haPortOf(master), Number(/dashboard on http:\/\/127\.0\.0\.1:(\d+)/.exec(master.output())![1])];
  // The slave learns the master's HA address from the NameServer.
  slave = await startSlave({ dataDir: join(dir, "slave"), namesrv: [nameServer] });
  children.push(slave);
  slavePort = slave.port;
}, 30_000);

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

async function send(count: number, from: number): Promise<void> {
  // 10,000 sends at 2,000 in flight wait their turn longer than 3 s while the whole suite runs.
  const producer = new Producer({ nameServer, maxInFlight: 2000, sendTimeoutMs: 30_000 });
  await producer.start();
  await Promise.all(Array.from({ length: count }, (_, i) =>
    producer.send({ topic: TOPIC, body: `m-${from + i}-${"x".repeat((from + i) % 300)}`, keys: [`k${from + i}`] })));
  await producer.shutdown();
}

/**
 * Every message of the topic pulled from `address`; a slave indexes what it copied a moment after
 * the copy, so this pulls again (up to 10 s) until `expected` messages are there.
 */
async function pullAll(address: string, expected: number): Promise<string[]> {
  const connection: Connection = await connect(dial, address);
  try {
    await slaveKnowsTopic(connection, TOPIC);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const pulled = (await drainTopic(connection, TOPIC, QUEUES)).flat().map((m) => new TextDecoder().decode(m.body).split("-").slice(0, 2).join("-"));
      if (pulled.length >= expected || Date.now() > deadline) return pulled;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
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
    const fromSlave = await pullAll(`127.0.0.1:${slavePort}`, 10_000);
    expect(fromSlave.length).toBe(10_000);
    expect(new Set(fromSlave).size).toBe(10_000);
    console.log(`replication: 10,000 messages, ${bytes} CommitLog bytes identical on master and slave`);
  }, 60_000);

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
    // The slave indexed what replication brought: a key of the first test's messages is found there.
    const byKey = await connection.request(RequestCode.QUERY_MESSAGE, { topic: TOPIC, key: "k4321", maxNum: 4, beginTimestamp: 0, endTimestamp: Number.MAX_SAFE_INTEGER });
    expect(byKey.code).toBe(ResponseCode.SUCCESS);
    expect(decodeRecords(byKey.body!).map((m) => m.keys)).toEqual([["k4321"]]);
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
    const unauthenticated = await closed(encodeHello({
      version: HA_PROTOCOL_VERSION,
      offset: 0,
      segmentSize: SEGMENT_SIZE,
      brokerId: 2,
      brokerName: "broker-z",
      authKind: HaAuthKind.NONE,
      accessKey: "",
      nonce: new Uint8Array(32),
    }));
    // Refused before the master says anything about itself (its group, segment size or end).
    expect(unauthenticated).toContain("did not authenticate: this master requires the cluster secret");
    expect(unauthenticated).not.toContain("broker-a");
    await replayable((random) => closed(random.bytes(4096)));
    await until(() => (master.output().match(/Replication peer \S+ dropped: it sent/g) ?? []).length >= 2, 5000, "the drop log lines");
    expect(master.output()).toContain("dropped: it sent a malformed frame: Replication frame length");
    expect(master.output()).toContain("dropped: it sent frame type 0x2 before HELLO");
    await send(1000, 10_000);
    await expectSameCommitLog(join(dir, "master"), join(dir, "slave"));
    expect((await pullAll(`127.0.0.1:${slavePort}`, 11_000)).length).toBe(11_000);
  }, 60_000);

  test("a slave SIGKILLed mid-stream resumes from its recovered offset after a restart", async () => {
    const slaveDir = join(dir, "slave");
    const masterOffset = async () => {
      const view = await (await fetch(`http://127.0.0.1:${adminPort}/api/cluster`)).json() as { brokers: Array<{ local: boolean; commitLog: { maxOffset: number } }> };
      return view.brokers.find((b) => b.local)!.commitLog.maxOffset;
    };
    const toSlave = await connect(dial, `127.0.0.1:${slavePort}`);
    const slaveOffset = async () => (await toSlave.request(RequestCode.GET_BROKER_RUNTIME_INFO, {})).header.commitLogMaxOffset as number;
    const burstStart = await masterOffset();
    await until(async () => (await slaveOffset()) === burstStart, 10_000, "the slave to catch up before the burst");
    // Frozen as soon as the first bytes of a burst reach it, while the rest and 3,000 more stream to
    // it; then killed.
    const sending = send(3000, 20_000);
    await until(async () => (await slaveOffset()) > burstStart, 10_000, "the burst to reach the slave", 1);
    // Frozen at once: a kill after the burst would find it copied whole on a loaded machine.
    slave.kill("SIGSTOP");
    toSlave.close();
    await sending;
    await send(3000, 23_000);
    const burstEnd = await masterOffset();
    slave.kill("SIGKILL");
    await slave.exited;
    const restarted = await startSlave({ dataDir: slaveDir, port: slavePort, namesrv: [nameServer] });
    children.push(restarted);
    slave = restarted;
    const resumedAt = Number(/from CommitLog offset (\d+)/.exec(restarted.output())![1]);
    expect(resumedAt).toBeGreaterThan(burstStart); // it had copied part of the burst…
    expect(resumedAt).toBeLessThan(burstEnd); // …but not all of it: killed mid-stream
    await expectSameCommitLog(join(dir, "master"), slaveDir);
    expect((await pullAll(`127.0.0.1:${slavePort}`, 17_000)).length).toBe(17_000);
    console.log(`replication: slave killed mid-burst [${burstStart}, ${burstEnd}), restarted and resumed at CommitLog offset ${resumedAt}`);
  }, 60_000);

  test("the admin API, /metrics and rmq cluster list show the role and each slave's lag; the lag grows while the slave is stopped", async () => {
    const base = `http://127.0.0.1:${adminPort}`;
    const cluster = async () => {
      const view = await (await fetch(`${base}/api/cluster`)).json() as { brokers: Array<Record<string, any>> };
      return view.brokers.find((b) => b.local)!;
    };
    const metricLag = async () => {
      const metrics = await (await fetch(`${base}/metrics`)).text();
      const sample = /rocketmq_replication_lag_bytes\{broker="broker-a",broker_id="0",slave_id="1",slave="127\.0\.0\.1:\d+"\} (\d+)/.exec(metrics);
      return sample === null ? undefined : Number(sample[1]);
    };
    await until(async () => (await metricLag()) === 0, 10_000, "the restarted slave to catch up");
    const local = await cluster();
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

    // A stopped slave acknowledges nothing: its lag is exactly what the master stored since.
    const caughtUpAt = local.commitLog.maxOffset as number;
    slave.kill("SIGSTOP");
    let grown: number;
    try {
      await send(200, 40_000);
      grown = (await cluster()).commitLog.maxOffset - caughtUpAt;
      expect(grown).toBeGreaterThan(0);
      expect(await metricLag()).toBe(grown);
      expect((await cluster()).replication.slaves[0]).toMatchObject({ brokerId: 1, lagBytes: grown });
      const lagging = await rmq(["cluster", "list", "--server", base]);
      expect(lagging.stdout).toMatch(/ASYNC_MASTER: #1 lag [1-9]/);
    } finally {
      slave.kill("SIGCONT");
    }
    await until(async () => (await metricLag()) === 0, 10_000, "the lag to return to 0 once the slave resumes");
    console.log(`replication: a stopped slave lagged ${grown} bytes, back to 0 after SIGCONT`);
  }, 60_000);
});
