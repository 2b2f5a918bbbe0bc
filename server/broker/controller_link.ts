/**
 * A broker's link to the controllers in controller mode: a heartbeat to every controller every
 * `intervalMs` (which keeps the broker's etcd lease alive and reports its CommitLog end), the
 * newest group state any of them answered, the lease deadline a master's writes depend on, and the
 * in-sync set changes a master asks for. See docs/REPLICATION.md, "Automatic failover".
 *
 * @module
 */
import * as v from "valibot";
import { type Credentials, RequestSigner } from "../../core/auth/signing.ts";
import type { Header } from "../../core/protocol/command.ts";
import {
  type ControllerAccess,
  ControllerHeartbeatAnswer,
  type ElectMasterHeader,
  type ElectMasterResult,
  type GroupState,
  SyncStateData,
  type ReplicaInfo,
  GroupState as GroupStateSchema,
} from "../../core/protocol/controller.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import type { Dialer } from "../../core/remoting/transport.ts";
import type { EpochFile } from "../ha/epoch_file.ts";
import type { Log } from "../logger.ts";

/** What the link knows of its group. */
export interface ControlledState {
  state: GroupState;
  /** etcd's revision of the state: larger is newer. */
  version: number;
  /** The live master's heartbeat, when it is alive. */
  master: ReplicaInfo | undefined;
}

/** Options of `ControllerLink`. */
export interface ControllerLinkOptions {
  dial: Dialer;
  /** The controllers, `host:port` each (the NameServers that run one). */
  controllers: readonly string[];
  clusterName: string;
  brokerName: string;
  /** This replica's id (1 or more). */
  brokerId: number;
  /** What the heartbeat reports, read at each one. */
  info: () => Omit<ReplicaInfo, "brokerId">;
  /** Requests are signed with this (the cluster secret's account). */
  credentials?: () => Credentials | undefined;
  /** @default 500 */
  intervalMs?: number;
  /** A newer state arrived. */
  onState: (state: ControlledState) => void;
  log: Log;
}

/** How long a switchover may take at the controller (its `switchTimeoutMs`, 10 s by default, and a margin). */
const ELECT_TIMEOUT_MS = 15_000;

/** Heartbeats to the controllers and what they answered; also the admin API's way to them (`ControllerAccess`). */
export class ControllerLink implements ControllerAccess {
  readonly #o: ControllerLinkOptions;
  readonly #connections = new Map<string, Promise<Connection>>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #lease = "";
  /** Until when (performance.now()) a master may take writes: its lease certainly holds till then. */
  #leaseUntil = 0;
  #known: ControlledState | undefined;
  #signer: RequestSigner | undefined;
  #closed = false;
  #lastError = new Map<string, string>();
  #etcdDownLogged = false;

  /** @param options The controllers and who this broker is. */
  constructor(options: ControllerLinkOptions) {
    this.#o = options;
  }

  /** The newest state answered, if any. */
  get known(): ControlledState | undefined {
    return this.#known;
  }

  /** Whether the lease certainly has not expired at etcd. */
  leaseHolds(): boolean {
    return performance.now() < this.#leaseUntil;
  }

  /** Starts heartbeating. */
  start(): void {
    if (this.#timer !== undefined) return;
    void this.beat();
    this.#timer = setInterval(() => void this.beat(), this.#o.intervalMs ?? 500);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** One heartbeat to every controller now. */
  async beat(): Promise<void> {
    await Promise.all(this.#o.controllers.map((address) => this.#beatOne(address)));
  }

  async #beatOne(address: string): Promise<void> {
    if (this.#closed) return;
    const sentAt = performance.now();
    try {
      const header = { clusterName: this.#o.clusterName, brokerName: this.#o.brokerName, brokerId: this.#o.brokerId, ...this.#o.info(), leaseId: this.#lease };
      const response = await this.#request(address, RequestCode.CONTROLLER_BROKER_HEARTBEAT, header, 2000);
      const parsed = v.safeParse(ControllerHeartbeatAnswer, response.header);
      if (!parsed.success) throw new Error(`malformed answer: ${v.summarize(parsed.issues)}`);
      const answer = parsed.output;
      if (answer.etcdUp) {
        this.#lease = answer.leaseId;
        this.#etcdDownLogged = false;
      } else if (!this.#etcdDownLogged) {
        this.#etcdDownLogged = true;
        this.#o.log(`Controller ${address} cannot reach etcd: no election can happen, so this broker keeps its role until etcd is back`, "error");
      }
      // The lease was renewed at etcd after `sentAt`: it holds at least ttl from then (a margin for clock rates).
      // While etcd is unreachable no election can happen, so the role holds as long.
      const ttl = answer.ttlMs;
      this.#leaseUntil = Math.max(this.#leaseUntil, sentAt + ttl - Math.max(300, ttl / 4));
      if (answer.state !== undefined) this.#offer({ state: answer.state, version: answer.version, master: answer.master });
      if (this.#lastError.delete(address)) this.#o.log(`Controller ${address} answers again`, "info");
    } catch (error) {
      const message = `Controller ${address} heartbeat failed: ${(error as Error).message}`;
      if (this.#lastError.get(address) !== message) this.#o.log(message, "warn");
      this.#lastError.set(address, message);
    }
  }

  #offer(next: ControlledState): void {
    const known = this.#known;
    if (known !== undefined && (next.version < known.version || (next.version === known.version && sameMaster(known.master, next.master)))) return;
    this.#known = next;
    this.#o.onState(next);
  }

  /**
   * A master asks the controller to record a new in-sync set.
   *
   * @param epoch The master's epoch.
   * @param isr The set.
   * @returns The recorded set and the state's version, or undefined when refused or unreachable.
   */
  async alterSyncStateSet(epoch: number, isr: number[]): Promise<{ isr: readonly number[]; version: number } | undefined> {
    const header = { clusterName: this.#o.clusterName, brokerName: this.#o.brokerName, brokerId: this.#o.brokerId, epoch, isr };
    for (const address of this.#o.controllers) {
      try {
        const response = await this.#request(address, RequestCode.CONTROLLER_ALTER_SYNC_STATE_SET, header, 3000);
        if (response.code === ResponseCode.SUCCESS) {
          const state = v.parse(GroupStateSchema, response.header.state);
          const version = Number(response.header.version ?? 0);
          this.#offer({ state, version, master: this.#known?.master });
          return { isr: state.isr, version };
        }
        this.#o.log(`Controller ${address} refused the in-sync set ${JSON.stringify(isr)}: ${response.remark ?? response.code}`, "warn");
        if (response.code === ResponseCode.ILLEGAL_OPERATION) return undefined;
      } catch (error) {
        this.#o.log(`Cannot change the in-sync set through controller ${address}: ${(error as Error).message}`, "warn");
      }
    }
    return undefined;
  }

  /**
   * Every group's state and live members, from the first controller that answers.
   *
   * @returns The groups.
   * @throws {Error} When no controller answers.
   */
  async syncStateData(): Promise<SyncStateData> {
    const response = await this.#ask(RequestCode.CONTROLLER_GET_SYNC_STATE_DATA, {}, 3000);
    if (response.code !== ResponseCode.SUCCESS) throw new Error(response.remark ?? `response code ${response.code}`);
    const parsed = v.safeParse(SyncStateData, response.header);
    if (!parsed.success) throw new Error(`Controller sent a malformed state: ${v.summarize(parsed.issues)}`);
    return parsed.output;
  }

  /**
   * A switchover through the first controller that answers (signed like the heartbeats).
   *
   * @param header The group and, optionally, the replica to hand over to.
   * @returns The new state, or the controller's reason for refusing.
   * @throws {Error} When no controller answers.
   */
  async electMaster(header: ElectMasterHeader): Promise<ElectMasterResult> {
    const request = { clusterName: header.clusterName, brokerName: header.brokerName, ...(header.brokerId === undefined ? {} : { brokerId: header.brokerId }) };
    const response = await this.#ask(RequestCode.CONTROLLER_ELECT_MASTER, request, ELECT_TIMEOUT_MS);
    if (response.code === ResponseCode.ILLEGAL_OPERATION) return { refused: response.remark ?? "The controller refused the switchover" };
    if (response.code !== ResponseCode.SUCCESS) throw new Error(response.remark ?? `response code ${response.code}`);
    return { state: v.parse(GroupStateSchema, response.header.state) };
  }

  /** A request to the controllers in turn until one answers. */
  async #ask(code: number, header: Header, timeoutMs: number) {
    let lastError: unknown;
    for (const address of this.#o.controllers) {
      try {
        return await this.#request(address, code, header, timeoutMs);
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error(`No controller answers (${this.#o.controllers.join(", ")}): ${(lastError as Error)?.message ?? "none configured"}`);
  }

  async #request(address: string, code: number, header: Header, timeoutMs: number) {
    const connection = await this.#connection(address);
    const signed = await this.#sign(code, header);
    const response = await connection.request(code, signed, undefined, timeoutMs);
    if (code === RequestCode.CONTROLLER_BROKER_HEARTBEAT && response.code !== ResponseCode.SUCCESS) {
      throw new Error(response.remark ?? `response code ${response.code}`);
    }
    return response;
  }

  async #sign(code: number, header: Header): Promise<Header> {
    const credentials = this.#o.credentials?.();
    if (credentials === undefined) return header;
    this.#signer ??= new RequestSigner(credentials);
    return await this.#signer.sign(code, header);
  }

  #connection(address: string): Promise<Connection> {
    const existing = this.#connections.get(address);
    if (existing !== undefined) return existing.then((c) => (c.closed ? this.#reconnect(address) : c), () => this.#reconnect(address));
    return this.#reconnect(address);
  }

  #reconnect(address: string): Promise<Connection> {
    const promise = connect(this.#o.dial, address, {
      onClose: () => {
        if (this.#connections.get(address) === promise) this.#connections.delete(address);
      },
    });
    this.#connections.set(address, promise);
    promise.catch(() => {
      if (this.#connections.get(address) === promise) this.#connections.delete(address);
    });
    return promise;
  }

  /** Stops heartbeating and closes the connections (the lease lapses at etcd by itself). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const connection of this.#connections.values()) await connection.then((c) => c.close(), () => {});
    this.#connections.clear();
  }
}

function sameMaster(a: ReplicaInfo | undefined, b: ReplicaInfo | undefined): boolean {
  return a?.address === b?.address && a?.haAddress === b?.haAddress;
}

/** What `startBroker` needs to run as one replica of a controlled group (set by `startControlledBroker`). */
export interface ControlledRole {
  link: ControllerLink;
  /** This replica's id (the route lists it under 0 while it is master). */
  replicaId: number;
  /** The store's epochs file. */
  epochs: EpochFile;
  /** Master: the epoch it serves, and the in-sync set with its version. */
  epoch: number;
  isr: readonly number[];
  version: number;
  /** Master: why writes are refused now (fenced), or undefined. */
  fenced: () => string | undefined;
  /** Slave: the master's HA address once it is safe to copy from it (undefined: not yet). */
  masterHaAddress: () => string | undefined;
  /** A member that has not caught up for this long leaves the in-sync set. */
  maxLagMs?: number;
}
