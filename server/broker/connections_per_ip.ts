/**
 * Connections per client IP: one host cannot take every socket (and the memory behind each) of a
 * broker. Connections past the limit are closed as they arrive, with a log line.
 *
 * @module
 */

import { LogThrottle } from "../../core/remoting/log_throttle.ts";
import type { Log } from "../logger.ts";

/** Default most open connections from one IP address. */
export const DEFAULT_MAX_CONNECTIONS_PER_IP = 1000;

/** Options of `ConnectionsPerIp`. */
export interface ConnectionsPerIpOptions {
  /** Most open connections from one IP. @default DEFAULT_MAX_CONNECTIONS_PER_IP */
  max?: number;
  /** Where refusals are reported (at most once per IP every 10 s, with a count). */
  log?: Log;
  /** The clock. @default Date.now */
  now?: () => number;
}

/**
 * The IP part of `host:port` or `[v6]:port`.
 *
 * @param remoteAddress The peer address.
 * @returns The host without port or brackets.
 */
export function hostOf(remoteAddress: string): string {
  const colon = remoteAddress.lastIndexOf(":");
  let host = colon > 0 && /^\d+$/.test(remoteAddress.slice(colon + 1)) ? remoteAddress.slice(0, colon) : remoteAddress;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host.startsWith("::ffff:") && host.includes(".")) host = host.slice(7);
  return host;
}

/** Counts open connections by IP. */
export class ConnectionsPerIp {
  /** The limit per IP. */
  readonly max: number;
  readonly #open = new Map<string, number>();
  readonly #refusals: LogThrottle;

  /**
   * @param options Limit and log.
   * @throws {RangeError} When the limit is not a positive integer.
   */
  constructor(options: ConnectionsPerIpOptions = {}) {
    const max = options.max ?? DEFAULT_MAX_CONNECTIONS_PER_IP;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`Invalid maxConnectionsPerIp "${max}": expected an integer of at least 1`);
    this.max = max;
    const log = options.log;
    this.#refusals = new LogThrottle({ log: (line) => log?.(line, "warn"), now: options.now });
  }

  /**
   * @param ip An IP address.
   * @returns Its open connections.
   */
  count(ip: string): number {
    return this.#open.get(ip) ?? 0;
  }

  /**
   * Counts a new connection in, or refuses it (and logs) when its IP is at the limit.
   *
   * @param remoteAddress The peer as `host:port`.
   * @returns The IP to hand to `release` when the connection closes, or undefined when refused.
   */
  admit(remoteAddress: string): string | undefined {
    const ip = hostOf(remoteAddress);
    const open = this.#open.get(ip) ?? 0;
    if (open >= this.max) {
      this.#refusals.report(ip, (unlogged) => {
        const more = unlogged > 0 ? ` (${unlogged} more refused since the last report)` : "";
        return `Connection from ${ip} refused: it already has ${this.max} open connections (limit maxConnectionsPerIp)${more}`;
      });
      return undefined;
    }
    this.#open.set(ip, open + 1);
    return ip;
  }

  /**
   * Counts a connection out.
   *
   * @param ip What `admit` returned.
   */
  release(ip: string): void {
    const open = this.#open.get(ip) ?? 0;
    if (open <= 1) this.#open.delete(ip);
    else this.#open.set(ip, open - 1);
  }
}
