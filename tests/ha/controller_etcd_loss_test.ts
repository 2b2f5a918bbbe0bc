/**
 * Controller mode when etcd fails: with one member of three lost nothing changes; with every
 * member lost no election can happen, so the master keeps serving (its controllers say etcd is
 * unreachable, which no election can get past); a master that dies meanwhile is replaced once
 * etcd is back.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, type Child, freePort, type Server, start, stop } from "../_helpers/process.ts";
import { needs } from "../_helpers/skip.ts";
import { until } from "./_ha.ts";
import { type EtcdCluster, missingEtcd, startEtcd } from "./_etcd.ts";
import { sendOutcomes, startControllerNameServer, startReplica, storedMessages } from "./_controller.ts";

const test = needs(missingEtcd());
let dir: string;
let etcd: EtcdCluster | undefined;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-etcd-loss-"));
});

afterAll(async () => {
  for (const child of children) await stop(child, 2000).catch(() => {});
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

const masterLine = (id: number, epoch: number) => `Replica ${id} is the master of epoch ${epoch}`;

describe("controller mode without etcd", () => {
  test("one etcd member lost: nothing changes; all lost: no election, the master keeps serving; etcd back: a dead master is replaced", async () => {
    etcd = await startEtcd(3);
    const ns = await startControllerNameServer(etcd.endpoints);
    children.push(ns);
    const namesrv = [`127.0.0.1:${ns.port}`];
    const replicas = new Map<number, Server>();
    for (const id of [1, 2]) {
      const replica = await startReplica({ dataDir: join(dir, `r${id}`), port: await freePort(), haPort: await freePort(), replicaId: id, namesrv });
      children.push(replica);
      replicas.set(id, replica);
    }
    await until(() => [...replicas].some(([id, r]) => r.output().includes(masterLine(id, 1))), 15_000, "a first master");
    const first = [...replicas].find(([id, r]) => r.output().includes(masterLine(id, 1)))![0];
    const other = first === 1 ? 2 : 1;
    await until(() => /In-sync set \[\d+,\d+\]/.test(replicas.get(first)!.output()), 20_000, "an in-sync set of 2");

    const sender = start(BUN, ["tests/_fixtures/failover_sender.ts", namesrv[0]!, "etcd_loss", "1", "4", "30000", "s"]);
    children.push(sender);
    const ackedBetween = (from: number, to: number) => sendOutcomes(sender.output()).acked.filter((a) => a.at >= from && a.at < to).length;
    await until(() => sendOutcomes(sender.output()).acked.length >= 200, 20_000, "200 acknowledged sends");

    // One member of three lost: the master keeps its lease and serves.
    await etcd.kill(0);
    const oneLostAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect(ackedBetween(oneLostAt + 3000, oneLostAt + 4000)).toBeGreaterThan(0);

    // Every member lost: past the lease, the master still takes writes; nobody is elected.
    await etcd.kill(1);
    await etcd.kill(2);
    const allLostAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 5000));
    expect(ackedBetween(allLostAt + 3500, allLostAt + 5000)).toBeGreaterThan(0);
    expect(ns.output()).toContain("cannot reach etcd, so no election can happen");

    // The master dies while etcd is down: no election can happen ...
    replicas.get(first)!.kill("SIGKILL");
    await replicas.get(first)!.exited;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(replicas.get(other)!.output()).not.toContain(masterLine(other, 2));
    // ... until etcd is back.
    const backAt = Date.now();
    await Promise.all([etcd.restart(0), etcd.restart(1), etcd.restart(2)]);
    await until(() => replicas.get(other)!.output().includes(masterLine(other, 2)), 20_000, "the slave to be elected once etcd is back");
    await until(() => sendOutcomes(sender.output()).acked.some((a) => a.at > backAt), 20_000, "sends to be acknowledged by the new master");
    console.log(`etcd loss: the master served ${ackedBetween(allLostAt, allLostAt + 5000)} sends in the 5 s without etcd; the slave was master ${Date.now() - backAt} ms after etcd came back`);
    sender.kill("SIGTERM");
    await sender.exited;
    // Every acknowledged send is on the new master.
    const stored = new Set(storedMessages(join(dir, `r${other}`)).map((m) => m.key));
    const missing = sendOutcomes(sender.output()).acked.filter((a) => !stored.has(a.key)).map((a) => a.key);
    expect(missing.slice(0, 5)).toEqual([]);
  }, 120_000);
});
