/**
 * Request/response over one transport: many requests in flight, answered in any order.
 *
 * @module
 */
import { CBOR_WRITER_KEPT_BYTES, CborWriter } from "../codec/cbor_encoder.ts";
import { DEFAULT_MAX_FRAME_SIZE, type FrameBudget } from "../codec/frame.ts";
import { type Command, CommandFlag, type Header } from "../protocol/command.ts";
import { ResponseCode } from "../protocol/request_code.ts";
import { ConnectionClosedError, LimitExceededError, ProtocolError, RequestTimeoutError } from "../errors.ts";
import type { Transport, TransportHandlers } from "./transport.ts";
import { nativeWire, type Wire, type WireFactory, type WireProtocol } from "./wire.ts";

/** Handles an incoming request. Answer it with `connection.respond(request, …)` (not for oneways). */
export type RequestHandler = (request: Command, connection: Connection) => void | Promise<void>;

/** Options of a `Connection`. */
export interface ConnectionOptions {
  /** Called for every incoming request; without one, requests get REQUEST_CODE_NOT_SUPPORTED. */
  onRequest?: RequestHandler;
  /** Called once when the connection closes. */
  onClose?: (connection: Connection, error?: Error) => void;
  /** Largest frame accepted. @default DEFAULT_MAX_FRAME_SIZE */
  maxFrameSize?: number;
  /**
   * The protocol on the wire; `detectProtocol(remotingWire)` lets a server's connection speak the
   * one its peer's first bytes show. @default nativeWire
   */
  wire?: WireFactory;
  /** Timeout of `request` when none is given. @default 3000 */
  requestTimeoutMs?: number;
  /** Pays for the buffers of incomplete frames; a refusal cuts the connection. @default none */
  frameBudget?: FrameBudget;
  /**
   * Cuts the connection when no whole frame arrived this long after `attach` (a peer that connects
   * and says nothing, or stalls a TLS handshake). @default none
   */
  handshakeTimeoutMs?: number;
  /**
   * Cuts the connection when a frame stays incomplete this long (a slow or stalled sender); looked
   * at every period, so a frame is cut within twice this. @default none
   */
  frameReadTimeoutMs?: number;
  /**
   * Cuts the connection when no frame arrived this long (a peer gone without closing, or one that
   * holds a connection and says nothing; RocketMQ's channel max idle). Looked at with the frame
   * timer, so only with `frameReadTimeoutMs`, and cut within this plus one period. @default none
   */
  idleTimeoutMs?: number;
}

interface Pending {
  resolve(command: Command): void;
  reject(error: Error): void;
  deadline: number;
  code: number;
}

const SWEEP_INTERVAL_MS = 20;
/** Bytes of frames that leave at once rather than at the end of the tick (half of what `CborWriter` keeps). */
const FLUSH_NOW_BYTES = CBOR_WRITER_KEPT_BYTES / 2;

/** Lets the process exit while the timer is pending (where the runtime supports it). */
function unrefTimer<T>(timer: T): T {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}
const MAX_ID = 0x7fffffff;

/**
 * One end of a remoting connection. Adapters feed it through `handlers`; writes made in the same
 * tick leave in one socket write.
 */
export class Connection {
  /** Pass these to the transport so incoming bytes and the close reach this connection. */
  readonly handlers: TransportHandlers;
  #wire: Wire;
  readonly #pending = new Map<number, Pending>();
  readonly #options: ConnectionOptions;
  #transport: Transport | undefined;
  #nextId = 1;
  /** Frames written this tick, sent together by `#flush`. */
  readonly #out = new CborWriter();
  #flushQueued = false;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  /** No pending request's deadline is earlier (some may be later: answered requests are not looked for). */
  #earliestDeadline = Infinity;
  #closed = false;
  #closeError: Error | undefined;
  #drainWaiters: { resolve(): void; reject(error: Error): void }[] = [];
  #handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  /** Looks every frameReadTimeoutMs for a frame that stayed incomplete since the last look. */
  #frameTimer: ReturnType<typeof setInterval> | undefined;
  /** Frames received so far, and as of the frame timer's last look. */
  #framesIn = 0;
  #framesAtLook = 0;
  /** Whether a frame was incomplete at the frame timer's last look. */
  #partialAtLook = false;
  /** Frame timer looks in a row that saw no frame arrive. */
  #quietLooks = 0;
  /** The resolving functions of the promise `request` is making, as `#capture` received them. */
  #resolve: ((command: Command) => void) | undefined;
  #reject: ((error: Error) => void) | undefined;
  readonly #capture = (resolve: (command: Command) => void, reject: (error: Error) => void): void => {
    this.#resolve = resolve;
    this.#reject = reject;
  };
  /** Free-form per-connection state for servers (client id, group, …). */
  readonly attributes: Map<string, unknown> = new Map();

  /** @param options Handlers and limits. */
  constructor(options: ConnectionOptions = {}) {
    this.#options = options;
    this.#wire = (options.wire ?? nativeWire)({ maxFrameSize: options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE, budget: options.frameBudget });
    this.handlers = {
      data: (chunk) => this.#receive(chunk),
      close: (error) => this.#onTransportClosed(error),
      drain: () => this.#onDrain(),
    };
  }

  /**
   * Attaches the transport that `handlers` were given to. Writes made before are sent now.
   *
   * @param transport The socket.
   */
  attach(transport: Transport): void {
    this.#transport = transport;
    if (this.#closed) {
      transport.close();
      return;
    }
    if (this.#out.length > 0) this.#scheduleFlush();
    const handshakeTimeoutMs = this.#options.handshakeTimeoutMs;
    if (handshakeTimeoutMs !== undefined) {
      this.#handshakeTimer = unrefTimer(setTimeout(() => {
        this.#cut(new LimitExceededError(
          "handshakeTimeoutMs",
          `No whole frame from ${this.remoteAddress || "peer"} within ${handshakeTimeoutMs} ms of connecting (limit handshakeTimeoutMs)`,
        ));
      }, handshakeTimeoutMs));
    }
    const frameReadTimeoutMs = this.#options.frameReadTimeoutMs;
    if (frameReadTimeoutMs !== undefined) this.#frameTimer = unrefTimer(setInterval(() => this.#lookAtFrame(frameReadTimeoutMs), frameReadTimeoutMs));
  }

  /** The peer as `host:port` ("" before attach). */
  get remoteAddress(): string {
    return this.#transport?.remoteAddress ?? "";
  }

  /** The protocol the peer speaks (undefined until its first bytes show it, on a detecting wire). */
  get protocol(): WireProtocol | undefined {
    return this.#wire.protocol;
  }

  /** Whether the connection has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Bytes waiting to leave (queued here plus buffered by the socket). */
  get bufferedAmount(): number {
    return this.#out.length + (this.#transport?.bufferedAmount ?? 0);
  }

  /**
   * Waits until fewer than `highWaterMark` bytes wait to leave, so a fast writer (oneway sends) cannot
   * pile up unbounded memory behind a slow socket.
   *
   * @param highWaterMark Bytes allowed to wait. @default 4 MiB
   * @returns Resolves when there is room.
   * @throws {ConnectionClosedError} When the connection closes first.
   */
  writable(highWaterMark = 4 * 1024 * 1024): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (this.bufferedAmount < highWaterMark) return Promise.resolve();
    return new Promise((resolve, reject) => this.#drainWaiters.push({ resolve, reject }));
  }

  /**
   * Sends a request and waits for its response (any response code).
   *
   * @param code The request code.
   * @param header The header fields.
   * @param body Optional payload.
   * @param timeoutMs How long to wait. @default options.requestTimeoutMs
   * @returns The response.
   * @throws {ConnectionClosedError} When the connection closes first.
   * @throws {RequestTimeoutError} When no answer comes in time.
   */
  request(code: number, header: Header, body?: Uint8Array, timeoutMs?: number): Promise<Command> {
    if (this.#closed) return Promise.reject(this.#closedError());
    const id = this.#nextId;
    this.#nextId = id >= MAX_ID ? 1 : id + 1;
    const deadline = Date.now() + (timeoutMs ?? this.#options.requestTimeoutMs ?? 3000);
    // One executor for every request (it runs before the constructor returns): no closure a request.
    const promise = new Promise<Command>(this.#capture);
    this.#pending.set(id, { resolve: this.#resolve!, reject: this.#reject!, deadline, code });
    this.#resolve = this.#reject = undefined;
    if (deadline < this.#earliestDeadline) this.#earliestDeadline = deadline;
    this.#send({ code, id, flags: 0, header, body });
    if (this.#sweeper === undefined) this.#startSweeper();
    return promise;
  }

  /**
   * Sends a request that gets no answer.
   *
   * @param code The request code.
   * @param header The header fields.
   * @param body Optional payload.
   */
  oneway(code: number, header: Header, body?: Uint8Array): void {
    if (this.#closed) return;
    const id = this.#nextId;
    this.#nextId = id >= MAX_ID ? 1 : id + 1;
    this.#send({ code, id, flags: CommandFlag.ONEWAY, header, body });
  }

  /**
   * Answers a request. Does nothing for oneway requests or after the connection closed.
   *
   * @param request The request being answered.
   * @param response The response code, header, body and remark.
   */
  respond(request: Command, response: { code: number; header?: Header; body?: Uint8Array; remark?: string }): void {
    if (this.#closed || (request.flags & CommandFlag.ONEWAY) !== 0) return;
    this.#send({
      code: response.code,
      id: request.id,
      flags: CommandFlag.RESPONSE,
      header: response.header ?? {},
      body: response.body,
      remark: response.remark,
    }, request);
  }

  /**
   * Closes the connection; every pending request fails with `ConnectionClosedError`.
   *
   * @param error Why, when it is a failure.
   */
  close(error?: Error): void {
    if (this.#closed) return;
    this.#flush();
    // Closed (with its reason) before the transport is: a transport may report its close at once, without one.
    this.#onTransportClosed(error);
    this.#transport?.close();
  }

  #send(command: Command, request?: Command): void {
    this.#wire.write(this.#out, command, request);
    // Past half the frame buffer's kept size, what it holds leaves now: frames of large pulls
    // written in one tick would grow it past what `CborWriter` keeps, to be let go at the flush.
    if (this.#out.length >= FLUSH_NOW_BYTES) this.#flush();
    else this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushQueued || this.#transport === undefined) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.#flush());
  }

  #flush(): void {
    this.#flushQueued = false;
    const transport = this.#transport;
    if (transport === undefined || this.#out.length === 0) return;
    if (transport.writeCopies === true) {
      transport.write(this.#out.written());
      this.#out.clear();
    } else {
      transport.write(this.#out.take());
    }
    if (this.#drainWaiters.length > 0 && transport.bufferedAmount === 0) this.#onDrain();
  }

  #onDrain(): void {
    const waiters = this.#drainWaiters;
    if (waiters.length === 0) return;
    this.#drainWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  }

  /** Closes at once, dropping what waits to leave: the peer broke a limit and gets no more of our time. */
  #cut(error: LimitExceededError): void {
    if (this.#closed) return;
    this.#onTransportClosed(error);
    const transport = this.#transport;
    if (transport?.abort !== undefined) transport.abort();
    else transport?.close();
  }

  /** @returns Whether nothing of `chunk` was kept (no command points into it: its bytes were copied), so it may be reused. */
  #receive(chunk: Uint8Array): boolean {
    if (this.#closed) return true;
    let commands: Command[];
    try {
      commands = this.#wire.push(chunk);
      const settled = this.#wire.settled;
      if (settled !== undefined) this.#wire = settled;
    } catch (cause) {
      if (cause instanceof LimitExceededError) {
        this.#cut(cause);
        return true;
      }
      const message = cause instanceof Error ? cause.message : String(cause);
      this.close(new ProtocolError(`Bad frame from ${this.remoteAddress || "peer"}: ${message}`, { cause }));
      return true;
    }
    this.#framesIn += commands.length;
    if (this.#handshakeTimer !== undefined && commands.length > 0) {
      clearTimeout(this.#handshakeTimer);
      this.#handshakeTimer = undefined;
    }
    for (const command of commands) {
      if ((command.flags & CommandFlag.RESPONSE) !== 0) this.#settle(command);
      else this.#dispatch(command);
    }
    return commands.length === 0 || this.#wire.viewedChunk === false;
  }

  #settle(response: Command): void {
    const pending = this.#pending.get(response.id);
    if (pending === undefined) return; // late answer to a request that timed out
    this.#pending.delete(response.id);
    pending.resolve(response);
  }

  #dispatch(request: Command): void {
    const handler = this.#options.onRequest;
    if (handler === undefined) {
      this.respond(request, { code: ResponseCode.REQUEST_CODE_NOT_SUPPORTED, remark: `Request code ${request.code} is not supported here` });
      return;
    }
    try {
      const result = handler(request, this);
      // No closure a request unless the handler answers with a promise (the broker's does not).
      if (result !== undefined) result.catch((error: unknown) => this.#failed(request, error));
    } catch (error) {
      this.#failed(request, error);
    }
  }

  /** Answers a request whose handler threw. */
  #failed(request: Command, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.respond(request, { code: ResponseCode.SYSTEM_ERROR, remark: `Request ${request.code} failed: ${message}` });
  }

  /**
   * Cuts the connection when a frame was incomplete at the last look and still is, with no frame
   * completed in between: it has been incomplete for a whole period (at most two, when cut).
   */
  #lookAtFrame(frameReadTimeoutMs: number): void {
    const partial = this.#wire.pendingBytes > 0;
    if (partial && this.#partialAtLook && this.#framesIn === this.#framesAtLook) {
      this.#cut(new LimitExceededError(
        "frameReadTimeoutMs",
        `A frame from ${this.remoteAddress || "peer"} stayed incomplete for over ${frameReadTimeoutMs} ms ` +
          `(${this.#wire.pendingBytes} bytes of it arrived; limit frameReadTimeoutMs)`,
      ));
      return;
    }
    const idleTimeoutMs = this.#options.idleTimeoutMs;
    if (idleTimeoutMs !== undefined) {
      this.#quietLooks = this.#framesIn === this.#framesAtLook && !partial ? this.#quietLooks + 1 : 0;
      if (this.#quietLooks * frameReadTimeoutMs >= idleTimeoutMs) {
        this.#cut(new LimitExceededError(
          "idleTimeoutMs",
          `No frame from ${this.remoteAddress || "peer"} for ${this.#quietLooks * frameReadTimeoutMs} ms (limit idleTimeoutMs)`,
        ));
        return;
      }
    }
    this.#partialAtLook = partial;
    this.#framesAtLook = this.#framesIn;
  }

  #startSweeper(): void {
    this.#sweeper = setInterval(() => {
      if (this.#pending.size === 0) {
        clearInterval(this.#sweeper);
        this.#sweeper = undefined;
        this.#earliestDeadline = Infinity;
        return;
      }
      const now = Date.now();
      // No request can be due before the earliest deadline seen: most sweeps look at none of them.
      if (now < this.#earliestDeadline) return;
      let earliest = Infinity;
      for (const [id, pending] of this.#pending) {
        if (pending.deadline <= now) {
          this.#pending.delete(id);
          pending.reject(new RequestTimeoutError(`Request ${pending.code} to ${this.remoteAddress || "peer"} timed out`));
        } else if (pending.deadline < earliest) earliest = pending.deadline;
      }
      this.#earliestDeadline = earliest;
    }, SWEEP_INTERVAL_MS);
    // Never keep a process alive just to time out requests.
    unrefTimer(this.#sweeper);
  }

  #closedError(): ConnectionClosedError {
    return new ConnectionClosedError(`Connection to ${this.remoteAddress || "peer"} is closed`, { cause: this.#closeError });
  }

  #onTransportClosed(error?: Error): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeError = error;
    if (this.#sweeper !== undefined) clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    clearTimeout(this.#handshakeTimer);
    clearInterval(this.#frameTimer);
    this.#handshakeTimer = this.#frameTimer = undefined;
    this.#wire.reset();
    const closedError = this.#closedError();
    for (const pending of this.#pending.values()) pending.reject(closedError);
    this.#pending.clear();
    for (const waiter of this.#drainWaiters) waiter.reject(closedError);
    this.#drainWaiters = [];
    this.#out.clear();
    this.#options.onClose?.(this, error);
  }
}

/** Options of `connect`. */
export interface ConnectOptions extends ConnectionOptions {
  /**
   * Gives up on a dial that has not connected this long (a host that drops packets, a server that
   * accepts TCP but never completes TLS): `connect` rejects, and the socket is closed should it
   * connect later. @default none: as long as the dial takes
   */
  connectTimeoutMs?: number;
}

/**
 * Opens a connection through a dialer.
 *
 * @param dial The runtime's dialer.
 * @param address The server as `host:port`.
 * @param options Handlers, limits and the connect timeout.
 * @returns The connected connection.
 * @throws {ConnectionClosedError} When the dial fails to connect within `connectTimeoutMs`.
 */
export async function connect(
  dial: (address: string, handlers: TransportHandlers) => Promise<Transport>,
  address: string,
  options: ConnectOptions = {},
): Promise<Connection> {
  const { connectTimeoutMs, ...connectionOptions } = options;
  const connection = new Connection(connectionOptions);
  const dialing = dial(address, connection.handlers);
  if (connectTimeoutMs === undefined) {
    connection.attach(await dialing);
    return connection;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  let timedOut = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      timedOut = true;
      reject(new ConnectionClosedError(`Cannot connect to ${address}: no answer within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
  });
  try {
    connection.attach(await Promise.race([dialing, timeout]));
    return connection;
  } catch (error) {
    if (timedOut) dialing.then((late) => (late.abort ?? late.close).call(late), () => {});
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
