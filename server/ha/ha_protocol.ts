/**
 * The replication (HA) wire protocol between a master's HA listener and its slaves: small binary
 * frames, `[u32 length][u8 type][payload]`, big-endian, offsets as unsigned 64-bit integers (safe
 * JavaScript integers only). See docs/PROTOCOL.md, "Replication".
 *
 * - slave → master: `HELLO` once (who it is, its CommitLog end), then `REPORT` with the offset it
 *   has stored (its acknowledgement), after every write and every second.
 * - master → slave: `WELCOME` once (where streaming starts, the master's end and client address),
 *   then `DATA` frames `[offset, master end, whole records]` (empty ones as heartbeats), or
 *   `REFUSE` with a reason before it closes the link.
 *
 * Encoding and decoding are pure; `HaFrameDecoder` is push-style (bytes in, frames out) and throws
 * `RangeError`/`TypeError` on anything malformed, which costs the peer its connection.
 *
 * @module
 */

/** Protocol version carried by `HELLO` and `WELCOME`. */
export const HA_PROTOCOL_VERSION = 1;

/** Frame types. Slave → master below 0x80, master → slave from 0x80. */
export const HaFrameType = {
  HELLO: 0x01,
  REPORT: 0x02,
  WELCOME: 0x81,
  DATA: 0x82,
  REFUSE: 0x83,
} as const;
/** One of the `HaFrameType` values. */
export type HaFrameType = typeof HaFrameType[keyof typeof HaFrameType];

/** Largest frame a slave may send (a `HELLO` with a 255-byte broker name is far below it). */
export const MAX_SLAVE_FRAME = 512;

/** Slave → master: the first frame of a link. */
export interface HelloFrame {
  type: typeof HaFrameType.HELLO;
  version: number;
  /** The slave's CommitLog end: where it wants the stream to start (0 when empty). */
  offset: number;
  /** The slave's CommitLog segment size; must equal the master's. */
  segmentSize: number;
  brokerId: number;
  brokerName: string;
}

/** Slave → master: everything below `offset` is stored on the slave. */
export interface ReportFrame {
  type: typeof HaFrameType.REPORT;
  offset: number;
}

/** Master → slave: the link is accepted. */
export interface WelcomeFrame {
  type: typeof HaFrameType.WELCOME;
  version: number;
  /** Where the first `DATA` frame starts (the slave's offset, or the master's first segment for an empty slave). */
  startOffset: number;
  /** The master's replicable end (its visible CommitLog offset). */
  masterOffset: number;
  /** The master's client address (`host:port`), for copying topics and offsets. */
  masterAddress: string;
}

/** Master → slave: CommitLog bytes at `offset` (whole records, or a final blank marker). */
export interface DataFrame {
  type: typeof HaFrameType.DATA;
  offset: number;
  masterOffset: number;
  bytes: Uint8Array;
}

/** Master → slave: why the link is refused; the master closes it next. */
export interface RefuseFrame {
  type: typeof HaFrameType.REFUSE;
  reason: string;
}

/** Any frame. */
export type HaFrame = HelloFrame | ReportFrame | WelcomeFrame | DataFrame | RefuseFrame;

const TWO_32 = 0x100000000;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function setUint64(view: DataView, pos: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`Offset "${value}" is not a non-negative safe integer`);
  view.setUint32(pos, Math.floor(value / TWO_32));
  view.setUint32(pos + 4, value % TWO_32);
}

function getUint64(view: DataView, pos: number, what: string): number {
  const value = view.getUint32(pos) * TWO_32 + view.getUint32(pos + 4);
  if (!Number.isSafeInteger(value)) throw new RangeError(`Field "${what}" (${value}) is beyond 2^53`);
  return value;
}

function frame(type: HaFrameType, payloadLength: number): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(5 + payloadLength);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 1 + payloadLength);
  view.setUint8(4, type);
  return { bytes, view };
}

/**
 * Encodes a `HELLO`.
 *
 * @param hello Version, offset, segment size and the slave's identity.
 * @returns The frame bytes.
 * @throws {RangeError} When the name is longer than 255 UTF-8 bytes or a number is out of range.
 */
export function encodeHello(hello: Omit<HelloFrame, "type">): Uint8Array {
  const name = encoder.encode(hello.brokerName);
  if (name.length > 255) throw new RangeError(`Broker name "${hello.brokerName}" is longer than 255 bytes`);
  const { bytes, view } = frame(HaFrameType.HELLO, 1 + 8 + 8 + 4 + 1 + name.length);
  view.setUint8(5, hello.version);
  setUint64(view, 6, hello.offset);
  setUint64(view, 14, hello.segmentSize);
  view.setUint32(22, hello.brokerId);
  view.setUint8(26, name.length);
  bytes.set(name, 27);
  return bytes;
}

/**
 * Encodes a `REPORT`.
 *
 * @param offset The slave's stored end.
 * @returns The frame bytes.
 */
export function encodeReport(offset: number): Uint8Array {
  const { bytes, view } = frame(HaFrameType.REPORT, 8);
  setUint64(view, 5, offset);
  return bytes;
}

/**
 * Encodes a `WELCOME`.
 *
 * @param welcome Version, start offset, master end and client address.
 * @returns The frame bytes.
 */
export function encodeWelcome(welcome: Omit<WelcomeFrame, "type">): Uint8Array {
  const address = encoder.encode(welcome.masterAddress);
  if (address.length > 0xffff) throw new RangeError("Master address is too long");
  const { bytes, view } = frame(HaFrameType.WELCOME, 1 + 8 + 8 + 2 + address.length);
  view.setUint8(5, welcome.version);
  setUint64(view, 6, welcome.startOffset);
  setUint64(view, 14, welcome.masterOffset);
  view.setUint16(22, address.length);
  bytes.set(address, 24);
  return bytes;
}

/**
 * Encodes a `DATA` frame.
 *
 * @param offset CommitLog offset of the first byte.
 * @param masterOffset The master's replicable end.
 * @param data The bytes (may be empty: a heartbeat).
 * @returns The frame bytes.
 */
export function encodeData(offset: number, masterOffset: number, data: Uint8Array): Uint8Array {
  const { bytes, view } = frame(HaFrameType.DATA, 16 + data.length);
  setUint64(view, 5, offset);
  setUint64(view, 13, masterOffset);
  bytes.set(data, 21);
  return bytes;
}

/**
 * Encodes a `REFUSE`.
 *
 * @param reason Why, for the slave's log (cut to 4,000 bytes).
 * @returns The frame bytes.
 */
export function encodeRefuse(reason: string): Uint8Array {
  const text = encoder.encode(reason).subarray(0, 4000);
  const { bytes } = frame(HaFrameType.REFUSE, text.length);
  bytes.set(text, 5);
  return bytes;
}

/** Decodes one frame's payload (the bytes after the length). */
function decodePayload(body: Uint8Array): HaFrame {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const type = view.getUint8(0);
  const need = (n: number, exact = true) => {
    if (exact ? body.length !== n : body.length < n) {
      throw new RangeError(`Frame type 0x${type.toString(16)} has ${body.length} bytes, expected ${exact ? "" : "at least "}${n}`);
    }
  };
  switch (type) {
    case HaFrameType.HELLO: {
      need(23, false);
      const nameLength = view.getUint8(22);
      need(23 + nameLength);
      return {
        type,
        version: view.getUint8(1),
        offset: getUint64(view, 2, "offset"),
        segmentSize: getUint64(view, 10, "segmentSize"),
        brokerId: view.getUint32(18),
        brokerName: decoder.decode(body.subarray(23)),
      };
    }
    case HaFrameType.REPORT:
      need(9);
      return { type, offset: getUint64(view, 1, "offset") };
    case HaFrameType.WELCOME: {
      need(20, false);
      need(20 + view.getUint16(18));
      return {
        type,
        version: view.getUint8(1),
        startOffset: getUint64(view, 2, "startOffset"),
        masterOffset: getUint64(view, 10, "masterOffset"),
        masterAddress: decoder.decode(body.subarray(20)),
      };
    }
    case HaFrameType.DATA:
      need(17, false);
      return {
        type,
        offset: getUint64(view, 1, "offset"),
        masterOffset: getUint64(view, 9, "masterOffset"),
        bytes: body.subarray(17),
      };
    case HaFrameType.REFUSE:
      return { type, reason: decoder.decode(body.subarray(1)) };
    default:
      throw new TypeError(`Unknown replication frame type 0x${type.toString(16)}`);
  }
}

/**
 * Push-style decoder: feed it chunks as they arrive, get whole frames. Frames split or merged
 * across chunks are handled; a length above `maxFrameSize` is refused before anything is
 * allocated for it.
 *
 * @example Decoding a report split over two chunks
 * ```ts
 * import { encodeReport, HaFrameDecoder } from "./ha_protocol.ts";
 *
 * const bytes = encodeReport(4096);
 * const decoder = new HaFrameDecoder({ maxFrameSize: 512 });
 * decoder.push(bytes.subarray(0, 3)); // []
 * console.log(decoder.push(bytes.subarray(3))); // [{ type: 2, offset: 4096 }]
 * ```
 */
export class HaFrameDecoder {
  readonly #maxFrameSize: number;
  #buffer = new Uint8Array(0);

  /** @param options The largest frame (type and payload) accepted. */
  constructor(options: { maxFrameSize: number }) {
    this.#maxFrameSize = options.maxFrameSize;
  }

  /**
   * Adds bytes and returns the frames they complete.
   *
   * @param chunk Bytes from the peer.
   * @returns Whole frames, in order.
   * @throws {RangeError} On a length of 0 or above the maximum, or a payload of the wrong size.
   * @throws {TypeError} On an unknown frame type or text that is not UTF-8.
   */
  push(chunk: Uint8Array): HaFrame[] {
    let data: Uint8Array;
    if (this.#buffer.length === 0) data = chunk;
    else {
      data = new Uint8Array(this.#buffer.length + chunk.length);
      data.set(this.#buffer);
      data.set(chunk, this.#buffer.length);
    }
    const frames: HaFrame[] = [];
    let pos = 0;
    while (data.length - pos >= 4) {
      const length = new DataView(data.buffer, data.byteOffset + pos, 4).getUint32(0);
      if (length === 0 || length > this.#maxFrameSize) {
        throw new RangeError(`Replication frame length ${length} is outside 1..${this.#maxFrameSize}`);
      }
      if (data.length - pos - 4 < length) break;
      frames.push(decodePayload(data.subarray(pos + 4, pos + 4 + length)));
      pos += 4 + length;
    }
    // Keep the rest; copy it so a large chunk is not held alive by a small tail.
    this.#buffer = pos === data.length ? new Uint8Array(0) : data.slice(pos);
    return frames;
  }
}
