/**
 * A master's replication service (RocketMQ's `HAService`): the HA listener, the links of its
 * slaves, and — for a SYNC_MASTER — sends waiting until a slave acknowledged their records.
 *
 * @module
 */
import type { Listen, Listener, TlsServerOptions } from "../../core/remoting/transport.ts";
import type { MessageStore } from "../store/message_store.ts";
import type { Log, LogLevel } from "../logger.ts";
import type { HaMasterAuth } from "./ha_auth.ts";
import { type LinkHost, SlaveLink } from "./ha_slave_link.ts";

/** A slave lagging further than this (in bytes) does not count for SYNC_MASTER sends (RocketMQ's `haSlaveFallbehindMax`). */
export const SLAVE_FALL_BEHIND_MAX = 256 * 1024 * 1024;

/** Links still in their handshake at once, at most; more are closed at accept (each costs a timer and 1 KiB). */
export const MAX_PENDING_HANDSHAKES = 64;

/** Options of `HaMaster.start`. */
export interface HaMasterOptions {
  /** The runtime's listen adapter. */
  listen: Listen;
  /** Address to bind. */
  hostname: string;
  /** HA port; 0 picks a free one. */
  port: number;
  /** Serve the link over TLS with this identity. */
  tls?: TlsServerOptions;
  store: MessageStore;
  brokerName: string;
  /** The master's client address, told to slaves (they copy topics and offsets from it). */
  clientAddress: string;
  /** What slaves must prove (see `ha_auth.ts`). @default none: any peer may replicate */
  auth?: HaMasterAuth;
  log: Log;
}

/** One slave as admin views show it. */
export interface SlaveStatus {
  brokerId: number;
  /** The slave's address as the HA listener sees it. */
  address: string;
  /** The slave holds every CommitLog byte below this. */
  ackOffset: number;
  /** Bytes visible on the master that the slave has not acknowledged. */
  lagBytes: number;
  connectedAt: number;
}

/** How a SYNC_MASTER wait ended. */
export type SlaveWait = "ACKED" | "TIMEOUT" | "NO_SLAVE";

interface Waiter {
  offset: number;
  deadline: number;
  resolve(result: SlaveWait): void;
}

/** The HA listener and its slaves. */
export class HaMaster implements LinkHost {
  readonly store: MessageStore;
  readonly brokerName: string;
  readonly clientAddress: string;
  readonly auth: HaMasterAuth | undefined;
  readonly #log: Log;
  readonly #links = new Set<SlaveLink>();
  #listener: Listener | undefined;
  #waiters: Waiter[] = [];
  /** Controller mode: sends waiting for every in-sync replica, in offset order. */
  #allWaiters: Waiter[] = [];
  #members: (() => ReadonlySet<number>) | undefined;
  #confirmed = 0;
  #ackedMax = 0;
  #pumpQueued = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #lastBusyLog = 0;
  #lastTlsRefusalLog = 0;
  #tlsRefusals = 0;

  private constructor(options: HaMasterOptions) {
    this.store = options.store;
    this.brokerName = options.brokerName;
    this.clientAddress = options.clientAddress;
    this.auth = options.auth;
    this.#log = options.log;
  }

  /**
   * Starts listening for slaves.
   *
   * @param options Where to listen and what to serve.
   * @returns The running service.
   * @throws {Error} When the port cannot be bound.
   */
  static async start(options: HaMasterOptions): Promise<HaMaster> {
    const master = new HaMaster(options);
    master.#listener = await options.listen(
      {
        hostname: options.hostname,
        port: options.port,
        ...(options.tls === undefined ? {} : { tls: options.tls }),
        onTlsError: (remoteAddress, error) => master.#tlsRefused(remoteAddress, error, options.tls?.clientCa !== undefined),
      },
      (transport) => {
        const link = new SlaveLink(master, transport);
        if (master.#closed) link.close();
        else if (master.#pendingCount() >= MAX_PENDING_HANDSHAKES) {
          const now = Date.now();
          if (now - master.#lastBusyLog > 10_000) {
            master.#lastBusyLog = now;
            master.#log(`Replication peer ${transport.remoteAddress} refused: ${MAX_PENDING_HANDSHAKES} handshakes are already under way`, "warn");
          }
          link.close();
        } else master.#links.add(link);
        return link.handlers;
      },
    );
    master.#timer = setInterval(() => master.#tick(), 100);
    (master.#timer as { unref?: () => void }).unref?.();
    return master;
  }

  /** Logs a peer whose TLS handshake failed: the first at once, then at most one line per 10 s with a count. */
  #tlsRefused(remoteAddress: string, error: Error, mutual: boolean): void {
    this.#tlsRefusals++;
    const now = Date.now();
    if (now - this.#lastTlsRefusalLog < 10_000) return;
    const more = this.#tlsRefusals > 1 ? ` (${this.#tlsRefusals - 1} more since the last such line)` : "";
    this.#lastTlsRefusalLog = now;
    this.#tlsRefusals = 0;
    const hint = mutual ? ": a slave must present a certificate signed by tls.replicationClientCa (its tls.cert)" : "";
    this.#log(`Replication peer ${remoteAddress} refused: TLS handshake failed: ${error.message}${hint}${more}`, "warn");
  }

  #pendingCount(): number {
    let n = 0;
    for (const link of this.#links) if (link.pending) n++;
    return n;
  }

  /** The bound HA port. */
  get port(): number {
    return this.#listener?.port ?? 0;
  }

  log(line: string, level: LogLevel): void {
    this.#log(line, level);
  }

  /** New records became visible: every link sends them (once per tick, however many arrived). */
  notify(): void {
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      for (const link of this.#links) link.pump();
    });
  }

  linked(link: SlaveLink): void {
    // A slave that reconnects may leave a half-open link behind: the newer one wins.
    for (const other of this.#links) {
      if (other !== link && other.hello?.brokerId === link.hello?.brokerId) other.close();
    }
    this.acked(link);
  }

  acked(link: SlaveLink): void {
    if (this.#allWaiters.length > 0) this.reevaluate();
    if (link.ackOffset <= this.#ackedMax) return;
    this.#ackedMax = link.ackOffset;
    if (this.#waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if (waiter.offset < this.#ackedMax) waiter.resolve("ACKED");
      else still.push(waiter);
    }
    this.#waiters = still;
  }

  unlinked(link: SlaveLink): void {
    this.#links.delete(link);
    let max = 0;
    for (const other of this.#links) if (other.live && other.ackOffset > max) max = other.ackOffset;
    this.#ackedMax = max;
  }

  /**
   * SYNC_MASTER: waits until a slave holds the record starting at `offset` (slaves acknowledge
   * whole records, so an acknowledgement past the start covers the record).
   *
   * @param offset The record's CommitLog offset.
   * @param timeoutMs How long to wait.
   * @returns `ACKED`, `TIMEOUT`, or `NO_SLAVE` at once when no slave is connected or every one
   *   lags more than `SLAVE_FALL_BEHIND_MAX` bytes.
   */
  awaitSlave(offset: number, timeoutMs: number): Promise<SlaveWait> {
    if (this.#ackedMax > offset) return Promise.resolve("ACKED");
    let live = false;
    for (const link of this.#links) if (link.live) live = true;
    if (!live || offset - this.#ackedMax > SLAVE_FALL_BEHIND_MAX) return Promise.resolve("NO_SLAVE");
    return new Promise((resolve) => this.#waiters.push({ offset, deadline: Date.now() + timeoutMs, resolve }));
  }

  /**
   * The offset a replica acknowledged, over its live links.
   *
   * @param brokerId The replica.
   * @returns Its acknowledged CommitLog offset, or undefined when it has no live link.
   */
  ackOf(brokerId: number): number | undefined {
    let best: number | undefined;
    for (const link of this.#links) {
      if (link.live && link.hello?.brokerId === brokerId && (best === undefined || link.ackOffset > best)) best = link.ackOffset;
    }
    return best;
  }

  /**
   * Every offset below this is held by each replica counted at the time a send was answered
   * (controller mode); a replica joining the in-sync set must hold it.
   */
  get confirmedOffset(): number {
    return this.#confirmed;
  }

  /**
   * Controller mode: names the replicas every send waits for (the in-sync set without this
   * master), read afresh at every acknowledgement, so a replica added while a send waits counts
   * for it too.
   *
   * @param members The in-sync slaves.
   */
  setInSyncMembers(members: () => ReadonlySet<number>): void {
    this.#members = members;
  }

  /**
   * Controller mode: waits until every in-sync slave (`setInSyncMembers`) holds the record at
   * `offset`; at once when there is none.
   *
   * @param offset The record's CommitLog offset.
   * @param timeoutMs How long to wait.
   * @returns `ACKED` or `TIMEOUT`.
   */
  awaitInSync(offset: number, timeoutMs: number): Promise<SlaveWait> {
    return new Promise((resolve) => {
      this.#allWaiters.push({ offset, deadline: Date.now() + timeoutMs, resolve });
      this.reevaluate();
    });
  }

  /** Answers the sends every in-sync slave now holds (after an acknowledgement or a change of the set). */
  reevaluate(): void {
    if (this.#allWaiters.length === 0) return;
    let min = Number.MAX_SAFE_INTEGER;
    for (const id of this.#members?.() ?? []) min = Math.min(min, this.ackOf(id) ?? 0);
    const still: Waiter[] = [];
    for (const waiter of this.#allWaiters) {
      if (waiter.offset < min) {
        const covered = min === Number.MAX_SAFE_INTEGER ? this.store.stats.visibleOffset : min;
        if (covered > this.#confirmed) this.#confirmed = covered;
        waiter.resolve("ACKED");
      } else still.push(waiter);
    }
    this.#allWaiters = still;
  }

  /** Every accepted slave with its acknowledged offset and lag. */
  slaves(): SlaveStatus[] {
    const end = this.store.stats.visibleOffset;
    const out: SlaveStatus[] = [];
    for (const link of this.#links) {
      if (!link.live) continue;
      out.push({
        brokerId: link.hello!.brokerId,
        address: link.remoteAddress,
        ackOffset: link.ackOffset,
        lagBytes: Math.max(0, end - link.ackOffset),
        connectedAt: link.connectedAt,
      });
    }
    return out.sort((a, b) => a.brokerId - b.brokerId);
  }

  #tick(): void {
    const now = Date.now();
    if (this.#waiters.length > 0) {
      const still: Waiter[] = [];
      for (const waiter of this.#waiters) {
        if (waiter.deadline <= now) waiter.resolve("TIMEOUT");
        else still.push(waiter);
      }
      this.#waiters = still;
    }
    if (this.#allWaiters.length > 0) {
      this.reevaluate();
      this.#allWaiters = this.#allWaiters.filter((waiter) => {
        if (waiter.deadline > now) return true;
        waiter.resolve("TIMEOUT");
        return false;
      });
    }
    for (const link of this.#links) {
      link.heartbeat(now);
      link.pump();
    }
  }

  /** Stops listening, closes every link and ends every wait (`TIMEOUT`). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#listener?.close();
    for (const link of [...this.#links]) link.close();
    for (const waiter of this.#waiters.splice(0)) waiter.resolve("TIMEOUT");
    for (const waiter of this.#allWaiters.splice(0)) waiter.resolve("TIMEOUT");
  }
}
