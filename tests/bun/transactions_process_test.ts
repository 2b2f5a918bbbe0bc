/**
 * Transactions across real processes and sockets: a NameServer, a broker and transactional
 * producers (`tests/_fixtures/txn_producer.ts`) each in their own process. Commits and rollbacks
 * are counted exactly; a producer SIGKILLed mid-transaction is answered for by another member of
 * its group; a broker SIGKILLed between half message and commit checks the producer back after
 * restarting; a commit whose op record the crash cut off is not committed again.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, openSync, readFileSync, readdirSync, rmSync, ftruncateSync, closeSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MessageConst, type MessageExt } from "../../core/model/message.ts";
import { decodeRecord, MESSAGE_MAGIC } from "../../core/model/record.ts";
import { TRANSACTION_OP_TOPIC } from "../../core/model/system_topics.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { dial } from "../../client/bun/connect.ts";
import { drainQueue } from "../_helpers/raw_client.ts";
import { BUN, type Child, freePort, start, stop } from "../_helpers/process.ts";
import { until } from "../_helpers/wait.ts";
import { startTestBroker, startTestNameServer } from "../faults/_common.ts";

const TOPIC = "txn_orders";
const decoder = new TextDecoder();

interface Cluster {
  dir: string;
  namesrv: string;
  brokerPort: number;
  adminPort: number;
  nameServer: Child;
  broker: Child;
}

let cluster: Cluster | undefined;
const children: Child[] = [];
const connections: Connection[] = [];

afterEach(async () => {
  for (const connection of connections.splice(0)) connection.close();
  for (const child of children.splice(0)) await stop(child, 2000);
  if (cluster !== undefined) {
    await stop(cluster.broker, 2000);
    await stop(cluster.nameServer, 2000);
    rmSync(cluster.dir, { recursive: true, force: true });
    cluster = undefined;
  }
});

const BROKER_ENV = {
  RMQ_BROKER_TRANSACTION_TIMEOUT_MS: "1000",
  RMQ_BROKER_TRANSACTION_CHECK_INTERVAL_MS: "500",
};

async function startBroker(c: Pick<Cluster, "dir" | "namesrv" | "brokerPort" | "adminPort">): Promise<Child> {
  const broker = await startTestBroker({
    dataDir: join(c.dir, "broker"),
    port: c.brokerPort,
    flush: "async",
    namesrv: [c.namesrv],
    extraArgs: ["--admin-port", String(c.adminPort)],
    env: BROKER_ENV,
  });
  await broker.waitFor("Admin API, metrics and dashboard on", 10_000);
  return broker;
}

async function startCluster(): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), "rmq-txn-"));
  const namesrvPort = await freePort();
  const nameServer = await startTestNameServer(namesrvPort);
  const c = { dir, namesrv: `127.0.0.1:${namesrvPort}`, brokerPort: await freePort(), adminPort: await freePort() };
  const broker = await startBroker(c);
  cluster = { ...c, nameServer, broker };
  return cluster;
}

/** Starts a transactional producer process; see the fixture for the steps. */
async function producer(name: string, steps: string, group = "txn_producers"): Promise<Child> {
  const child = start(BUN, ["tests/_fixtures/txn_producer.ts", cluster!.namesrv, group, cluster!.dir, name, steps]);
  children.push(child);
  await child.waitFor("READY", 20_000);
  return child;
}

/** Every message of the topic, from offset 0 of each queue. */
async function delivered(): Promise<MessageExt[]> {
  const connection = await connect(dial, `127.0.0.1:${cluster!.brokerPort}`);
  connections.push(connection);
  const all: MessageExt[] = [];
  // The producers create the topic with their default of 4 queues.
  for (let queueId = 0; queueId < 4; queueId++) all.push(...await drainQueue(connection, TOPIC, queueId));
  return all;
}

async function transactions(): Promise<{ totalPending: number; counters: Record<string, number> }> {
  const response = await fetch(`http://127.0.0.1:${cluster!.adminPort}/api/transactions`);
  return await response.json() as { totalPending: number; counters: Record<string, number> };
}

function bodies(messages: MessageExt[]): string[] {
  return messages.map((m) => decoder.decode(m.body)).sort();
}

/** Lines of a child's output starting with `word`, split on spaces. */
function lines(child: Child, word: string): string[][] {
  return child.output().split("\n").filter((l) => l.startsWith(`${word} `)).map((l) => l.split(" "));
}

describe("transactions across processes", () => {
  test("commits are delivered exactly once with their tags, keys and properties; rollbacks never", async () => {
    await startCluster();
    const sender = await producer("p1", "commit:30,rollback:20,commit:10");
    await sender.waitFor("DONE", 30_000);
    const sent = lines(sender, "SENT");
    expect(sent.length).toBe(60);
    expect(sent.filter((l) => l.includes("END_ERROR")).length).toBe(0);
    const messages = await delivered();
    const expected = [...Array.from({ length: 30 }, (_, i) => `p1:commit-${i}`), ...Array.from({ length: 10 }, (_, i) => `p1:commit-${i}`)];
    // Two commit steps of the same kind reuse bodies: each transaction still lands once.
    expect(bodies(messages)).toEqual(expected.sort());
    const ids = new Map(sent.map((l) => [l[1], l]));
    expect(new Set(messages.map((m) => m.uniqueKey)).size).toBe(40);
    for (const message of messages) {
      expect(ids.get(message.uniqueKey!)?.[2]).toBe("COMMIT");
      expect(message.tags).toBe("commit");
      expect(message.properties.step).toBe("commit");
      expect(message.keys[0]).toMatch(/^p1-commit-\d+$/);
    }
    expect(await transactions()).toMatchObject({ totalPending: 0, counters: { halfMessages: 60, committed: 40, rolledBack: 20, checks: 0 } });
  }, 60_000);

  test("a producer SIGKILLed mid-transaction is answered for by another member of its group", async () => {
    await startCluster();
    const survivor = await producer("b", "serve");
    const committer = await producer("a1", "hang-commit");
    const rollbacker = await producer("a2", "hang-rollback");
    await committer.waitFor("HALF ", 20_000);
    await rollbacker.waitFor("HALF ", 20_000);
    const [, committed] = lines(committer, "HALF")[0]!;
    const [, rolledBack] = lines(rollbacker, "HALF")[0]!;
    committer.kill("SIGKILL");
    rollbacker.kill("SIGKILL");
    await Promise.all([committer.exited, rollbacker.exited]);
    await survivor.waitFor(`CHECK ${committed} COMMIT`, 20_000);
    await survivor.waitFor(`CHECK ${rolledBack} ROLLBACK`, 20_000);
    await until(async () => (await transactions()).totalPending === 0, 10_000, "both transactions to be resolved");
    const messages = await delivered();
    expect(bodies(messages)).toEqual(["a1:hang-commit-0"]);
    expect(messages[0]!.uniqueKey).toBe(committed);
    expect((await transactions()).counters).toMatchObject({ halfMessages: 2, committed: 1, rolledBack: 1 });
  }, 60_000);

  test("a broker SIGKILLed between half message and commit takes the commit after its restart, once", async () => {
    const c = await startCluster();
    const sender = await producer("w", "wait-commit,commit:3");
    await sender.waitFor("HALF ", 20_000);
    c.broker.kill("SIGKILL");
    await c.broker.exited;
    cluster!.broker = await startBroker(c);
    // The half message is pending again once the restarted broker has read its half topic back; the
    // producer's END reaches the new broker.
    await until(async () => (await transactions()).totalPending === 1, 10_000, "the half message pending again");
    writeFileSync(join(c.dir, "go"), "");
    await sender.waitFor("DONE", 20_000);
    expect(lines(sender, "SENT").map((l) => l.slice(2).join(" "))).toEqual(["COMMIT w:wait-commit-0", "COMMIT w:commit-0", "COMMIT w:commit-1", "COMMIT w:commit-2"]);
    expect(await transactions()).toMatchObject({ totalPending: 0 });
    expect(bodies(await delivered())).toEqual(["w:commit-0", "w:commit-1", "w:commit-2", "w:wait-commit-0"]);
    expect(lines(sender, "CHECK")).toEqual([]);
  }, 60_000);

  test("a broker SIGKILLed before the commit reached it checks the producer back after its restart", async () => {
    const c = await startCluster();
    const sender = await producer("w", "wait-commit");
    await sender.waitFor("HALF ", 20_000);
    const [, transactionId] = lines(sender, "HALF")[0]!;
    c.broker.kill("SIGKILL");
    await c.broker.exited;
    // The commit is sent while the broker is down: lost.
    writeFileSync(join(c.dir, "go"), "");
    await sender.waitFor(`SENT ${transactionId} COMMIT w:wait-commit-0 END_ERROR`, 20_000);
    cluster!.broker = await startBroker(c);
    await sender.waitFor(`CHECK ${transactionId} COMMIT`, 20_000);
    await until(async () => (await transactions()).totalPending === 0, 10_000, "the check-back's commit");
    expect(bodies(await delivered())).toEqual(["w:wait-commit-0"]);
    expect(lines(sender, "CHECK").map((l) => l[1])).toEqual([transactionId]);
  }, 60_000);

  test("a commit whose op record a crash cut off is recorded at restart and delivered once", async () => {
    const c = await startCluster();
    const sender = await producer("t", "commit:1");
    await sender.waitFor("DONE", 20_000);
    const [, transactionId] = lines(sender, "SENT")[0]!;
    c.broker.kill("SIGKILL");
    await c.broker.exited;
    // Cut the CommitLog at the start of its last record, the commit's op record: what a crash in
    // the middle of the commit's write leaves (the committed message survives, its op record not).
    const segmentDir = join(c.dir, "broker", "store", "commitlog");
    const segment = join(segmentDir, readdirSync(segmentDir).sort().at(-1)!);
    const bytes = readFileSync(segment);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let last = -1;
    for (let pos = 0; pos + 8 <= bytes.length && view.getInt32(pos + 4) === MESSAGE_MAGIC;) {
      const size = view.getInt32(pos);
      if (size <= 0 || pos + size > bytes.length) break;
      last = pos;
      pos += size;
    }
    const op = decodeRecord(bytes, last);
    expect([op.topic, op.properties[MessageConst.TRAN_RESOLUTION], op.properties[MessageConst.TRAN_RESOLVED_BY]]).toEqual([TRANSACTION_OP_TOPIC, "COMMIT", "producer"]);
    const fd = openSync(segment, "r+");
    ftruncateSync(fd, last);
    closeSync(fd);
    cluster!.broker = await startBroker(c);
    expect(cluster!.broker.output()).toContain(`transaction "${transactionId}" was committed`);
    // Nothing is pending right after the start, so nothing is checked back or committed again.
    expect(await transactions()).toMatchObject({ totalPending: 0 });
    expect(bodies(await delivered())).toEqual(["t:commit-0"]);
    expect(lines(sender, "CHECK")).toEqual([]);
  }, 60_000);
});
