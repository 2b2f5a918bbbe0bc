/**
 * Controller mode on a real etcd, with real broker processes: the master of a group of three
 * SYNC_MASTER replicas is SIGKILLed while several producers send (its slaves stalled just before,
 * so anything it acknowledged without them would be lost); a replica of the in-sync set
 * takes over within seconds, every acknowledged message is in the new master's CommitLog files,
 * and the old master restarts, cuts back what was never acknowledged and rejoins as a slave whose
 * files equal the new master's up to their end.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, type Child, freePort, type Server, start, stop } from "../_helpers/process.ts";
import { needs } from "../_helpers/skip.ts";
import { commitLogFiles, until } from "./_ha.ts";
import { type EtcdCluster, missingEtcd, startEtcd } from "./_etcd.ts";
import { epochAt, epochsOf, masterOf, sendOutcomes, startControllerNameServer, startReplica, storedMessages } from "./_controller.ts";

const test = needs(missingEtcd());
const TOPIC = "failover_orders";
let dir: string;
let etcd: EtcdCluster | undefined;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-controller-"));
});

afterAll(async () => {
  for (const child of children) await stop(child, 2000).catch(() => {});
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("controller mode", () => {
  test("SIGKILL of the master under load: an in-sync replica takes over, nothing acknowledged is lost, the old master rejoins as a slave", async () => {
    etcd = await startEtcd(1);
    const ns = await startControllerNameServer(etcd.endpoints);
    children.push(ns);
    const namesrv = [`127.0.0.1:${ns.port}`];
    const replicas = new Map<number, Server>();
    const ports = new Map<number, { port: number; haPort: number }>();
    for (const id of [1, 2, 3]) {
      ports.set(id, { port: await freePort(), haPort: await freePort() });
      const replica = await startReplica({ dataDir: join(dir, `r${id}`), ...ports.get(id)!, replicaId: id, namesrv });
      children.push(replica);
      replicas.set(id, replica);
    }
    await until(() => masterOf(replicas, 1) !== undefined, 15_000, "a first master").catch((e) => {
      console.log(ns.output());
      for (const [id, r] of replicas) console.log(`--- replica ${id}\n${r.output().slice(-4000)}`);
      throw e;
    });
    const first = masterOf(replicas, 1)!;
    // Both slaves join the in-sync set once they have caught up.
    await until(() => /In-sync set \[\d+,\d+,\d+\]/.test(replicas.get(first)!.output()), 20_000, "an in-sync set of 3");

    const senders = [0, 1].map((i) => start(BUN, ["tests/_fixtures/failover_sender.ts", namesrv[0]!, TOPIC, "2", "4", "14000", `p${i}`]));
    children.push(...senders);
    await until(() => senders.every((s) => sendOutcomes(s.output()).acked.length >= 300), 20_000, "300 acknowledged sends per sender");
    // The slaves stall for a moment before the master dies: whatever the master acknowledged
    // meanwhile would be on no slave (an acknowledgement that does not wait for the in-sync set
    // is lost here).
    const slaves = [...replicas].filter(([id]) => id !== first).map(([, r]) => r);
    for (const slave of slaves) slave.kill("SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 800));
    const killedAt = Date.now();
    replicas.get(first)!.kill("SIGKILL");
    await replicas.get(first)!.exited;
    for (const slave of slaves) slave.kill("SIGCONT");
    await until(() => masterOf(replicas, 2) !== undefined, 15_000, "a master of epoch 2");
    const second = masterOf(replicas, 2)!;
    expect(second).not.toBe(first);
    await Promise.all(senders.map((s) => s.exited));
    const outcomes = senders.map((s) => sendOutcomes(s.output()));
    const acked = outcomes.flatMap((o) => o.acked);
    // Every acknowledged message is in the new master's CommitLog files.
    const newDir = join(dir, `r${second}`);
    const stored = storedMessages(newDir);
    const onNew = new Set(stored.map((m) => m.key));
    // Writes resumed with the first send acknowledged in epoch 2 (the new master's own records).
    const epochTwoAt = epochsOf(newDir).find((e) => e.epoch === 2)!.startOffset;
    const epochTwo = new Set(stored.filter((m) => m.offset >= epochTwoAt).map((m) => m.key));
    const gapMs = Math.min(...acked.filter((a) => epochTwo.has(a.key)).map((a) => a.at)) - killedAt;
    const missing = acked.filter((a) => !onNew.has(a.key)).map((a) => a.key);
    console.log(
      `controller failover: ${acked.length} sends acknowledged by 2 processes x 2 producers x 4 in flight; master ${first} SIGKILLed, ` +
        `replica ${second} master of epoch 2, first acknowledged send ${gapMs} ms after the kill; ${missing.length} acknowledged but missing`,
    );
    if (!(gapMs < 10_000)) {
      console.log([...new Set(senders[0]!.output().split("\n").filter((l) => !l.startsWith("ERR") && !l.startsWith("ACK")))].slice(-10).join("\n"));
      for (const [id, r] of replicas) console.log(`--- replica ${id}\n${r.output().slice(-4000)}`);
    }
    expect(missing.slice(0, 5)).toEqual([]);
    expect(gapMs).toBeLessThan(10_000);

    // The old master comes back as a slave of epoch 2 and ends up with the new master's files.
    const old = await startReplica({ dataDir: join(dir, `r${first}`), ...ports.get(first)!, replicaId: first, namesrv });
    children.push(old);
    await old.waitFor("Replicating from master", 20_000);
    const oldDir = join(dir, `r${first}`);
    await until(() => {
      const a = commitLogFiles(oldDir);
      const b = commitLogFiles(newDir);
      return [...b].every(([name, bytes]) => Buffer.compare(a.get(name) ?? new Uint8Array(), bytes) === 0) && a.size === b.size;
    }, 20_000, "the old master's CommitLog to equal the new master's");
    // Its epochs are the new master's: epoch 2 begins where epoch 1 ended on the new master.
    expect(epochsOf(oldDir)).toEqual(epochsOf(newDir));
    const epochs = epochsOf(newDir);
    expect(epochs.map((e) => e.epoch)).toEqual([1, 2]);
    // No acknowledged message was written in an epoch other than its acknowledger's: every one of epoch 1 lies below epoch 2's start.
    const offsets = new Map(storedMessages(newDir).map((m) => [m.key, m.offset]));
    const lateEpochOne = acked.filter((a) => a.at < killedAt && epochAt(epochs, offsets.get(a.key)!) !== 1);
    expect(lateEpochOne).toEqual([]);
  }, 120_000);
});
