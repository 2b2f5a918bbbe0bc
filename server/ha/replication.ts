/**
 * A broker's replication role, put together: a master runs the HA listener (and, as SYNC_MASTER,
 * makes sends wait for a slave); a slave runs the replication client and copies topics and
 * offsets from its master. See docs/REPLICATION.md.
 *
 * @module
 */
import { ResponseCode } from "../../core/protocol/request_code.ts";
import { type Dialer, isLoopbackHost, type Listen, type TlsServerOptions } from "../../core/remoting/transport.ts";
import type { Credentials } from "../../core/auth/signing.ts";
import { SYSTEM_TOPICS } from "../../core/model/system_topics.ts";
import type { MessageStore } from "../store/message_store.ts";
import { type HaMasterAuth, type HaSlaveCredentials, requiresAuth } from "./ha_auth.ts";
import { HaMaster, type SlaveStatus } from "./ha_master.ts";
import { HaSlave, type HaSlaveStatus } from "./ha_slave.ts";
import { InSyncReplicas, type InSyncReplicasOptions } from "./in_sync_replicas.ts";
import type { EpochFile } from "./epoch_file.ts";
import { type ReplicatedMetadata, SlaveSync, type SlaveSyncStatus } from "./slave_sync.ts";
import { listenFailure } from "../_listen_error.ts";
import type { Log } from "../logger.ts";

/** RocketMQ's broker roles. */
export const BROKER_ROLES = ["ASYNC_MASTER", "SYNC_MASTER", "SLAVE"] as const;
/** A broker's role in its group. */
export type BrokerRole = typeof BROKER_ROLES[number];

/** What admin views and metrics show of replication. */
export type ReplicationStatus =
  | { role: "ASYNC_MASTER" | "SYNC_MASTER"; haAddress: string | null; slaves: SlaveStatus[]; inSync?: number[] }
  | { role: "SLAVE"; link: HaSlaveStatus; sync: SlaveSyncStatus };

/** A broker's replication, whatever its role. */
export interface Replication {
  readonly role: BrokerRole;
  /** The HA listener's advertised `host:port` (masters), for NameServer registration. */
  readonly haAddress: string | undefined;
  /**
   * A record of `topic` became visible: a master sends it to its slaves; a slave that does not
   * know the topic yet copies the master's topics now rather than at the next 10 s round.
   */
  notify(topic: string): void;
  /**
   * SYNC_MASTER only: waits until a slave holds the record at `commitLogOffset`.
   *
   * @returns `SUCCESS`, `FLUSH_SLAVE_TIMEOUT` or `SLAVE_NOT_AVAILABLE`.
   */
  awaitReplica?: (commitLogOffset: number) => Promise<number>;
  /** The current state. */
  status(): ReplicationStatus;
  /** Controller mode (master): the in-sync set the controller holds now, from a heartbeat's answer. */
  updateInSync?: (isr: readonly number[], version: number) => void;
  /** Starts what runs after registration (a slave's link and copies). */
  start(): void;
  close(): Promise<void>;
}

/** Options of `startMasterReplication`. */
export interface MasterReplicationOptions {
  role: "ASYNC_MASTER" | "SYNC_MASTER";
  listen: Listen;
  hostname: string;
  /** HA port; 0 picks a free one. */
  haPort: number;
  /** Whether to listen for slaves at all (false: a master no slave can copy). @default true */
  enabled?: boolean;
  /** Whether `haPort` was configured; a default port that is taken only costs a warning (ASYNC_MASTER). */
  haPortExplicit: boolean;
  /** Host advertised for the HA listener. */
  advertisedHost: string;
  /**
   * Controller mode: keep the in-sync set with the controller; a SYNC_MASTER's sends then wait for
   * every in-sync slave (not just one). @default plain master/slave
   */
  inSync?: Omit<InSyncReplicasOptions, "master" | "sync" | "log">;
  tls?: TlsServerOptions;
  store: MessageStore;
  brokerName: string;
  clientAddress: string;
  /** SYNC_MASTER wait. */
  syncSlaveTimeoutMs: number;
  /**
   * What slaves must prove. Without it the HA port accepts any peer, so it is opened only on a
   * loopback host (with a warning); beyond loopback replication stays off. @default none
   */
  auth?: HaMasterAuth;
  log: Log;
}

/**
 * Starts a master's HA listener.
 *
 * @param options Role, listener and store.
 * @returns The replication of a master.
 * @throws {Error} When the HA port cannot be bound, or would be open beyond loopback, and it was
 *   configured or the role is SYNC_MASTER.
 */
export async function startMasterReplication(options: MasterReplicationOptions): Promise<Replication> {
  let master: HaMaster | undefined;
  if (options.enabled === false && options.role === "SYNC_MASTER") {
    throw new Error("A SYNC_MASTER waits for a slave's copy, so it needs replication (broker.replication true)");
  }
  const open = !requiresAuth(options.auth);
  const required = options.haPortExplicit || options.role === "SYNC_MASTER";
  if (options.enabled !== false && open && !isLoopbackHost(options.hostname)) {
    const reason = `without a cluster secret (cluster.secretFile) or ACL, the replication port would let any peer that reaches ${options.hostname} ` +
      "copy the whole CommitLog and acknowledge sends";
    if (required) {
      throw new Error(`Cannot accept slaves on ${options.hostname}:${options.haPort}: ${reason}; give this broker and its slaves the same cluster secret, or listen on 127.0.0.1`);
    }
    options.log(`Warning: replication is off: ${reason}; give this broker and its slaves the same cluster secret (cluster.secretFile) to accept slaves`, "warn");
    return masterReplication(options, undefined);
  }
  try {
    master = options.enabled === false ? undefined : await HaMaster.start({
      listen: options.listen,
      hostname: options.hostname,
      port: options.haPort,
      ...(options.tls === undefined ? {} : { tls: options.tls }),
      store: options.store,
      brokerName: options.brokerName,
      clientAddress: options.clientAddress,
      ...(options.auth === undefined ? {} : { auth: options.auth }),
      log: options.log,
    });
  } catch (error) {
    const message = `Cannot listen for replication on ${options.hostname}:${options.haPort}: ${listenFailure(error) ?? (error as Error).message}`;
    const hint = "pick a free port with --ha-port (broker.haPort), or turn replication off with --no-replication";
    if (required) throw new Error(`${message}; ${hint}`, { cause: error });
    options.log(`Warning: ${message}; slaves cannot connect: ${hint}`, "warn");
  }
  if (options.enabled === false) options.log("Replication off (broker.replication false): no slave can copy this broker", "info");
  if (master !== undefined) {
    const how = [options.tls === undefined ? "" : options.tls.clientCa === undefined ? "TLS" : "mutual TLS", open ? "" : options.auth?.clusterSecret !== undefined ? "cluster secret" : "ACL accounts"].filter(Boolean).join(", ");
    options.log(`Replication (${options.role}) accepts slaves on ${options.hostname}:${master.port}${how === "" ? "" : ` (${how})`}`, "info");
    if (open) {
      options.log(
        `Warning: the replication port ${options.hostname}:${master.port} accepts slaves without authentication (no cluster secret, no ACL): ` +
          "any process on this machine can copy the CommitLog and acknowledge SYNC_MASTER sends",
        "warn",
      );
    }
  }
  return masterReplication(options, master);
}

function masterReplication(options: MasterReplicationOptions, master: HaMaster | undefined): Replication {
  const haAddress = master === undefined ? undefined : `${options.advertisedHost}:${master.port}`;
  const timeoutMs = options.syncSlaveTimeoutMs;
  const inSync = master === undefined || options.inSync === undefined
    ? undefined
    : new InSyncReplicas({ ...options.inSync, master, sync: options.role === "SYNC_MASTER", log: options.log });
  return {
    role: options.role,
    haAddress,
    notify: () => master?.notify(),
    ...(inSync === undefined ? {} : { updateInSync: (isr: readonly number[], version: number) => inSync.update(isr, version) }),
    ...(options.role === "SYNC_MASTER" && master !== undefined
      ? {
        awaitReplica: async (offset: number) => {
          const result = inSync === undefined ? await master!.awaitSlave(offset, timeoutMs) : await master!.awaitInSync(offset, timeoutMs);
          return result === "ACKED"
            ? ResponseCode.SUCCESS
            : result === "TIMEOUT"
            ? ResponseCode.FLUSH_SLAVE_TIMEOUT
            : ResponseCode.SLAVE_NOT_AVAILABLE;
        },
      }
      : {}),
    status: () => ({
      role: options.role,
      haAddress: haAddress ?? null,
      slaves: master?.slaves() ?? [],
      ...(inSync === undefined ? {} : { inSync: inSync.members }),
    }),
    start() {},
    close: async () => {
      inSync?.close();
      await master?.close();
    },
  };
}

/** Options of `startSlaveReplication`. */
export interface SlaveReplicationOptions {
  /** Dials the master's HA and client ports. */
  dial: Dialer;
  store: MessageStore;
  brokerName: string;
  brokerId: number;
  /** The configured master HA address; otherwise learned from NameServer registrations. */
  haMasterAddress?: string;
  /** Controller mode: the master's HA address as the controller names it (undefined: do not link yet). */
  controlledMaster?: () => string | undefined;
  /** Controller mode: the epochs file, kept as a copy of the master's. */
  epochs?: EpochFile;
  /** The broker's topics, offsets and delay progress, kept as copies of the master's. */
  metadata: ReplicatedMetadata;
  credentials?: () => Credentials | undefined;
  /** What the slave proves itself with on the HA port (and requires the master to prove). @default none */
  haCredentials?: () => HaSlaveCredentials | undefined;
  /** Asks the broker to register again (to learn the master's address). */
  reregister: () => void;
  log: Log;
}

/** A slave's replication, with the hook its NameServer registrations feed. */
export interface SlaveReplication extends Replication {
  /** The NameServer named the master's HA address (in a registration's answer). */
  learnMaster(haServerAddr: string): void;
}

/**
 * Prepares a slave's replication client and state copies; `start()` connects.
 *
 * @param options Store, identity, master address and what to copy into.
 * @returns The replication of a slave.
 */
export function startSlaveReplication(options: SlaveReplicationOptions): SlaveReplication {
  let learned: string | undefined;
  let lastAsk = 0;
  let lastUnknownTopicSync = 0;
  const sync = new SlaveSync({
    dial: options.dial,
    metadata: options.metadata,
    ...(options.epochs === undefined ? {} : { epochs: options.epochs }),
    credentials: options.credentials,
    log: options.log,
  });
  const client = new HaSlave({
    dial: options.dial,
    store: options.store,
    brokerName: options.brokerName,
    brokerId: options.brokerId,
    masterHaAddress: options.controlledMaster ?? (() => options.haMasterAddress ?? learned),
    onNeedAddress: () => {
      if (Date.now() - lastAsk < 2000) return;
      lastAsk = Date.now();
      options.reregister();
    },
    onConnected: (masterAddress) => sync.setMaster(masterAddress),
    ...(options.haCredentials === undefined ? {} : { credentials: options.haCredentials }),
    log: options.log,
  });
  return {
    role: "SLAVE",
    haAddress: undefined,
    notify(topic) {
      if (options.metadata.hasTopic(topic) || SYSTEM_TOPICS.has(topic)) return;
      const now = Date.now();
      if (now - lastUnknownTopicSync < 1000) return;
      lastUnknownTopicSync = now;
      void sync.syncNow();
    },
    learnMaster(haServerAddr) {
      if (haServerAddr !== "" && haServerAddr !== learned) {
        if (options.haMasterAddress === undefined) options.log(`NameServer names the master's replication address: ${haServerAddr}`, "info");
        learned = haServerAddr;
      }
    },
    status: () => ({ role: "SLAVE", link: client.status(), sync: sync.status() }),
    start() {
      client.start();
      sync.start();
    },
    async close() {
      await client.close();
      await sync.close();
    },
  };
}
