/**
 * Transactions on a master with a slave, as processes: half messages and their op records are
 * replicated like any record, so the slave's admin API shows the same pending transactions per
 * topic and producer group as the master's, serves committed messages, never rolled-back ones,
 * refuses END_TRANSACTION, and rebuilds the same state from its own log after a SIGKILL.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { Producer } from "../../client/producer.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { type Child, freePort, stop } from "../_helpers/process.ts";
import { drainTopic, startTestNameServer } from "../faults/_common.ts";
import { slaveKnowsTopic, startMaster, startSlave, until } from "./_ha.ts";

const TOPIC = "ha_txn";
const decoder = new TextDecoder();

interface Transactions {
  role: string;
  totalPending: number;
  counters: Record<string, number>;
  pending: { topic: string; producerGroup: string; pending: number }[];
  halves?: { transactionId: string; halfQueueOffset: number; commitLogOffset: number }[];
}

let dir: string;
let nameServer: string;
let masterPort: number;
let masterAdmin: number;
let slavePort: number;
let slaveAdmin: number;
let slave: Child;
let producer: Producer;
const children: Child[] = [];
const connections: Connection[] = [];
const sent: Record<string, string> = {};

async function transactions(adminPort: number): Promise<Transactions> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/api/transactions?topic=${TOPIC}&group=ha_tx`);
  return await response.json() as Transactions;
}

async function startTheSlave(): Promise<Child> {
  const child = await startSlave({ dataDir: join(dir, "slave"), port: slavePort, namesrv: [nameServer], extraArgs: ["--admin-port", String(slaveAdmin)] });
  await child.waitFor("Admin API, metrics and dashboard on", 10_000);
  return child;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-ha-txn-"));
  const nsPort = await freePort();
  [masterPort, masterAdmin, slavePort, slaveAdmin] = [await freePort(), await freePort(), await freePort(), await freePort()];
  nameServer = `127.0.0.1:${nsPort}`;
  children.push(await startTestNameServer(nsPort));
  const master = await startMaster({
    dataDir: join(dir, "master"),
    port: masterPort,
    haPort: await freePort(),
    namesrv: [nameServer],
    extraArgs: ["--admin-port", String(masterAdmin)],
    env: { RMQ_BROKER_TRANSACTION_TIMEOUT_MS: "600000" },
  });
  children.push(master);
  await master.waitFor("Admin API, metrics and dashboard on", 10_000);
  slave = await startTheSlave();
  producer = new Producer({
    nameServer,
    group: "ha_tx",
    log: () => {},
    transactionListener: { executeLocalTransaction: () => "UNKNOWN", checkLocalTransaction: () => "UNKNOWN" },
  });
  await producer.start();
  for (const body of ["to-commit", "to-roll-back", "left-pending"]) {
    sent[body] = (await producer.sendMessageInTransaction({ topic: TOPIC, body, tags: "t" })).transactionId;
  }
}, 60_000);

afterAll(async () => {
  for (const connection of connections) connection.close();
  await producer?.shutdown();
  await stop(slave);
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

describe("transactions replicated to a slave", () => {
  test("the slave shows the master's pending half messages per topic and producer group", async () => {
    await until(async () => (await transactions(slaveAdmin)).totalPending === 3, 15_000, "the slave to hold the three half messages");
    const onSlave = await transactions(slaveAdmin);
    expect(onSlave.role).toBe("SLAVE");
    expect(onSlave.pending).toMatchObject([{ topic: TOPIC, producerGroup: "ha_tx", pending: 3 }]);
    expect(onSlave.halves!.map((h) => h.transactionId)).toEqual((await transactions(masterAdmin)).halves!.map((h) => h.transactionId));
  }, 30_000);

  test("commits and rollbacks on the master reach the slave: it serves the committed message only and refuses END_TRANSACTION", async () => {
    const halves = new Map((await transactions(masterAdmin)).halves!.map((h) => [h.transactionId, h]));
    const toMaster = await connect(dial, `127.0.0.1:${masterPort}`);
    const toSlave = await connect(dial, `127.0.0.1:${slavePort}`);
    connections.push(toMaster, toSlave);
    const end = (connection: Connection, body: string, commitOrRollback: number) => {
      const half = halves.get(sent[body]!)!;
      return connection.request(RequestCode.END_TRANSACTION, {
        producerGroup: "ha_tx", topic: TOPIC, tranStateTableOffset: half.halfQueueOffset, commitLogOffset: half.commitLogOffset,
        commitOrRollback, transactionId: half.transactionId,
      });
    };
    const refused = await end(toSlave, "to-commit", 8);
    expect([refused.code, refused.remark]).toEqual([ResponseCode.SERVICE_NOT_AVAILABLE, 'Broker "broker-a" slave 1 is read-only; send to the master (brokerId 0)']);
    expect((await end(toMaster, "to-commit", 8)).code).toBe(ResponseCode.SUCCESS);
    expect((await end(toMaster, "to-roll-back", 12)).code).toBe(ResponseCode.SUCCESS);
    await until(async () => (await transactions(slaveAdmin)).totalPending === 1, 15_000, "the slave to see both outcomes");
    expect((await transactions(slaveAdmin)).counters).toMatchObject({ committed: 1, rolledBack: 1 });
    await slaveKnowsTopic(toSlave, TOPIC);
    const fromSlave = (await drainTopic(toSlave, TOPIC, [0, 1, 2, 3])).flat();
    expect(fromSlave.map((m) => [decoder.decode(m.body), m.uniqueKey, m.tags])).toEqual([["to-commit", sent["to-commit"], "t"]]);
  }, 30_000);

  test("a slave SIGKILLed and restarted rebuilds the same pending transactions from its log", async () => {
    slave.kill("SIGKILL");
    await slave.exited;
    slave = await startTheSlave();
    const onSlave = await transactions(slaveAdmin);
    expect(onSlave.totalPending).toBe(1);
    expect(onSlave.halves!.map((h) => h.transactionId)).toEqual([sent["left-pending"]]);
  }, 30_000);
});
