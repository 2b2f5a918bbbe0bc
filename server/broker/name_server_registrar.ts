/**
 * Keeps a broker registered with every NameServer: on start, on topic changes and every 30 s,
 * and — when a NameServer cannot be reached or its connection drops — again within seconds
 * (backing off from 500 ms to 5 s) until it answers, so a restarted NameServer heals fast. A topic
 * table larger than `REGISTER_TOPICS_PER_CHUNK` goes in chunks (one frame each, in order); one
 * registration per NameServer runs at a time. Every failure is logged (the same failure again at
 * most every 30 s, with a count).
 *
 * @module
 */
import * as v from "valibot";
import { REGISTER_TOPICS_PER_CHUNK, type TopicConfig, type TopicRouteData, TopicRouteDataSchema } from "../../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import type { Dialer } from "../../core/remoting/transport.ts";
import { type Credentials, RequestSigner } from "../../core/auth/signing.ts";
import type { Header } from "../../core/protocol/command.ts";
import type { Log, LogLevel } from "../logger.ts";

/** Options of `NameServerRegistrar`. */
export interface NameServerRegistrarOptions {
  dial: Dialer;
  nameServers: string[];
  clusterName: string;
  brokerName: string;
  brokerId: number;
  brokerAddr: string;
  haServerAddr?: string;
  /** Controller mode: the epoch this broker serves as master (NameServers refuse a deposed master's registration). @default none */
  epoch?: number;
  /** Where the broker serves RocketMQ 5's gRPC clients (read at each registration), so routes can name it. @default none */
  grpcAddr?: () => string | undefined;
  /** The topics to register, read at each registration. */
  topicConfigs: () => TopicConfig[];
  /** @default 30000 */
  intervalMs?: number;
  /**
   * A NameServer not connected this long counts as unreachable for this attempt (retried with
   * backoff), so one that drops packets or never completes TLS holds up nothing. @default 3000
   */
  connectTimeoutMs?: number;
  /** The account registrations are signed with, read at each request; none sends them unsigned. */
  credentials?: () => Credentials | undefined;
  /** The account route lookups (`route`) are signed with (an ACL account); none sends them unsigned. */
  queryCredentials?: () => Credentials | undefined;
  /**
   * Called with each successful registration's answer: a slave learns its master's client and
   * replication addresses from it ("" when the NameServer knows no master of the group).
   */
  onRegistered?: (answer: { masterAddr: string; haServerAddr: string }) => void;
  log?: Log;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;
/** The same failure is logged again after this long (with how often it happened meanwhile). */
const REPEAT_LOG_MS = 30_000;

/** Registers with every NameServer and re-registers periodically. */
export class NameServerRegistrar {
  readonly #options: NameServerRegistrarOptions;
  readonly #connections = new Map<string, Promise<Connection>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #pending: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #signer: { credentials: Credentials; signer: RequestSigner } | undefined;
  readonly #retries = new Map<string, { timer: ReturnType<typeof setTimeout>; delayMs: number }>();
  /** Per NameServer: the registration under way, and whether another must follow it. */
  readonly #running = new Map<string, { done: Promise<void>; again: boolean }>();
  /** Per NameServer since its last success: each failure logged, when, and how often it happened since. */
  readonly #failures = new Map<string, Map<string, { loggedAt: number; repeats: number }>>();

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
    await Promise.all(this.#options.nameServers.map((address) => this.#register(address)));
  }

  /** Registers with one NameServer; a call while one runs makes it run once more afterwards. */
  #register(address: string): Promise<void> {
    const running = this.#running.get(address);
    if (running !== undefined) {
      running.again = true;
      return running.done;
    }
    const state = { done: Promise.resolve(), again: false };
    state.done = (async () => {
      do {
        state.again = false;
        await this.#registerOnce(address);
      } while (state.again && !this.#stopped);
    })().finally(() => this.#running.delete(address));
    this.#running.set(address, state);
    return state.done;
  }

  async #registerOnce(address: string): Promise<void> {
    const o = this.#options;
    const configs = o.topicConfigs();
    const base = {
      clusterName: o.clusterName,
      brokerName: o.brokerName,
      brokerAddr: o.brokerAddr,
      brokerId: o.brokerId,
      haServerAddr: o.haServerAddr ?? "",
      ...(o.epoch === undefined ? {} : { epoch: o.epoch }),
      ...(o.grpcAddr?.() === undefined ? {} : { grpcAddr: o.grpcAddr() }),
    };
    const count = Math.max(1, Math.ceil(configs.length / REGISTER_TOPICS_PER_CHUNK));
    const id = count === 1 ? "" : crypto.randomUUID();
    let index = 0;
    try {
      const connection = await this.#connection(address);
      let response;
      for (; index < count; index++) {
        const part = configs.slice(index * REGISTER_TOPICS_PER_CHUNK, (index + 1) * REGISTER_TOPICS_PER_CHUNK);
        const header = {
          ...base,
          topicConfigs: Object.fromEntries(part.map((c) => [c.topicName, c])),
          ...(count === 1 ? {} : { chunk: { id, index, count } }),
        };
        response = await connection.request(RequestCode.REGISTER_BROKER, await this.#sign(RequestCode.REGISTER_BROKER, header), undefined, 5000);
        if (response.code !== ResponseCode.SUCCESS) break;
      }
      if (response!.code !== ResponseCode.SUCCESS) {
        const part = count === 1 ? "" : ` (chunk ${index + 1} of ${count}, ${configs.length} topics)`;
        this.#failed(address, `NameServer ${address} refused registration${part}: ${response!.remark ?? `response code ${response!.code}`}`, "error");
        return;
      }
      const { masterAddr, haServerAddr } = response!.header;
      if (typeof masterAddr === "string" && typeof haServerAddr === "string") o.onRegistered?.({ masterAddr, haServerAddr });
      // Back after a failure or a dropped connection (whose retry may be what just succeeded).
      const retry = this.#retries.get(address);
      if (retry !== undefined) {
        clearTimeout(retry.timer);
        this.#retries.delete(address);
      }
      if (this.#failures.delete(address) || retry !== undefined) o.log?.(`Registered with NameServer ${address} again`, "info");
    } catch (error) {
      const part = count === 1 ? "" : ` (at chunk ${index + 1} of ${count}, ${configs.length} topics)`;
      this.#failed(address, `Cannot register with NameServer ${address}${part}: ${(error as Error).message}`, "error");
      this.#retryLater(address);
    }
  }

  /** Logs a failed registration: a new failure at once, the same one again every 30 s with a count. */
  #failed(address: string, message: string, level: LogLevel): void {
    const now = Date.now();
    let seen = this.#failures.get(address);
    if (seen === undefined) this.#failures.set(address, (seen = new Map()));
    const last = seen.get(message);
    if (last !== undefined && now - last.loggedAt < REPEAT_LOG_MS) {
      last.repeats++;
      return;
    }
    const repeats = last?.repeats ?? 0;
    this.#options.log?.(repeats === 0 ? message : `${message} (${repeats + 1} times in the last ${Math.round((now - last!.loggedAt) / 1000)} s)`, level);
    if (seen.size >= 16) seen.delete(seen.keys().next().value!);
    seen.set(message, { loggedAt: now, repeats: 0 });
  }

  /** Registers with one NameServer again soon; each failed attempt doubles the wait up to 5 s. */
  #retryLater(address: string): void {
    if (this.#stopped) return;
    const previous = this.#retries.get(address);
    if (previous !== undefined) clearTimeout(previous.timer);
    const delayMs = previous === undefined ? RETRY_MIN_MS : Math.min(previous.delayMs * 2, RETRY_MAX_MS);
    const timer = setTimeout(() => void this.#register(address), delayMs);
    this.#retries.set(address, { timer, delayMs });
  }

  /** Stops re-registering and unregisters from every NameServer. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    clearTimeout(this.#pending);
    for (const retry of this.#retries.values()) clearTimeout(retry.timer);
    this.#retries.clear();
    const o = this.#options;
    const header = { clusterName: o.clusterName, brokerName: o.brokerName, brokerAddr: o.brokerAddr, brokerId: o.brokerId };
    await Promise.all(o.nameServers.map(async (address) => {
      try {
        const connection = await this.#connection(address);
        await connection.request(RequestCode.UNREGISTER_BROKER, await this.#sign(RequestCode.UNREGISTER_BROKER, header), undefined, 2000);
        connection.close();
      } catch {
        // a NameServer that is down drops us by expiry
      }
    }));
    this.#connections.clear();
  }

  /**
   * Asks the NameServers, in turn, for a topic's route (GET_ROUTEINFO_BY_TOPIC).
   *
   * @param topic The topic.
   * @returns The first route a NameServer gives, or undefined when every one that answered knows none.
   * @throws {Error} When no NameServer could be asked.
   */
  async route(topic: string): Promise<TopicRouteData | undefined> {
    let failure: Error | undefined;
    for (const address of this.#options.nameServers) {
      try {
        const connection = await this.#connection(address);
        const header = await this.#sign(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic }, this.#options.queryCredentials);
        const response = await connection.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, header, undefined, 3000);
        if (response.code === ResponseCode.TOPIC_NOT_EXIST) return undefined;
        if (response.code !== ResponseCode.SUCCESS) throw new Error(response.remark ?? `response code ${response.code}`);
        const route = v.safeParse(TopicRouteDataSchema, response.header);
        if (!route.success) throw new Error(`malformed route: ${v.summarize(route.issues)}`);
        return route.output;
      } catch (error) {
        failure = new Error(`NameServer ${address}: ${(error as Error).message}`, { cause: error });
      }
    }
    if (failure !== undefined) throw failure;
    return undefined;
  }

  /** Signs a request header when credentials are configured (the signer is reused while they stay the same). */
  async #sign(code: number, header: Header, from = this.#options.credentials): Promise<Header> {
    const credentials = from?.();
    if (credentials === undefined) return header;
    const cached = this.#signer;
    if (cached === undefined || cached.credentials.accessKey !== credentials.accessKey || cached.credentials.secretKey !== credentials.secretKey) {
      this.#signer = { credentials: { ...credentials }, signer: new RequestSigner(credentials) };
    }
    return await this.#signer!.signer.sign(code, header);
  }

  #connection(address: string): Promise<Connection> {
    const existing = this.#connections.get(address);
    if (existing !== undefined) {
      return existing.then((c) => (c.closed ? this.#reconnect(address) : c), () => this.#reconnect(address));
    }
    return this.#reconnect(address);
  }

  #reconnect(address: string): Promise<Connection> {
    const promise = connect(this.#options.dial, address, {
      connectTimeoutMs: this.#options.connectTimeoutMs ?? 3000,
      // A NameServer that went away forgot us: register again as soon as it is back.
      onClose: () => {
        if (this.#connections.get(address) === promise) this.#connections.delete(address);
        if (this.#stopped) return;
        this.#failed(address, `Connection to NameServer ${address} closed; registering again`, "warn");
        this.#retryLater(address);
      },
    });
    this.#connections.set(address, promise);
    promise.catch(() => this.#connections.delete(address));
    return promise;
  }
}
