/**
 * The NameServer's route table: which broker groups serve which topics, which brokers make up each
 * group and cluster, and when each broker was last heard from. Pure logic with an injected clock
 * (RocketMQ's `RouteInfoManager`); the request processors and the liveness scan drive it.
 *
 * @module
 */
import type { BrokerData, ClusterInfo, QueueData, RegistrationChunk, TopicConfig, TopicRouteData } from "../../core/protocol/headers.ts";

/** The broker id of a group's master; slaves have ids above it. */
export const MASTER_ID = 0;

/** Most topics one broker may register. */
export const DEFAULT_MAX_TOPICS_PER_BROKER = 100_000;

/** A chunked registration whose next chunk does not come within this time is forgotten. */
const CHUNK_TIMEOUT_MS = 60_000;


/** Options of a `RouteTable`. */
export interface RouteTableOptions {
  /** The clock, in milliseconds. @default Date.now */
  now?: () => number;
  /** A broker not heard from for longer than this is dead. @default 120000 */
  brokerExpiryMs?: number;
  /** Most topics one broker may register; more is refused. @default DEFAULT_MAX_TOPICS_PER_BROKER */
  maxTopicsPerBroker?: number;
}

/** A broker's registration, as `registerBroker` takes it. */
export interface BrokerRegistration {
  clusterName: string;
  brokerName: string;
  brokerAddr: string;
  /** 0 for the master of the group, above 0 for a slave. */
  brokerId: number;
  /** Where the broker accepts replication connections ("" when it has none). */
  haServerAddr: string;
  /** Where the broker serves RocketMQ 5's gRPC clients ("" or absent when it does not). */
  grpcAddr?: string;
  /** The broker's topics; only a master's topics become routes. */
  topicConfigs: Record<string, TopicConfig>;
  /** Controller mode: the master's epoch (a master of an older epoch than the group's is refused). */
  epoch?: number;
}

/** A broker's identity, as `unregisterBroker` takes it. */
export interface BrokerIdentity {
  clusterName: string;
  brokerName: string;
  brokerAddr: string;
  brokerId: number;
}

/** What `registerBroker` answers. */
export interface RegisterBrokerResult {
  /** The master's replication address when the registering broker is a slave, else "". */
  haServerAddr: string;
  /** The group's master address when the registering broker is a slave and the master is known, else "". */
  masterAddr: string;
  /** Whether this address was not registered before (a new broker, not a periodic re-registration). */
  isNew: boolean;
}

/** Liveness of one broker. */
export interface BrokerLiveInfo {
  clusterName: string;
  brokerName: string;
  brokerId: number;
  haServerAddr: string;
  /** When the broker last registered, by the table's clock. */
  lastUpdateTimestamp: number;
}

/** `ClusterInfo` plus each live broker's liveness, keyed by broker address. */
export interface ClusterInfoWithLiveness extends ClusterInfo {
  brokerLiveTable: Record<string, BrokerLiveInfo>;
}

interface LiveEntry extends BrokerLiveInfo {
  /** Where it serves gRPC ("" when it does not). */
  grpcAddr: string;
  /** What the broker registered on (its connection); `dropSession` removes the brokers it carried. */
  session: object | undefined;
}

/** The chunks of one registration received so far. */
interface PendingRegistration {
  id: string;
  count: number;
  /** The index expected next. */
  next: number;
  topicConfigs: Record<string, TopicConfig>;
  topics: number;
  expiresAt: number;
}

interface Group {
  cluster: string;
  /** Address by broker id. */
  addrs: Map<number, string>;
  /** Controller mode: the highest epoch a master of the group registered. */
  masterEpoch?: number;
}

/**
 * Topic routes, broker groups, clusters and broker liveness.
 *
 * A master's registration replaces its group's queue data for every topic (topics it no longer lists
 * lose that group). A broker leaves when it unregisters, when its session is dropped or when it
 * expires; a group without brokers leaves with its queue data, and a topic without queues leaves too.
 *
 * @example Registering a broker and reading a route
 * ```ts
 * import { RouteTable } from "./route_table.ts";
 *
 * const table = new RouteTable();
 * table.registerBroker({
 *   clusterName: "DefaultCluster",
 *   brokerName: "broker-a",
 *   brokerAddr: "10.0.0.1:10911",
 *   brokerId: 0,
 *   haServerAddr: "10.0.0.1:10912",
 *   topicConfigs: { orders: { topicName: "orders", readQueueNums: 4, writeQueueNums: 4, perm: 6, order: false } },
 * });
 * const route = table.getRoute("orders");
 * console.log(route?.brokerDatas[0]?.brokerAddrs["0"]); // "10.0.0.1:10911"
 * ```
 */
export class RouteTable {
  readonly #now: () => number;
  readonly #expiryMs: number;
  /** topic → brokerName → queue data. */
  readonly #topicQueues = new Map<string, Map<string, QueueData>>();
  /** brokerName → group. */
  readonly #groups = new Map<string, Group>();
  /** clusterName → brokerNames. */
  readonly #clusters = new Map<string, Set<string>>();
  /** brokerAddr → liveness. */
  readonly #live = new Map<string, LiveEntry>();
  /** brokerAddr → the chunked registration under way. */
  readonly #pending = new Map<string, PendingRegistration>();
  readonly #maxTopics: number;

  /** @param options Clock, expiry and the topic cap. */
  constructor(options: RouteTableOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#expiryMs = options.brokerExpiryMs ?? 120_000;
    this.#maxTopics = options.maxTopicsPerBroker ?? DEFAULT_MAX_TOPICS_PER_BROKER;
    if (!(this.#expiryMs > 0)) throw new RangeError(`Broker expiry must be above 0 ms, got ${this.#expiryMs}`);
  }

  /**
   * Takes one chunk of a registration split over several requests; the last one registers the
   * broker with every chunk's topics (a slave's topics are not kept: they never become routes).
   *
   * @param registration Who the broker is, and this chunk's topics.
   * @param chunk Which chunk.
   * @param session What the broker registered on.
   * @returns The registration's result after the last chunk, `undefined` before.
   * @throws {RangeError} When chunks arrive out of order or the topics pass the cap.
   */
  registerBrokerChunk(registration: BrokerRegistration, chunk: RegistrationChunk, session?: object): RegisterBrokerResult | undefined {
    const { brokerAddr, brokerName } = registration;
    const now = this.#now();
    for (const [addr, pending] of this.#pending) if (pending.expiresAt <= now) this.#pending.delete(addr);
    let pending = this.#pending.get(brokerAddr);
    if (chunk.index === 0) {
      pending = { id: chunk.id, count: chunk.count, next: 0, topicConfigs: Object.create(null), topics: 0, expiresAt: 0 };
      this.#pending.set(brokerAddr, pending);
    }
    if (pending === undefined || pending.id !== chunk.id || pending.count !== chunk.count || pending.next !== chunk.index || chunk.index >= chunk.count) {
      this.#pending.delete(brokerAddr);
      throw new RangeError(
        `Registration chunk ${chunk.index + 1} of ${chunk.count} from broker "${brokerName}" at ${brokerAddr} does not follow the chunks received: ` +
          "the broker starts its registration again",
      );
    }
    if (registration.brokerId === MASTER_ID) {
      for (const [name, config] of Object.entries(registration.topicConfigs)) {
        if (!(name in pending.topicConfigs)) pending.topics++;
        pending.topicConfigs[name] = config;
      }
      if (pending.topics > this.#maxTopics) {
        this.#pending.delete(brokerAddr);
        throw this.#tooManyTopics(registration, pending.topics);
      }
    }
    pending.next++;
    pending.expiresAt = now + CHUNK_TIMEOUT_MS;
    if (pending.next < pending.count) return undefined;
    this.#pending.delete(brokerAddr);
    return this.registerBroker({ ...registration, topicConfigs: pending.topicConfigs }, session);
  }

  #tooManyTopics(registration: BrokerRegistration, topics: number): RangeError {
    return new RangeError(
      `Broker "${registration.brokerName}" at ${registration.brokerAddr} registers more than this NameServer's maximum of ` +
        `${this.#maxTopics} topics per broker (nameserver.maxTopicsPerBroker; ${topics} so far): the registration is refused`,
    );
  }

  /** How long a broker may stay silent before it counts as dead, in milliseconds. */
  get brokerExpiryMs(): number {
    return this.#expiryMs;
  }

  /**
   * Records a broker's (re-)registration.
   *
   * @param registration Who the broker is and, for a master, its topics.
   * @param session What the broker registered on; passing it to `dropSession` later removes the broker.
   * @returns The master's addresses for a slave, and whether the broker is new.
   * @throws {RangeError} When a master registers more topics than the cap.
   */
  registerBroker(registration: BrokerRegistration, session?: object): RegisterBrokerResult {
    const { clusterName, brokerName, brokerAddr, brokerId } = registration;
    if (brokerId === MASTER_ID) {
      const topics = Object.keys(registration.topicConfigs).length;
      if (topics > this.#maxTopics) throw this.#tooManyTopics(registration, topics);
    }
    const stale = this.#groups.get(brokerName)?.masterEpoch;
    if (brokerId === MASTER_ID && registration.epoch !== undefined && stale !== undefined && registration.epoch < stale) {
      throw new RangeError(
        `Broker "${brokerName}" at ${brokerAddr} registers as the master of epoch ${registration.epoch}, but a master of epoch ${stale} ` +
          "registered since: a deposed master is not routed",
      );
    }
    const previous = this.#live.get(brokerAddr);
    // The address now belongs to another group or cluster: forget its old place first.
    if (previous !== undefined && (previous.brokerName !== brokerName || previous.clusterName !== clusterName)) {
      this.#removeBroker(brokerAddr);
    }

    let group = this.#groups.get(brokerName);
    if (group === undefined) {
      group = { cluster: clusterName, addrs: new Map() };
      this.#groups.set(brokerName, group);
    } else if (group.cluster !== clusterName) {
      // The group moved to another cluster; the latest registration wins.
      this.#leaveCluster(group.cluster, brokerName);
      group.cluster = clusterName;
    }
    let members = this.#clusters.get(clusterName);
    if (members === undefined) {
      members = new Set();
      this.#clusters.set(clusterName, members);
    }
    members.add(brokerName);

    // One address holds one id in its group: a slave promoted to master (or the reverse) moves.
    for (const [id, addr] of group.addrs) {
      if (addr === brokerAddr && id !== brokerId) group.addrs.delete(id);
    }
    const displaced = group.addrs.get(brokerId);
    if (displaced !== undefined && displaced !== brokerAddr) {
      // Another address held this id (a broker that moved hosts): it no longer belongs to the group.
      this.#live.delete(displaced);
    }
    group.addrs.set(brokerId, brokerAddr);
    if (brokerId === MASTER_ID && registration.epoch !== undefined) group.masterEpoch = registration.epoch;

    if (brokerId === MASTER_ID) this.#replaceQueueData(brokerName, registration.topicConfigs);

    this.#live.set(brokerAddr, {
      clusterName,
      brokerName,
      brokerId,
      haServerAddr: registration.haServerAddr,
      grpcAddr: registration.grpcAddr ?? "",
      lastUpdateTimestamp: this.#now(),
      session,
    });

    const result: RegisterBrokerResult = { haServerAddr: "", masterAddr: "", isNew: previous === undefined || previous.brokerName !== brokerName };
    if (brokerId !== MASTER_ID) {
      const masterAddr = group.addrs.get(MASTER_ID);
      const master = masterAddr === undefined ? undefined : this.#live.get(masterAddr);
      if (masterAddr !== undefined && master !== undefined) {
        result.masterAddr = masterAddr;
        result.haServerAddr = master.haServerAddr;
      }
    }
    return result;
  }

  /**
   * Removes a broker that is shutting down.
   *
   * @param identity The broker, as it registered.
   * @returns Whether the broker was registered.
   */
  unregisterBroker(identity: BrokerIdentity): boolean {
    const entry = this.#live.get(identity.brokerAddr);
    if (entry !== undefined) {
      if (entry.brokerName !== identity.brokerName) return false;
      this.#removeBroker(identity.brokerAddr);
      return true;
    }
    // Not live (already expired from the live table): still drop a leftover group member.
    const group = this.#groups.get(identity.brokerName);
    if (group === undefined || group.addrs.get(identity.brokerId) !== identity.brokerAddr) return false;
    group.addrs.delete(identity.brokerId);
    if (group.addrs.size === 0) this.#removeGroup(identity.brokerName);
    return true;
  }

  /**
   * Removes every broker that registered on a session (its connection closed).
   *
   * @param session The session given to `registerBroker`.
   * @returns The addresses removed.
   */
  dropSession(session: object): string[] {
    const removed: string[] = [];
    for (const [addr, entry] of this.#live) {
      if (entry.session === session) removed.push(addr);
    }
    for (const addr of removed) this.#removeBroker(addr);
    return removed;
  }

  /**
   * Removes every broker silent for longer than the expiry.
   *
   * @returns The brokers removed, with what was last known of them.
   */
  scanExpired(): Array<{ brokerAddr: string; info: BrokerLiveInfo }> {
    const now = this.#now();
    const removed: Array<{ brokerAddr: string; info: BrokerLiveInfo }> = [];
    for (const [addr, entry] of this.#live) {
      if (!this.#isAlive(entry, now)) removed.push({ brokerAddr: addr, info: publicInfo(entry) });
    }
    for (const { brokerAddr } of removed) this.#removeBroker(brokerAddr);
    return removed;
  }

  /**
   * The route of a topic: its queues per broker group and those groups' live brokers.
   *
   * @param topic The topic.
   * @returns The route, or `undefined` when no live broker serves the topic.
   */
  getRoute(topic: string): TopicRouteData | undefined {
    const queues = this.#topicQueues.get(topic);
    if (queues === undefined) return undefined;
    const now = this.#now();
    const queueDatas: QueueData[] = [];
    const brokerDatas: BrokerData[] = [];
    for (const brokerName of [...queues.keys()].sort()) {
      const brokerData = this.#brokerData(brokerName, now);
      if (brokerData === undefined) continue;
      queueDatas.push({ ...queues.get(brokerName)! });
      brokerDatas.push(brokerData);
    }
    return brokerDatas.length === 0 ? undefined : { queueDatas, brokerDatas };
  }

  /**
   * Every cluster, broker group and live broker.
   *
   * @returns Groups by broker name, group names by cluster (sorted) and liveness by broker address.
   */
  getClusterInfo(): ClusterInfoWithLiveness {
    const now = this.#now();
    // Keyed by names peers choose: no prototype, so no name can become one.
    const brokerAddrTable: Record<string, BrokerData> = Object.create(null);
    for (const brokerName of [...this.#groups.keys()].sort()) {
      const brokerData = this.#brokerData(brokerName, now);
      if (brokerData !== undefined) brokerAddrTable[brokerName] = brokerData;
    }
    const clusterAddrTable: Record<string, string[]> = Object.create(null);
    for (const clusterName of [...this.#clusters.keys()].sort()) {
      clusterAddrTable[clusterName] = [...this.#clusters.get(clusterName)!].sort();
    }
    const brokerLiveTable: Record<string, BrokerLiveInfo> = Object.create(null);
    for (const addr of [...this.#live.keys()].sort()) {
      const entry = this.#live.get(addr)!;
      if (this.#isAlive(entry, now)) brokerLiveTable[addr] = publicInfo(entry);
    }
    return { brokerAddrTable, clusterAddrTable, brokerLiveTable };
  }

  /**
   * Every topic with at least one queue, sorted.
   *
   * @returns The topic names.
   */
  getTopicList(): string[] {
    return [...this.#topicQueues.keys()].sort();
  }

  /**
   * Forgets a topic's routes (brokers that still hold the topic bring it back at their next
   * registration unless it is deleted there too).
   *
   * @param topic The topic.
   * @returns Whether the topic had routes.
   */
  deleteTopic(topic: string): boolean {
    return this.#topicQueues.delete(topic);
  }

  #isAlive(entry: LiveEntry, now: number): boolean {
    return now - entry.lastUpdateTimestamp <= this.#expiryMs;
  }

  /** A group with only its live addresses, or `undefined` when none is live. */
  #brokerData(brokerName: string, now: number): BrokerData | undefined {
    const group = this.#groups.get(brokerName);
    if (group === undefined) return undefined;
    const brokerAddrs: Record<string, string> = Object.create(null);
    let grpcAddrs: Record<string, string> | undefined;
    let any = false;
    for (const id of [...group.addrs.keys()].sort((a, b) => a - b)) {
      const addr = group.addrs.get(id)!;
      const entry = this.#live.get(addr);
      if (entry === undefined || !this.#isAlive(entry, now)) continue;
      brokerAddrs[String(id)] = addr;
      if (entry.grpcAddr !== "") (grpcAddrs ??= Object.create(null) as Record<string, string>)[String(id)] = entry.grpcAddr;
      any = true;
    }
    if (!any) return undefined;
    return grpcAddrs === undefined ? { cluster: group.cluster, brokerName, brokerAddrs } : { cluster: group.cluster, brokerName, brokerAddrs, grpcAddrs };
  }

  #replaceQueueData(brokerName: string, topicConfigs: Record<string, TopicConfig>): void {
    const listed = new Set<string>();
    for (const config of Object.values(topicConfigs)) {
      listed.add(config.topicName);
      let queues = this.#topicQueues.get(config.topicName);
      if (queues === undefined) {
        queues = new Map();
        this.#topicQueues.set(config.topicName, queues);
      }
      queues.set(brokerName, {
        brokerName,
        readQueueNums: config.readQueueNums,
        writeQueueNums: config.writeQueueNums,
        perm: config.perm,
        ...(config.messageType === undefined ? {} : { messageType: config.messageType }),
      });
    }
    for (const [topic, queues] of this.#topicQueues) {
      if (listed.has(topic) || !queues.delete(brokerName)) continue;
      if (queues.size === 0) this.#topicQueues.delete(topic);
    }
  }

  /** Drops a live broker from its group, and the group when it was the last member. */
  #removeBroker(brokerAddr: string): void {
    const entry = this.#live.get(brokerAddr);
    if (entry === undefined) return;
    this.#live.delete(brokerAddr);
    const group = this.#groups.get(entry.brokerName);
    if (group === undefined) return;
    for (const [id, addr] of group.addrs) {
      if (addr === brokerAddr) group.addrs.delete(id);
    }
    if (group.addrs.size === 0) this.#removeGroup(entry.brokerName);
  }

  #removeGroup(brokerName: string): void {
    const group = this.#groups.get(brokerName);
    if (group === undefined) return;
    this.#groups.delete(brokerName);
    this.#leaveCluster(group.cluster, brokerName);
    for (const [topic, queues] of this.#topicQueues) {
      if (queues.delete(brokerName) && queues.size === 0) this.#topicQueues.delete(topic);
    }
  }

  #leaveCluster(clusterName: string, brokerName: string): void {
    const members = this.#clusters.get(clusterName);
    if (members === undefined) return;
    members.delete(brokerName);
    if (members.size === 0) this.#clusters.delete(clusterName);
  }
}

function publicInfo(entry: LiveEntry): BrokerLiveInfo {
  return {
    clusterName: entry.clusterName,
    brokerName: entry.brokerName,
    brokerId: entry.brokerId,
    haServerAddr: entry.haServerAddr,
    lastUpdateTimestamp: entry.lastUpdateTimestamp,
  };
}
