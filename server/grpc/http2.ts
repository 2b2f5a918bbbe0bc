/**
 * The server side of an HTTP/2 connection (RFC 9113) on a `Transport`: the connection preface,
 * SETTINGS, HEADERS with CONTINUATION (HPACK-decoded), DATA with padding, flow control both ways,
 * PING, RST_STREAM and GOAWAY. Streams are handed to the caller with their headers; what they send
 * back is framed here and written once per event-loop turn.
 *
 * What an unauthenticated peer can cost is bounded: frame size, header block and header list
 * size, concurrent streams (past the limit REFUSED_STREAM), and output held for a peer that does
 * not read or grants no window (its stream is reset; a socket that takes nothing closes). A
 * protocol error ends that connection only, with GOAWAY.
 *
 * @module
 */
import type { Transport, TransportHandlers } from "../../core/remoting/transport.ts";
import { type HeaderList, HpackDecoder, HpackError } from "./hpack.ts";

/** Frame types (RFC 9113 section 6). */
export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

/** Frame flags. */
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** Error codes (RFC 9113 section 7). */
export const ErrorCode = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  SETTINGS_TIMEOUT: 4,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  ENHANCE_YOUR_CALM: 11,
} as const;

/** SETTINGS parameters. */
export const Setting = {
  HEADER_TABLE_SIZE: 1,
  ENABLE_PUSH: 2,
  MAX_CONCURRENT_STREAMS: 3,
  INITIAL_WINDOW_SIZE: 4,
  MAX_FRAME_SIZE: 5,
  MAX_HEADER_LIST_SIZE: 6,
} as const;

/** The client connection preface (RFC 9113 section 3.4). */
export const PREFACE: Uint8Array = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

const MAX_WINDOW = 2 ** 31 - 1;
const DEFAULT_WINDOW = 65535;
const MIN_FRAME_SIZE = 16384;
/** Most CONTINUATION frames one header block may take (empty ones would cost time and no bytes). */
const MAX_CONTINUATIONS = 64;

/**
 * Builds one frame.
 *
 * @param type Frame type.
 * @param flags Flags.
 * @param streamId Stream id.
 * @param payload Payload.
 * @returns The frame's bytes.
 */
export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(9 + payload.length);
  writeFrameHeader(out, 0, payload.length, type, flags, streamId);
  out.set(payload, 9);
  return out;
}

function writeFrameHeader(out: Uint8Array, at: number, length: number, type: number, flags: number, streamId: number): void {
  out[at] = length >>> 16;
  out[at + 1] = length >>> 8;
  out[at + 2] = length;
  out[at + 3] = type;
  out[at + 4] = flags;
  out[at + 5] = streamId >>> 24;
  out[at + 6] = streamId >>> 16;
  out[at + 7] = streamId >>> 8;
  out[at + 8] = streamId;
}

function u32(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

/** What the connection calls on a stream's events. */
export interface StreamHandlers {
  /** A DATA payload (padding removed); the bytes are valid only during the call. */
  data(bytes: Uint8Array): void;
  /** The peer ended its side (END_STREAM), after its last data. */
  end(): void;
  /** The stream was reset (by the peer, by the connection closing, or for output it would not take). Called once. */
  reset(code: number): void;
}

/** Options of `Http2ServerConnection`. */
export interface Http2ConnectionOptions {
  /** Called for each new stream with its request headers; returns its handlers. */
  onStream(stream: Http2Stream, headers: HeaderList): StreamHandlers;
  /** Most streams open at once (SETTINGS_MAX_CONCURRENT_STREAMS). @default 100 */
  maxConcurrentStreams?: number;
  /** Largest header list (SETTINGS_MAX_HEADER_LIST_SIZE); a stream over it is still handed over, marked `tooLarge`. @default 16384 */
  maxHeaderListSize?: number;
  /** Each stream's receive window (SETTINGS_INITIAL_WINDOW_SIZE). @default 1 MiB */
  streamWindow?: number;
  /** The connection's receive window. @default 8 MiB */
  connectionWindow?: number;
  /**
   * Most bytes held for this peer (waiting for its flow-control window or in the socket's buffer);
   * a stream whose output would pass it is reset (ENHANCE_YOUR_CALM), and a socket holding more
   * than this alone is closed. @default 16 MiB
   */
  maxPendingOutput?: number;
  /** A connection that has not sent its preface this long after it opened is closed. @default 10000 */
  prefaceTimeoutMs?: number;
  /** Told of each connection error (the connection is closed after a GOAWAY). @default nothing */
  onError?: (message: string) => void;
  /** Told once the connection closed. @default nothing */
  onClose?: () => void;
}

type Output = { data: Uint8Array; offset: number; end: boolean } | { trailers: Uint8Array };

/** One stream of a connection, as the server answers it. */
export class Http2Stream {
  /** The stream id. */
  readonly id: number;
  /** @internal */ handlers: StreamHandlers | undefined;
  /** @internal */ sendWindow: number;
  /** @internal */ recvWindow: number;
  /** @internal */ recvConsumed = 0;
  /** @internal */ remoteEnded = false;
  /** @internal */ localEnded = false;
  /** @internal */ headersSent = false;
  /** @internal */ queue: Output[] = [];
  /** True once the stream is closed or reset: nothing more is sent. */
  closed = false;
  readonly #connection: Http2ServerConnection;

  /** @internal */
  constructor(connection: Http2ServerConnection, id: number, sendWindow: number, recvWindow: number) {
    this.#connection = connection;
    this.id = id;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** The peer's address. */
  get remoteAddress(): string {
    return this.#connection.remoteAddress;
  }

  /**
   * Sends the response headers (a HEADERS frame).
   *
   * @param block The HPACK-coded headers.
   * @param endStream Also end the stream (a trailers-only answer).
   */
  headers(block: Uint8Array, endStream = false): void {
    if (this.closed || this.localEnded) return;
    this.headersSent = true;
    this.#connection.sendHeaders(this, block, endStream);
  }

  /**
   * Sends data, as the peer's flow-control window allows (the rest waits for its WINDOW_UPDATE).
   *
   * @param bytes The data (kept until sent: not to be changed).
   * @param endStream End the stream after it.
   */
  data(bytes: Uint8Array, endStream = false): void {
    if (this.closed || this.localEnded) return;
    this.#connection.sendData(this, bytes, endStream);
  }

  /**
   * Ends the stream with trailers, after the data sent before them.
   *
   * @param block The HPACK-coded trailers.
   */
  trailers(block: Uint8Array): void {
    if (this.closed || this.localEnded) return;
    this.#connection.sendTrailers(this, block);
  }

  /**
   * Resets the stream (RST_STREAM).
   *
   * @param code The error code.
   */
  reset(code: number = ErrorCode.CANCEL): void {
    if (this.closed) return;
    this.#connection.resetStream(this, code, true);
  }
}

/** The server side of one HTTP/2 connection: give `handlers` to the transport's listener. */
export class Http2ServerConnection {
  /** What the transport calls. */
  readonly handlers: TransportHandlers;
  readonly #transport: Transport;
  readonly #options: Http2ConnectionOptions;
  readonly #decoder: HpackDecoder;
  readonly #streams = new Map<number, Http2Stream>();
  readonly #maxStreams: number;
  readonly #streamWindow: number;
  readonly #connectionWindow: number;
  readonly #maxPending: number;
  readonly #maxHeaderBlock: number;
  /** Bytes of a frame not complete yet (a copy). */
  #input: Uint8Array | undefined;
  #prefaceLeft = PREFACE.length;
  #settingsSeen = false;
  #lastStreamId = 0;
  /** The stream whose header block continues in CONTINUATION frames, its flags and fragments. */
  #continuing: { id: number; flags: number; fragments: Uint8Array[]; size: number } | undefined;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = MIN_FRAME_SIZE;
  #sendWindow = DEFAULT_WINDOW;
  #recvWindow: number;
  #recvConsumed = 0;
  #pending = 0;
  /** Streams with output waiting for window, in the order they blocked. */
  readonly #blocked = new Set<Http2Stream>();
  #out = new Uint8Array(16384);
  #outLength = 0;
  #flushScheduled = false;
  #goingAway = false;
  #closed = false;
  #prefaceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bytes arrived since the last liveness look. */
  #heard = true;
  /** A keepalive PING went out at the last look and nothing has arrived since. */
  #pinged = false;
  /** When the last stream ended (or the connection opened), while none is open. */
  #idleSince: number | undefined;
  /** GOAWAY went out for idleness: the transport closes at the next look unless a stream is open. */
  #idleGoAway = false;

  /**
   * @param transport The socket.
   * @param options Stream callback and limits.
   */
  constructor(transport: Transport, options: Http2ConnectionOptions) {
    this.#transport = transport;
    this.#options = options;
    this.#maxStreams = options.maxConcurrentStreams ?? 100;
    const maxList = options.maxHeaderListSize ?? 16384;
    this.#maxHeaderBlock = 2 * maxList + 4096;
    this.#decoder = new HpackDecoder({ maxHeaderListSize: maxList });
    this.#streamWindow = options.streamWindow ?? 1024 * 1024;
    this.#connectionWindow = options.connectionWindow ?? 8 * 1024 * 1024;
    this.#recvWindow = this.#connectionWindow;
    this.#maxPending = options.maxPendingOutput ?? 16 * 1024 * 1024;
    const settings = new Uint8Array(24);
    const view = new DataView(settings.buffer);
    [[Setting.MAX_CONCURRENT_STREAMS, this.#maxStreams], [Setting.INITIAL_WINDOW_SIZE, this.#streamWindow], [Setting.MAX_HEADER_LIST_SIZE, maxList], [
      Setting.ENABLE_PUSH,
      0,
    ]].forEach(([id, value], i) => {
      view.setUint16(i * 6, id!);
      view.setUint32(i * 6 + 2, value!);
    });
    this.#frame(FrameType.SETTINGS, 0, 0, settings);
    if (this.#connectionWindow > DEFAULT_WINDOW) this.#windowUpdate(0, this.#connectionWindow - DEFAULT_WINDOW);
    this.#prefaceTimer = setTimeout(() => {
      if (!this.#settingsSeen) this.#connectionError(ErrorCode.PROTOCOL_ERROR, "No HTTP/2 connection preface was received in time");
    }, options.prefaceTimeoutMs ?? 10_000);
    this.handlers = {
      data: (chunk) => {
        this.#heard = true;
        this.#receive(chunk);
        return true;
      },
      close: () => this.#onClosed(),
    };
  }

  /** The peer's address. */
  get remoteAddress(): string {
    return this.#transport.remoteAddress;
  }

  /** Streams open now. */
  get streamCount(): number {
    return this.#streams.size;
  }

  /**
   * One look at the peer, made by the server every keepalive period for each connection. A peer
   * that sent nothing since the last look is sent a PING; one that answered nothing by the next
   * look is taken for gone (a crashed host or a cut path sends no FIN) and the connection closes.
   * A connection with no stream open for `idleMs` is sent GOAWAY, and closed at the next look if
   * no stream is open then (a call that crossed the GOAWAY is refused with REFUSED_STREAM, which
   * clients retry on a new connection).
   *
   * @param now The clock, ms.
   * @param keepalive Whether silent peers are pinged (and cut when they stay silent).
   * @param idleMs Most time with no stream open; 0: no limit.
   */
  look(now: number, keepalive: boolean, idleMs: number): void {
    if (this.#closed) return;
    if (this.#heard) {
      this.#heard = false;
      this.#pinged = false;
    } else if (keepalive && this.#settingsSeen) {
      if (this.#pinged) {
        this.#options.onError?.(`HTTP/2 connection from ${this.remoteAddress} closed: no answer to a keepalive PING`);
        this.#abort();
        return;
      }
      this.#pinged = true;
      this.#frame(FrameType.PING, 0, 0, new Uint8Array(8));
    }
    if (idleMs <= 0) return;
    if (this.#streams.size > 0 || this.#continuing !== undefined) {
      this.#idleSince = undefined;
      return;
    }
    if (this.#idleGoAway) {
      this.#closeTransport();
      return;
    }
    this.#idleSince ??= now;
    if (now - this.#idleSince >= idleMs && !this.#goingAway) {
      this.#idleGoAway = true;
      this.#goingAway = true;
      this.#goAwayFrame(ErrorCode.NO_ERROR, "idle");
    }
  }

  /**
   * Stops taking new streams (GOAWAY with NO_ERROR); the connection closes once its streams end.
   */
  goAway(): void {
    if (this.#closed || this.#goingAway) return;
    this.#goingAway = true;
    this.#goAwayFrame(ErrorCode.NO_ERROR, "");
    if (this.#streams.size === 0) this.#closeTransport();
  }

  /** Closes the connection now, resetting its streams. */
  close(): void {
    if (this.#closed) return;
    if (!this.#goingAway) this.#goAwayFrame(ErrorCode.NO_ERROR, "");
    this.#goingAway = true;
    this.#closeTransport();
  }

  // ---- output ----

  #reserve(n: number): number {
    const need = this.#outLength + n;
    if (need > this.#out.length) {
      const bigger = new Uint8Array(Math.max(need, this.#out.length * 2));
      bigger.set(this.#out.subarray(0, this.#outLength));
      this.#out = bigger;
    }
    const at = this.#outLength;
    this.#outLength = need;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => this.#flush());
    }
    return at;
  }

  #frame(type: number, flags: number, streamId: number, payload: Uint8Array, offset = 0, length = payload.length - offset): void {
    const at = this.#reserve(9 + length);
    writeFrameHeader(this.#out, at, length, type, flags, streamId);
    this.#out.set(length === payload.length ? payload : payload.subarray(offset, offset + length), at + 9);
  }

  #windowUpdate(streamId: number, increment: number): void {
    const at = this.#reserve(13);
    writeFrameHeader(this.#out, at, 4, FrameType.WINDOW_UPDATE, 0, streamId);
    new DataView(this.#out.buffer, this.#out.byteOffset).setUint32(at + 9, increment);
  }

  #flush(): void {
    this.#flushScheduled = false;
    if (this.#outLength === 0 || this.#closed) {
      this.#outLength = 0;
      return;
    }
    this.#transport.write(this.#out.subarray(0, this.#outLength));
    this.#outLength = 0;
    // A transport that does not copy owns the bytes now; one that does leaves a large buffer to shrink.
    if (this.#transport.writeCopies !== true || this.#out.length > 1024 * 1024) this.#out = new Uint8Array(16384);
    if (this.#transport.bufferedAmount > this.#maxPending) {
      this.#options.onError?.(`Peer ${this.remoteAddress} does not read: ${this.#transport.bufferedAmount} bytes are held for it`);
      this.#abort();
    }
  }

  /** @internal */
  sendHeaders(stream: Http2Stream, block: Uint8Array, endStream: boolean): void {
    if (stream.queue.length > 0) {
      // Headers after queued data can only be trailers.
      stream.queue.push({ trailers: block });
      stream.localEnded = true;
      return;
    }
    this.#headerFrames(stream.id, block, endStream);
    if (endStream) this.#localEnd(stream);
  }

  #headerFrames(id: number, block: Uint8Array, endStream: boolean): void {
    const max = this.#peerMaxFrame;
    const endFlag = endStream ? Flag.END_STREAM : 0;
    if (block.length <= max) {
      this.#frame(FrameType.HEADERS, Flag.END_HEADERS | endFlag, id, block);
      return;
    }
    this.#frame(FrameType.HEADERS, endFlag, id, block, 0, max);
    for (let at = max; at < block.length; at += max) {
      const length = Math.min(max, block.length - at);
      this.#frame(FrameType.CONTINUATION, at + length === block.length ? Flag.END_HEADERS : 0, id, block, at, length);
    }
  }

  /** @internal */
  sendData(stream: Http2Stream, bytes: Uint8Array, endStream: boolean): void {
    if (endStream) stream.localEnded = true;
    if (stream.queue.length === 0) {
      const sent = this.#dataFrames(stream, bytes, 0, endStream);
      if (sent === bytes.length) {
        if (endStream) this.#localEnd(stream);
        return;
      }
      this.#queue(stream, { data: bytes, offset: sent, end: endStream }, bytes.length - sent);
      return;
    }
    this.#queue(stream, { data: bytes, offset: 0, end: endStream }, bytes.length);
  }

  /** @internal */
  sendTrailers(stream: Http2Stream, block: Uint8Array): void {
    stream.localEnded = true;
    if (stream.queue.length > 0) {
      stream.queue.push({ trailers: block });
      return;
    }
    this.#headerFrames(stream.id, block, true);
    this.#localEnd(stream);
  }

  #queue(stream: Http2Stream, output: Output, bytes: number): void {
    if (this.#pending + bytes + this.#transport.bufferedAmount > this.#maxPending) {
      this.#options.onError?.(`Stream ${stream.id} of ${this.remoteAddress} reset: the peer grants no window for ${this.#pending + bytes} bytes held for it`);
      this.resetStream(stream, ErrorCode.ENHANCE_YOUR_CALM, true);
      return;
    }
    this.#pending += bytes;
    stream.queue.push(output);
    this.#blocked.add(stream);
  }

  /** Frames as much of `bytes` from `offset` as the windows allow; returns the new offset. */
  #dataFrames(stream: Http2Stream, bytes: Uint8Array, offset: number, endStream: boolean): number {
    const total = bytes.length;
    if (offset === total && total === 0) {
      this.#frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, stream.id, bytes);
      return 0;
    }
    while (offset < total) {
      const room = Math.min(stream.sendWindow, this.#sendWindow, this.#peerMaxFrame);
      if (room <= 0) break;
      const length = Math.min(room, total - offset);
      const last = offset + length === total;
      this.#frame(FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, stream.id, bytes, offset, length);
      stream.sendWindow -= length;
      this.#sendWindow -= length;
      offset += length;
    }
    return offset;
  }

  /** Sends what blocked streams may send now. */
  #drainBlocked(): void {
    for (const stream of this.#blocked) {
      if (this.#sendWindow <= 0) return;
      while (stream.queue.length > 0) {
        const next = stream.queue[0]!;
        if ("trailers" in next) {
          this.#headerFrames(stream.id, next.trailers, true);
          stream.queue.shift();
          continue;
        }
        const before = next.offset;
        next.offset = this.#dataFrames(stream, next.data, next.offset, next.end);
        this.#pending -= next.offset - before;
        if (next.offset < next.data.length) break;
        stream.queue.shift();
      }
      if (stream.queue.length === 0) {
        this.#blocked.delete(stream);
        if (stream.localEnded) this.#localEnd(stream);
      }
    }
  }

  #localEnd(stream: Http2Stream): void {
    stream.localEnded = true;
    if (stream.remoteEnded) this.#forget(stream);
  }

  #forget(stream: Http2Stream): void {
    stream.closed = true;
    this.#streams.delete(stream.id);
    this.#dropQueue(stream);
    if (this.#goingAway && this.#streams.size === 0) this.#closeTransport();
  }

  #dropQueue(stream: Http2Stream): void {
    for (const output of stream.queue) if ("data" in output) this.#pending -= output.data.length - output.offset;
    stream.queue.length = 0;
    this.#blocked.delete(stream);
  }

  /** @internal */
  resetStream(stream: Http2Stream, code: number, send: boolean): void {
    if (stream.closed) return;
    if (send && !this.#closed) {
      const payload = new Uint8Array(4);
      new DataView(payload.buffer).setUint32(0, code);
      this.#frame(FrameType.RST_STREAM, 0, stream.id, payload);
    }
    stream.remoteEnded = true;
    stream.localEnded = true;
    this.#forget(stream);
    const handlers = stream.handlers;
    stream.handlers = undefined;
    handlers?.reset(code);
  }

  #goAwayFrame(code: number, message: string): void {
    const debug = new TextEncoder().encode(message);
    const payload = new Uint8Array(8 + debug.length);
    const view = new DataView(payload.buffer);
    view.setUint32(0, this.#lastStreamId);
    view.setUint32(4, code);
    payload.set(debug, 8);
    this.#frame(FrameType.GOAWAY, 0, 0, payload);
  }

  #connectionError(code: number, message: string): void {
    if (this.#closed) return;
    this.#options.onError?.(`HTTP/2 connection from ${this.remoteAddress} closed: ${message}`);
    this.#goAwayFrame(code, message);
    this.#goingAway = true;
    this.#closeTransport();
  }

  #closeTransport(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#transport.close();
    this.#resetAll();
  }

  #abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    (this.#transport.abort ?? this.#transport.close).call(this.#transport);
    this.#resetAll();
  }

  #resetAll(): void {
    clearTimeout(this.#prefaceTimer);
    for (const stream of [...this.#streams.values()]) this.resetStream(stream, ErrorCode.CANCEL, false);
  }

  #onClosed(): void {
    if (!this.#closed) {
      this.#closed = true;
      this.#resetAll();
    }
    this.#options.onClose?.();
  }

  // ---- input ----

  #receive(chunk: Uint8Array): void {
    if (this.#closed) return;
    let bytes = chunk;
    if (this.#input !== undefined) {
      bytes = new Uint8Array(this.#input.length + chunk.length);
      bytes.set(this.#input);
      bytes.set(chunk, this.#input.length);
      this.#input = undefined;
    }
    let at = 0;
    if (this.#prefaceLeft > 0) {
      const start = PREFACE.length - this.#prefaceLeft;
      const n = Math.min(this.#prefaceLeft, bytes.length);
      for (let i = 0; i < n; i++) {
        if (bytes[i] !== PREFACE[start + i]) {
          this.#connectionError(ErrorCode.PROTOCOL_ERROR, "Bytes are not the HTTP/2 connection preface");
          return;
        }
      }
      this.#prefaceLeft -= n;
      at = n;
    }
    while (bytes.length - at >= 9 && !this.#closed) {
      const length = (bytes[at]! << 16) | (bytes[at + 1]! << 8) | bytes[at + 2]!;
      if (length > MIN_FRAME_SIZE) {
        this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `Frame of ${length} bytes exceeds the limit of ${MIN_FRAME_SIZE}`);
        return;
      }
      if (bytes.length - at < 9 + length) break;
      const type = bytes[at + 3]!;
      const flags = bytes[at + 4]!;
      const streamId = u32(bytes, at + 5) & 0x7fffffff;
      this.#onFrame(type, flags, streamId, bytes.subarray(at + 9, at + 9 + length));
      at += 9 + length;
    }
    if (at < bytes.length && !this.#closed) this.#input = bytes.slice(at);
    if (this.#recvConsumed >= this.#connectionWindow / 2 && !this.#closed) {
      this.#windowUpdate(0, this.#recvConsumed);
      this.#recvWindow += this.#recvConsumed;
      this.#recvConsumed = 0;
    }
  }

  #onFrame(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    if (!this.#settingsSeen) {
      if (type !== FrameType.SETTINGS || (flags & Flag.ACK) !== 0) {
        this.#connectionError(ErrorCode.PROTOCOL_ERROR, "The connection preface is not followed by SETTINGS");
        return;
      }
      this.#settingsSeen = true;
      clearTimeout(this.#prefaceTimer);
    }
    if (this.#continuing !== undefined && (type !== FrameType.CONTINUATION || streamId !== this.#continuing.id)) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, `Frame of type ${type} interrupts the header block of stream ${this.#continuing.id}`);
      return;
    }
    switch (type) {
      case FrameType.DATA:
        return this.#onData(flags, streamId, payload);
      case FrameType.HEADERS:
        return this.#onHeaders(flags, streamId, payload);
      case FrameType.CONTINUATION:
        return this.#onContinuation(flags, streamId, payload);
      case FrameType.PRIORITY:
        if (streamId === 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (payload.length !== 5) return this.#streamError(streamId, ErrorCode.FRAME_SIZE_ERROR);
        return;
      case FrameType.RST_STREAM:
        return this.#onReset(streamId, payload);
      case FrameType.SETTINGS:
        return this.#onSettings(flags, streamId, payload);
      case FrameType.PUSH_PROMISE:
        return this.#connectionError(ErrorCode.PROTOCOL_ERROR, "A client sent PUSH_PROMISE");
      case FrameType.PING:
        if (streamId !== 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, `PING on stream ${streamId}`);
        if (payload.length !== 8) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `PING of ${payload.length} bytes`);
        if ((flags & Flag.ACK) === 0) this.#frame(FrameType.PING, Flag.ACK, 0, payload);
        return;
      case FrameType.GOAWAY:
        if (streamId !== 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, `GOAWAY on stream ${streamId}`);
        this.#goingAway = true;
        if (this.#streams.size === 0) this.#closeTransport();
        return;
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(streamId, payload);
      default:
        // Unknown frame types are ignored (RFC 9113 section 4.1).
        return;
    }
  }

  #streamError(streamId: number, code: number): void {
    const stream = this.#streams.get(streamId);
    if (stream !== undefined) {
      this.resetStream(stream, code, true);
      return;
    }
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, code);
    this.#frame(FrameType.RST_STREAM, 0, streamId, payload);
  }

  #unpad(flags: number, payload: Uint8Array, what: string): Uint8Array | undefined {
    if ((flags & Flag.PADDED) === 0) return payload;
    const pad = payload[0];
    if (pad === undefined || pad >= payload.length) {
      this.#connectionError(ErrorCode.PROTOCOL_ERROR, `${what} padding of ${pad ?? 0} bytes is longer than the frame`);
      return undefined;
    }
    return payload.subarray(1, payload.length - pad);
  }

  #onData(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId === 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
    if (streamId > this.#lastStreamId) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
    this.#recvWindow -= payload.length;
    if (this.#recvWindow < 0) return this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, "DATA beyond the connection's flow-control window");
    this.#recvConsumed += payload.length;
    const data = this.#unpad(flags, payload, "DATA");
    if (data === undefined) return;
    const stream = this.#streams.get(streamId);
    if (stream === undefined || stream.remoteEnded) {
      // Closed, or reset by us: frames still in flight are ignored (RFC 9113 section 5.1).
      if (stream !== undefined) this.#streamError(streamId, ErrorCode.STREAM_CLOSED);
      return;
    }
    stream.recvWindow -= payload.length;
    if (stream.recvWindow < 0) return this.#streamError(streamId, ErrorCode.FLOW_CONTROL_ERROR);
    stream.recvConsumed += payload.length;
    if (data.length > 0) stream.handlers?.data(data);
    if (stream.closed) return;
    if ((flags & Flag.END_STREAM) !== 0) return this.#remoteEnd(stream);
    if (stream.recvConsumed >= this.#streamWindow / 2) {
      this.#windowUpdate(streamId, stream.recvConsumed);
      stream.recvWindow += stream.recvConsumed;
      stream.recvConsumed = 0;
    }
  }

  #remoteEnd(stream: Http2Stream): void {
    stream.remoteEnded = true;
    const handlers = stream.handlers;
    if (stream.localEnded && stream.queue.length === 0) this.#forget(stream);
    handlers?.end();
  }

  #onHeaders(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId === 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
    let fragment = this.#unpad(flags, payload, "HEADERS");
    if (fragment === undefined) return;
    if ((flags & Flag.PRIORITY) !== 0) {
      if (fragment.length < 5) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, "HEADERS too short for its priority");
      fragment = fragment.subarray(5);
    }
    if ((flags & Flag.END_HEADERS) !== 0) return this.#onHeaderBlock(streamId, flags, fragment);
    this.#continuing = { id: streamId, flags, fragments: [fragment.slice()], size: fragment.length };
    if (fragment.length > this.#maxHeaderBlock) this.#connectionError(ErrorCode.ENHANCE_YOUR_CALM, `Header block exceeds ${this.#maxHeaderBlock} bytes`);
  }

  #onContinuation(flags: number, streamId: number, payload: Uint8Array): void {
    const continuing = this.#continuing;
    if (continuing === undefined) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, `CONTINUATION on stream ${streamId} without HEADERS`);
    continuing.size += payload.length;
    if (continuing.fragments.length >= MAX_CONTINUATIONS) return this.#connectionError(ErrorCode.ENHANCE_YOUR_CALM, `Header block in more than ${MAX_CONTINUATIONS} frames`);
    if (continuing.size > this.#maxHeaderBlock) return this.#connectionError(ErrorCode.ENHANCE_YOUR_CALM, `Header block exceeds ${this.#maxHeaderBlock} bytes`);
    continuing.fragments.push(payload.slice());
    if ((flags & Flag.END_HEADERS) === 0) return;
    this.#continuing = undefined;
    const block = new Uint8Array(continuing.size);
    let at = 0;
    for (const f of continuing.fragments) {
      block.set(f, at);
      at += f.length;
    }
    this.#onHeaderBlock(streamId, continuing.flags, block);
  }

  #onHeaderBlock(streamId: number, flags: number, block: Uint8Array): void {
    let headers: HeaderList;
    try {
      headers = this.#decoder.decode(block);
    } catch (error) {
      if (error instanceof HpackError) return this.#connectionError(ErrorCode.COMPRESSION_ERROR, error.message);
      throw error;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const existing = this.#streams.get(streamId);
    if (existing !== undefined) {
      // Trailers: they must end the stream.
      if (!endStream || existing.remoteEnded) return this.#streamError(streamId, ErrorCode.PROTOCOL_ERROR);
      return this.#remoteEnd(existing);
    }
    if (streamId <= this.#lastStreamId) return; // a closed stream: ignored
    if ((streamId & 1) === 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, `Client opened even stream ${streamId}`);
    this.#lastStreamId = streamId;
    if (this.#goingAway || this.#streams.size >= this.#maxStreams) return this.#streamError(streamId, ErrorCode.REFUSED_STREAM);
    const stream = new Http2Stream(this, streamId, this.#peerInitialWindow, this.#streamWindow);
    this.#streams.set(streamId, stream);
    stream.handlers = this.#options.onStream(stream, headers);
    if (endStream && !stream.closed) this.#remoteEnd(stream);
  }

  #onReset(streamId: number, payload: Uint8Array): void {
    if (streamId === 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (payload.length !== 4) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `RST_STREAM of ${payload.length} bytes`);
    if (streamId > this.#lastStreamId) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
    const stream = this.#streams.get(streamId);
    if (stream !== undefined) this.resetStream(stream, u32(payload, 0), false);
  }

  #onSettings(flags: number, streamId: number, payload: Uint8Array): void {
    if (streamId !== 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS on stream ${streamId}`);
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0) this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS acknowledgement with a payload");
      return;
    }
    if (payload.length % 6 !== 0) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `SETTINGS of ${payload.length} bytes`);
    for (let at = 0; at < payload.length; at += 6) {
      const id = (payload[at]! << 8) | payload[at + 1]!;
      const value = u32(payload, at + 2);
      switch (id) {
        case Setting.ENABLE_PUSH:
          if (value > 1) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_ENABLE_PUSH of ${value}`);
          break;
        case Setting.INITIAL_WINDOW_SIZE: {
          if (value > MAX_WINDOW) return this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, `SETTINGS_INITIAL_WINDOW_SIZE of ${value}`);
          const delta = value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          for (const stream of this.#streams.values()) {
            stream.sendWindow += delta;
            if (stream.sendWindow > MAX_WINDOW) return this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, "A stream's window grew past 2^31-1");
          }
          break;
        }
        case Setting.MAX_FRAME_SIZE:
          if (value < MIN_FRAME_SIZE || value > 16777215) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, `SETTINGS_MAX_FRAME_SIZE of ${value}`);
          this.#peerMaxFrame = value;
          break;
        default:
          // HEADER_TABLE_SIZE: the encoder indexes nothing, so any size is honoured; MAX_CONCURRENT_STREAMS
          // limits pushes, which are never made; MAX_HEADER_LIST_SIZE is advisory; unknown ones are ignored.
          break;
      }
    }
    this.#frame(FrameType.SETTINGS, Flag.ACK, 0, new Uint8Array(0));
    this.#drainBlocked();
  }

  #onWindowUpdate(streamId: number, payload: Uint8Array): void {
    if (payload.length !== 4) return this.#connectionError(ErrorCode.FRAME_SIZE_ERROR, `WINDOW_UPDATE of ${payload.length} bytes`);
    const increment = u32(payload, 0) & 0x7fffffff;
    if (streamId === 0) {
      if (increment === 0) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      this.#sendWindow += increment;
      if (this.#sendWindow > MAX_WINDOW) return this.#connectionError(ErrorCode.FLOW_CONTROL_ERROR, "The connection's window grew past 2^31-1");
      this.#drainBlocked();
      return;
    }
    if (streamId > this.#lastStreamId) return this.#connectionError(ErrorCode.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
    const stream = this.#streams.get(streamId);
    if (stream === undefined) return;
    if (increment === 0) return this.#streamError(streamId, ErrorCode.PROTOCOL_ERROR);
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW) return this.#streamError(streamId, ErrorCode.FLOW_CONTROL_ERROR);
    if (stream.queue.length > 0) this.#drainBlocked();
  }
}
