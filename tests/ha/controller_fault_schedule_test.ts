/**
 * A seeded fault schedule in controller mode: three SYNC_MASTER replicas on etcd take sends from
 * several producers while, in an order drawn from the seed, the master or a slave is SIGKILLed and
 * restarted, stalled (SIGSTOP) and resumed, or cut off the network (a partition: each replica runs
 * in a network namespace of its own, joined to the others' and to etcd's, the NameServer's and the
 * producers' by a bridge, and its link goes down) and joined again, or the slaves stall just
 * before the master is killed. Without permission to make namespaces it runs on loopback, with no
 * partitions. At the end, with every replica back: no acknowledged message is
 * lost, and no split-brain write happened — every acknowledged message sits, in the final log, at
 * the offset its acknowledgement named, in the epoch of the master that acknowledged it.
 *
 * `FAULT_SEED` replays a schedule; `FAULT_SCHEDULE_MS` runs it longer (40 s by default).
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeOffsetMessageId } from "../../core/model/message_id.ts";
import { BUN, type Child, freePort, type Server, start, stop } from "../_helpers/process.ts";
import { seeded } from "../_helpers/random.ts";
import { needs } from "../_helpers/skip.ts";
import { commitLogFiles, until } from "./_ha.ts";
import { type EtcdCluster, missingEtcd, startEtcd } from "./_etcd.ts";
import { epochAt, epochsOf, sendOutcomes, startControllerNameServer, startReplica, storedMessages } from "./_controller.ts";
import { cannotMakeNamespaces, makeStar, type Star } from "./_netns.ts";

const test = needs(missingEtcd());
const SEED = process.env.FAULT_SEED ? Number(process.env.FAULT_SEED) : crypto.getRandomValues(new Uint32Array(1))[0]!;
const DURATION_MS = Number(process.env.FAULT_SCHEDULE_MS ?? 40_000);
const IDS = [1, 2, 3];
const TAG = `${process.pid % 10000}`;
const NO_PARTITIONS = cannotMakeNamespaces(TAG);
let dir: string;
let etcd: EtcdCluster | undefined;
let star: Star | undefined;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-faults-"));
});

afterAll(async () => {
  for (const child of children) await stop(child, 2000).catch(() => {});
  await etcd?.close();
  star?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("controller mode under a seeded fault schedule", () => {
  test(`kills, stalls, partitions and restarts in random order lose no acknowledged message and write no split brain (seed ${SEED})`, async () => {
    const random = seeded(SEED);
    const events: string[] = [];
    if (NO_PARTITIONS !== undefined) console.log(`fault schedule: no partitions (${NO_PARTITIONS})`);
    try {
      star = NO_PARTITIONS === undefined ? makeStar(TAG, IDS) : undefined;
      const hub = star?.hub;
      etcd = await startEtcd(1, hub?.ns);
      const ns = await startControllerNameServer(etcd.endpoints, 0, hub === undefined ? {} : { netns: hub.ns, host: hub.host });
      children.push(ns);
      const namesrv = [`${hub?.host ?? "127.0.0.1"}:${ns.port}`];
      const inHub = (command: string, args: string[]) => hub === undefined ? start(command, args) : start("ip", ["netns", "exec", hub.ns, command, ...args]);
      const ports = new Map<number, { port: number; haPort: number }>();
      const current = new Map<number, Server>();
      const history = new Map<number, Server[]>();
      const launch = async (id: number) => {
        const where = star?.members.get(id);
        const replica = await startReplica({ dataDir: join(dir, `r${id}`), ...ports.get(id)!, replicaId: id, namesrv, ...(where === undefined ? {} : { netns: where.ns, host: where.host }) });
        children.push(replica);
        current.set(id, replica);
        history.set(id, [...(history.get(id) ?? []), replica]);
      };
      for (const id of IDS) {
        ports.set(id, { port: await freePort(), haPort: await freePort() });
        await launch(id);
      }
      /** Epoch → the replica that was its master, by every process's log. */
      const masters = () => {
        const out = new Map<number, number>();
        for (const servers of history.values()) {
          for (const server of servers) for (const m of server.output().matchAll(/Replica (\d+) is the master of epoch (\d+)/g)) out.set(Number(m[2]), Number(m[1]));
        }
        return out;
      };
      const masterNow = () => {
        const all = masters();
        const latest = Math.max(0, ...all.keys());
        return latest === 0 ? undefined : all.get(latest);
      };
      await until(() => masterNow() !== undefined, 15_000, "a first master");
      await until(() => /In-sync set \[\d+,\d+,\d+\]/.test(current.get(masterNow()!)!.output()), 20_000, "an in-sync set of 3");

      const senders = [0, 1].map((i) => inHub(BUN, ["tests/_fixtures/failover_sender.ts", namesrv[0]!, "faults", "2", "2", String(DURATION_MS + 3000), `s${i}`]));
      children.push(...senders);
      const end = Date.now() + DURATION_MS;
      while (Date.now() < end) {
        await sleep(1500 + random.int(2500));
        const master = masterNow();
        const target = random.chance(0.5) && master !== undefined ? master : random.pick(IDS);
        const server = current.get(target)!;
        const downMs = 800 + random.int(2200);
        const roll = random.next();
        if (roll < 0.25 && master !== undefined) {
          // The slaves fall behind for a moment (a slow network), then the master dies.
          const slaves = IDS.filter((id) => id !== master).map((id) => current.get(id)!);
          events.push(`+${DURATION_MS - (end - Date.now())}ms stall the slaves, then kill ${master} (master) for ${downMs} ms`);
          for (const slave of slaves) slave.kill("SIGSTOP");
          await sleep(300 + random.int(700));
          current.get(master)!.kill("SIGKILL");
          await current.get(master)!.exited;
          for (const slave of slaves) slave.kill("SIGCONT");
          await sleep(downMs);
          await launch(master);
        } else if (roll < 0.55) {
          events.push(`+${DURATION_MS - (end - Date.now())}ms kill ${target}${target === master ? " (master)" : ""} for ${downMs} ms`);
          server.kill("SIGKILL");
          await server.exited;
          await sleep(downMs);
          await launch(target);
        } else if (roll < 0.8 && star !== undefined) {
          // Cut off the network: the process runs on (a master fences itself when its lease lapses).
          events.push(`+${DURATION_MS - (end - Date.now())}ms partition ${target}${target === master ? " (master)" : ""} for ${downMs} ms`);
          star.cut(target);
          await sleep(downMs);
          star.heal(target);
        } else {
          events.push(`+${DURATION_MS - (end - Date.now())}ms stall ${target}${target === master ? " (master)" : ""} for ${downMs} ms`);
          server.kill("SIGSTOP");
          await sleep(downMs);
          server.kill("SIGCONT");
        }
      }
      await Promise.all(senders.map((s) => s.exited));
      const acked = senders.flatMap((s) => sendOutcomes(s.output()).acked);

      // Everyone back and caught up: the final master's log is the group's.
      const finalMaster = masterNow()!;
      const finalDir = join(dir, `r${finalMaster}`);
      const caughtUp = (id: number) => {
        const reference = commitLogFiles(finalDir);
        const files = commitLogFiles(join(dir, `r${id}`));
        return files.size === reference.size && [...reference].every(([name, bytes]) => Buffer.compare(files.get(name) ?? new Uint8Array(), bytes) === 0);
      };
      try {
        await until(() => IDS.every(caughtUp), 60_000, "every replica to hold the final master's log");
      } catch (error) {
        const behind = IDS.filter((id) => !caughtUp(id));
        const tails = behind.map((id) => `replica ${id}:\n${current.get(id)!.output().split("\n").slice(-15).join("\n")}`);
        throw new Error(`${(error as Error).message} (final master ${finalMaster}; behind: ${behind.join(", ")})\n${tails.join("\n")}`);
      }
      const stored = storedMessages(finalDir);
      const byOffset = new Map(stored.map((m) => [m.offset, m.key]));
      const epochs = epochsOf(finalDir);
      const epochMasters = masters();
      const keys = new Set(stored.map((m) => m.key));
      const lost = acked.filter((a) => !keys.has(a.key));
      const splitBrain = acked.filter((a) => {
        const { host, commitLogOffset } = decodeOffsetMessageId(a.msgId);
        if (byOffset.get(commitLogOffset) !== a.key) return true;
        const master = epochMasters.get(epochAt(epochs, commitLogOffset));
        return master === undefined || ports.get(master)!.port !== host.port;
      });
      console.log(
        `fault schedule (seed ${SEED}, ${DURATION_MS} ms): ${events.length} faults, ${epochs.length} epochs, ${acked.length} sends acknowledged; ` +
          `${lost.length} lost, ${splitBrain.length} split-brain\n  ${events.join("\n  ")}`,
      );
      expect(lost.slice(0, 5)).toEqual([]);
      expect(splitBrain.slice(0, 5)).toEqual([]);
    } catch (error) {
      throw new Error(`Fault schedule failed with seed ${SEED} (replay: FAULT_SEED=${SEED}); faults: ${events.join("; ")}: ${(error as Error).message}`, { cause: error });
    }
  }, DURATION_MS + 120_000);
});
