/**
 * Keeps a broker registered with every NameServer: on start, on topic changes and every 30 s.
 *
 * @module
 */
import type { TopicConfig } from "../../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import type { Dialer } from "../../core/remoting/transport.ts";

/** Options of `NameServerRegistrar`. */
export interface NameServerRegistrarOptions {
  dial: Dialer;
  nameServers: string[];
  clusterName: string;
  brokerName: string;
  brokerId: number;
  brokerAddr: string;
  haServerAddr?: string;
  /** The topics to register, read at each registration. */
  topicConfigs: () => TopicConfig[];
  /** @default 30000 */
  intervalMs?: number;
  log?: (line: string) => void;
}

/** Registers with every NameServer and re-registers periodically. */
export class NameServerRegistrar {
  readonly #options: NameServerRegistrarOptions;
  readonly #connections = new Map<string, Promise<Connection>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #pending: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  /** @param options Who to register as and where. */
  constructor(options: NameServerRegistrarOptions) {
    this.#options = options;
  }

  /** Registers once with every NameServer (failures are logged) and starts the interval. */
  async start(): Promise<void> {
    await this.registerAll();
    this.#timer = setInterval(() => void this.registerAll(), this.#options.intervalMs ?? 30_000);
  }

  /** Registers soon, coalescing bursts of topic changes. */
  scheduleRegister(): void {
    if (this.#pending !== undefined || this.#stopped) return;
    this.#pending = setTimeout(() => {
      this.#pending = undefined;
      void this.registerAll();
    }, 10);
  }

  /** Registers with every NameServer now. */
  async registerAll(): Promise<void> {
    const o = this.#options;
    const topicConfigs = Object.fromEntries(o.topicConfigs().map((c) => [c.topicName, c]));
    const header = {
      clusterName: o.clusterName,
      brokerName: o.brokerName,
      brokerAddr: o.brokerAddr,
      brokerId: o.brokerId,
      haServerAddr: o.haServerAddr ?? "",
      topicConfigs,
    };
    await Promise.all(o.nameServers.map(async (address) => {
      try {
        const connection = await this.#connection(address);
        const response = await connection.request(RequestCode.REGISTER_BROKER, header, undefined, 5000);
        if (response.code !== ResponseCode.SUCCESS) {
          o.log?.(`NameServer ${address} refused registration: ${response.remark ?? response.code}`);
        }
      } catch (error) {
        o.log?.(`Cannot register with NameServer ${address}: ${(error as Error).message}`);
      }
    }));
  }

  /** Stops re-registering and unregisters from every NameServer. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#pending);
    const o = this.#options;
    const header = { clusterName: o.clusterName, brokerName: o.brokerName, brokerAddr: o.brokerAddr, brokerId: o.brokerId };
    await Promise.all(o.nameServers.map(async (address) => {
      try {
        const connection = await this.#connection(address);
        await connection.request(RequestCode.UNREGISTER_BROKER, header, undefined, 2000);
        connection.close();
      } catch {
        // a NameServer that is down drops us by expiry
      }
    }));
    this.#connections.clear();
  }

  #connection(address: string): Promise<Connection> {
    const existing = this.#connections.get(address);
    if (existing !== undefined) {
      return existing.then((c) => (c.closed ? this.#reconnect(address) : c), () => this.#reconnect(address));
    }
    return this.#reconnect(address);
  }

  #reconnect(address: string): Promise<Connection> {
    const promise = connect(this.#options.dial, address);
    this.#connections.set(address, promise);
    promise.catch(() => this.#connections.delete(address));
    return promise;
  }
}
