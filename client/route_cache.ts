/**
 * Topic routes from the NameServers, cached and kept fresh.
 *
 * @module
 */
import { BrokerError, ProtocolError } from "../core/errors.ts";
import type { MessageQueue } from "../core/model/message_queue.ts";
import type { BrokerData, QueueData, TopicRouteData } from "../core/protocol/headers.ts";
import { AUTO_CREATE_TOPIC_KEY, Perm, RequestCode, ResponseCode } from "../core/protocol/request_code.ts";
import type { RemotingClient } from "./remoting_client.ts";

/** A topic's route, with its queues worked out. */
export interface TopicRoute {
  /** The topic. */
  readonly topic: string;
  /** What the NameServer answered (or the template's answer, adapted). */
  readonly data: TopicRouteData;
  /** Queues a producer may write: writable, on broker groups with a live master, in stable order. */
  readonly writeQueues: readonly MessageQueue[];
  /** Queues a consumer may read, in stable order. */
  readonly readQueues: readonly MessageQueue[];
  /** Built from the `TBW102` route because the topic does not exist yet (a broker creates it on first send). */
  readonly fromTemplate: boolean;
}

/** Options of a `RouteCache`. */
export interface RouteCacheOptions {
  /** NameServers as `host:port`; any live one answers. */
  nameServers: readonly string[];
  /** How often every cached route is fetched again. @default 30000 */
  pollIntervalMs?: number;
  /** Timeout of one route request. @default 3000 */
  requestTimeoutMs?: number;
  /**
   * Set by producers: a topic no NameServer knows is routed like `TBW102`, with at most this many
   * queues per broker, so the first send makes a broker create it. Left out, such a topic is an error.
   */
  autoCreateQueueNums?: number;
}

/**
 * Caches topic routes. A route is fetched from the first NameServer that answers (trying the next
 * one on a connection failure), kept until the next poll, and fetched again on demand after a send
 * failure. A failed poll keeps the route it had.
 *
 * @example Look up where a topic lives
 * ```ts ignore
 * import { RemotingClient } from "./remoting_client.ts";
 * import { RouteCache } from "./route_cache.ts";
 * import { defaultDialer } from "./default_dialer.ts";
 * const client = new RemotingClient({ dial: await defaultDialer() });
 * const routes = new RouteCache(client, { nameServers: ["127.0.0.1:9876"] });
 * const route = await routes.get("orders");
 * console.log(route.readQueues);
 * ```
 */
export class RouteCache {
  readonly #client: RemotingClient;
  readonly #nameServers: readonly string[];
  readonly #pollIntervalMs: number;
  readonly #requestTimeoutMs: number;
  readonly #autoCreateQueueNums: number | undefined;
  readonly #routes = new Map<string, TopicRoute>();
  readonly #fetching = new Map<string, Promise<TopicRoute>>();
  /** Broker group name to its members' addresses by broker id, from every cached route. */
  #brokers = new Map<string, Record<string, string>>();
  /** `brokerMembers` answers, worked out once per route update (every pull asks). */
  #members = new Map<string, string[]>();
  #nameServerIndex: number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * Creates an empty cache; call `start()` to poll.
   *
   * @param client The connection pool to use.
   * @param options NameServers and timings.
   */
  constructor(client: RemotingClient, options: RouteCacheOptions) {
    if (options.nameServers.length === 0) throw new RangeError("At least one NameServer address is needed");
    this.#client = client;
    this.#nameServers = [...options.nameServers];
    this.#pollIntervalMs = options.pollIntervalMs ?? 30_000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 3000;
    this.#autoCreateQueueNums = options.autoCreateQueueNums;
    // Spread clients over NameServers; each sticks to one while it answers.
    this.#nameServerIndex = Math.floor(Math.random() * this.#nameServers.length);
  }

  /** Starts polling the NameServers for every cached topic. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.#poll(), this.#pollIntervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Stops polling. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * The cached route of a topic, without fetching.
   *
   * @param topic The topic.
   * @returns The route, or undefined when none is cached.
   */
  cached(topic: string): TopicRoute | undefined {
    return this.#routes.get(topic);
  }

  /**
   * The cached route of a topic, fetched first if there is none.
   *
   * @param topic The topic.
   * @returns The route.
   * @throws {BrokerError} With `TOPIC_NOT_EXIST` when no NameServer knows the topic (and it cannot be auto-created).
   * @throws {ConnectionClosedError} When no NameServer can be reached.
   */
  get(topic: string): Promise<TopicRoute> {
    const cached = this.#routes.get(topic);
    return cached !== undefined ? Promise.resolve(cached) : this.refresh(topic);
  }

  /**
   * Fetches a topic's route now; concurrent calls for one topic share the request.
   *
   * @param topic The topic.
   * @returns The new route.
   * @throws {BrokerError} With `TOPIC_NOT_EXIST` when no NameServer knows the topic (and it cannot be auto-created).
   * @throws {ConnectionClosedError} When no NameServer can be reached.
   */
  refresh(topic: string): Promise<TopicRoute> {
    const pending = this.#fetching.get(topic);
    if (pending !== undefined) return pending;
    const fetching = this.#fetch(topic).finally(() => this.#fetching.delete(topic));
    this.#fetching.set(topic, fetching);
    return fetching;
  }

  /**
   * The address to send to for a broker group: its master, else (for reads) its lowest-id member.
   *
   * @param brokerName The broker group.
   * @param masterOnly Only the master will do (writes).
   * @returns `host:port`, or undefined when no cached route names such a member.
   */
  brokerAddress(brokerName: string, masterOnly = false): string | undefined {
    const members = this.#brokers.get(brokerName);
    if (members === undefined) return undefined;
    return masterOnly ? members["0"] : this.brokerMembers(brokerName)[0];
  }

  /**
   * The members of a broker group, master (id 0) first, then slaves by id.
   *
   * @param brokerName The broker group.
   * @returns Addresses in that order (shared: do not change the array); empty when no cached route names the group.
   */
  brokerMembers(brokerName: string): string[] {
    const known = this.#members.get(brokerName);
    if (known !== undefined) return known;
    const members = this.#brokers.get(brokerName);
    if (members === undefined) return [];
    const sorted = Object.keys(members).map(Number).filter(Number.isInteger).sort((a, b) => a - b).map((id) => members[String(id)]!);
    this.#members.set(brokerName, sorted);
    return sorted;
  }

  /** Every broker address in the cached routes. */
  brokerAddresses(): string[] {
    const addresses: string[] = [];
    for (const members of this.#brokers.values()) addresses.push(...Object.values(members));
    return addresses;
  }

  async #poll(): Promise<void> {
    for (const topic of [...this.#routes.keys()]) {
      try {
        await this.refresh(topic);
      } catch {
        // Keep the route we have; the next send failure or poll tries again.
      }
    }
  }

  async #fetch(topic: string): Promise<TopicRoute> {
    let route: TopicRoute;
    try {
      route = buildRoute(topic, await this.#query(topic), false);
    } catch (error) {
      const missing = error instanceof BrokerError && error.code === ResponseCode.TOPIC_NOT_EXIST;
      if (!missing || this.#autoCreateQueueNums === undefined) throw error;
      route = await this.#templateRoute(topic, this.#autoCreateQueueNums);
    }
    this.#routes.set(topic, route);
    this.#rebuildBrokers();
    return route;
  }

  async #templateRoute(topic: string, queueNums: number): Promise<TopicRoute> {
    let template: TopicRouteData;
    try {
      template = await this.#query(AUTO_CREATE_TOPIC_KEY);
    } catch (error) {
      if (error instanceof BrokerError && error.code === ResponseCode.TOPIC_NOT_EXIST) {
        throw new BrokerError(
          ResponseCode.TOPIC_NOT_EXIST,
          `Cannot route topic "${topic}": no NameServer knows it and no broker auto-creates topics`,
          { cause: error },
        );
      }
      throw error;
    }
    const queueDatas = template.queueDatas.map((q): QueueData => ({
      brokerName: q.brokerName,
      readQueueNums: Math.min(queueNums, q.readQueueNums),
      writeQueueNums: Math.min(queueNums, q.writeQueueNums),
      perm: q.perm & ~Perm.INHERIT,
    }));
    return buildRoute(topic, { queueDatas, brokerDatas: template.brokerDatas }, true);
  }

  /**
   * The master address of every broker group the NameServers know (GET_BROKER_CLUSTER_INFO), for
   * producers that must be reachable from any broker (transaction check-backs).
   *
   * @returns The addresses, sorted.
   * @throws {ConnectionClosedError} When no NameServer answers.
   * @throws {ProtocolError} When the answer is malformed.
   */
  async clusterMasters(): Promise<string[]> {
    return await this.#ask(RequestCode.GET_BROKER_CLUSTER_INFO, {}, (header) => {
      const table = header.brokerAddrTable;
      if (typeof table !== "object" || table === null) throw new ProtocolError("NameServer sent cluster info without a brokerAddrTable");
      const masters = new Set<string>();
      for (const broker of Object.values(table as Record<string, unknown>)) {
        const master = (broker as { brokerAddrs?: Record<string, unknown> } | null)?.brokerAddrs?.["0"];
        if (typeof master === "string") masters.add(master);
      }
      return [...masters].sort();
    });
  }

  /** Asks the NameServers in turn for a topic's route. */
  #query(topic: string): Promise<TopicRouteData> {
    return this.#ask(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic }, (header) => parseRouteData(topic, header));
  }

  /** Asks the NameServers in turn, starting with the one that answered last, until one answers something `parse` takes. */
  async #ask<T>(code: number, header: Record<string, unknown>, parse: (header: Record<string, unknown>) => T): Promise<T> {
    let lastError: unknown;
    const count = this.#nameServers.length;
    for (let i = 0; i < count; i++) {
      const index = (this.#nameServerIndex + i) % count;
      const address = this.#nameServers[index]!;
      try {
        const response = await this.#client.invoke(address, { code, header, timeoutMs: this.#requestTimeoutMs });
        const parsed = parse(response.header);
        this.#nameServerIndex = index;
        return parsed;
      } catch (error) {
        // A live NameServer's "no such topic" is the answer; anything else may be this server's fault.
        if (error instanceof BrokerError && error.code === ResponseCode.TOPIC_NOT_EXIST) throw error;
        lastError = error;
      }
    }
    throw lastError;
  }

  #rebuildBrokers(): void {
    const brokers = new Map<string, Record<string, string>>();
    for (const route of this.#routes.values()) {
      for (const broker of route.data.brokerDatas) brokers.set(broker.brokerName, broker.brokerAddrs);
    }
    this.#brokers = brokers;
    this.#members = new Map();
  }
}

/**
 * Works out the queues of a route.
 *
 * @param topic The topic.
 * @param data The NameServer's answer.
 * @param fromTemplate Whether it is the adapted `TBW102` route.
 * @returns The route.
 */
export function buildRoute(topic: string, data: TopicRouteData, fromTemplate: boolean): TopicRoute {
  const masters = new Set(data.brokerDatas.filter((b) => b.brokerAddrs["0"] !== undefined).map((b) => b.brokerName));
  const queueDatas = [...data.queueDatas].sort((a, b) => (a.brokerName < b.brokerName ? -1 : a.brokerName > b.brokerName ? 1 : 0));
  const writeQueues: MessageQueue[] = [];
  const readQueues: MessageQueue[] = [];
  for (const q of queueDatas) {
    if ((q.perm & Perm.WRITE) !== 0 && masters.has(q.brokerName)) {
      for (let queueId = 0; queueId < q.writeQueueNums; queueId++) writeQueues.push({ topic, brokerName: q.brokerName, queueId });
    }
    if ((q.perm & Perm.READ) !== 0) {
      for (let queueId = 0; queueId < q.readQueueNums; queueId++) readQueues.push({ topic, brokerName: q.brokerName, queueId });
    }
  }
  return { topic, data, writeQueues, readQueues, fromTemplate };
}

/** Checks the shape of a route answer from the wire. */
function parseRouteData(topic: string, header: Record<string, unknown>): TopicRouteData {
  const { queueDatas, brokerDatas } = header;
  const fail = (what: string) => new ProtocolError(`NameServer sent a malformed route for topic "${topic}": ${what}`);
  if (!Array.isArray(queueDatas) || !Array.isArray(brokerDatas)) throw fail("queueDatas or brokerDatas is not a list");
  for (const q of queueDatas as QueueData[]) {
    if (
      typeof q?.brokerName !== "string" || !Number.isInteger(q.readQueueNums) || !Number.isInteger(q.writeQueueNums) ||
      !Number.isInteger(q.perm)
    ) throw fail("bad queue data");
  }
  for (const b of brokerDatas as BrokerData[]) {
    if (typeof b?.brokerName !== "string" || typeof b.brokerAddrs !== "object" || b.brokerAddrs === null) throw fail("bad broker data");
  }
  return { queueDatas, brokerDatas };
}
