/**
 * Requests in flight per connection: a client that pipelines without bound is answered
 * SYSTEM_BUSY at once instead of piling work (and its memory) up in the broker.
 *
 * @module
 */
import { type Command, CommandFlag } from "../../core/protocol/command.ts";
import { ResponseCode } from "../../core/protocol/request_code.ts";
import type { Connection } from "../../core/remoting/connection.ts";

/** Default most requests being processed at once for one connection. */
export const DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION = 10_000;

/** Counts the requests each connection has being processed, and turns away those past the limit. */
export class InFlightLimit {
  /** The limit per connection. */
  readonly max: number;
  readonly #counts = new WeakMap<Connection, number>();
  #rejected = 0;

  /**
   * @param max Most requests in flight per connection.
   * @throws {RangeError} When `max` is not a positive integer.
   */
  constructor(max: number = DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION) {
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`Invalid maxInFlightPerConnection "${max}": expected an integer of at least 1`);
    this.max = max;
  }

  /** Requests turned away so far. */
  get rejected(): number {
    return this.#rejected;
  }

  /**
   * @param connection A connection.
   * @returns Its requests being processed now.
   */
  count(connection: Connection): number {
    return this.#counts.get(connection) ?? 0;
  }

  /**
   * Admits a request or answers it SYSTEM_BUSY. Oneway requests are always admitted: they cannot be
   * told to retry, and dropping them would lose messages silently; the sender's socket backpressure
   * bounds them instead.
   *
   * @param request The request.
   * @param connection The connection it came on.
   * @returns True when the caller may process it; `leave` must follow once it is answered.
   */
  admit(request: Command, connection: Connection): boolean {
    const count = this.#counts.get(connection) ?? 0;
    if (count >= this.max && (request.flags & CommandFlag.ONEWAY) === 0) {
      this.#rejected++;
      connection.respond(request, {
        code: ResponseCode.SYSTEM_BUSY,
        remark: `Too many requests in flight on this connection (limit ${this.max})`,
      });
      return false;
    }
    this.#counts.set(connection, count + 1);
    return true;
  }

  /**
   * Counts a request in without checking the limit (it was admitted before).
   *
   * @param connection The connection.
   */
  enter(connection: Connection): void {
    this.#counts.set(connection, (this.#counts.get(connection) ?? 0) + 1);
  }

  /**
   * Counts a request out.
   *
   * @param connection The connection it came on.
   */
  leave(connection: Connection): void {
    const count = this.#counts.get(connection) ?? 0;
    if (count <= 1) this.#counts.delete(connection);
    else this.#counts.set(connection, count - 1);
  }
}
