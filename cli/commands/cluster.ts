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
  address: string;
  local: boolean;
  alive: boolean;
  uptimeMs?: number;
  storeSize?: number;
  diskFree?: number | null;
  tps?: { in: number; out: number };
  connections?: number;
  lastHeartbeatAt?: number;
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
