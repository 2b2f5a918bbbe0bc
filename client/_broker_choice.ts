/**
 * Which member of a broker group a consumer reads from: the master, or — while the master is
 * missing from the route or failed to answer moments ago — the lowest-id slave that has not failed
 * (a slave holds the same queues at the same offsets; see docs/REPLICATION.md).
 *
 * @module
 */
import { ConnectionClosedError, RequestTimeoutError } from "../core/errors.ts";
import type { RouteCache } from "./route_cache.ts";

/** How long an address that failed at the connection level is passed over. */
export const BROKER_DOWN_MS = 5000;

/** Options of `BrokerChoice`. */
export interface BrokerChoiceOptions {
  /** How long a failed address is passed over. @default BROKER_DOWN_MS */
  downMs?: number;
  /** Clock in ms. @default Date.now */
  now?: () => number;
}

/** Picks read addresses from a route cache, remembering members that just failed. */
export class BrokerChoice {
  readonly #routes: Pick<RouteCache, "brokerMembers">;
  readonly #downMs: number;
  readonly #now: () => number;
  /** Address → when it may be tried first again. */
  readonly #down = new Map<string, number>();

  /**
   * @param routes Where group members come from (a `RouteCache`).
   * @param options How long failures count.
   */
  constructor(routes: Pick<RouteCache, "brokerMembers">, options: BrokerChoiceOptions = {}) {
    this.#routes = routes;
    this.#downMs = options.downMs ?? BROKER_DOWN_MS;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The address to read from.
   *
   * @param brokerName The broker group.
   * @returns The master unless it failed within `downMs` or is not in the route, else the first
   *   slave that did not fail, else the first member; undefined when no cached route names the group.
   */
  readAddress(brokerName: string): string | undefined {
    const members = this.#routes.brokerMembers(brokerName);
    const now = this.#now();
    for (const address of members) {
      const until = this.#down.get(address);
      if (until === undefined) return address;
      if (until <= now) {
        this.#down.delete(address);
        return address;
      }
    }
    return members[0];
  }

  /**
   * Notes how a request to an address ended: a connection failure or timeout passes the address
   * over for a while; anything else (an answer, even an error code) clears it.
   *
   * @param address Where the request went.
   * @param error What it threw, or undefined when it was answered.
   */
  observe(address: string, error?: unknown): void {
    if (error instanceof ConnectionClosedError || error instanceof RequestTimeoutError) {
      this.#down.set(address, this.#now() + this.#downMs);
    } else if (this.#down.size > 0) {
      this.#down.delete(address);
    }
  }
}
