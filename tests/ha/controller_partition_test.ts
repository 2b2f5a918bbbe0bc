/**
 * A network partition in controller mode: the master runs in a network namespace of its own,
 * joined by a veth pair to a second namespace that holds etcd, the NameServer with the controller,
 * the slaves and the producers (every address inside namespaces this test creates). Cutting the
 * link isolates the master: it stops taking writes once its lease lapses (a client in its own
 * namespace is refused), a slave is elected and serves the producers, and no moment has two
 * masters taking writes. Healed, the old master steps down, cuts back its epoch's unreplicated
 * tail (what async replication loses, counted) and rejoins with the new master's files.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, type Child, type Server, start, stop } from "../_helpers/process.ts";
import { needs } from "../_helpers/skip.ts";
import { commitLogFiles, until } from "./_ha.ts";
import { type EtcdCluster, missingEtcd, startEtcd } from "./_etcd.ts";
import { cannotMakeNamespaces, ip } from "./_netns.ts";
import { epochsOf, sendOutcomes, startControllerNameServer, startReplica, storedMessages } from "./_controller.ts";

const TAG = `${process.pid % 10000}`;
const NS_MASTER = `rmq-fo-${TAG}-a`;
const NS_REST = `rmq-fo-${TAG}-b`;
const VETH_MASTER = `rfa${TAG}`;
const VETH_REST = `rfb${TAG}`;
/** A /24 of the private range, only inside the two namespaces. */
const NET = `10.213.${process.pid % 250}`;
const MASTER_HOST = `${NET}.1`;
const REST_HOST = `${NET}.2`;

const test = needs(missingEtcd() ?? cannotMakeNamespaces(TAG));
let dir: string;
let etcd: EtcdCluster | undefined;
const children: Child[] = [];
let made = false;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-partition-"));
});

afterAll(async () => {
  for (const child of children) await stop(child, 2000).catch(() => {});
  await etcd?.close();
  if (made) {
    for (const ns of [NS_MASTER, NS_REST]) {
      try {
        ip("netns", "del", ns);
      } catch {
        // already gone
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

function makeNamespaces(): void {
  made = true;
  ip("netns", "add", NS_MASTER);
  ip("netns", "add", NS_REST);
  ip("link", "add", VETH_MASTER, "type", "veth", "peer", "name", VETH_REST);
  ip("link", "set", VETH_MASTER, "netns", NS_MASTER);
  ip("link", "set", VETH_REST, "netns", NS_REST);
  for (const [ns, veth, host] of [[NS_MASTER, VETH_MASTER, MASTER_HOST], [NS_REST, VETH_REST, REST_HOST]] as const) {
    ip("-n", ns, "link", "set", "lo", "up");
    ip("-n", ns, "addr", "add", `${host}/24`, "dev", veth);
    ip("-n", ns, "link", "set", veth, "up");
  }
}

/** A port that is free in the namespaces (they are new: any unprivileged port is). */
let nextPort = 20_000 + (process.pid % 5000);
const port = () => nextPort++;

describe("controller mode under a network partition", () => {
  test("the isolated master stops taking writes when its lease lapses, a slave serves the producers, and it rejoins once healed", async () => {
    makeNamespaces();
    etcd = await startEtcd(1, NS_REST);
    const ns = await startControllerNameServer(etcd.endpoints, port(), { netns: NS_REST, host: REST_HOST });
    children.push(ns);
    const namesrv = [`${REST_HOST}:${ns.port}`];
    const replicas = new Map<number, Server>();
    const masterPorts = { port: port(), haPort: port() };
    // Replica 1, alone in its namespace, starts first and becomes the first master.
    const master = await startReplica({ dataDir: join(dir, "r1"), ...masterPorts, replicaId: 1, namesrv, role: "ASYNC_MASTER", netns: NS_MASTER, host: MASTER_HOST });
    children.push(master);
    replicas.set(1, master);
    await master.waitFor("Replica 1 is the master of epoch 1", 15_000);
    for (const id of [2, 3]) {
      const replica = await startReplica({ dataDir: join(dir, `r${id}`), port: port(), haPort: port(), replicaId: id, namesrv, role: "ASYNC_MASTER", netns: NS_REST, host: REST_HOST });
      children.push(replica);
      replicas.set(id, replica);
    }
    await until(() => /In-sync set \[1,\d+,\d+\]/.test(master.output()), 20_000, "an in-sync set of 3");

    // Producers beside the slaves (through the NameServer), and a client beside the master (straight to it).
    const producers = start("ip", ["netns", "exec", NS_REST, BUN, "tests/_fixtures/failover_sender.ts", namesrv[0]!, "partition", "2", "4", "16000", "p"]);
    const local = start("ip", ["netns", "exec", NS_MASTER, BUN, "tests/_fixtures/sync_sender.ts", `${MASTER_HOST}:${masterPorts.port}`, "partition", "100000000", "4"]);
    children.push(producers, local);
    await until(() => sendOutcomes(producers.output()).acked.length >= 300, 20_000, "300 acknowledged sends");
    const cutAt = Date.now();
    ip("-n", NS_MASTER, "link", "set", VETH_MASTER, "down");

    await until(() => [2, 3].some((id) => replicas.get(id)!.output().includes(`Replica ${id} is the master of epoch 2`)), 20_000, "a master of epoch 2");
    const second = [2, 3].find((id) => replicas.get(id)!.output().includes(`Replica ${id} is the master of epoch 2`))!;
    await until(() => /is fenced|no longer the master/.test(local.output()), 10_000, "the isolated master to refuse its local client");
    await producers.exited;
    const outcomes = sendOutcomes(producers.output());
    const newDir = join(dir, `r${second}`);
    const epochTwoAt = epochsOf(newDir).find((e) => e.epoch === 2)!.startOffset;
    const epochTwoKeys = new Set(storedMessages(newDir).filter((m) => m.offset >= epochTwoAt).map((m) => m.key));
    const firstEpochTwo = Math.min(...outcomes.acked.filter((a) => epochTwoKeys.has(a.key)).map((a) => a.at));
    const localAcks = [...local.output().matchAll(/^ACK (\d+) \d+ \d+ (\d+)$/gm)].map((m) => ({ key: `seq-${m[1]}`, at: Number(m[2]) }));
    const lastLocal = Math.max(...localAcks.map((a) => a.at));
    const refusedLine = /^ERR \d+ 14 (.*)$/m.exec(local.output())?.[1] ?? "";

    // Heal: the old master steps down, cuts back and rejoins with the new master's files.
    ip("-n", NS_MASTER, "link", "set", VETH_MASTER, "up");
    await master.waitFor("steps down and restarts as its slave", 20_000);
    await until(() => {
      const a = commitLogFiles(join(dir, "r1"));
      const b = commitLogFiles(newDir);
      return a.size === b.size && [...b].every(([name, bytes]) => Buffer.compare(a.get(name) ?? new Uint8Array(), bytes) === 0);
    }, 30_000, "the old master's CommitLog to equal the new master's");
    expect(epochsOf(join(dir, "r1"))).toEqual(epochsOf(newDir));
    const cut = /CommitLog cut back to (\d+) to rejoin the group's master: (\d+) bytes/.exec(master.output());
    const kept = new Set(storedMessages(newDir).map((m) => m.key));
    const lost = localAcks.filter((a) => !kept.has(a.key));
    console.log(
      `partition: the isolated master took its last write ${lastLocal - cutAt} ms after the cut and then refused its local client ("${refusedLine}"); ` +
        `replica ${second} took the first write of epoch 2 ${firstEpochTwo - cutAt} ms after the cut; healed, the old master cut back ` +
        `${cut?.[2] ?? 0} bytes and rejoined: ${lost.length} of ${localAcks.length} writes it acknowledged after its slaves' last copy are lost (async replication)`,
    );
    // Never two masters taking writes at once: the isolated one stopped before epoch 2 took its first.
    expect(localAcks.length).toBeGreaterThan(0);
    expect(lastLocal).toBeLessThan(firstEpochTwo);
    expect(lastLocal - cutAt).toBeLessThan(2500);
    expect(refusedLine).toContain("is fenced");
    // Every producer send acknowledged through the NameServer (before the cut by epoch 1, after by epoch 2) is kept, bar the
    // isolated master's own unreplicated tail.
    const producerLost = outcomes.acked.filter((a) => !kept.has(a.key) && a.at >= cutAt + 2500);
    expect(producerLost.slice(0, 5)).toEqual([]);
  }, 120_000);
});
