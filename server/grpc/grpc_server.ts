/**
 * The gRPC port (RocketMQ 5's proxy protocol, default 8081): gRPC over this package's own HTTP/2
 * server (`http2.ts`, h2c, or TLS with ALPN "h2") on the runtime's `Listen`, the messages coded
 * by the generated `@bufbuild/protobuf` schemas, serving `MessagingService`.
 *
 * A request that is not valid protobuf is answered INTERNAL ("Error deserializing request"), one
 * over the size limit RESOURCE_EXHAUSTED, an unknown method UNIMPLEMENTED, a call past its
 * `grpc-timeout` DEADLINE_EXCEEDED; a client's RST_STREAM cancels its call; bytes that are not
 * HTTP/2 end that connection only.
 *
 * @module
 */
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { FrameBudget } from "../../core/codec/frame.ts";
import type { Listen, Listener, TlsServerOptions } from "../../core/remoting/transport.ts";
import type { Log } from "../logger.ts";
import { MessagingService as MessagingServiceDesc } from "./gen/apache/rocketmq/v2/service_pb.ts";
import type { TelemetryCommand } from "./gen/apache/rocketmq/v2/service_pb.ts";
import { encodeHeaders } from "./hpack.ts";
import { ErrorCode, Http2ServerConnection, type Http2Stream, type StreamHandlers } from "./http2.ts";
import type { CallInfo, MessagingService, ResponseStream, TelemetryStream } from "./messaging_service.ts";

/** Options of `startGrpcServer`. */
export interface GrpcServerOptions {
  /** What answers the calls. */
  service: MessagingService;
  /** The runtime's listen adapter. */
  listen: Listen;
  /** Listen address. @default "0.0.0.0" */
  hostname?: string;
  /** Port; 0 picks a free one. @default 8081 */
  port?: number;
  /** Serve TLS (ALPN "h2") with this certificate and key (PEM); client certificates are not asked for. @default plaintext (h2c) */
  tls?: TlsServerOptions;
  /** Largest request message, bytes (a message body plus its properties fits). @default 4 MiB + 64 KiB */
  maxReceiveMessageLength?: number;
  /** Most calls open at once on one connection (past it a call is refused with REFUSED_STREAM). @default 100 */
  maxConcurrentStreams?: number;
  /** Most bytes held for one connection that does not read (its call is reset past it). @default 16 MiB */
  maxPendingOutput?: number;
  /**
   * A connection whose peer sent nothing for this long is sent a PING, and closed when nothing
   * arrives for as long again (a peer gone without a FIN); also how often connections are looked
   * at. 0: no keepalive. @default 30000
   */
  keepaliveMs?: number;
  /** A connection with no call open this long is sent GOAWAY (clients reconnect when they next call); 0: never. @default 120000 */
  idleTimeoutMs?: number;
  /**
   * Admits a new connection from its peer's address, or refuses it (undefined: it is closed at
   * once). The broker counts these with its remoting connections against `maxConnectionsPerIp`
   * and pays for their incomplete request messages from its connection guard's budget (per IP and
   * in all). @default every connection admitted, with no budget but the message size limit
   */
  admit?: (remoteAddress: string) => GrpcAdmission | undefined;
  /** Where log lines go. @default no logging */
  log?: Log;
}

/** An admitted connection: what pays for the request messages it is still receiving, and its end. */
export interface GrpcAdmission {
  /**
   * Reserved for each request message from its length prefix until it is handed over (or its call
   * ends); a refusal fails that call with RESOURCE_EXHAUSTED. @default no budget
   */
  budget?: FrameBudget;
  /** Called once the connection has closed. */
  closed(): void;
}

/** A running gRPC port. */
export interface GrpcServer {
  readonly hostname: string;
  readonly port: number;
  /** Stops taking calls; those under way get up to `graceMs` (then they are cut). */
  close(graceMs?: number): Promise<void>;
}

/** gRPC status codes. */
const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

const RESPONSE_HEADERS = encodeHeaders([[":status", "200"], ["content-type", "application/grpc"]]);
const OK_TRAILERS = encodeHeaders([["grpc-status", "0"]]);

const UTF8 = new TextEncoder();

/** A grpc-message value: percent-encoded outside printable ASCII, and "%" itself (the gRPC spec). */
function percentEncode(message: string): string {
  if (/^[\x20-\x24\x26-\x7e]*$/.test(message)) return message;
  let out = "";
  for (const c of message) {
    const code = c.codePointAt(0)!;
    if (code >= 0x20 && code <= 0x7e && code !== 0x25) out += c;
    else for (const b of UTF8.encode(c)) out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

function statusTrailers(code: number, message: string, trailersOnly: boolean): Uint8Array {
  const fields: [string, string][] = trailersOnly ? [[":status", "200"], ["content-type", "application/grpc"]] : [];
  fields.push(["grpc-status", String(code)], ["grpc-message", percentEncode(message)]);
  return encodeHeaders(fields);
}

/** A message with its 5-byte gRPC prefix (not compressed). */
function lengthPrefixed(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + bytes.length);
  out[1] = bytes.length >>> 24;
  out[2] = bytes.length >>> 16;
  out[3] = bytes.length >>> 8;
  out[4] = bytes.length;
  out.set(bytes, 5);
  return out;
}

const TIMEOUT_UNITS: Readonly<Record<string, number>> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/** The deadline a `grpc-timeout` header gives, ms; undefined when absent or malformed. */
function timeoutMs(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  return match === null ? undefined : Number(match[1]) * TIMEOUT_UNITS[match[2]!]!;
}

/** Calls with a deadline, checked by one timer every `DEADLINE_TICK_MS` rather than a timer each. */
class Deadlines {
  readonly #calls = new Map<Call, number>();
  #timer: ReturnType<typeof setInterval> | undefined;

  add(call: Call, at: number): void {
    this.#calls.set(call, at);
    this.#timer ??= setInterval(() => this.#check(), DEADLINE_TICK_MS);
  }

  delete(call: Call): void {
    this.#calls.delete(call);
  }

  #check(): void {
    if (this.#calls.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = Date.now();
    for (const [call, at] of this.#calls) if (at <= now) call.expire();
  }
}

const DEADLINE_TICK_MS = 50;

type Kind = "unary" | "server_streaming" | "bidi_streaming";

interface Method {
  input: DescMessage;
  output: DescMessage;
  kind: Kind;
  name: string;
}

/** One call on a stream: gRPC framing, its status, and its end. */
class Call {
  readonly #stream: Http2Stream;
  readonly #method: Method;
  readonly #maxMessage: number;
  readonly #budget: FrameBudget | undefined;
  /** Bytes reserved from the budget for messages received and not handed over yet. */
  #reserved = 0;
  /** Bytes of the message being received (its prefix first). */
  #buffer: Uint8Array | undefined;
  #filled = 0;
  #expected = -1;
  #prefix = new Uint8Array(5);
  #prefixFilled = 0;
  readonly #deadlines: Deadlines;
  /** Messages received, for unary and server-streaming calls (one expected). */
  readonly requests: Uint8Array[] = [];
  done = false;
  onMessage: ((bytes: Uint8Array) => void) | undefined;
  onHalfClose: (() => void) | undefined;
  onCancel: (() => void) | undefined;
  #gone: AbortController | undefined;
  #clientGone = false;

  constructor(stream: Http2Stream, method: Method, maxMessage: number, deadlines: Deadlines, deadlineMs: number | undefined, budget?: FrameBudget) {
    this.#stream = stream;
    this.#method = method;
    this.#maxMessage = maxMessage;
    this.#budget = budget;
    this.#deadlines = deadlines;
    if (deadlineMs !== undefined) deadlines.add(this, Date.now() + deadlineMs);
  }

  /** The call's deadline passed: DEADLINE_EXCEEDED, and the stream is reset. */
  expire(): void {
    this.fail(Status.DEADLINE_EXCEEDED, "Deadline exceeded");
    this.#stream.reset(ErrorCode.CANCEL);
  }

  get method(): Method {
    return this.#method;
  }

  /** Whether the call ended (answered, failed, or cancelled by the client). */
  get cancelled(): boolean {
    return this.done || this.#stream.closed;
  }

  /** Aborts when the client goes away (it reset the stream, or its connection closed). */
  get signal(): AbortSignal {
    if (this.#gone === undefined) {
      this.#gone = new AbortController();
      if (this.#clientGone) this.#gone.abort();
    }
    return this.#gone.signal;
  }

  readonly handlers: StreamHandlers = {
    data: (bytes) => this.#data(bytes),
    end: () => {
      if (this.done) return;
      if (this.#prefixFilled !== 0 || this.#buffer !== undefined) {
        this.fail(Status.INTERNAL, "Request stream ended inside a message");
        return;
      }
      this.onHalfClose?.();
    },
    reset: () => {
      this.#clientGone = true;
      this.#gone?.abort();
      this.#cancelled();
    },
  };

  #data(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length && !this.done) {
      if (this.#buffer === undefined) {
        const n = Math.min(5 - this.#prefixFilled, bytes.length - at);
        this.#prefix.set(bytes.subarray(at, at + n), this.#prefixFilled);
        this.#prefixFilled += n;
        at += n;
        if (this.#prefixFilled < 5) return;
        this.#prefixFilled = 0;
        const p = this.#prefix;
        if (p[0] !== 0) {
          this.fail(Status.UNIMPLEMENTED, "Compressed messages are not supported: send them uncompressed (identity)");
          return;
        }
        const length = ((p[1]! << 24) | (p[2]! << 16) | (p[3]! << 8) | p[4]!) >>> 0;
        if (length > this.#maxMessage) {
          this.fail(Status.RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs. ${this.#maxMessage})`);
          return;
        }
        if (this.#budget !== undefined) {
          try {
            this.#budget.reserve(length);
          } catch (error) {
            this.fail(Status.RESOURCE_EXHAUSTED, (error as Error).message);
            return;
          }
          this.#reserved += length;
        }
        this.#buffer = new Uint8Array(length);
        this.#filled = 0;
        this.#expected = length;
      }
      const n = Math.min(this.#expected - this.#filled, bytes.length - at);
      this.#buffer.set(bytes.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled === this.#expected) {
        const message = this.#buffer;
        this.#buffer = undefined;
        this.#message(message);
      }
    }
  }

  #message(bytes: Uint8Array): void {
    if (this.#method.kind === "bidi_streaming") {
      this.onMessage?.(bytes);
      this.release();
      return;
    }
    if (this.requests.length > 0) {
      this.fail(Status.UNIMPLEMENTED, `${this.#method.name} takes one request message, not a stream`);
      return;
    }
    this.requests.push(bytes);
  }

  /** Gives back the budget of the messages received so far: they were handed over. */
  release(): void {
    if (this.#reserved === 0) return;
    this.#budget!.release(this.#reserved);
    this.#reserved = 0;
  }

  #cancelled(): void {
    this.release();
    this.#deadlines.delete(this);
    if (this.done) return;
    this.done = true;
    this.onCancel?.();
  }

  /**
   * Decodes a request message.
   *
   * @returns The message, or undefined once the call failed INTERNAL.
   */
  decode(bytes: Uint8Array): unknown {
    try {
      return fromBinary(this.#method.input, bytes);
    } catch (error) {
      this.fail(Status.INTERNAL, `Error deserializing request: ${(error as Error).message}`);
      return undefined;
    }
  }

  /** Sends one response message. */
  write(message: unknown): void {
    if (this.cancelled) return;
    const bytes = lengthPrefixed(toBinary(this.#method.output, message as MessageShape<DescMessage>));
    if (!this.#stream.headersSent) this.#stream.headers(RESPONSE_HEADERS);
    this.#stream.data(bytes);
  }

  /** Ends the call with OK. */
  finish(): void {
    if (this.cancelled) return;
    this.#end();
    if (!this.#stream.headersSent) this.#stream.headers(statusTrailers(Status.OK, "", true), true);
    else this.#stream.trailers(OK_TRAILERS);
    this.#afterEnd();
  }

  /** Answers a unary call: headers, the message and trailers at once. */
  answer(message: unknown): void {
    if (this.cancelled) return;
    let bytes: Uint8Array;
    try {
      bytes = lengthPrefixed(toBinary(this.#method.output, message as MessageShape<DescMessage>));
    } catch (error) {
      this.fail(Status.INTERNAL, `Internal error: ${(error as Error).message}`);
      return;
    }
    this.#end();
    this.#stream.headers(RESPONSE_HEADERS);
    this.#stream.data(bytes);
    this.#stream.trailers(OK_TRAILERS);
    this.#afterEnd();
  }

  /** Ends the call with a status other than OK. */
  fail(code: number, message: string): void {
    if (this.cancelled) return;
    this.#end();
    if (!this.#stream.headersSent) this.#stream.headers(statusTrailers(code, message, true), true);
    else this.#stream.trailers(statusTrailers(code, message, false));
    this.#afterEnd();
    this.onCancel?.();
  }

  #end(): void {
    this.done = true;
    this.#deadlines.delete(this);
    this.#buffer = undefined;
    this.release();
  }

  /** A request the client still sends after the answer is not read (RST_STREAM NO_ERROR, RFC 9113 section 8.1). */
  #afterEnd(): void {
    if (!this.#stream.remoteEnded && !this.#stream.closed) this.#stream.reset(ErrorCode.NO_ERROR);
  }
}

/** The first value of a header, or undefined. */
function headerOf(headers: readonly [string, string][], name: string): string | undefined {
  for (let i = 0; i < headers.length; i++) if (headers[i]![0] === name) return headers[i]![1];
  return undefined;
}

function callInfo(headers: readonly [string, string][], peer: string): CallInfo {
  return {
    header: (name) => (name.endsWith("-bin") ? undefined : headerOf(headers, name)),
    peer,
  };
}

type Handler = (call: Call, request: unknown, info: CallInfo) => void;

/**
 * Binds the service to a gRPC server and starts listening.
 *
 * @param options The service, listen adapter, address, TLS and limits.
 * @returns The running server.
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const { service } = options;
  const log = options.log ?? (() => {});
  const maxMessage = options.maxReceiveMessageLength ?? 4 * 1024 * 1024 + 64 * 1024;
  const connections = new Set<Http2ServerConnection>();
  /** Open Telemetry calls: ended at close, since they last as long as their clients. */
  const telemetry = new Set<Call>();
  const deadlines = new Deadlines();
  const failed = (call: Call, error: unknown) => {
    log(`gRPC: ${call.method.name} failed: ${(error as Error)?.stack ?? error}`, "error");
    call.fail(Status.INTERNAL, `Internal error: ${error instanceof Error ? error.message : String(error)}`);
  };
  const unary = (fn: (request: never, info: CallInfo) => unknown): Handler => (call, request, info) => {
    let result: unknown;
    try {
      result = fn(request as never, info);
    } catch (error) {
      failed(call, error);
      return;
    }
    if (result instanceof Promise) result.then((response) => call.answer(response), (error) => failed(call, error));
    else call.answer(result);
  };
  const serverStream = (fn: (request: never, info: CallInfo, stream: ResponseStream<unknown>) => void | Promise<void>): Handler => (call, request, info) => {
    const stream: ResponseStream<unknown> = {
      write: (message) => call.write(message),
      end: () => call.finish(),
      get cancelled() {
        return call.cancelled;
      },
      get signal() {
        return call.signal;
      },
    };
    Promise.resolve().then(() => fn(request as never, info, stream)).catch((error) => failed(call, error));
  };
  const handlers: Record<string, Handler> = {
    QueryRoute: unary((r, c) => service.queryRoute(r, c)),
    Heartbeat: unary((r, c) => service.heartbeat(r, c)),
    SendMessage: unary((r, c) => service.sendMessage(r, c)),
    QueryAssignment: unary((r, c) => service.queryAssignment(r, c)),
    ReceiveMessage: serverStream((r, c, s) => service.receiveMessage(r, c, s as never)),
    AckMessage: unary((r, c) => service.ackMessage(r, c)),
    ForwardMessageToDeadLetterQueue: unary((r, c) => service.forwardMessageToDeadLetterQueue(r, c)),
    PullMessage: serverStream((r, c, s) => service.pullMessage(r, c, s as never)),
    UpdateOffset: unary((r, c) => service.updateOffset(r, c)),
    GetOffset: unary((r, c) => service.getOffset(r, c)),
    QueryOffset: unary((r, c) => service.queryOffset(r, c)),
    EndTransaction: unary((r, c) => service.endTransaction(r, c)),
    NotifyClientTermination: unary((r, c) => service.notifyClientTermination(r, c)),
    ChangeInvisibleDuration: unary((r, c) => service.changeInvisibleDuration(r, c)),
    RecallMessage: unary((r, c) => service.recallMessage(r, c)),
    SyncLiteSubscription: unary(() => service.syncLiteSubscription()),
  };
  const methods = new Map<string, Method & { handler: Handler | undefined }>();
  for (const method of MessagingServiceDesc.methods) {
    methods.set(`/${MessagingServiceDesc.typeName}/${method.name}`, {
      input: method.input,
      output: method.output,
      kind: method.methodKind as Kind,
      name: method.name,
      handler: handlers[method.name],
    });
  }

  const startTelemetry = (call: Call, info: CallInfo) => {
    telemetry.add(call);
    const commands: TelemetryCommand[] = [];
    let onCommand: ((command: TelemetryCommand) => void) | undefined;
    let onEnd: (() => void) | undefined;
    let ended = false;
    const finish = () => {
      telemetry.delete(call);
      if (ended) return;
      ended = true;
      onEnd?.();
    };
    call.onMessage = (bytes) => {
      const command = call.decode(bytes) as TelemetryCommand | undefined;
      if (command === undefined) return;
      if (onCommand === undefined) commands.push(command);
      else onCommand(command);
    };
    call.onHalfClose = finish;
    call.onCancel = finish;
    const stream: TelemetryStream = {
      write: (message) => call.write(message),
      end: () => {
        telemetry.delete(call);
        call.finish();
      },
      get cancelled() {
        return call.cancelled;
      },
      get signal() {
        return call.signal;
      },
      onCommand(command, end) {
        onCommand = command;
        onEnd = end;
        for (const c of commands.splice(0)) command(c);
        if (ended) end();
      },
    };
    service.telemetry(info, stream).catch((error) => failed(call, error));
  };

  const onStream = (stream: Http2Stream, list: { headers: [string, string][]; tooLarge: boolean; size: number }, budget: FrameBudget | undefined): StreamHandlers => {
    const headers = list.headers;
    const path = headerOf(headers, ":path") ?? "";
    const method = methods.get(path);
    const unknown: Method = { input: undefined as never, output: undefined as never, kind: "unary", name: path };
    const call = new Call(stream, method ?? unknown, maxMessage, deadlines, timeoutMs(headerOf(headers, "grpc-timeout")), budget);
    if (list.tooLarge) {
      call.fail(Status.RESOURCE_EXHAUSTED, `Header list of ${list.size} bytes exceeds the limit`);
      return call.handlers;
    }
    const contentType = headerOf(headers, "content-type") ?? "";
    if (headerOf(headers, ":method") !== "POST" || !contentType.startsWith("application/grpc")) {
      call.fail(Status.INTERNAL, `Not a gRPC request (method "${headerOf(headers, ":method")}", content type "${contentType}")`);
      return call.handlers;
    }
    if (method === undefined) {
      call.fail(Status.UNIMPLEMENTED, `Method "${path.slice(0, 200)}" is not implemented`);
      return call.handlers;
    }
    const info = callInfo(headers, stream.remoteAddress);
    if (method.kind === "bidi_streaming") {
      startTelemetry(call, info);
      return call.handlers;
    }
    const handler = method.handler!;
    call.onHalfClose = () => {
      const bytes = call.requests[0];
      if (bytes === undefined) {
        call.fail(Status.UNIMPLEMENTED, `${method.name} got no request message`);
        return;
      }
      const request = call.decode(bytes);
      call.release();
      if (request !== undefined) handler(call, request, info);
    };
    return call.handlers;
  };

  const hostname = options.hostname ?? "0.0.0.0";
  const tls = options.tls === undefined ? undefined : { cert: options.tls.cert, key: options.tls.key };
  const listener: Listener = await options.listen({
      hostname,
      port: options.port ?? 8081,
      ...(tls === undefined ? {} : { tls, alpnProtocols: ["h2"] }),
      onTlsError: (peer, error) => log(`gRPC: TLS handshake with ${peer} failed: ${error.message}`, "warn"),
    }, (transport) => {
      const admitted = options.admit === undefined ? {} as Partial<GrpcAdmission> : options.admit(transport.remoteAddress);
      const budget = admitted?.budget;
      const connection: Http2ServerConnection = new Http2ServerConnection(transport, {
        onStream: (stream, list) => onStream(stream, list, budget),
        ...(options.maxConcurrentStreams === undefined ? {} : { maxConcurrentStreams: options.maxConcurrentStreams }),
        ...(options.maxPendingOutput === undefined ? {} : { maxPendingOutput: options.maxPendingOutput }),
        connectionWindow: Math.max(8 * 1024 * 1024, 2 * maxMessage),
        onError: (message) => log(`gRPC: ${message}`, "warn"),
        onClose: () => {
          admitted?.closed?.();
          connections.delete(connection);
          if (connections.size === 0) allClosed?.();
        },
      });
      if (admitted === undefined) connection.close();
      else connections.add(connection);
      return connection.handlers;
    });
  const keepaliveMs = options.keepaliveMs ?? 30_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
  for (const [name, value] of [["keepaliveMs", keepaliveMs], ["idleTimeoutMs", idleTimeoutMs]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a whole number of ms, 0 or more (got ${value})`);
  }
  const lookEveryMs = keepaliveMs > 0 ? keepaliveMs : Math.max(1, Math.floor(idleTimeoutMs / 4));
  const looks = keepaliveMs > 0 || idleTimeoutMs > 0
    ? setInterval(() => {
      const now = Date.now();
      for (const connection of connections) connection.look(now, keepaliveMs > 0, idleTimeoutMs);
    }, lookEveryMs)
    : undefined;
  let closing: Promise<void> | undefined;
  let allClosed: (() => void) | undefined;
  return {
    hostname,
    port: listener.port,
    close(graceMs = 5000) {
      closing ??= (async () => {
        clearInterval(looks);
        await listener.close();
        for (const call of [...telemetry]) call.finish();
        telemetry.clear();
        if (connections.size > 0) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          const closed = new Promise<void>((resolve) => {
            allClosed = resolve;
            timer = setTimeout(resolve, graceMs);
          });
          for (const connection of [...connections]) connection.goAway();
          await closed;
          clearTimeout(timer);
        }
        for (const connection of [...connections]) connection.close();
        await service.close();
      })();
      return closing;
    },
  };
}
