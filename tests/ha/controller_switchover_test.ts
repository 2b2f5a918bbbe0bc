/**
 * A manual switchover in controller mode on a real etcd, with real broker processes, through the
 * real command line: `rmq cluster list` shows the group's master, epoch, in-sync set and replica
 * lags from the controller; `rmq cluster switch-master` refuses a target outside the in-sync set,
 * then hands the master role to an in-sync slave while producers send: the target is master of
 * epoch 2, the old master steps down to a slave, sends continue, and every acknowledged message is
 * in the new master's CommitLog files.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, type Child, freePort, type Server, start, stop } from "../_helpers/process.ts";
import { needs } from "../_helpers/skip.ts";
import { rmq } from "../cli/_cli.ts";
import { until } from "./_ha.ts";
import { type EtcdCluster, missingEtcd, startEtcd } from "./_etcd.ts";
import { masterOf, sendOutcomes, startControllerNameServer, startReplica, storedMessages } from "./_controller.ts";

const test = needs(missingEtcd());
const TOPIC = "switchover_orders";
let dir: string;
let etcd: EtcdCluster | undefined;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-switchover-"));
});

afterAll(async () => {
  for (const child of children) await stop(child, 2000).catch(() => {});
  await etcd?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The admin API URL a process logged. */
function adminUrlOf(server: Server): string {
  const url = /Admin API, metrics and dashboard on (http:\/\/127\.0\.0\.1:\d+)/.exec(server.output())?.[1];
  if (url === undefined) throw new Error(`No admin API line in:\n${server.output().slice(-2000)}`);
  return url;
}

interface Group {
  epoch: number;
  masterId: number;
  inSync: number[];
  replicas: Array<{ brokerId: number; role: string; inSync: boolean; lagBytes: number | null }>;
}

describe("controller mode: manual switchover", () => {
  test("rmq cluster switch-master hands the master role to an in-sync slave under load without losing an acknowledged message", async () => {
    etcd = await startEtcd(1);
    const ns = await startControllerNameServer(etcd.endpoints, 0, { extraArgs: ["--admin-port", "0"] });
    children.push(ns);
    await ns.waitFor(/Admin API, metrics and dashboard on http:\/\/127\.0\.0\.1:\d+/, 10_000);
    const server = adminUrlOf(ns);
    const namesrv = [`127.0.0.1:${ns.port}`];
    const replicas = new Map<number, Server>();
    for (const id of [1, 2, 3]) {
      const replica = await startReplica({
        dataDir: join(dir, `r${id}`), port: await freePort(), haPort: await freePort(), replicaId: id, namesrv, extraArgs: ["--admin-port", "0"],
      });
      children.push(replica);
      replicas.set(id, replica);
    }
    await until(() => masterOf(replicas, 1) !== undefined, 15_000, "a first master");
    const first = masterOf(replicas, 1)!;
    await until(() => /In-sync set \[\d+,\d+,\d+\]/.test(replicas.get(first)!.output()), 20_000, "an in-sync set of 3");

    // The controller's view, through the admin API of the NameServer that runs it.
    const groupNow = async (): Promise<Group> => {
      const view = await (await fetch(`${server}/api/cluster`)).json() as { controller: { groups: Group[] } };
      return view.controller.groups[0]!;
    };
    await until(async () => (await groupNow()).inSync.length === 3, 10_000, "the controller to record an in-sync set of 3", 200);
    const listed = await rmq(["cluster", "list", "--server", server, "--json"]);
    expect(listed.code).toBe(0);
    const before = (JSON.parse(listed.stdout) as { controller: { groups: Group[] } }).controller.groups[0]!;
    expect([before.epoch, before.masterId, before.inSync]).toEqual([1, first, [1, 2, 3]]);
    expect(before.replicas.map((r) => [r.brokerId, r.role, r.inSync])).toEqual(
      [1, 2, 3].map((id) => [id, id === first ? "master" : "slave", true]),
    );
    expect(before.replicas.every((r) => typeof r.lagBytes === "number")).toBe(true);
    const table = await rmq(["cluster", "list", "--server", server]);
    expect(table.stdout).toContain("Controller (epoch, in-sync set and lag per replica):");
    expect(table.stdout).toMatch(/broker-a\s+1\s+\[1,2,3\]/);

    const sender = start(BUN, ["tests/_fixtures/failover_sender.ts", namesrv[0]!, TOPIC, "2", "4", "9000", "s"]);
    children.push(sender);
    await until(() => sendOutcomes(sender.output()).acked.length >= 200, 20_000, "200 acknowledged sends");

    // A target outside the in-sync set is refused, and nothing changes.
    const refused = await rmq(["cluster", "switch-master", "--group", "broker-a", "--to", "9", "--server", server]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("Replica 9 of group \"broker-a\" is not a live in-sync slave");
    expect((await groupNow()).epoch).toBe(1);

    // The switch goes through the admin API of the master itself: a broker in controller mode asks
    // its controllers over the wire, signed with the cluster secret.
    const masterAdmin = adminUrlOf(replicas.get(first)!);
    const target = [1, 2, 3].find((id) => id !== first)!;
    const switchedAt = Date.now();
    const switched = await rmq(["cluster", "switch-master", "--group", "broker-a", "--to", String(target), "--server", masterAdmin, "--json"]);
    expect(switched.stderr).toBe("");
    expect(switched.code).toBe(0);
    const switchMs = Date.now() - switchedAt;
    expect(JSON.parse(switched.stdout)).toMatchObject({ brokerName: "broker-a", epoch: 2, masterId: target });
    await until(() => masterOf(replicas, 2) === target, 15_000, `replica ${target} to be master of epoch 2`);
    await until(() => replicas.get(first)!.output().includes(`this replica (${first}) steps down and restarts as its slave`), 10_000, "the old master to step down");

    await sender.exited;
    const { acked } = sendOutcomes(sender.output());
    // Sends continued: acknowledged after the switch, by the new master.
    expect(acked.filter((a) => a.at > switchedAt + 500).length).toBeGreaterThan(0);
    const onNew = new Set(storedMessages(join(dir, `r${target}`)).map((m) => m.key));
    const missing = acked.filter((a) => !onNew.has(a.key)).map((a) => a.key);
    const times = acked.map((a) => a.at).sort((a, b) => a - b);
    const gapMs = Math.max(...times.slice(1).map((t, i) => t - times[i]!));
    console.log(
      `switchover: ${acked.length} sends acknowledged; replica ${first} → ${target}, rmq cluster switch-master took ${switchMs} ms (process start included), ` +
        `longest pause between acknowledged sends ${gapMs} ms; ${missing.length} acknowledged but missing`,
    );
    expect(missing.slice(0, 5)).toEqual([]);

    const after = await groupNow();
    expect([after.epoch, after.masterId]).toEqual([2, target]);
    expect(after.replicas.find((r) => r.brokerId === first)?.role).toBe("slave");
    // A broker's admin API shows the controller's view too (asked over the wire).
    const fromBroker = await (await fetch(`${masterAdmin}/api/cluster`)).json() as { controller: { groups: Group[] } };
    expect(fromBroker.controller.groups.map((g) => [g.epoch, g.masterId])).toEqual([[2, target]]);
    const metrics = await (await fetch(`${server}/metrics`)).text();
    expect(metrics).toContain('rocketmq_controller_epoch{cluster="DefaultCluster",broker="broker-a"} 2');
    expect(metrics).toMatch(/rocketmq_controller_in_sync_replicas\{cluster="DefaultCluster",broker="broker-a"\} [1-3]/);
    expect(metrics).toMatch(new RegExp(`rocketmq_controller_replica_lag_bytes\\{cluster="DefaultCluster",broker="broker-a",replica="${first}",role="slave"\\} \\d+`));
  }, 90_000);
});
