/**
 * A master's in-sync replica set in controller mode (RocketMQ 5's `syncStateSet`): a slave joins
 * once it holds everything the master acknowledged, and leaves once it has not caught up for
 * `maxLagMs` (or its link is down that long). Every change goes through the controller (a
 * compare-and-swap on the master's epoch) and takes effect here in the order that keeps
 * acknowledged sends safe: a joining slave counts for sends before the controller records it; a
 * leaving one stops counting only after the controller recorded its leaving. So every member of the
 * set etcd holds has every message acknowledged `SEND_OK`. See docs/REPLICATION.md.
 *
 * @module
 */
import type { HaMaster } from "./ha_master.ts";
import type { Log } from "../logger.ts";

/** Options of `InSyncReplicas`. */
export interface InSyncReplicasOptions {
  /** The master's replication service (its slaves' acknowledgements). */
  master: HaMaster;
  /** This master's replica id. */
  selfId: number;
  /** The in-sync set the controller holds now. */
  initial: readonly number[];
  /** The version of that state (etcd's revision of it). */
  version: number;
  /**
   * Asks the controller to record a new set.
   *
   * @returns The set it recorded with the state's new version, or undefined when it refused or
   *   could not be reached (the next heartbeat's answer tells what it holds).
   */
  alter: (isr: number[]) => Promise<{ isr: readonly number[]; version: number } | undefined>;
  /** Sends wait for the in-sync slaves (SYNC_MASTER); otherwise the set only decides who may be elected. */
  sync: boolean;
  /** A member that has not caught up for this long leaves the set. @default 3000 */
  maxLagMs?: number;
  /** How often members are checked. @default 250 */
  intervalMs?: number;
  log: Log;
}

/** The in-sync set, kept with the controller. */
export class InSyncReplicas {
  readonly #o: InSyncReplicasOptions;
  /** What the controller holds. */
  #committed: Set<number>;
  /** Slaves that count for sends: the committed set and joins under way, without this master. */
  readonly #counted = new Set<number>();
  readonly #caughtUpAt = new Map<number, number>();
  #previousEnd = 0;
  #version: number;
  #altering = false;
  readonly #timer: ReturnType<typeof setInterval>;

  /** @param options The master, the first set and how to change it. */
  constructor(options: InSyncReplicasOptions) {
    this.#o = options;
    this.#committed = new Set(options.initial);
    this.#version = options.version;
    const now = Date.now();
    for (const id of options.initial) {
      if (id === options.selfId) continue;
      this.#counted.add(id);
      this.#caughtUpAt.set(id, now);
    }
    this.#previousEnd = options.master.store.stats.visibleOffset;
    options.master.setInSyncMembers(() => this.#counted);
    this.#timer = setInterval(() => void this.#tick(), options.intervalMs ?? 250);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** The set the controller holds, this master first. */
  get members(): number[] {
    return [...this.#committed].sort((a, b) => (a === this.#o.selfId ? -1 : b === this.#o.selfId ? 1 : a - b));
  }

  /**
   * The controller's set, as a heartbeat answered it (a slave that left stops counting; one the
   * controller added counts).
   *
   * @param isr The set.
   * @param version The state's version; an answer older than what is known changes nothing.
   */
  update(isr: readonly number[], version: number): void {
    if (this.#altering || version < this.#version) return;
    this.#version = version;
    this.#committed = new Set(isr);
    for (const id of isr) if (id !== this.#o.selfId && !this.#counted.has(id)) this.#counted.add(id);
    for (const id of [...this.#counted]) if (!this.#committed.has(id)) this.#counted.delete(id);
    this.#o.master.reevaluate();
  }

  async #tick(): Promise<void> {
    if (this.#altering) return;
    const master = this.#o.master;
    const now = Date.now();
    const end = master.store.stats.visibleOffset;
    for (const slave of master.slaves()) {
      if (slave.ackOffset >= this.#previousEnd) this.#caughtUpAt.set(slave.brokerId, now);
    }
    this.#previousEnd = end;
    const maxLag = this.#o.maxLagMs ?? 3000;
    for (const id of this.#counted) {
      if (!this.#committed.has(id)) continue;
      if (now - (this.#caughtUpAt.get(id) ?? 0) > maxLag) {
        const ack = master.ackOf(id);
        await this.#change([...this.#committed].filter((m) => m !== id), `replica ${id} left the in-sync set: ${ack === undefined ? "its link is down" : `at ${ack}, ${end - ack} bytes behind`} for more than ${maxLag} ms`);
        return;
      }
    }
    for (const slave of master.slaves()) {
      const id = slave.brokerId;
      if (this.#committed.has(id) || id === this.#o.selfId) continue;
      // It must hold every acknowledged send (and have caught up lately): then it counts from now on.
      const holdsAcknowledged = this.#o.sync ? slave.ackOffset >= master.confirmedOffset : true;
      if (holdsAcknowledged && slave.ackOffset >= this.#previousEnd - (end - this.#previousEnd) && now - (this.#caughtUpAt.get(id) ?? 0) < 1000) {
        this.#counted.add(id);
        // Unrecorded, it keeps counting until a heartbeat's answer says the controller does not hold it.
        await this.#change([...this.#committed, id], `replica ${id} joined the in-sync set at ${slave.ackOffset}`);
        return;
      }
    }
  }

  async #change(isr: number[], why: string): Promise<void> {
    this.#altering = true;
    try {
      const recorded = await this.#o.alter(isr);
      if (recorded === undefined) return;
      this.#version = Math.max(this.#version, recorded.version);
      this.#committed = new Set(recorded.isr);
      for (const id of [...this.#counted]) if (!this.#committed.has(id)) this.#counted.delete(id);
      this.#o.log(`In-sync set ${JSON.stringify(this.members)}: ${why}`, "info");
      this.#o.master.reevaluate();
    } finally {
      this.#altering = false;
    }
  }

  /** Stops checking. */
  close(): void {
    clearInterval(this.#timer);
  }
}
