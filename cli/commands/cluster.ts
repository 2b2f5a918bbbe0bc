/**
 * `rmq cluster list|switch-master`: the brokers the admin API's process knows, with role,
 * throughput and store (and in controller mode each group's master, epoch, in-sync set and replica
 * lags), and a safe switchover of a group's master through the controller.
 *
 * @module
 */
import * as v from "valibot";
import { integerFlag } from "../../server/_flags.ts";
import type { ControllerView, GroupStateView, ReplicaView } from "../../server/admin/_controller_view.ts";
import { ADMIN_ENTRIES, ADMIN_FLAGS, adminClient, group, parse } from "../_command.ts";
import { formatBytes, formatDuration, printJson, table, write } from "../_output.ts";
import { ClusterEntry } from "../_cluster_flag.ts";

/** A broker of `GET /api/cluster`; remote brokers carry only the first fields. */
export interface ClusterBroker {
  clusterName: string;
  brokerName: string;
  brokerId: number;
  role: string;
  /** ASYNC_MASTER, SYNC_MASTER or SLAVE (the local broker only). */
  brokerRole?: string;
  address: string;
  local: boolean;
  alive: boolean;
  uptimeMs?: number;
  storeSize?: number;
  diskFree?: number | null;
  tps?: { in: number; out: number };
  connections?: number;
  lastHeartbeatAt?: number;
  /** Replication state (the local broker only): a master's slaves, or a slave's link. */
  replication?:
    | { role: string; haAddress: string | null; slaves: Array<{ brokerId: number; address: string; lagBytes: number }> }
    | { role: "SLAVE"; link: { connected: boolean; masterHaAddress: string | null; lagBytes: number; lastError: string | null } };
}

/**
 * A broker's replication in a few words: its role, then a master's slaves with their lag, or a
 * slave's lag behind its master ("link down" while its link is down).
 *
 * @param b The broker.
 * @returns The cell text, or null when the view does not say (a remote broker).
 */
export function replicationCell(b: ClusterBroker): string | null {
  const r = b.replication;
  if (r === undefined) return null;
  if ("link" in r) return `SLAVE: ${r.link.connected ? `lag ${formatBytes(r.link.lagBytes)}` : "link down"}`;
  const slaves = r.slaves.length === 0 ? "no slave" : r.slaves.map((s) => `#${s.brokerId} lag ${formatBytes(s.lagBytes)}`).join(", ");
  return `${r.role}: ${slaves}`;
}

/** `GET /api/cluster`. */
export interface ClusterView {
  version: string;
  now: number;
  uptimeMs: number;
  nameServer: { port: number; brokers: number; topics: number } | null;
  brokers: ClusterBroker[];
  /** Controller mode: each group as the controller keeps it; null when the process has no controller to ask. */
  controller?: ControllerView | null;
}

type ReplicaRow = ReplicaView & { group: GroupStateView };

/** Columns of the controller's table: one row per live replica of each group. */
const REPLICA_COLUMNS = [
  { header: "CLUSTER", cell: (r: ReplicaRow) => r.group.clusterName },
  { header: "GROUP", cell: (r: ReplicaRow) => r.group.brokerName },
  { header: "EPOCH", cell: (r: ReplicaRow) => r.group.epoch, right: true },
  { header: "IN-SYNC", cell: (r: ReplicaRow) => `[${r.group.inSync.join(",")}]` },
  { header: "REPLICA", cell: (r: ReplicaRow) => r.brokerId, right: true },
  { header: "ROLE", cell: (r: ReplicaRow) => `${r.role}${r.fenced ? " (fenced)" : ""}${r.group.switchingTo === r.brokerId ? " (taking over)" : ""}` },
  { header: "SYNC", cell: (r: ReplicaRow) => (r.inSync ? "in-sync" : "out") },
  { header: "ADDRESS", cell: (r: ReplicaRow) => r.address },
  { header: "LAG", cell: (r: ReplicaRow) => (r.lagBytes === null ? null : formatBytes(r.lagBytes)), right: true },
];

/**
 * The controller's part of `rmq cluster list` as text: a table of every group's live replicas, or
 * why the controller could not be read.
 *
 * @param view The view's `controller`.
 * @returns The text, empty without a controller.
 */
export function controllerText(view: ControllerView | null | undefined): string {
  if (view === null || view === undefined) return "";
  if ("error" in view) return `\nController: ${view.error}\n`;
  const rows = view.groups.flatMap((g) => g.replicas.map((r): ReplicaRow => ({ ...r, group: g })));
  const masterless = view.groups.filter((g) => g.masterAddress === null).map((g) => `Group "${g.brokerName}" has no live master (epoch ${g.epoch ?? "-"})\n`);
  return `\nController (epoch, in-sync set and lag per replica):\n${table(REPLICA_COLUMNS, rows)}${masterless.join("")}`;
}

/** Columns of the broker table, shared with `rmq monitor`. */
export const BROKER_COLUMNS = [
  { header: "CLUSTER", cell: (b: ClusterBroker) => b.clusterName },
  { header: "BROKER", cell: (b: ClusterBroker) => b.brokerName },
  { header: "ID", cell: (b: ClusterBroker) => b.brokerId, right: true },
  { header: "ROLE", cell: (b: ClusterBroker) => b.role },
  { header: "ADDRESS", cell: (b: ClusterBroker) => b.address },
  { header: "TPS IN", cell: (b: ClusterBroker) => b.tps?.in, right: true },
  { header: "TPS OUT", cell: (b: ClusterBroker) => b.tps?.out, right: true },
  { header: "STORE", cell: (b: ClusterBroker) => (b.storeSize === undefined ? null : formatBytes(b.storeSize)), right: true },
  { header: "DISK FREE", cell: (b: ClusterBroker) => (b.diskFree == null ? null : formatBytes(b.diskFree)), right: true },
  { header: "CONNS", cell: (b: ClusterBroker) => b.connections, right: true },
  { header: "REPLICATION", cell: replicationCell },
  { header: "UPTIME", cell: (b: ClusterBroker) => (b.uptimeMs === undefined ? null : formatDuration(b.uptimeMs)) },
];

const list = {
  summary: "List brokers with role, TPS, store size and uptime",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq cluster list [flags]",
      summary: "Lists every broker the admin API's process knows (its own, and those registered with its NameServer); " +
        "in controller mode also each group's master, epoch, in-sync set and each replica's lag, from the controller.",
      flags: ADMIN_FLAGS,
      schema: v.object(ADMIN_ENTRIES),
    }, args);
    const view = await adminClient(flags).get<ClusterView>("/api/cluster");
    if (flags.json) await printJson(view);
    else await write(table(BROKER_COLUMNS, view.brokers) + controllerText(view.controller));
    return 0;
  },
};

const switchMaster = {
  summary: "Hand a group's master role to an in-sync slave (controller mode)",
  async run(args: string[]) {
    const flags = parse({
      usage: "rmq cluster switch-master --group <brokerName> [flags]",
      summary: "A safe switchover through the controller: the master stops taking writes, the target catches up " +
        "with everything it wrote, then the target becomes master of the next epoch and the old master its slave. " +
        "The target must be a live member of the in-sync set (default: the one with the longest CommitLog).",
      flags: {
        group: { description: "Broker group (brokerName)", valueName: "brokerName", short: "g" },
        to: { description: "Replica id to hand over to (default: the in-sync slave with the longest CommitLog)", valueName: "brokerId" },
        cluster: { description: "The group's cluster (default: the only one the controller knows it in)", valueName: "name", short: "c" },
        ...ADMIN_FLAGS,
      },
      schema: v.object({
        group: v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(255)),
        to: v.optional(integerFlag(1, 0xffff)),
        cluster: ClusterEntry,
        ...ADMIN_ENTRIES,
      }),
    }, args);
    const result = await adminClient(flags).request<{ clusterName: string; brokerName: string; epoch: number; masterId: number; inSync: number[] }>(
      "POST",
      "/api/cluster/switch-master",
      { group: flags.group, cluster: flags.cluster, to: flags.to },
    );
    if (flags.json) await printJson(result);
    else await write(`Group "${result.brokerName}" of cluster "${result.clusterName}": replica ${result.masterId} is master of epoch ${result.epoch} (in-sync set [${result.inSync.join(",")}])\n`);
    return 0;
  },
};

/** `rmq cluster …`. */
export const cluster = group("cluster", "Inspect the brokers of the cluster and switch a group's master", { list, "switch-master": switchMaster });
