/**
 * The controller's view of the broker groups (controller mode) as the admin API, the dashboard and
 * `/metrics` show it: each group's master, epoch and in-sync set, and each live replica's lag
 * behind the master, by the replicas' last heartbeats to the controller.
 *
 * @module
 */
import type { ControllerAccess, SyncStateData } from "../../core/protocol/controller.ts";

/** One live replica of a group. */
export interface ReplicaView {
  brokerId: number;
  address: string;
  role: "master" | "slave";
  inSync: boolean;
  /** Where its CommitLog ends, by its last heartbeat. */
  maxOffset: number;
  /** Bytes behind the master's CommitLog end (0 for the master; null while the master is not alive). */
  lagBytes: number | null;
  /** A master that stopped taking writes (fenced, or handing over). */
  fenced: boolean;
}

/** One broker group as the controller keeps it. */
export interface GroupStateView {
  clusterName: string;
  brokerName: string;
  /** null before the group's first election. */
  epoch: number | null;
  masterId: number | null;
  /** The master's address while it is alive. */
  masterAddress: string | null;
  inSync: number[];
  /** A switchover under way, to this replica. */
  switchingTo: number | null;
  replicas: ReplicaView[];
}

/** The controller part of `GET /api/cluster`: the groups, or why the controller could not be asked. */
export type ControllerView = { groups: GroupStateView[] } | { error: string };

/**
 * Turns the controller's answer into the groups the admin API shows.
 *
 * @param data CONTROLLER_GET_SYNC_STATE_DATA's answer.
 * @returns The groups, by cluster then name.
 */
export function groupViews(data: SyncStateData): GroupStateView[] {
  return data.groups.map((g): GroupStateView => {
    const state = g.state;
    const master = state === undefined ? undefined : g.members.find((m) => m.brokerId === state.masterId);
    return {
      clusterName: g.clusterName,
      brokerName: g.brokerName,
      epoch: state?.epoch ?? null,
      masterId: state?.masterId ?? null,
      masterAddress: master?.address ?? null,
      inSync: [...(state?.isr ?? [])].sort((a, b) => a - b),
      switchingTo: state?.switchingTo ?? null,
      replicas: g.members.map((m): ReplicaView => ({
        brokerId: m.brokerId,
        address: m.address,
        role: m.brokerId === state?.masterId ? "master" : "slave",
        inSync: state?.isr.includes(m.brokerId) ?? false,
        maxOffset: m.maxOffset,
        lagBytes: master === undefined ? null : Math.max(0, master.maxOffset - m.maxOffset),
        fenced: m.fenced,
      })),
    };
  }).sort((a, b) => a.clusterName.localeCompare(b.clusterName) || a.brokerName.localeCompare(b.brokerName));
}

/**
 * Asks the controller for every group, answering the failure as a view rather than throwing.
 *
 * @param controller The controller, if this process has one to ask.
 * @returns The view, or undefined without a controller.
 */
export async function controllerView(controller: ControllerAccess | undefined): Promise<ControllerView | undefined> {
  if (controller === undefined) return undefined;
  try {
    return { groups: groupViews(await controller.syncStateData()) };
  } catch (error) {
    return { error: `Cannot read the controller's state: ${(error as Error).message}` };
  }
}
