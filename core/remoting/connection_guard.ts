/**
 * What a connection may cost a server before its peer is trusted: the buffers of its incomplete
 * frames (counted against a share per client IP and a total for the process) and the time it may
 * take to send its first frame and each frame after. Connections past a limit are cut, with a log
 * line (at most one per IP and limit every 10 s) and a count for metrics.
 *
 * A peer becomes trusted once it authenticates (a request passed the ACL's signature check); its
 * incomplete frames then count apart, against no share, so hostile unauthenticated connections
 * cannot starve it. Without ACL no peer is trusted.
 *
 * @module
 */
import type { FrameBudget } from "../codec/frame.ts";
import { LimitExceededError } from "../errors.ts";
import type { ConnectionOptions } from "./connection.ts";
import { LogThrottle } from "./log_throttle.ts";

/** Default most bytes all untrusted connections of a process may hold in incomplete frames: 256 MiB. */
export const DEFAULT_MAX_PENDING_FRAME_BYTES = 256 * 1024 * 1024;
/** Default most bytes the untrusted connections of one IP may hold in incomplete frames: 64 MiB. */
export const DEFAULT_MAX_PENDING_FRAME_BYTES_PER_IP = 64 * 1024 * 1024;
/** Default time a new connection has to deliver its first whole frame (TLS handshake included). */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Default time a frame may stay incomplete. */
export const DEFAULT_FRAME_READ_TIMEOUT_MS = 30_000;
/** A connection with no frame this long is cut (RocketMQ's serverChannelMaxIdleTimeSeconds, 120). */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/** The limits of a `ConnectionGuard`; servers take them among their options. */
export interface ConnectionLimits {
  /** Most bytes all untrusted connections together may hold in incomplete frames. @default DEFAULT_MAX_PENDING_FRAME_BYTES */
  maxPendingFrameBytes?: number;
  /** Most bytes the untrusted connections of one IP may hold in incomplete frames. @default DEFAULT_MAX_PENDING_FRAME_BYTES_PER_IP */
  maxPendingFrameBytesPerIp?: number;
  /** A connection with no whole frame this long after it opened is cut. @default DEFAULT_HANDSHAKE_TIMEOUT_MS */
  handshakeTimeoutMs?: number;
  /** A connection whose frame stays incomplete this long is cut (within twice this). @default DEFAULT_FRAME_READ_TIMEOUT_MS */
  frameReadTimeoutMs?: number;
  /** A connection with no frame this long is cut (within this plus frameReadTimeoutMs); 0: never. @default DEFAULT_IDLE_TIMEOUT_MS */
  idleTimeoutMs?: number;
}

/** Options of `ConnectionGuard`. */
export interface ConnectionGuardOptions extends ConnectionLimits {
  /** Where cuts are reported. @default no log */
  log?: (line: string) => void;
}

/**
 * A guard with the limits among a server's options.
 *
 * @param options The server's options (other keys are ignored).
 * @param log Where cuts are reported.
 * @returns The guard.
 */
export function connectionGuardOf(options: ConnectionLimits, log: (line: string) => void): ConnectionGuard {
  return new ConnectionGuard({
    maxPendingFrameBytes: options.maxPendingFrameBytes,
    maxPendingFrameBytesPerIp: options.maxPendingFrameBytesPerIp,
    handshakeTimeoutMs: options.handshakeTimeoutMs,
    frameReadTimeoutMs: options.frameReadTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    log,
  });
}

/** The limits of one connection. */
export interface GuardedConnection {
  /** Spread these into the connection's options. */
  readonly options: Pick<ConnectionOptions, "frameBudget" | "handshakeTimeoutMs" | "frameReadTimeoutMs" | "idleTimeoutMs">;
  /** The peer authenticated: its incomplete frames no longer count against the untrusted limits. */
  trust(): void;
  /**
   * Call from the connection's `onClose`: counts and reports a cut (at most one line per IP and
   * limit every 10 s).
   *
   * @param remoteAddress The peer as `host:port`.
   * @param error Why the connection closed.
   * @returns Whether a limit closed it.
   */
  closed(remoteAddress: string, error: Error | undefined): boolean;
}

/** What the untrusted connections of one IP hold, and how many connections share it. */
interface IpShare {
  bytes: number;
  connections: number;
}

/** Bytes held in incomplete frames. */
export interface PendingFrameBytes {
  /** By connections not authenticated (what the limits bound). */
  untrusted: number;
  /** By connections that authenticated. */
  trusted: number;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`Invalid ${name} "${value}": expected an integer of at least 1`);
  return value;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The limits on a server's connections before their peers are trusted; one for the whole server. */
export class ConnectionGuard {
  /** Most bytes all untrusted connections may hold in incomplete frames. */
  readonly maxPendingFrameBytes: number;
  /** Most bytes the untrusted connections of one IP may hold in incomplete frames. */
  readonly maxPendingFrameBytesPerIp: number;
  /** Time a new connection has for its first whole frame. */
  readonly handshakeTimeoutMs: number;
  /** Time a frame may stay incomplete. */
  readonly frameReadTimeoutMs: number;
  /** Time a connection may go without a frame; 0: no limit. */
  readonly idleTimeoutMs: number;
  #untrusted = 0;
  #trusted = 0;
  readonly #byIp = new Map<string, IpShare>();
  readonly #cuts = new Map<string, number>();
  readonly #reports: LogThrottle;

  /**
   * Creates a guard.
   *
   * @param options Limits and log.
   * @throws {RangeError} When a limit is not a positive integer.
   */
  constructor(options: ConnectionGuardOptions = {}) {
    this.maxPendingFrameBytes = positiveInteger("maxPendingFrameBytes", options.maxPendingFrameBytes ?? DEFAULT_MAX_PENDING_FRAME_BYTES);
    this.maxPendingFrameBytesPerIp = positiveInteger(
      "maxPendingFrameBytesPerIp",
      options.maxPendingFrameBytesPerIp ?? DEFAULT_MAX_PENDING_FRAME_BYTES_PER_IP,
    );
    this.handshakeTimeoutMs = positiveInteger("handshakeTimeoutMs", options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.frameReadTimeoutMs = positiveInteger("frameReadTimeoutMs", options.frameReadTimeoutMs ?? DEFAULT_FRAME_READ_TIMEOUT_MS);
    const idle = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.idleTimeoutMs = idle === 0 ? 0 : positiveInteger("idleTimeoutMs", idle);
    this.#reports = new LogThrottle({ log: options.log ?? (() => {}) });
  }

  /** Bytes now held in incomplete frames, by untrusted and trusted connections. */
  get pendingFrameBytes(): PendingFrameBytes {
    return { untrusted: this.#untrusted, trusted: this.#trusted };
  }

  /** Connections cut so far, by the limit they went past. */
  get cuts(): ReadonlyMap<string, number> {
    return this.#cuts;
  }

  /**
   * What one IP's untrusted connections hold.
   *
   * @param ip A client IP.
   * @returns Bytes its untrusted connections hold in incomplete frames.
   */
  pendingFrameBytesOf(ip: string): number {
    return this.#byIp.get(ip)?.bytes ?? 0;
  }

  /**
   * The limits of a new connection.
   *
   * @param ip The client's IP (its share of the budget).
   * @returns Options for its `Connection`, how to trust it and what to call when it closes.
   */
  open(ip: string): GuardedConnection {
    let share = this.#byIp.get(ip);
    if (share === undefined) this.#byIp.set(ip, share = { bytes: 0, connections: 0 });
    share.connections++;
    const ipShare = share;
    let reserved = 0;
    let trusted = false;
    let open = true;
    const frameBudget: FrameBudget = {
      reserve: (bytes) => {
        if (!trusted) {
          if (ipShare.bytes + bytes > this.maxPendingFrameBytesPerIp) {
            throw new LimitExceededError(
              "maxPendingFrameBytesPerIp",
              `Incomplete frames from ${ip} would hold ${mib(ipShare.bytes + bytes)}, past the ${mib(this.maxPendingFrameBytesPerIp)} ` +
                "allowed per IP (limit maxPendingFrameBytesPerIp)",
            );
          }
          if (this.#untrusted + bytes > this.maxPendingFrameBytes) {
            throw new LimitExceededError(
              "maxPendingFrameBytes",
              `Incomplete frames of unauthenticated connections would hold ${mib(this.#untrusted + bytes)}, past the ` +
                `${mib(this.maxPendingFrameBytes)} allowed in all (limit maxPendingFrameBytes)`,
            );
          }
          ipShare.bytes += bytes;
          this.#untrusted += bytes;
        } else {
          this.#trusted += bytes;
        }
        reserved += bytes;
      },
      release: (bytes) => {
        reserved -= bytes;
        if (trusted) {
          this.#trusted -= bytes;
        } else {
          ipShare.bytes -= bytes;
          this.#untrusted -= bytes;
        }
      },
    };
    return {
      options: {
        frameBudget,
        handshakeTimeoutMs: this.handshakeTimeoutMs,
        frameReadTimeoutMs: this.frameReadTimeoutMs,
        ...(this.idleTimeoutMs === 0 ? {} : { idleTimeoutMs: this.idleTimeoutMs }),
      },
      trust: () => {
        if (trusted) return;
        trusted = true;
        ipShare.bytes -= reserved;
        this.#untrusted -= reserved;
        this.#trusted += reserved;
      },
      closed: (remoteAddress, error) => {
        if (open) {
          open = false;
          if (--ipShare.connections === 0 && this.#byIp.get(ip) === ipShare) this.#byIp.delete(ip);
        }
        if (!(error instanceof LimitExceededError)) return false;
        this.#cuts.set(error.limit, (this.#cuts.get(error.limit) ?? 0) + 1);
        this.#reports.report(`${ip} ${error.limit}`, (unlogged) => {
          const more = unlogged > 0 ? ` (${unlogged} more from ${ip} cut by this limit since the last report)` : "";
          return `Connection ${remoteAddress} cut: ${error.message}${more}`;
        });
        return true;
      },
    };
  }
}
