/**
 * Producers as their heartbeats describe them: which clients are connected, over which connection,
 * and the producer groups each takes transaction check-backs for. The broker calls a producer back
 * over the connection its latest heartbeat came on: CHECK_TRANSACTION_STATE to a live member of a
 * half message's group, PUSH_REPLY_MESSAGE_TO_CLIENT to the requester of a reply.
 *
 * @module
 */
import type { Connection } from "../../core/remoting/connection.ts";
import type { Log } from "../logger.ts";

/** One producer client. */
export interface ProducerMember {
  readonly clientId: string;
  /** The connection its latest heartbeat came on. */
  connection: Connection;
  /** Access key of the account whose heartbeat registered it (ACL on); only it may act for the client. */
  owner: string | undefined;
  /** Producer groups it takes transaction check-backs for (empty: it only takes replies). */
  groups: readonly string[];
  /** e.g. `bun 1.3.0`. */
  runtime: string;
  /** `host:port` of that connection. */
  remoteAddress: string;
  /** When the latest heartbeat arrived (ms since epoch). */
  lastHeartbeat: number;
}

/** A producer as admin views show it. */
export type ProducerMemberInfo = Omit<ProducerMember, "connection" | "owner">;

/** Options of `ProducerManager`. */
export interface ProducerManagerOptions {
  /** A producer silent for longer is dropped. @default 120000 */
  clientExpiryMs?: number;
  /** How often silent producers are looked for. @default 10000, or clientExpiryMs when shorter */
  scanIntervalMs?: number;
  /** Where log lines go. @default no logging */
  log?: Log;
  /** Clock (ms since epoch). @default Date.now */
  now?: () => number;
}

/** Tracks producer clients from their heartbeats; expires silent ones and forgets closed connections. */
export class ProducerManager {
  readonly #clients = new Map<string, ProducerMember>();
  /** Round-robin position per group, so check-backs spread over its members. */
  readonly #turn = new Map<string, number>();
  readonly #expiryMs: number;
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #log: Log;
  readonly #now: () => number;

  /** @param options Expiry, log and clock. */
  constructor(options: ProducerManagerOptions = {}) {
    this.#expiryMs = options.clientExpiryMs ?? 120_000;
    this.#log = options.log ?? (() => {});
    this.#now = options.now ?? Date.now;
    this.#timer = setInterval(() => this.scanExpired(), options.scanIntervalMs ?? Math.min(10_000, this.#expiryMs));
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /**
   * Records a producer heartbeat.
   *
   * @param connection The connection it came on (callbacks go there).
   * @param heartbeat The client id, runtime and the producer groups it takes check-backs for.
   * @param owner The access key of the account that signed it (ACL on).
   */
  heartbeat(connection: Connection, heartbeat: { clientId: string; runtime: string; producerGroups: readonly string[] }, owner?: string): void {
    const existing = this.#clients.get(heartbeat.clientId);
    const groups = [...new Set(heartbeat.producerGroups)].sort();
    this.#clients.set(heartbeat.clientId, {
      clientId: heartbeat.clientId,
      connection,
      owner,
      groups,
      runtime: heartbeat.runtime,
      remoteAddress: connection.remoteAddress,
      lastHeartbeat: this.#now(),
    });
    if (existing === undefined) {
      const of = groups.length === 0 ? "" : ` of group${groups.length === 1 ? "" : "s"} ${groups.map((g) => `"${g}"`).join(", ")}`;
      this.#log(`Producer "${heartbeat.clientId}"${of} connected from ${connection.remoteAddress}`, "debug");
    }
  }

  /**
   * @param clientId A client id.
   * @returns The producer, if it is connected.
   */
  client(clientId: string): ProducerMember | undefined {
    const member = this.#clients.get(clientId);
    return member === undefined || member.connection.closed ? undefined : member;
  }

  /**
   * A live member of a producer group, a different one on each call while there are several.
   *
   * @param group The producer group.
   * @returns Its member, or undefined when none is connected.
   */
  pick(group: string): ProducerMember | undefined {
    const members = this.members(group);
    if (members.length === 0) return undefined;
    const turn = this.#turn.get(group) ?? 0;
    this.#turn.set(group, (turn + 1) % 0x40000000);
    return members[turn % members.length];
  }

  /**
   * @param group A producer group.
   * @returns Its connected members, sorted by client id.
   */
  members(group: string): ProducerMember[] {
    const found: ProducerMember[] = [];
    for (const member of this.#clients.values()) {
      if (!member.connection.closed && member.groups.includes(group)) found.push(member);
    }
    return found.sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  }

  /** Every connected producer, sorted by client id, for admin views. */
  all(): ProducerMemberInfo[] {
    return [...this.#clients.values()]
      .filter((m) => !m.connection.closed)
      .sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0))
      .map(({ connection: _, owner: _owner, ...info }) => info);
  }

  /**
   * Forgets a producer (UNREGISTER_CLIENT).
   *
   * @param clientId The client.
   * @returns Whether it was known.
   */
  unregister(clientId: string): boolean {
    return this.#remove(clientId, "unregistered");
  }

  /**
   * Forgets the producers whose latest heartbeat came on a connection that closed.
   *
   * @param connection The closed connection.
   */
  connectionClosed(connection: Connection): void {
    for (const member of [...this.#clients.values()]) {
      if (member.connection === connection) this.#remove(member.clientId, "connection closed");
    }
  }

  /**
   * Drops producers silent for longer than `clientExpiryMs` (runs on a timer too).
   *
   * @returns How many were dropped.
   */
  scanExpired(): number {
    const oldest = this.#now() - this.#expiryMs;
    let dropped = 0;
    for (const member of [...this.#clients.values()]) {
      if (member.lastHeartbeat < oldest && this.#remove(member.clientId, "expired")) dropped++;
    }
    return dropped;
  }

  /** Stops the expiry timer. */
  shutdown(): void {
    clearInterval(this.#timer);
  }

  #remove(clientId: string, reason: string): boolean {
    if (!this.#clients.delete(clientId)) return false;
    this.#log(`Producer "${clientId}" left (${reason})`, "debug");
    return true;
  }
}
