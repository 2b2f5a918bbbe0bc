/**
 * What a new master takes over in controller mode, with real processes on a real etcd: a master
 * cut off from its only controller (that NameServer SIGSTOPped) is fenced but keeps running; a
 * timer message and a delay-level message due after the failover are delivered once, by the new
 * master and not by the fenced one, a half transaction left open is checked back by the new master
 * only (the fenced one writes no check of its own), and a POP delivery whose invisible time ends
 * after the failover is revived by the new master only. Then an orderly push consumer keeps each queue's order across a
 * SIGKILL of the next master and gets the messages sent after it (its queue locks taken again on
 * the new master).
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { Producer } from "../../client/producer.ts";
import { PushConsumer } from "../../client/push_consumer.ts";
import { SimpleConsumer } from "../../client/simple_consumer.ts";
import { popRetryTopic, TRANSACTION_OP_TOPIC } from "../../core/model/system_topics.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { type Child, freePort, type Server, stop } from "../_helpers/process.ts";
import { needs } from "../_helpers/skip.ts";
import { slaveKnowsTopic, until } from "./_ha.ts";
import { type EtcdCluster, missingEtcd, startEtcd } from "./_etcd.ts";
import { masterOf, startControllerNameServer, startReplica, storedMessages } from "./_controller.ts";

const test = needs(missingEtcd());
const TIMERS = "takeover_timers";
const TXN = "takeover_txn";
const ORDERS = "takeover_orders";
const POPS = "takeover_pops";
/** Delay levels of the replicas: level 3 is 6 s. */
const DELAY_LEVELS = ["--message-delay-level", "1s 2s 6s"];
const decoder = new TextDecoder();

let dir: string;
let etcd: EtcdCluster | undefined;
let stoppedNameServer: Server | undefined;
const children: Child[] = [];
const replicas = new Map<number, Server>();
const ports = new Map<number, { port: number; haPort: number }>();
let clientNameServer: string;
let producer: Producer | undefined;
let checks: string[] = [];
const consumers: Array<PushConsumer | SimpleConsumer> = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-controller-takeover-"));
});

afterAll(async () => {
  await Promise.all(consumers.map((c) => c.shutdown().catch(() => {})));
  await producer?.shutdown().catch(() => {});
  stoppedNameServer?.kill("SIGCONT");
  for (const child of children) await stop(child, 2000).catch(() => {});
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

function dump(): void {
  for (const [id, r] of replicas) console.log(`--- replica ${id}\n${r.output().slice(-4000)}`);
}

describe("controller mode takeover", () => {
  test("a fenced master delivers no timer and checks no transaction back; the new master does both, once", async () => {
    etcd = await startEtcd(1);
    // Replica 1 heartbeats only to the first controller; the clients and the other replicas use the second.
    const lonely = await startControllerNameServer(etcd.endpoints);
    const shared = await startControllerNameServer(etcd.endpoints);
    children.push(lonely, shared);
    clientNameServer = `127.0.0.1:${shared.port}`;
    const lonelyAddress = `127.0.0.1:${lonely.port}`;
    for (const id of [1, 2, 3]) ports.set(id, { port: await freePort(), haPort: await freePort() });
    const first = await startReplica({
      dataDir: join(dir, "r1"), ...ports.get(1)!, replicaId: 1, namesrv: [lonelyAddress, clientNameServer],
      extraArgs: ["--controller-addresses", lonelyAddress, ...DELAY_LEVELS],
    });
    children.push(first);
    replicas.set(1, first);
    await until(() => masterOf(replicas, 1) === 1, 15_000, "replica 1 to be the first master").catch((e) => (dump(), Promise.reject(e)));

    producer = new Producer({
      nameServer: clientNameServer,
      group: "takeover_tx",
      dial,
      pollNameServerIntervalMs: 500,
      heartbeatIntervalMs: 500,
      log: () => {},
      transactionListener: {
        executeLocalTransaction: () => "UNKNOWN",
        checkLocalTransaction: (message) => {
          checks.push(decoder.decode(message.body));
          return "COMMIT";
        },
      },
    });
    await producer.start();
    // The topics exist before the slaves start, so each copies them at once.
    for (const topic of [TIMERS, TXN, ORDERS, POPS]) await producer.send({ topic, body: "first", keys: "first" });
    for (const id of [2, 3]) {
      const replica = await startReplica({
        dataDir: join(dir, `r${id}`), ...ports.get(id)!, replicaId: id, namesrv: [clientNameServer],
        extraArgs: ["--controller-addresses", clientNameServer, ...DELAY_LEVELS],
      });
      children.push(replica);
      replicas.set(id, replica);
    }
    await until(() => /In-sync set \[1,2,3\]/.test(first.output()), 20_000, "an in-sync set of 3").catch((e) => (dump(), Promise.reject(e)));
    for (const id of [2, 3]) {
      const connection = await connect(dial, `127.0.0.1:${ports.get(id)!.port}`);
      await slaveKnowsTopic(connection, ORDERS);
      connection.close();
    }

    const popper = new SimpleConsumer({ nameServer: clientNameServer, group: "takeover_pop", dial, consumeFromWhere: "FIRST_OFFSET", awaitDurationMs: 1000, pollNameServerIntervalMs: 500, log: () => {} });
    consumers.push(popper);
    popper.subscribe(POPS, "*");
    await popper.start();
    const popped: string[] = [];
    // During the failover a receive may meet the fenced master (its route not yet replaced): asked again.
    const pop = async (invisibleMs: number) => {
      const messages = await popper.receive(16, invisibleMs).catch(() => []);
      for (const message of messages) popped.push(decoder.decode(message.body));
    };
    await until(async () => (await pop(6000), popped.includes("first")), 10_000, "the POP consumer to get its message");

    const dueAt = Date.now() + 6000;
    await producer.send({ topic: TIMERS, body: "due", keys: "due", deliveryTime: dueAt });
    await producer.send({ topic: TIMERS, body: "delayed", keys: "delayed", delayLevel: 3 });
    await producer.send({ topic: TIMERS, body: "marker", keys: "marker", deliveryTime: dueAt + 1000 });
    const half = await producer.sendMessageInTransaction({ topic: TXN, body: "open", keys: "open" }, undefined, { checkImmunitySeconds: 6 });
    expect(half.localState).toBe("UNKNOWN");
    const oldOps = () => storedMessages(join(dir, "r1")).filter((m) => m.topic === TRANSACTION_OP_TOPIC).length;
    const opsBefore = oldOps();

    // Replica 1's only controller stops: its lease lapses, it fences itself and stays up; the others elect a new master.
    stoppedNameServer = lonely;
    lonely.kill("SIGSTOP");
    await until(() => masterOf(replicas, 2) !== undefined, 20_000, "a master of epoch 2").catch((e) => (dump(), Promise.reject(e)));
    const second = masterOf(replicas, 2)!;
    expect(second).not.toBe(1);

    // Revived by the new master when its invisible time ends, the POP message is delivered again.
    await until(async () => (await pop(60_000), popped.filter((p) => p === "first").length === 2), 30_000, "the POP message to be revived")
      .catch((e) => (console.log(popped), dump(), Promise.reject(e)));
    const got: string[] = [];
    const consumer = new PushConsumer({ nameServer: clientNameServer, group: "takeover_reader", dial, consumeFromWhere: "FIRST_OFFSET", pollNameServerIntervalMs: 500, log: () => {} });
    consumers.push(consumer);
    consumer.subscribe(TIMERS, "*");
    consumer.subscribe(TXN, "*");
    consumer.onMessage((message) => {
      got.push(`${message.topic}:${decoder.decode(message.body)}`);
      return "SUCCESS";
    });
    await consumer.start();
    // The marker is due a second after the other timer: once it is delivered, a fenced master would have delivered the first.
    await until(() => got.includes(`${TIMERS}:marker`) && got.includes(`${TXN}:open`), 30_000, "the timers and the committed transaction")
      .catch((e) => (console.log(got), dump(), Promise.reject(e)));

    const onOld = storedMessages(join(dir, "r1"));
    const onNew = storedMessages(join(dir, `r${second}`));
    console.log(
      `takeover: replica 1 fenced, replica ${second} master of epoch 2; timer copies on the fenced master ${onOld.filter((m) => m.topic === TIMERS && m.key === "due").length}, ` +
        `on the new one ${onNew.filter((m) => m.topic === TIMERS && m.key === "due").length}; check-backs ${checks.length}`,
    );
    // The fenced master wrote no timer delivery and no transaction check of its own.
    expect(onOld.filter((m) => m.topic === TIMERS && m.key !== "first")).toEqual([]);
    expect(oldOps()).toBe(opsBefore);
    expect(onOld.filter((m) => m.topic === popRetryTopic("takeover_pop", POPS))).toEqual([]);
    expect(first.output()).not.toContain("Replica 1 runs as a slave of epoch 2");
    // The new master delivered each timer once and committed the transaction it checked back.
    expect(onNew.filter((m) => m.topic === TIMERS).map((m) => m.key).sort()).toEqual(["delayed", "due", "first", "marker"]);
    expect(onNew.filter((m) => m.topic === TXN).map((m) => m.key).sort()).toEqual(["first", "open"]);
    expect(got.filter((g) => g === `${TIMERS}:due` || g === `${TIMERS}:delayed`).sort()).toEqual([`${TIMERS}:delayed`, `${TIMERS}:due`]);
    expect(checks).toEqual(["open"]);
  }, 90_000);

  test("an orderly push consumer keeps each queue's order across a SIGKILL of the master and gets what is sent after it", async () => {
    const master = masterOf(replicas, 2);
    if (master === undefined || producer === undefined) throw new Error("Needs the cluster of the test before");
    const other = [2, 3].find((id) => id !== master)!;
    // The other replica is in the in-sync set again, so it can be elected.
    const joined = new RegExp(`In-sync set \\[(${master},${other}|${other},${master})\\]`);
    await until(() => joined.test(replicas.get(master)!.output()), 20_000, `replica ${other} to join the in-sync set`)
      .catch((e) => (dump(), Promise.reject(e)));
    const KEYS = 4;
    const PER_PHASE = 20;
    const seen = new Map<number, number[]>();
    const consumer = new PushConsumer({
      nameServer: clientNameServer, group: "takeover_orderly", dial, orderly: true, consumeFromWhere: "FIRST_OFFSET",
      pollNameServerIntervalMs: 500, heartbeatIntervalMs: 500, rebalanceIntervalMs: 1000, persistOffsetIntervalMs: 500, log: () => {},
    });
    consumers.push(consumer);
    consumer.subscribe(ORDERS, "*");
    consumer.onMessage((message) => {
      const body = decoder.decode(message.body);
      if (body === "first") return "SUCCESS";
      const [key, seq] = body.split(":").map(Number) as [number, number];
      const list = seen.get(key) ?? [];
      list.push(seq);
      seen.set(key, list);
      return "SUCCESS";
    });
    await consumer.start();
    const byKey = (queues: readonly { queueId: number }[], _m: unknown, key: unknown) => queues[(key as number) % queues.length]!;
    // One key's messages are sent one after another (a failed send is sent again before the next).
    const sendPhase = (from: number) => Promise.all([...Array(KEYS).keys()].map(async (key) => {
      for (let seq = from; seq < from + PER_PHASE; seq++) {
        for (const giveUpAt = Date.now() + 20_000; ;) {
          try {
            await producer!.send({ topic: ORDERS, body: `${key}:${seq}` }, { selector: byKey as never, arg: key, timeoutMs: 2000 });
            break;
          } catch (error) {
            if (Date.now() > giveUpAt) throw error;
            await new Promise((resolve) => setTimeout(resolve, 100));
          }
        }
      }
    }));
    const reached = (n: number) => [...Array(KEYS).keys()].every((key) => new Set(seen.get(key) ?? []).size >= n);
    await sendPhase(0);
    await until(() => reached(PER_PHASE), 20_000, "the orderly consumer to get the first messages");

    replicas.get(master)!.kill("SIGKILL");
    await replicas.get(master)!.exited;
    const killedAt = Date.now();
    await sendPhase(PER_PHASE).catch((e) => (dump(), Promise.reject(e)));
    await until(() => masterOf(replicas, 3) === other, 20_000, `replica ${other} to be the master of epoch 3`).catch((e) => (dump(), Promise.reject(e)));
    await until(() => reached(2 * PER_PHASE), 30_000, "the orderly consumer to get the messages sent after the kill")
      .catch((e) => (console.log([...seen]), dump(), Promise.reject(e)));
    // The consumer holds its queues' locks on the new master: another member of the group gets none of them there.
    const intruder = await connect(dial, `127.0.0.1:${ports.get(other)!.port}`);
    const mqs = [...Array(KEYS).keys()].map((queueId) => ({ topic: ORDERS, brokerName: "broker-a", queueId }));
    const answer = await intruder.request(RequestCode.LOCK_BATCH_MQ, { consumerGroup: "takeover_orderly", clientId: "intruder", mqs });
    intruder.close();
    expect(answer.code).toBe(ResponseCode.SUCCESS);
    expect(answer.header.lockOKMQSet).toEqual([]);
    console.log(`orderly takeover: replica ${master} SIGKILLed, replica ${other} master of epoch 3; all ${2 * PER_PHASE} messages of ${KEYS} keys consumed ${Date.now() - killedAt} ms after the kill`);
    for (let key = 0; key < KEYS; key++) {
      const list = seen.get(key)!;
      // In order: each message is the next one, or one seen before again (at least once, from the last committed offset).
      let max = -1;
      const out: number[] = [];
      for (const seq of list) {
        if (seq > max + 1) out.push(seq);
        max = Math.max(max, seq);
      }
      expect({ key, outOfOrder: out }).toEqual({ key, outOfOrder: [] });
      expect(max).toBe(2 * PER_PHASE - 1);
    }
  }, 90_000);
});
