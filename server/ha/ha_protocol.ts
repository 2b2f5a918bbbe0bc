/**
 * The replication (HA) wire protocol between a master's HA listener and its slaves: small binary
 * frames, `[u32 length][u8 type][payload]`, big-endian, offsets as unsigned 64-bit integers (safe
 * JavaScript integers only). See docs/PROTOCOL.md, "Replication".
 *
 * - slave → master: `HELLO` once (who it is, its CommitLog end, how it authenticates and a fresh
 *   nonce); when it authenticates, `AUTH` with its proof once the master answered `CHALLENGE`; then
 *   `REPORT` with the offset it has stored (its acknowledgement), after every write and every second.
 * - master → slave: `CHALLENGE` (its nonce and its own proof) when the slave authenticates,
 *   `WELCOME` once accepted (where streaming starts, the master's end and client address), then
 *   `DATA` frames `[offset, master end, whole records]` (empty ones as heartbeats), or `REFUSE` with
 *   a reason before it closes the link.
 *
 * Encoding and decoding are pure; `HaFrameDecoder` is push-style (bytes in, frames out) and throws
 * `RangeError`/`TypeError` on anything malformed, which costs the peer its connection.
 *
 * @module
 */

/** Protocol version carried by `HELLO` and `WELCOME` (2: the handshake authenticates both sides). */
export const HA_PROTOCOL_VERSION = 2;

/** Frame types. Slave → master below 0x80, master → slave from 0x80. */
export const HaFrameType = {
  HELLO: 0x01,
  REPORT: 0x02,
  AUTH: 0x03,
  WELCOME: 0x81,
  DATA: 0x82,
  REFUSE: 0x83,
  CHALLENGE: 0x84,
} as const;
/** One of the `HaFrameType` values. */
export type HaFrameType = typeof HaFrameType[keyof typeof HaFrameType];

/** Largest frame a slave may send (a `HELLO` with a 255-byte broker name and access key is far below it). */
export const MAX_SLAVE_FRAME = 1024;

/** Largest frame a slave accepts before `WELCOME` (`CHALLENGE`, `WELCOME`, `REFUSE` are small). */
export const MAX_HANDSHAKE_FRAME = 8192;

/** Bytes of each side's nonce and of each proof (HMAC-SHA256). */
export const HA_NONCE_BYTES = 32;

/** How a slave authenticates, as `HELLO` says. */
export const HaAuthKind = {
  /** No proof: only an open master (no cluster secret, no ACL) accepts it. */
  NONE: 0,
  /** Proof of the cluster secret. */
  CLUSTER_SECRET: 1,
  /** Proof of an ACL account's secret key (the account is named in `accessKey`). */
  ACCOUNT: 2,
} as const;
/** One of the `HaAuthKind` values. */
export type HaAuthKind = typeof HaAuthKind[keyof typeof HaAuthKind];

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
  /** How the slave authenticates. */
  authKind: HaAuthKind;
  /** The ACL account, for `HaAuthKind.ACCOUNT` ("" otherwise). */
  accessKey: string;
  /** The slave's fresh random nonce (`HA_NONCE_BYTES`). */
  nonce: Uint8Array;
}

/** Slave → master: its proof of the shared key, answering a `CHALLENGE`. */
export interface AuthFrame {
  type: typeof HaFrameType.AUTH;
  proof: Uint8Array;
}

/** Master → slave: its nonce and its proof of the shared key (checked by the slave before it answers). */
export interface ChallengeFrame {
  type: typeof HaFrameType.CHALLENGE;
  nonce: Uint8Array;
  proof: Uint8Array;
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
export type HaFrame = HelloFrame | ReportFrame | AuthFrame | WelcomeFrame | DataFrame | RefuseFrame | ChallengeFrame;

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
 * Encodes a `HELLO`. Both sides' proofs cover these bytes, so the encoding is deterministic.
 *
 * @param hello Version, offset, segment size, the slave's identity, how it authenticates and its nonce.
 * @returns The frame bytes.
 * @throws {RangeError} When the name or access key is longer than 255 UTF-8 bytes, the nonce is
 *   not `HA_NONCE_BYTES` long or a number is out of range.
 */
export function encodeHello(hello: Omit<HelloFrame, "type">): Uint8Array {
  const name = encoder.encode(hello.brokerName);
  if (name.length > 255) throw new RangeError(`Broker name "${hello.brokerName}" is longer than 255 bytes`);
  const accessKey = encoder.encode(hello.accessKey);
  if (accessKey.length > 255) throw new RangeError(`Access key "${hello.accessKey}" is longer than 255 bytes`);
  if (hello.nonce.length !== HA_NONCE_BYTES) throw new RangeError(`Nonce has ${hello.nonce.length} bytes, expected ${HA_NONCE_BYTES}`);
  const { bytes, view } = frame(HaFrameType.HELLO, HELLO_FIXED + 2 + name.length + accessKey.length);
  view.setUint8(5, hello.version);
  setUint64(view, 6, hello.offset);
  setUint64(view, 14, hello.segmentSize);
  view.setUint32(22, hello.brokerId);
  view.setUint8(26, hello.authKind);
  bytes.set(hello.nonce, 27);
  view.setUint8(27 + HA_NONCE_BYTES, name.length);
  bytes.set(name, 28 + HA_NONCE_BYTES);
  view.setUint8(28 + HA_NONCE_BYTES + name.length, accessKey.length);
  bytes.set(accessKey, 29 + HA_NONCE_BYTES + name.length);
  return bytes;
}

/** Payload bytes of a `HELLO` (after the type) up to its name: version, offset, segment size, id, auth kind, nonce. */
const HELLO_FIXED = 1 + 8 + 8 + 4 + 1 + HA_NONCE_BYTES;

/**
 * Encodes an `AUTH`.
 *
 * @param proof The slave's proof (`HA_NONCE_BYTES`).
 * @returns The frame bytes.
 */
export function encodeAuth(proof: Uint8Array): Uint8Array {
  const { bytes } = frame(HaFrameType.AUTH, HA_NONCE_BYTES);
  bytes.set(proof.subarray(0, HA_NONCE_BYTES), 5);
  return bytes;
}

/**
 * Encodes a `CHALLENGE`.
 *
 * @param nonce The master's fresh nonce (`HA_NONCE_BYTES`).
 * @param proof The master's proof (`HA_NONCE_BYTES`).
 * @returns The frame bytes.
 */
export function encodeChallenge(nonce: Uint8Array, proof: Uint8Array): Uint8Array {
  const { bytes } = frame(HaFrameType.CHALLENGE, 2 * HA_NONCE_BYTES);
  bytes.set(nonce.subarray(0, HA_NONCE_BYTES), 5);
  bytes.set(proof.subarray(0, HA_NONCE_BYTES), 5 + HA_NONCE_BYTES);
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
      const at = 1 + HELLO_FIXED; // the name's length byte
      need(at + 2, false);
      const nameLength = view.getUint8(at);
      need(at + 2 + nameLength, false);
      const keyLength = view.getUint8(at + 1 + nameLength);
      need(at + 2 + nameLength + keyLength);
      const authKind = view.getUint8(22);
      if (authKind > HaAuthKind.ACCOUNT) throw new TypeError(`Unknown authentication kind ${authKind}`);
      return {
        type,
        version: view.getUint8(1),
        offset: getUint64(view, 2, "offset"),
        segmentSize: getUint64(view, 10, "segmentSize"),
        brokerId: view.getUint32(18),
        authKind: authKind as HaAuthKind,
        nonce: body.slice(23, 23 + HA_NONCE_BYTES),
        brokerName: decoder.decode(body.subarray(at + 1, at + 1 + nameLength)),
        accessKey: decoder.decode(body.subarray(at + 2 + nameLength)),
      };
    }
    case HaFrameType.AUTH:
      need(1 + HA_NONCE_BYTES);
      return { type, proof: body.slice(1) };
    case HaFrameType.CHALLENGE:
      need(1 + 2 * HA_NONCE_BYTES);
      return { type, nonce: body.slice(1, 1 + HA_NONCE_BYTES), proof: body.slice(1 + HA_NONCE_BYTES) };
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
 * across chunks are handled in linear time (a frame's chunks are kept as they come and joined once
 * it is complete); a length above the maximum is refused as soon as its four bytes are in, before
 * anything is buffered for it.
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
  #maxFrameSize: number;
  #upgrade: { after: HaFrameType; maxFrameSize: number } | undefined;
  /** Bytes of an incomplete frame, in arrival order. */
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  /** The incomplete frame's whole size (length prefix included), once its prefix is in; else 0. */
  #need = 0;

  /**
   * @param options The largest frame (type and payload) accepted, and optionally a larger one
   *   accepted once a frame of type `upgrade.after` was decoded (a slave takes only small frames
   *   until `WELCOME`; bytes after it in the same chunk already get the larger limit).
   */
  constructor(options: { maxFrameSize: number; upgrade?: { after: HaFrameType; maxFrameSize: number } }) {
    this.#maxFrameSize = options.maxFrameSize;
    this.#upgrade = options.upgrade;
  }

  /** The largest frame accepted now. */
  get maxFrameSize(): number {
    return this.#maxFrameSize;
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
    if (chunk.length === 0) return [];
    let data: Uint8Array;
    if (this.#buffered === 0) data = chunk;
    else {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      if (this.#need === 0 && this.#buffered >= 4) this.#need = this.#frameSize(this.#prefix());
      if (this.#need === 0 || this.#buffered < this.#need) return [];
      data = join(this.#chunks, this.#buffered);
      this.#chunks = [];
      this.#buffered = 0;
      this.#need = 0;
    }
    const frames: HaFrame[] = [];
    let pos = 0;
    while (data.length - pos >= 4) {
      const size = this.#frameSize(new DataView(data.buffer, data.byteOffset + pos, 4).getUint32(0));
      if (data.length - pos < size) {
        this.#need = size;
        break;
      }
      const decoded = decodePayload(data.subarray(pos + 4, pos + size));
      frames.push(decoded);
      pos += size;
      if (decoded.type === this.#upgrade?.after) {
        this.#maxFrameSize = this.#upgrade.maxFrameSize;
        this.#upgrade = undefined;
      }
    }
    if (pos < data.length) {
      // Keep the rest; copy it so a large chunk is not held alive by a small tail.
      const rest = data.slice(pos);
      this.#chunks = [rest];
      this.#buffered = rest.length;
    }
    return frames;
  }

  /** Checks a length prefix; returns the frame's size with its prefix. */
  #frameSize(length: number): number {
    if (length === 0 || length > this.#maxFrameSize) {
      throw new RangeError(`Replication frame length ${length} is outside 1..${this.#maxFrameSize}`);
    }
    return 4 + length;
  }

  /** The length prefix of the buffered frame (its first four bytes may span chunks). */
  #prefix(): number {
    let value = 0;
    let got = 0;
    for (const part of this.#chunks) {
      for (let i = 0; i < part.length && got < 4; i++, got++) value = value * 256 + part[i]!;
      if (got === 4) break;
    }
    return value;
  }
}

function join(chunks: readonly Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of chunks) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
