/**
 * A broker in controller mode: one replica of a group whose master the controllers elect. It
 * starts as a read-only slave, heartbeats to the controllers, and restarts itself in the role the
 * controller gives it — master of an epoch (recording where the epoch begins, taking writes only
 * while its lease holds), or slave of the elected master (after cutting its CommitLog back to the
 * point its epochs and the master's agree on). A role change is a restart of the broker in this
 * process on the same data directory and ports: the store, timers, transactions and indexes are
 * recovered exactly as after any restart. See docs/REPLICATION.md, "Automatic failover".
 *
 * @module
 */
import { join } from "node:path";
import * as v from "valibot";
import { EpochTable } from "../../core/protocol/controller.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { parseAddress } from "../../core/remoting/transport.ts";
import { clusterCredentials } from "../_cluster_secret.ts";
import { consistentPoint, EpochFile } from "../ha/epoch_file.ts";
import { createLogger } from "../logger.ts";
import { FileSegmentStorage } from "../store/file_segment_storage.ts";
import { type Broker, type BrokerOptions, startBroker } from "./broker.ts";
import { type ControlledState, ControllerLink } from "./controller_link.ts";


/** How long a slave waits for its link to a master no longer named to go down (it does at its next report, every second). */
const LINK_DROP_WAIT_MS = 3000;

/** A slave that cannot read a new master's epochs asks again after this long. */
const EPOCHS_RETRY_MS = 1000;

/** How long a fenced master waits before reporting its CommitLog end as final (writes admitted before the fence finish). */
const FENCE_SETTLE_MS = 200;

interface Running {
  broker: Broker;
  master: boolean;
  epoch: number;
  /** Slave: the master it was checked against. */
  masterAddress?: string;
}

/**
 * Starts a broker in controller mode (`enableControllerMode`): it follows the controllers'
 * elections until closed.
 *
 * @param options The broker's options; `brokerId` names the replica (1 or more), `port` must be fixed.
 * @returns A broker whose `context` is that of the role it runs now.
 * @throws {Error} When the options do not suit controller mode, or the first start fails.
 */
export async function startControlledBroker(options: BrokerOptions): Promise<Broker> {
  const log = options.log ?? createLogger({ component: "broker" });
  const controllers = options.controllerAddresses ?? options.nameServers ?? [];
  if (controllers.length === 0) throw new Error("Controller mode needs the controllers' addresses (broker.controllerAddresses, or broker.nameServers)");
  const replicaId = options.brokerId ?? 0;
  if (replicaId < 1) {
    throw new Error(`In controller mode brokerId names the replica and must be 1 or more (the route lists the current master under 0), got ${replicaId}`);
  }
  if (options.brokerRole === "SLAVE") {
    throw new Error('In controller mode the controller decides who is master: brokerRole is ASYNC_MASTER or SYNC_MASTER (how this replica replicates when it is master), not "SLAVE"');
  }
  if (options.port === undefined || options.port === 0) {
    throw new Error("In controller mode the client port must be fixed (not 0): the controller hands the address to clients and slaves");
  }
  const hostname = options.hostname ?? "0.0.0.0";
  const advertisedHost = hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname;
  const address = options.advertisedAddress ?? `${advertisedHost}:${options.port}`;
  parseAddress(address);
  const storage = options.storage ?? new FileSegmentStorage();
  storage.mkdir(join(options.dataDir, "store"));
  const epochs = new EpochFile(join(options.dataDir, "store", "epochs.json"), storage);
  const warning = epochs.load();
  if (warning !== undefined) log(`Warning: ${warning}`, "warn");
  const secret = options.clusterSecret;
  const credentials = secret === undefined ? options.nameServerCredentials : (() => {
    const account = clusterCredentials(secret);
    return () => account;
  })();

  let running: Running | undefined;
  /**
   * The broker the handle answers for: the running one, or during a restart the one just closed,
   * so that what reads the handle then (an admin API starting) sees a broker, not a crash.
   */
  let current: Running | undefined;
  let verifiedMasterHa: string | undefined;
  let fencedSince: number | undefined;
  let closed = false;
  let work: Promise<void> = Promise.resolve();
  let lastEnd = 0;

  /** Role changes run one at a time, in the order the states arrived. */
  const queueFollow = (state: ControlledState): void => {
    work = work.then(() => follow(state)).catch((error) => log(`Cannot take the role the controller gave: ${(error as Error).message}`, "error"));
  };

  const link = new ControllerLink({
    dial: options.dial,
    controllers,
    clusterName: options.clusterName ?? "DefaultCluster",
    brokerName: options.brokerName ?? "broker-a",
    brokerId: replicaId,
    intervalMs: options.controllerHeartbeatMs,
    info: () => {
      const broker = running?.broker;
      if (broker !== undefined) lastEnd = broker.context.store.stats.visibleOffset;
      if (running?.master === true) fenced(running.epoch);
      return {
        address,
        haAddress: broker?.context.replication.haAddress ?? "",
        maxOffset: lastEnd,
        epoch: epochs.lastEpoch,
        fenced: fencedSince !== undefined && Date.now() - fencedSince >= FENCE_SETTLE_MS,
      };
    },
    ...(credentials === undefined ? {} : { credentials }),
    onState: (state) => queueFollow(state),
    log,
  });

  const fenced = (epoch: number): string | undefined => {
    const name = options.brokerName ?? "broker-a";
    const known = link.known?.state;
    let reason: string | undefined;
    if (known === undefined || known.epoch !== epoch || known.masterId !== replicaId) {
      reason = `Broker "${name}" replica ${replicaId} is no longer the master (epoch ${known?.epoch ?? "?"}, master ${known?.masterId ?? "?"}); send to the group's new master`;
    } else if (!link.leaseHolds()) {
      reason = `Broker "${name}" replica ${replicaId} is fenced: no controller confirmed its lease in time, so another master may be elected`;
    } else if (known.switchingTo !== undefined) {
      reason = `Broker "${name}" replica ${replicaId} hands the group over to replica ${known.switchingTo}; send to the new master`;
    }
    if (reason === undefined) fencedSince = undefined;
    else fencedSince ??= Date.now();
    return reason;
  };

  const start = async (master: boolean, state: ControlledState | undefined, truncateTo?: number): Promise<Running> => {
    const epoch = state?.state.epoch ?? 0;
    fencedSince = undefined;
    const broker = await startBroker({
      ...options,
      storage,
      brokerId: master ? 0 : replicaId,
      brokerRole: master ? options.brokerRole ?? "ASYNC_MASTER" : "SLAVE",
      ...(truncateTo === undefined ? {} : { truncateTo }),
      controlled: {
        link,
        replicaId,
        epochs,
        epoch,
        isr: state?.state.isr ?? [replicaId],
        version: state?.version ?? 0,
        fenced: () => fenced(epoch),
        masterHaAddress: () => verifiedMasterHa,
        ...(options.inSyncMaxLagMs === undefined ? {} : { maxLagMs: options.inSyncMaxLagMs }),
      },
      log,
    });
    lastEnd = broker.context.store.stats.visibleOffset;
    log(master ? `Replica ${replicaId} is the master of epoch ${epoch}` : `Replica ${replicaId} runs as a slave${state === undefined ? " until the controller names a master" : ` of epoch ${epoch}`}`, "info");
    return { broker, master, epoch, ...(state?.master === undefined || master ? {} : { masterAddress: state.master.address }) };
  };

  /** Takes the role a newer state gives. */
  const follow = async (state: ControlledState): Promise<void> => {
    if (closed || running === undefined) return;
    const current = running;
    const isMaster = state.state.masterId === replicaId;
    if (isMaster) {
      if (current.master && current.epoch === state.state.epoch) {
        current.broker.context.replication.updateInSync?.(state.state.isr, state.version);
        return;
      }
      log(`The controller elected this replica (${replicaId}) master of epoch ${state.state.epoch}: restarting as master`, "warn");
      await restart(true, state);
      return;
    }
    if (current.master) {
      log(`Replica ${state.state.masterId} is master of epoch ${state.state.epoch}: this replica (${replicaId}) steps down and restarts as its slave`, "warn");
      verifiedMasterHa = undefined;
      await restart(false, state);
    }
    const master = state.master;
    if (running === undefined || master === undefined || master.haAddress === "") return;
    if (running!.masterAddress === master.address && verifiedMasterHa === master.haAddress) return;
    // Nothing more is copied from the master copied so far (it may still run, fenced, with bytes in
    // flight that the new master's log does not hold) until the new one is checked.
    verifiedMasterHa = undefined;
    // Its link drops at its next frame or report; until it is down an append from it may still be under way.
    for (const deadline = Date.now() + LINK_DROP_WAIT_MS; Date.now() < deadline;) {
      const status = running?.broker.context.replication.status();
      if (status === undefined || status.role !== "SLAVE" || !status.link.connected) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    if (running === undefined || closed) return;
    // Before copying from a master: cut back whatever this log holds that the master's does not continue.
    let remote;
    try {
      remote = await fetchEpochs(master.address);
    } catch (error) {
      log(`Cannot read the epochs of master ${master.address} yet: ${(error as Error).message}`, "warn");
      const timer = setTimeout(() => {
        if (link.known === state) queueFollow(state);
      }, EPOCHS_RETRY_MS);
      (timer as { unref?: () => void }).unref?.();
      return;
    }
    const end = running!.broker.context.store.stats.commitLogMaxOffset;
    const point = consistentPoint(epochs.entries, remote.epochs, remote.maxOffset);
    if (epochs.entries.length > 0 && end > point) {
      log(`This replica's CommitLog (to ${end}) goes past where it agrees with master ${master.address} (${point}, by the epochs): cutting it back`, "warn");
      verifiedMasterHa = undefined;
      await restart(false, state, point);
    }
    await epochs.adopt(remote.epochs);
    running!.masterAddress = master.address;
    verifiedMasterHa = master.haAddress;
  };

  const restart = async (master: boolean, state: ControlledState, truncateTo?: number): Promise<void> => {
    const previous = running!;
    running = undefined;
    await previous.broker.close();
    for (let attempt = 0; !closed; attempt++) {
      try {
        running = current = await start(master, state, truncateTo);
        return;
      } catch (error) {
        log(`Cannot restart as ${master ? "master" : "slave"} (attempt ${attempt + 1}): ${(error as Error).message}`, "error");
        await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt)));
      }
    }
  };

  const fetchEpochs = async (masterAddress: string) => {
    const connection = await connect(options.haDial ?? options.dial, masterAddress);
    try {
      const response = await connection.request(RequestCode.GET_BROKER_EPOCH_CACHE, {}, undefined, 3000);
      if (response.code !== ResponseCode.SUCCESS) throw new Error(response.remark ?? `response code ${response.code}`);
      return v.parse(EpochTable, response.header);
    } finally {
      connection.close();
    }
  };

  running = current = await start(false, undefined);
  link.start();

  let closing: Promise<void> | undefined;
  const handle: Broker = {
    address,
    port: options.port,
    options,
    get context() {
      return current!.broker.context;
    },
    get connections() {
      return current!.broker.connections;
    },
    get grpcAddress() {
      return current!.broker.grpcAddress;
    },
    get grpcPort() {
      return current!.broker.grpcPort;
    },
    controller: link,
    close() {
      closing ??= (async () => {
        closed = true;
        await work.catch(() => {});
        await link.close();
        await running?.broker.close();
      })();
      return closing;
    },
  };
  return handle;
}
