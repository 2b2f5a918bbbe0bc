/**
 * A producer's registration with the brokers that call it back: a HEART_BEAT naming its client id
 * and no consumer group (and, for a transactional producer, its producer group), so a broker can
 * send it CHECK_TRANSACTION_STATE and PUSH_REPLY_MESSAGE_TO_CLIENT over that connection.
 *
 * @module
 */
import { RequestCode } from "../core/protocol/request_code.ts";
import type { Connection } from "../core/remoting/connection.ts";
import { runtimeName } from "./_consumer_client.ts";
import type { RemotingClient } from "./remoting_client.ts";
import type { RouteCache } from "./route_cache.ts";

/** Options of a `ProducerRegistry`. */
export interface ProducerRegistryOptions {
  client: RemotingClient;
  routes: RouteCache;
  clientId: string;
  /** Producer groups whose transactions it takes check-backs for (empty: it only takes replies). */
  producerGroups: readonly string[];
  /** Also register with every master the NameServers know, so any broker holding its group's half messages can ask it. */
  everyMaster: boolean;
  /** Heartbeat period. */
  intervalMs: number;
  /** Timeout of one heartbeat. */
  requestTimeoutMs: number;
  log: (line: string) => void;
}

/** Keeps a producer registered with the brokers it must hear from. */
export class ProducerRegistry {
  readonly #o: ProducerRegistryOptions;
  /** Brokers registered with, by address. */
  readonly #addresses = new Set<string>();
  /** The heartbeat of each connection it was made on: a new connection needs a new one. */
  readonly #registered = new WeakMap<Connection, Promise<void>>();
  /** The broker address of each connection registered on (check-backs arrive on it). */
  readonly #addressOf = new WeakMap<Connection, string>();
  /** Addresses whose last heartbeat failed (logged once until one succeeds). */
  readonly #failing = new Set<string>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #round: Promise<void> | undefined;

  /** @param options The client, routes, identity and period. */
  constructor(options: ProducerRegistryOptions) {
    this.#o = options;
  }

  /**
   * Registers now (with every master, when `everyMaster`) and then every `intervalMs`.
   *
   * @returns Once the first round is over (failures are logged, not thrown).
   */
  start(): Promise<void> {
    this.#timer ??= setInterval(() => void this.#heartbeatAll(), this.#o.intervalMs);
    (this.#timer as { unref?: () => void }).unref?.();
    return this.#heartbeatAll();
  }

  /**
   * Makes sure the broker knows this producer on the connection it would call back on.
   *
   * @param address The broker.
   * @throws {ConnectionClosedError} When the broker cannot be reached.
   * @throws {BrokerError} When the broker refuses the heartbeat.
   */
  async ensure(address: string): Promise<void> {
    this.#addresses.add(address);
    const connection = await this.#o.client.connection(address, 0);
    this.#addressOf.set(connection, address);
    let registering = this.#registered.get(connection);
    if (registering === undefined) {
      registering = this.#heartbeat(address);
      this.#registered.set(connection, registering);
      registering.catch(() => {
        if (this.#registered.get(connection) === registering) this.#registered.delete(connection);
      });
    }
    await registering;
  }

  /**
   * @param connection A connection a broker called back on.
   * @returns The broker address it was opened to, when it is one registered on.
   */
  addressOf(connection: Connection): string | undefined {
    return this.#addressOf.get(connection);
  }

  /** Stops heartbeating and unregisters from every broker (best effort). */
  async shutdown(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#round?.catch(() => {});
    await Promise.all([...this.#addresses].map((address) =>
      this.#o.client.invoke(address, {
        code: RequestCode.UNREGISTER_CLIENT,
        header: { clientId: this.#o.clientId, producerGroup: this.#o.producerGroups[0] ?? "" },
        timeoutMs: 1000,
      }).catch(() => {})
    ));
  }

  #heartbeatAll(): Promise<void> {
    this.#round ??= (async () => {
      if (this.#o.everyMaster) {
        try {
          for (const address of await this.#o.routes.clusterMasters()) this.#addresses.add(address);
        } catch (error) {
          this.#o.log(`Producer "${this.#o.clientId}" cannot list the cluster's brokers: ${(error as Error).message}`);
        }
      }
      await Promise.all([...this.#addresses].map(async (address) => {
        try {
          await this.#heartbeat(address);
          const connection = await this.#o.client.connection(address, 0);
          this.#addressOf.set(connection, address);
          if (!this.#registered.has(connection)) this.#registered.set(connection, Promise.resolve());
          if (this.#failing.delete(address)) this.#o.log(`Producer "${this.#o.clientId}" is registered with ${address} again`);
        } catch (error) {
          if (this.#failing.has(address)) return;
          this.#failing.add(address);
          this.#o.log(`Producer "${this.#o.clientId}" cannot register with ${address}: ${(error as Error).message}`);
        }
      }));
    })().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  async #heartbeat(address: string): Promise<void> {
    await this.#o.client.invoke(address, {
      code: RequestCode.HEART_BEAT,
      header: { clientId: this.#o.clientId, runtime: runtimeName(), producerGroups: [...this.#o.producerGroups], consumers: [] },
      timeoutMs: this.#o.requestTimeoutMs,
    });
  }
}
