/**
 * `rmq cluster list`: the brokers the admin API's process knows, with role, throughput and store.
 *
 * @module
 */
import * as v from "valibot";
import { ADMIN_ENTRIES, ADMIN_FLAGS, adminClient, group, parse } from "../_command.ts";
import { formatBytes, formatDuration, printJson, table, write } from "../_output.ts";

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
      summary: "Lists every broker the admin API's process knows (its own, and those registered with its NameServer).",
      flags: ADMIN_FLAGS,
      schema: v.object(ADMIN_ENTRIES),
    }, args);
    const view = await adminClient(flags).get<ClusterView>("/api/cluster");
    if (flags.json) await printJson(view);
    else await write(table(BROKER_COLUMNS, view.brokers));
    return 0;
  },
};

/** `rmq cluster …`. */
export const cluster = group("cluster", "Inspect the brokers of the cluster", { list });
