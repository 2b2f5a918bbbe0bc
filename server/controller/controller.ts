/**
 * The controller (controller mode, automatic failover): runs beside a NameServer and keeps each
 * broker group's master, epoch and in-sync replica set in etcd, RocketMQ 5's controller model on a
 * consensus store instead of a consensus algorithm of its own. Several controllers may run side by
 * side: every change is a compare-and-swap transaction, so etcd serialises them.
 *
 * Keys, under `prefix` (`/rocketmq` by default):
 * - `<prefix>/groups/<cluster>/<group>/state`: the `GroupState` (epoch, master, in-sync set);
 * - `<prefix>/groups/<cluster>/<group>/alive/<id>`: a replica's last heartbeat (`ReplicaInfo`),
 *   attached to the replica's lease, so it disappears when the replica stops heartbeating.
 *
 * A group whose master's key is gone gets a new master from the live members of its in-sync set
 * (the one with the longest CommitLog) in one transaction that checks the state did not change and
 * the old master's key is still absent; each election bumps the epoch. See docs/REPLICATION.md.
 *
 * @module
 */
import * as v from "valibot";
import {
  type AlterSyncStateSetHeader,
  type ControllerHeartbeatAnswer,
  type ControllerHeartbeatHeader,
  type ElectMasterHeader,
  GroupState,
  type GroupView,
  ReplicaInfo,
  type SyncStateData,
} from "../../core/protocol/controller.ts";
import { type EtcdClient, type EtcdCompare, EtcdError, prefixEnd } from "./etcd.ts";
import type { Log } from "../logger.ts";

/** Options of `Controller`. */
export interface ControllerOptions {
  etcd: EtcdClient;
  /** Key prefix in etcd. @default "/rocketmq" */
  prefix?: string;
  /** Lease time to live of a replica, in seconds (etcd's minimum is about 2). @default 2 */
  leaseTtlSeconds?: number;
  /** How often groups are checked for a dead master. @default 250 */
  scanIntervalMs?: number;
  /** How long `rmq cluster switch-master` waits for the new master to catch up. @default 10000 */
  switchTimeoutMs?: number;
  log?: Log;
}

interface Loaded {
  state: GroupState | undefined;
  /** Mod revision of the state key (0: none). */
  version: number;
  members: Map<number, ReplicaInfo>;
}

/** The controller's logic; the NameServer's processors call it (see `controller_processors.ts`). */
export class Controller {
  readonly #etcd: EtcdClient;
  readonly #prefix: string;
  readonly #ttl: number;
  readonly #switchTimeoutMs: number;
  readonly #log: Log;
  readonly #timer: ReturnType<typeof setInterval>;
  /** Last state seen per group, answered while etcd is unreachable. */
  readonly #known = new Map<string, { state: GroupState; version: number; master?: ReplicaInfo }>();
  #scanning = false;
  #etcdDownSince: number | undefined;
  readonly #noCandidateLogged = new Set<string>();

  /** @param options The etcd client and timings. */
  constructor(options: ControllerOptions) {
    this.#etcd = options.etcd;
    this.#prefix = (options.prefix ?? "/rocketmq").replace(/\/+$/, "");
    this.#ttl = options.leaseTtlSeconds ?? 2;
    this.#switchTimeoutMs = options.switchTimeoutMs ?? 10_000;
    this.#log = options.log ?? (() => {});
    this.#timer = setInterval(() => void this.#scan(), options.scanIntervalMs ?? 250);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #groupKey(cluster: string, group: string): string {
    return `${this.#prefix}/groups/${encodeURIComponent(cluster)}/${encodeURIComponent(group)}`;
  }

  #etcdFailed(error: unknown): void {
    if (this.#etcdDownSince === undefined) {
      this.#etcdDownSince = Date.now();
      this.#log(`Controller cannot reach etcd, so no election can happen until it is back: ${(error as Error).message}`, "error");
    }
  }

  #etcdWorks(): void {
    if (this.#etcdDownSince !== undefined) {
      this.#log(`Controller reaches etcd again (after ${Date.now() - this.#etcdDownSince} ms)`, "info");
      this.#etcdDownSince = undefined;
    }
  }

  async #load(cluster: string, group: string): Promise<Loaded> {
    const base = this.#groupKey(cluster, group);
    const { kvs } = await this.#etcd.range(`${base}/`, prefixEnd(`${base}/`));
    const out: Loaded = { state: undefined, version: 0, members: new Map() };
    for (const entry of kvs) {
      const rest = entry.key.slice(base.length + 1);
      if (rest === "state") {
        const parsed = v.safeParse(GroupState, parseJson(entry.value));
        if (parsed.success) {
          out.state = parsed.output;
          out.version = entry.modRevision;
        } else this.#log(`Warning: the state of group "${group}" in etcd is malformed, ignored: ${v.summarize(parsed.issues)}`, "warn");
      } else if (rest.startsWith("alive/")) {
        const parsed = v.safeParse(ReplicaInfo, parseJson(entry.value));
        if (parsed.success) out.members.set(parsed.output.brokerId, parsed.output);
      }
    }
    return out;
  }

  /**
   * A broker's heartbeat: renews (or grants) its lease, records how far its CommitLog reaches,
   * elects the group's first master when it has none, and answers the group's state.
   *
   * @param h The heartbeat.
   * @returns The lease and the state (the last known one, `etcdUp: false`, when etcd is unreachable).
   */
  async heartbeat(h: ControllerHeartbeatHeader): Promise<ControllerHeartbeatAnswer> {
    const key = this.#groupKey(h.clusterName, h.brokerName);
    const ttlMs = this.#ttl * 1000;
    try {
      let lease = h.leaseId;
      if (lease !== "" && (await this.#etcd.keepAlive(lease)) <= 0) lease = "";
      if (lease === "") lease = (await this.#etcd.grant(this.#ttl)).id;
      const info: ReplicaInfo = {
        brokerId: h.brokerId,
        address: h.address,
        haAddress: h.haAddress,
        maxOffset: h.maxOffset,
        epoch: h.epoch,
        fenced: h.fenced,
      };
      await this.#etcd.put(`${key}/alive/${h.brokerId}`, JSON.stringify(info), lease);
      let loaded = await this.#load(h.clusterName, h.brokerName);
      if (loaded.state === undefined) {
        await this.#bootstrap(h.clusterName, h.brokerName, loaded);
        loaded = await this.#load(h.clusterName, h.brokerName);
      } else if (!loaded.members.has(loaded.state.masterId)) {
        await this.#elect(h.clusterName, h.brokerName, loaded);
        loaded = await this.#load(h.clusterName, h.brokerName);
      }
      this.#etcdWorks();
      const master = loaded.state === undefined ? undefined : loaded.members.get(loaded.state.masterId);
      if (loaded.state !== undefined) {
        this.#known.set(key, { state: loaded.state, version: loaded.version, ...(master === undefined ? {} : { master }) });
      }
      return {
        leaseId: lease,
        ttlMs,
        etcdUp: true,
        ...(loaded.state === undefined ? {} : { state: loaded.state }),
        version: loaded.version,
        ...(master === undefined ? {} : { master }),
      };
    } catch (error) {
      if (!(error instanceof EtcdError)) throw error;
      this.#etcdFailed(error);
      const known = this.#known.get(key);
      return {
        leaseId: h.leaseId,
        ttlMs,
        etcdUp: false,
        version: known?.version ?? 0,
        ...(known === undefined ? {} : { state: known.state }),
        ...(known?.master === undefined ? {} : { master: known.master }),
      };
    }
  }

  /** The first master of a group: its live member with the longest CommitLog. */
  async #bootstrap(cluster: string, group: string, loaded: Loaded): Promise<void> {
    const best = [...loaded.members.values()].sort((a, b) => b.maxOffset - a.maxOffset || a.brokerId - b.brokerId)[0];
    if (best === undefined) return;
    const key = this.#groupKey(cluster, group);
    const state: GroupState = { epoch: 1, masterId: best.brokerId, isr: [best.brokerId] };
    const done = await this.#etcd.txn(
      [{ key: `${key}/state`, target: "CREATE", result: "EQUAL", revision: 0 }],
      [{ put: { key: `${key}/state`, value: JSON.stringify(state) } }],
    );
    if (done) this.#log(`Group "${group}" of cluster "${cluster}": replica ${best.brokerId} (${best.address}) is its first master (epoch 1)`, "info");
  }

  /**
   * Elects a new master when the current one is not alive: from the live members of the in-sync
   * set, the longest CommitLog first. Nothing happens when none is alive (no unclean election).
   */
  async #elect(cluster: string, group: string, loaded: Loaded, target?: number): Promise<boolean> {
    const state = loaded.state!;
    const key = this.#groupKey(cluster, group);
    const candidates = [...loaded.members.values()]
      .filter((m) => state.isr.includes(m.brokerId) && m.brokerId !== state.masterId && (target === undefined || m.brokerId === target))
      .sort((a, b) => b.maxOffset - a.maxOffset || a.brokerId - b.brokerId);
    const chosen = candidates[0];
    const groupName = `${cluster}/${group}`;
    if (chosen === undefined) {
      if (!this.#noCandidateLogged.has(groupName)) {
        this.#noCandidateLogged.add(groupName);
        this.#log(
          `Group "${group}" of cluster "${cluster}" has no live master and no live in-sync replica to elect (in-sync set ${JSON.stringify(state.isr)}): ` +
            "it waits for one of them to come back",
          "warn",
        );
      }
      return false;
    }
    this.#noCandidateLogged.delete(groupName);
    const next: GroupState = { epoch: state.epoch + 1, masterId: chosen.brokerId, isr: [chosen.brokerId] };
    const compare: EtcdCompare[] = [{ key: `${key}/state`, target: "MOD", result: "EQUAL", revision: loaded.version }];
    // A dead master's key must still be absent (a switchover hands over from a live, fenced one).
    if (target === undefined) compare.push({ key: `${key}/alive/${state.masterId}`, target: "CREATE", result: "EQUAL", revision: 0 });
    const done = await this.#etcd.txn(compare, [{ put: { key: `${key}/state`, value: JSON.stringify(next) } }]);
    if (done) {
      this.#log(
        `Group "${group}" of cluster "${cluster}": replica ${chosen.brokerId} (${chosen.address}, CommitLog at ${chosen.maxOffset}) elected master ` +
          `for epoch ${next.epoch}${target === undefined ? ` (master ${state.masterId} is gone)` : " (switchover)"}`,
        "warn",
      );
    }
    return done;
  }

  /** Looks for groups whose master died (its lease expired) and elects a new one. */
  async #scan(): Promise<void> {
    if (this.#scanning) return;
    this.#scanning = true;
    try {
      const base = `${this.#prefix}/groups/`;
      const { kvs } = await this.#etcd.range(base, prefixEnd(base));
      const groups = new Set<string>();
      for (const entry of kvs) {
        const parts = entry.key.slice(base.length).split("/");
        if (parts.length >= 3) groups.add(`${parts[0]}/${parts[1]}`);
      }
      for (const name of groups) {
        const [cluster, group] = name.split("/").map(decodeURIComponent) as [string, string];
        const loaded = await this.#load(cluster, group);
        if (loaded.state === undefined) continue;
        if (!loaded.members.has(loaded.state.masterId)) await this.#elect(cluster, group, loaded);
      }
      this.#etcdWorks();
    } catch (error) {
      if (error instanceof EtcdError) this.#etcdFailed(error);
      else this.#log(`Controller scan failed: ${(error as Error).message}`, "error");
    } finally {
      this.#scanning = false;
    }
  }

  /**
   * A master changes its group's in-sync set: only the master of the current epoch may.
   *
   * @param h The request.
   * @returns The new state, or why it was refused.
   */
  async alterSyncStateSet(h: AlterSyncStateSetHeader): Promise<{ state: GroupState; version: number } | { refused: string }> {
    const key = this.#groupKey(h.clusterName, h.brokerName);
    const loaded = await this.#load(h.clusterName, h.brokerName);
    const state = loaded.state;
    if (state === undefined) return { refused: `Group "${h.brokerName}" has no state in the controller` };
    if (state.epoch !== h.epoch || state.masterId !== h.brokerId) {
      return { refused: `Replica ${h.brokerId} is not the master of epoch ${h.epoch} (the group is at epoch ${state.epoch}, master ${state.masterId})` };
    }
    if (!h.isr.includes(h.brokerId)) return { refused: `The in-sync set must hold its master ${h.brokerId}` };
    const next: GroupState = { ...state, isr: [...new Set(h.isr)].sort((a, b) => a - b) };
    const done = await this.#etcd.txn(
      [{ key: `${key}/state`, target: "MOD", result: "EQUAL", revision: loaded.version }],
      [{ put: { key: `${key}/state`, value: JSON.stringify(next) } }],
    );
    if (!done) return { refused: `The state of group "${h.brokerName}" changed meanwhile; try again` };
    const after = await this.#load(h.clusterName, h.brokerName);
    this.#log(`Group "${h.brokerName}" of cluster "${h.clusterName}": in-sync set ${JSON.stringify(state.isr)} → ${JSON.stringify(next.isr)} (epoch ${state.epoch})`, "info");
    return { state: after.state ?? next, version: after.version };
  }

  /**
   * A safe switchover: the master stops taking writes (`switchingTo` in the state, seen at its
   * next heartbeat), the target catches up to the master's final offset, then the target is
   * elected for a new epoch. Gives up (and lets the master write again) after `switchTimeoutMs`.
   *
   * @param h The group and, optionally, the replica to hand over to.
   * @returns The new state, or why there was no switch.
   */
  async electMaster(h: ElectMasterHeader): Promise<{ state: GroupState } | { refused: string }> {
    const key = this.#groupKey(h.clusterName, h.brokerName);
    let loaded = await this.#load(h.clusterName, h.brokerName);
    const state = loaded.state;
    if (state === undefined) return { refused: `Group "${h.brokerName}" of cluster "${h.clusterName}" is not known to the controller` };
    const candidates = [...loaded.members.values()]
      .filter((m) => state.isr.includes(m.brokerId) && m.brokerId !== state.masterId && (h.brokerId === undefined || m.brokerId === h.brokerId))
      .sort((a, b) => b.maxOffset - a.maxOffset || a.brokerId - b.brokerId);
    const target = candidates[0];
    if (target === undefined) {
      return {
        refused: h.brokerId === undefined
          ? `Group "${h.brokerName}" has no live in-sync slave to switch to (in-sync set ${JSON.stringify(state.isr)})`
          : `Replica ${h.brokerId} of group "${h.brokerName}" is not a live in-sync slave (in-sync set ${JSON.stringify(state.isr)}, master ${state.masterId})`,
      };
    }
    if (!loaded.members.has(state.masterId)) {
      return await this.#elect(h.clusterName, h.brokerName, loaded, target.brokerId)
        ? { state: (await this.#load(h.clusterName, h.brokerName)).state! }
        : { refused: `The state of group "${h.brokerName}" changed meanwhile; try again` };
    }
    const switching: GroupState = { ...state, switchingTo: target.brokerId };
    const marked = await this.#etcd.txn(
      [{ key: `${key}/state`, target: "MOD", result: "EQUAL", revision: loaded.version }],
      [{ put: { key: `${key}/state`, value: JSON.stringify(switching) } }],
    );
    if (!marked) return { refused: `The state of group "${h.brokerName}" changed meanwhile; try again` };
    this.#log(`Group "${h.brokerName}": switching master ${state.masterId} → ${target.brokerId}; the master stops taking writes`, "warn");
    const deadline = Date.now() + this.#switchTimeoutMs;
    while (Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      loaded = await this.#load(h.clusterName, h.brokerName);
      const now = loaded.state;
      if (now === undefined || now.epoch !== state.epoch || now.switchingTo !== target.brokerId) {
        return { refused: `The state of group "${h.brokerName}" changed during the switchover` };
      }
      const master = loaded.members.get(state.masterId);
      const next = loaded.members.get(target.brokerId);
      if (next === undefined) break;
      // The master is fenced (or gone): once the target holds everything it wrote, hand over.
      if (master === undefined || (master.fenced && next.maxOffset >= master.maxOffset)) {
        if (await this.#elect(h.clusterName, h.brokerName, { ...loaded, state: { ...now } }, target.brokerId)) {
          return { state: (await this.#load(h.clusterName, h.brokerName)).state! };
        }
      }
    }
    // Give up: the master writes again.
    const current = await this.#load(h.clusterName, h.brokerName);
    if (current.state?.epoch === state.epoch && current.state.switchingTo !== undefined) {
      const { switchingTo: _, ...rest } = current.state;
      await this.#etcd.txn(
        [{ key: `${key}/state`, target: "MOD", result: "EQUAL", revision: current.version }],
        [{ put: { key: `${key}/state`, value: JSON.stringify(rest) } }],
      );
    }
    return { refused: `Replica ${target.brokerId} did not catch up with master ${state.masterId} within ${this.#switchTimeoutMs} ms; the master takes writes again` };
  }

  /**
   * Every group's state and live members, for `rmq cluster list` and the admin API.
   *
   * @returns The groups.
   */
  async syncStateData(): Promise<SyncStateData> {
    const base = `${this.#prefix}/groups/`;
    const { kvs } = await this.#etcd.range(base, prefixEnd(base));
    const groups = new Map<string, GroupView>();
    for (const entry of kvs) {
      const parts = entry.key.slice(base.length).split("/");
      if (parts.length < 3) continue;
      const name = `${parts[0]}/${parts[1]}`;
      let view = groups.get(name);
      if (view === undefined) {
        view = { clusterName: decodeURIComponent(parts[0]!), brokerName: decodeURIComponent(parts[1]!), members: [] };
        groups.set(name, view);
      }
      if (parts[2] === "state") {
        const parsed = v.safeParse(GroupState, parseJson(entry.value));
        if (parsed.success) view.state = parsed.output;
      } else if (parts[2] === "alive") {
        const parsed = v.safeParse(ReplicaInfo, parseJson(entry.value));
        if (parsed.success) view.members.push(parsed.output);
      }
    }
    for (const view of groups.values()) view.members.sort((a, b) => a.brokerId - b.brokerId);
    return { groups: [...groups.values()] };
  }

  /** Stops the scan for dead masters. */
  close(): void {
    clearInterval(this.#timer);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
