/**
 * The controller's wire shapes (controller mode, automatic failover): what brokers and admin
 * clients send to a controller beside the NameServer, and what it answers. See
 * docs/REPLICATION.md, "Automatic failover".
 *
 * @module
 */
import * as v from "valibot";

const uint: v.GenericSchema<number> = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
const Name: v.GenericSchema<string> = v.pipe(v.string(), v.minLength(1), v.maxLength(255), v.check((s: string) => s !== "__proto__", 'Name "__proto__" is reserved'));
const Address: v.GenericSchema<string> = v.pipe(v.string(), v.maxLength(300));
/** A replica's id in controller mode: 1 or more (the route lists the master under 0). */
const ReplicaId: v.GenericSchema<number> = v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(0xffff));
/** etcd lease ids are 64-bit: carried as decimal text. */
const LeaseId: v.GenericSchema<string> = v.pipe(v.string(), v.maxLength(24), v.regex(/^[0-9]*$/, "expected a decimal lease id"));

/** A group's state as the controller keeps it in etcd. */
export interface GroupState {
  epoch: number;
  masterId: number;
  isr: number[];
  switchingTo?: number;
}

/** Schema of `GroupState`. */
export const GroupState: v.GenericSchema<unknown, GroupState> = v.object({
  /** Bumped by every election; 1 for the first master. */
  epoch: v.pipe(uint, v.minValue(1)),
  /** The replica id of the master of this epoch. */
  masterId: ReplicaId,
  /** The in-sync replica set (the master included): only these may be elected. */
  isr: v.pipe(v.array(ReplicaId), v.maxLength(64)),
  /** A switchover under way: the master stops taking writes until this replica caught up. */
  switchingTo: v.optional(ReplicaId),
});

/** A live replica as its heartbeats describe it. */
export interface ReplicaInfo {
  brokerId: number;
  address: string;
  haAddress: string;
  maxOffset: number;
  epoch: number;
  fenced: boolean;
}

const replicaFields = {
  brokerId: ReplicaId,
  /** Client address. */
  address: Address,
  /** Replication (HA) address, "" when it has none open. */
  haAddress: Address,
  /** Where its CommitLog ends (visible to consumers). */
  maxOffset: uint,
  /** The epoch it last served in (0 for none). */
  epoch: uint,
  /** A master that stopped taking writes (switchover): its `maxOffset` is final for the epoch. */
  fenced: v.optional(v.boolean(), false),
};

/** Schema of `ReplicaInfo`. */
export const ReplicaInfo: v.GenericSchema<unknown, ReplicaInfo> = v.object(replicaFields);

/** CONTROLLER_BROKER_HEARTBEAT request. */
export const ControllerHeartbeatHeader = v.object({
  clusterName: Name,
  brokerName: Name,
  ...replicaFields,
  /** The lease the broker holds ("" for none yet): any controller keeps it alive. */
  leaseId: LeaseId,
});
export type ControllerHeartbeatHeader = v.InferOutput<typeof ControllerHeartbeatHeader>;

/** CONTROLLER_BROKER_HEARTBEAT answer. */
export const ControllerHeartbeatAnswer = v.object({
  /** The broker's lease ("" when etcd could not be reached). */
  leaseId: LeaseId,
  /** The lease's time to live. */
  ttlMs: uint,
  /** Whether the controller reached etcd for this answer (false: the state is its last known one). */
  etcdUp: v.boolean(),
  /** The group's state, absent before its first election. */
  state: v.optional(GroupState),
  /** The state's version (etcd's mod revision of it); newer answers have larger ones. */
  version: v.optional(uint, 0),
  /** The live master's heartbeat, absent while it is not alive. */
  master: v.optional(ReplicaInfo),
});
export type ControllerHeartbeatAnswer = v.InferOutput<typeof ControllerHeartbeatAnswer>;

/** CONTROLLER_ALTER_SYNC_STATE_SET request. */
export const AlterSyncStateSetHeader = v.object({
  clusterName: Name,
  brokerName: Name,
  /** The master asking. */
  brokerId: ReplicaId,
  /** Its epoch: a master of an older epoch is refused. */
  epoch: uint,
  isr: v.pipe(v.array(ReplicaId), v.minLength(1), v.maxLength(64)),
});
export type AlterSyncStateSetHeader = v.InferOutput<typeof AlterSyncStateSetHeader>;

/** CONTROLLER_ELECT_MASTER request. */
export interface ElectMasterHeader {
  clusterName: string;
  brokerName: string;
  /** The replica to hand over to. @default the live in-sync slave with the longest CommitLog */
  brokerId?: number;
}

/** Schema of `ElectMasterHeader`. */
export const ElectMasterHeader: v.GenericSchema<unknown, ElectMasterHeader> = v.object({
  clusterName: Name,
  brokerName: Name,
  brokerId: v.optional(ReplicaId),
});

/** One group in CONTROLLER_GET_SYNC_STATE_DATA's answer. */
export interface GroupView {
  clusterName: string;
  brokerName: string;
  state?: GroupState;
  /** Live replicas, by their last heartbeat. */
  members: ReplicaInfo[];
}

/** Schema of `GroupView`. */
export const GroupView: v.GenericSchema<unknown, GroupView> = v.object({
  clusterName: v.string(),
  brokerName: v.string(),
  state: v.optional(GroupState),
  members: v.array(ReplicaInfo),
});

/** CONTROLLER_GET_SYNC_STATE_DATA answer. */
export interface SyncStateData {
  groups: GroupView[];
}

/** Schema of `SyncStateData`. */
export const SyncStateData: v.GenericSchema<unknown, SyncStateData> = v.object({ groups: v.array(GroupView) });

/** One epoch of a CommitLog: records from `startOffset` on were written by the master of `epoch`. */
export interface EpochEntry {
  epoch: number;
  startOffset: number;
}

/** Schema of `EpochEntry`. */
export const EpochEntry: v.GenericSchema<unknown, EpochEntry> = v.object({ epoch: v.pipe(uint, v.minValue(1)), startOffset: uint });

/** GET_BROKER_EPOCH_CACHE answer (and a broker's epoch file). */
export const EpochTable = v.object({
  epochs: v.pipe(v.array(EpochEntry), v.maxLength(100_000)),
  /** Where the answering broker's CommitLog ends (visible to consumers). */
  maxOffset: v.optional(uint, 0),
});
export type EpochTable = v.InferOutput<typeof EpochTable>;

/** What a switchover answers: the new state, or why there was none. */
export type ElectMasterResult = { state: GroupState } | { refused: string };

/**
 * What the admin API asks a controller: the `Controller` itself in a NameServer that runs one, or
 * a controlled broker's link to its controllers (the same requests over the wire).
 */
export interface ControllerAccess {
  /** Every group's state and live members (CONTROLLER_GET_SYNC_STATE_DATA). */
  syncStateData(): Promise<SyncStateData>;
  /** A safe switchover (CONTROLLER_ELECT_MASTER). */
  electMaster(header: ElectMasterHeader): Promise<ElectMasterResult>;
}
