/**
 * Queue locks for orderly consumption: within a consumer group, one client at a time consumes a
 * queue. Holders renew their locks periodically; a lock not renewed within `lockExpiryMs` may be
 * taken by another member.
 *
 * @module
 */
import type { Connection } from "../../core/remoting/connection.ts";

/** A queue as lock requests name it. */
export interface LockedQueue {
  topic: string;
  brokerName: string;
  queueId: number;
}

/** A client's lock or unlock request. */
export interface LockRequest {
  group: string;
  clientId: string;
  queues: readonly LockedQueue[];
  /** Access key of the account asking (ACL on): a lock is renewed or released only by its taker's account. */
  owner?: string;
}

/** Who holds a queue lock. */
export interface QueueLock {
  clientId: string;
  /** When it was taken or last renewed (ms since epoch). */
  lastUpdate: number;
}

interface Entry extends QueueLock {
  queue: LockedQueue;
  owner: string | undefined;
  /** The connection of the latest lock request; its close releases the lock. */
  connection: Connection | undefined;
}

/** Options of `QueueLockManager`. */
export interface QueueLockManagerOptions {
  /** A lock not renewed for this long can be taken by another client. @default 60000 */
  lockExpiryMs?: number;
  /** Clock (ms since epoch). @default Date.now */
  now?: () => number;
}

function keyOf(queue: LockedQueue): string {
  return `${queue.topic}@${queue.brokerName}@${queue.queueId}`;
}

/** Per group, which client holds which queue. */
export class QueueLockManager {
  readonly #groups = new Map<string, Map<string, Entry>>();
  readonly #expiryMs: number;
  readonly #now: () => number;

  /** @param options Expiry and clock. */
  constructor(options: QueueLockManagerOptions = {}) {
    this.#expiryMs = options.lockExpiryMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Locks queues for a client: each is granted when unlocked, already held by this client under
   * the same account (which renews it) or held by a lock that expired.
   *
   * @param request The consumer group, the client asking and the queues it wants.
   * @param connection The connection asking; when it closes, these locks are released.
   * @returns The queues the client now holds, in request order.
   */
  tryLockBatch(request: LockRequest, connection?: Connection): LockedQueue[] {
    const { group, clientId, queues, owner } = request;
    const now = this.#now();
    let locks = this.#groups.get(group);
    if (locks === undefined) this.#groups.set(group, (locks = new Map()));
    const granted: LockedQueue[] = [];
    for (const queue of queues) {
      const key = keyOf(queue);
      const lock = locks.get(key);
      if (lock === undefined || (lock.clientId === clientId && lock.owner === owner) || now - lock.lastUpdate > this.#expiryMs) {
        locks.set(key, { clientId, owner, lastUpdate: now, queue: { ...queue }, connection });
        granted.push(queue);
      }
    }
    if (locks.size === 0) this.#groups.delete(group);
    return granted;
  }

  /**
   * Releases the queues a client holds; queues held by others (or taken under another account)
   * are left alone.
   *
   * @param request The consumer group, the client and the queues to release.
   * @returns How many locks were released.
   */
  unlockBatch(request: LockRequest): number {
    const { group, clientId, queues, owner } = request;
    const locks = this.#groups.get(group);
    if (locks === undefined) return 0;
    let released = 0;
    for (const queue of queues) {
      const key = keyOf(queue);
      const lock = locks.get(key);
      if (lock !== undefined && lock.clientId === clientId && lock.owner === owner) {
        locks.delete(key);
        released++;
      }
    }
    if (locks.size === 0) this.#groups.delete(group);
    return released;
  }

  /**
   * Releases every lock a client holds in a group (it left the group).
   *
   * @param group The consumer group.
   * @param clientId The client.
   * @returns How many locks were released.
   */
  releaseClient(group: string, clientId: string): number {
    return this.#releaseWhere((g, lock) => g === group && lock.clientId === clientId);
  }

  /**
   * Releases the locks last taken or renewed over a connection that closed.
   *
   * @param connection The closed connection.
   * @returns How many locks were released.
   */
  connectionClosed(connection: Connection): number {
    return this.#releaseWhere((_, lock) => lock.connection === connection);
  }

  /**
   * @param group The consumer group.
   * @param queue The queue.
   * @returns Its current (unexpired) holder.
   */
  holder(group: string, queue: LockedQueue): QueueLock | undefined {
    const lock = this.#groups.get(group)?.get(keyOf(queue));
    if (lock === undefined || this.#now() - lock.lastUpdate > this.#expiryMs) return undefined;
    return { clientId: lock.clientId, lastUpdate: lock.lastUpdate };
  }

  /**
   * A group's unexpired locks, for admin views.
   *
   * @param group The consumer group.
   * @returns Each locked queue with its holder.
   */
  locks(group: string): (LockedQueue & QueueLock)[] {
    const now = this.#now();
    const result: (LockedQueue & QueueLock)[] = [];
    for (const lock of this.#groups.get(group)?.values() ?? []) {
      if (now - lock.lastUpdate <= this.#expiryMs) result.push({ ...lock.queue, clientId: lock.clientId, lastUpdate: lock.lastUpdate });
    }
    return result;
  }

  #releaseWhere(match: (group: string, lock: Entry) => boolean): number {
    let released = 0;
    for (const [group, locks] of [...this.#groups]) {
      for (const [key, lock] of [...locks]) {
        if (match(group, lock)) {
          locks.delete(key);
          released++;
        }
      }
      if (locks.size === 0) this.#groups.delete(group);
    }
    return released;
  }
}
