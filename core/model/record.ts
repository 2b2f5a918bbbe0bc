/**
 * The stored message record: Apache RocketMQ's MessageExt encoding (version 1), big-endian.
 * See docs/STORAGE.md for the layout. These bytes are both what the CommitLog holds and what a
 * pull response body carries.
 *
 * @module
 */

import { formatIp, parseIp } from "./_ip.ts";
import { bodyCrc, crc32 } from "./crc32.ts";
import { type HostAddress, MessageConst, type MessageExt, SysFlag } from "./message.ts";
import { hex16, hex32, messageIdPrefix } from "./message_id.ts";
import { decodeProperties } from "./properties.ts";
import {
  BORN_HOST_POS,
  FIXED_V4,
  getInt64,
  layoutOf,
  MAX_TOPIC_BYTES,
  MESSAGE_MAGIC,
  MIN_RECORD_SIZE,
  PHYSICAL_OFFSET_POS,
  QUEUE_OFFSET_POS,
  SYSFLAG_POS,
  viewOf,
} from "./_record_layout.ts";

export {
  BORN_HOST_POS,
  MAX_TOPIC_BYTES,
  MESSAGE_MAGIC,
  PHYSICAL_OFFSET_POS,
  QUEUE_OFFSET_POS,
  SYSFLAG_POS,
} from "./_record_layout.ts";
/** Magic code of the blank marker that fills the end of a CommitLog segment (`0xCBD43194`). */
export const BLANK_MAGIC = 0xcbd43194 | 0;
/** Bytes of a blank marker as written: total size and magic. */
export const BLANK_MARKER_SIZE = 8;
/** Largest property text in UTF-8 bytes (signed 16-bit length). */
export const MAX_PROPERTIES_BYTES = 32767;

const HOST_BITS = SysFlag.BORN_HOST_V6 | SysFlag.STORE_HOST_V6;
const TWO_32 = 0x100000000;
const TWO_16 = 0x10000;

/** What the writer supplies for one record; the store adds queue offset, position and time. */
export interface RecordInput {
  topic: string;
  queueId: number;
  flag: number;
  /** Host bits (`BORN_HOST_V6`, `STORE_HOST_V6`) are set from the hosts when encoding. */
  sysFlag: number;
  bornTimestamp: number;
  bornHost: HostAddress;
  storeHost: HostAddress;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  body: Uint8Array;
  /** Already encoded property text (see `encodeProperties`). */
  properties: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const TOPIC_CACHE_LIMIT = 4096;
const topicCache = new Map<string, Uint8Array>();

function topicBytes(topic: string): Uint8Array {
  let bytes = topicCache.get(topic);
  if (!bytes) {
    bytes = encoder.encode(topic);
    if (topicCache.size >= TOPIC_CACHE_LIMIT) topicCache.clear();
    topicCache.set(topic, bytes);
  }
  return bytes;
}

/**
 * A record input with its text encoded, hosts parsed, body CRC computed and size known, so the
 * writer's critical section only copies bytes.
 */
export class PreparedRecord {
  /** The input this was prepared from (its `storeHost` may be given apart: see `storeHost`). */
  readonly input: Omit<RecordInput, "storeHost">;
  /** The store host. */
  readonly storeHost: HostAddress;
  /** UTF-8 topic. */
  readonly topic: Uint8Array;
  /** UTF-8 property text; undefined when the text is ASCII, which is written straight from `input.properties`. */
  readonly propertyBytes: Uint8Array | undefined;
  /** Bytes of the property text. */
  readonly propertiesLength: number;
  /** Born host address bytes (4 or 16). */
  readonly bornIp: Uint8Array;
  /** Store host address bytes (4 or 16). */
  readonly storeIp: Uint8Array;
  /** sysflag with the host bits set from the hosts. */
  readonly sysFlag: number;
  /** Body CRC as stored. */
  readonly bodyCrc: number;
  /** Total record size in bytes. */
  readonly size: number;

  /**
   * @param input The record to prepare.
   * @param storeHost The store host, when `input` does not name it (a store fills it in).
   * @throws {RangeError} When the topic or properties are too long for the format.
   * @throws {TypeError} When a host address cannot be parsed or no store host is given.
   */
  constructor(input: Omit<RecordInput, "storeHost"> & { storeHost?: HostAddress }, storeHost?: HostAddress) {
    this.input = input;
    const store = storeHost ?? input.storeHost;
    if (store === undefined) throw new TypeError("A record needs a store host");
    this.storeHost = store;
    this.topic = topicBytes(input.topic);
    if (this.topic.length > MAX_TOPIC_BYTES || this.topic.length === 0) {
      throw new RangeError(
        `Cannot store topic "${input.topic}": ${this.topic.length} bytes, expected 1 to ${MAX_TOPIC_BYTES}`,
      );
    }
    const text = input.properties;
    let ascii = true;
    for (let i = 0; i < text.length; i++) {
      if (text.charCodeAt(i) >= 0x80) {
        ascii = false;
        break;
      }
    }
    // ASCII (what clients send) needs no encoded copy: its bytes are its characters.
    this.propertyBytes = ascii ? undefined : encoder.encode(text);
    this.propertiesLength = ascii ? text.length : this.propertyBytes!.length;
    if (this.propertiesLength > MAX_PROPERTIES_BYTES) {
      throw new RangeError(
        `Cannot store properties of ${this.propertiesLength} bytes: the limit is ${MAX_PROPERTIES_BYTES}`,
      );
    }
    this.bornIp = parseIp(input.bornHost.address);
    this.storeIp = parseIp(store.address);
    this.sysFlag = (input.sysFlag & ~HOST_BITS) |
      (this.bornIp.length === 16 ? SysFlag.BORN_HOST_V6 : 0) |
      (this.storeIp.length === 16 ? SysFlag.STORE_HOST_V6 : 0);
    this.bodyCrc = bodyCrc(input.body);
    this.size = FIXED_V4 + (this.bornIp.length - 4) + (this.storeIp.length - 4) + 4 +
      input.body.length + 1 + this.topic.length + 2 + this.propertiesLength;
  }
}

/**
 * Size in bytes of the record `input` encodes to.
 *
 * @param input The record, raw or prepared.
 * @returns Total size, the 4-byte size field included.
 *
 * @example An empty message
 * ```ts
 * import { recordSize } from "./record.ts";
 * const host = { address: "127.0.0.1", port: 10911 };
 * recordSize({ topic: "T", queueId: 0, flag: 0, sysFlag: 0, bornTimestamp: 0, bornHost: host,
 *   storeHost: host, reconsumeTimes: 0, preparedTransactionOffset: 0, body: new Uint8Array(0),
 *   properties: "" }); // 92
 * ```
 */
export function recordSize(input: RecordInput | PreparedRecord): number {
  return (input instanceof PreparedRecord ? input : new PreparedRecord(input)).size;
}

function setInt64(view: DataView, pos: number, value: number): void {
  view.setInt32(pos, Math.floor(value / TWO_32));
  view.setUint32(pos + 4, value >>> 0);
}

/**
 * Encodes one record into `target` at `pos`.
 *
 * @param input The record, raw or (faster) prepared.
 * @param target The buffer to write into; it must have room for the record.
 * @param pos Where the record starts in `target`.
 * @param queueOffset The record's index in its ConsumeQueue.
 * @param physicalOffset The record's CommitLog offset.
 * @param storeTimestamp When the broker stored it (ms since epoch).
 * @returns The number of bytes written.
 * @throws {RangeError} When `target` is too small.
 *
 * @example Encode and decode
 * ```ts
 * import { decodeRecord, encodeRecord, recordSize } from "./record.ts";
 * const host = { address: "127.0.0.1", port: 10911 };
 * const input = { topic: "T", queueId: 0, flag: 0, sysFlag: 0, bornTimestamp: 1, bornHost: host,
 *   storeHost: host, reconsumeTimes: 0, preparedTransactionOffset: 0,
 *   body: new Uint8Array([1, 2]), properties: "" };
 * const bytes = new Uint8Array(recordSize(input));
 * encodeRecord(input, bytes, 0, 0, 0, Date.now());
 * decodeRecord(bytes, 0).body; // Uint8Array [1, 2]
 * ```
 */
export function encodeRecord(
  input: RecordInput | PreparedRecord,
  target: Uint8Array,
  pos: number,
  queueOffset: number,
  physicalOffset: number,
  storeTimestamp: number,
): number {
  const rec = input instanceof PreparedRecord ? input : new PreparedRecord(input);
  const size = rec.size;
  if (pos < 0 || pos + size > target.length) {
    throw new RangeError(`Cannot encode a record of ${size} bytes at ${pos} into ${target.length} bytes`);
  }
  const m = rec.input;
  const view = viewOf(target);
  view.setInt32(pos, size);
  view.setInt32(pos + 4, MESSAGE_MAGIC);
  view.setInt32(pos + 8, rec.bodyCrc);
  view.setInt32(pos + 12, m.queueId);
  view.setInt32(pos + 16, m.flag);
  setInt64(view, pos + QUEUE_OFFSET_POS, queueOffset);
  setInt64(view, pos + PHYSICAL_OFFSET_POS, physicalOffset);
  view.setInt32(pos + SYSFLAG_POS, rec.sysFlag);
  setInt64(view, pos + 40, m.bornTimestamp);
  let p = pos + BORN_HOST_POS;
  target.set(rec.bornIp, p);
  p += rec.bornIp.length;
  view.setInt32(p, m.bornHost.port);
  setInt64(view, p + 4, storeTimestamp);
  p += 12;
  target.set(rec.storeIp, p);
  p += rec.storeIp.length;
  view.setInt32(p, rec.storeHost.port);
  view.setInt32(p + 4, m.reconsumeTimes);
  setInt64(view, p + 8, m.preparedTransactionOffset);
  p += 16;
  view.setInt32(p, m.body.length);
  target.set(m.body, p + 4);
  p += 4 + m.body.length;
  target[p] = rec.topic.length;
  target.set(rec.topic, p + 1);
  p += 1 + rec.topic.length;
  view.setInt16(p, rec.propertiesLength);
  p += 2;
  const bytes = rec.propertyBytes;
  if (bytes !== undefined) target.set(bytes, p);
  else {
    const text = m.properties;
    for (let i = 0; i < text.length; i++) target[p + i] = text.charCodeAt(i);
  }
  return size;
}

/**
 * Writes a blank marker (size = bytes left in the segment, blank magic) at `pos`.
 *
 * @param target The buffer to write into (needs 8 bytes at `pos`).
 * @param pos Where the marker starts.
 * @param remaining Bytes left in the segment from `pos`, stored as the marker's size.
 */
export function encodeBlankMarker(target: Uint8Array, pos: number, remaining: number): void {
  const view = viewOf(target);
  view.setInt32(pos, remaining);
  view.setInt32(pos + 4, BLANK_MAGIC);
}

/** What `verifyRecord` found. */
export type VerifyResult =
  | { ok: true; size: number; blank: boolean }
  | { ok: false; reason: string };

/**
 * Checks one record (or blank marker) for recovery: magic, size sanity, field layout and the
 * body CRC. A blank marker's size is the rest of its segment and is not limited by `available`.
 *
 * @param bytes The buffer holding the record.
 * @param pos Where it starts.
 * @param available How many bytes from `pos` hold data.
 * @returns `ok` with the size (and whether it is a blank marker), or the reason it is invalid.
 *
 * @example A torn record
 * ```ts
 * import { verifyRecord } from "./record.ts";
 * verifyRecord(new Uint8Array(4), 0, 4).ok; // false
 * ```
 */
export function verifyRecord(bytes: Uint8Array, pos: number, available: number): VerifyResult {
  available = Math.min(available, bytes.length - pos);
  if (available < 8) return { ok: false, reason: `only ${Math.max(available, 0)} bytes left for a record header` };
  const view = viewOf(bytes);
  if (view.getInt32(pos + 4) === BLANK_MAGIC) {
    const size = view.getInt32(pos);
    if (size < BLANK_MARKER_SIZE) return { ok: false, reason: `blank marker size ${size} is too small` };
    return { ok: true, size, blank: true };
  }
  const layout = layoutOf(view, pos, available);
  if (typeof layout === "string") return { ok: false, reason: layout };
  const crc = crc32(bytes, layout.bodyPos, layout.bodyPos + layout.bodyLength) & 0x7fffffff;
  const stored = view.getInt32(pos + 8);
  if (crc !== stored) {
    return { ok: false, reason: `body CRC ${stored} does not match the computed ${crc}` };
  }
  return { ok: true, size: layout.size, blank: false };
}

/** What an index entry says of its record, for `recordMatches`. */
export interface RecordIdentity {
  /** Total size. */
  size: number;
  /** CommitLog offset. */
  physicalOffset: number;
  queueId: number;
  queueOffset: number;
  /** UTF-8 topic. */
  topic: Uint8Array;
}

/**
 * Whether the record at `pos` is the one an index entry names: size, magic, queue id, queue
 * offset, physical offset and topic all as expected (the body CRC is not checked). A few
 * comparisons, so a read path can afford it for every record it serves.
 *
 * @param bytes The buffer holding the record.
 * @param pos Where it starts.
 * @param expected What the entry says.
 * @returns True when every field matches.
 *
 * @example A record is itself
 * ```ts
 * import { encodeRecord, recordMatches, recordSize } from "./record.ts";
 * const host = { address: "127.0.0.1", port: 10911 };
 * const input = { topic: "T", queueId: 2, flag: 0, sysFlag: 0, bornTimestamp: 1, bornHost: host,
 *   storeHost: host, reconsumeTimes: 0, preparedTransactionOffset: 0, body: new Uint8Array(3), properties: "" };
 * const bytes = new Uint8Array(recordSize(input));
 * encodeRecord(input, bytes, 0, 7, 4096, 1);
 * recordMatches(bytes, 0, { size: bytes.length, physicalOffset: 4096, queueId: 2, queueOffset: 7,
 *   topic: new TextEncoder().encode("T") }); // true
 * ```
 */
export function recordMatches(bytes: Uint8Array, pos: number, expected: RecordIdentity): boolean {
  const end = pos + expected.size;
  if (expected.size < MIN_RECORD_SIZE || end > bytes.length) return false;
  const view = viewOf(bytes);
  if (view.getInt32(pos) !== expected.size || view.getInt32(pos + 4) !== MESSAGE_MAGIC) return false;
  if (view.getInt32(pos + 12) !== expected.queueId) return false;
  if (getInt64(view, pos + QUEUE_OFFSET_POS) !== expected.queueOffset) return false;
  if (getInt64(view, pos + PHYSICAL_OFFSET_POS) !== expected.physicalOffset) return false;
  const sysFlag = view.getInt32(pos + SYSFLAG_POS);
  const bodyLengthPos = pos + FIXED_V4 + (sysFlag & SysFlag.BORN_HOST_V6 ? 12 : 0) + (sysFlag & SysFlag.STORE_HOST_V6 ? 12 : 0);
  if (bodyLengthPos + 4 > end) return false;
  const bodyLength = view.getInt32(bodyLengthPos);
  const topicLengthPos = bodyLengthPos + 4 + bodyLength;
  const topic = expected.topic;
  if (bodyLength < 0 || topicLengthPos + 1 + topic.length > end || bytes[topicLengthPos] !== topic.length) return false;
  for (let i = 0; i < topic.length; i++) if (bytes[topicLengthPos + 1 + i] !== topic[i]) return false;
  return true;
}

/**
 * Where the properties text of the record at `pos` starts, found from its length fields without
 * decoding anything (the text runs to the record's end).
 *
 * @param bytes The buffer holding the record.
 * @param pos Where it starts.
 * @param size Its total size.
 * @returns The offset of the properties text in `bytes`, or -1 when the lengths do not add up.
 */
export function recordPropertiesStart(bytes: Uint8Array, pos: number, size: number): number {
  const end = pos + size;
  if (size < MIN_RECORD_SIZE || end > bytes.length) return -1;
  // Read byte by byte: records of a pull come from many buffers, and a DataView each would allocate.
  const sysFlag = bytes[pos + SYSFLAG_POS + 3]!;
  const bodyLengthPos = pos + FIXED_V4 + (sysFlag & SysFlag.BORN_HOST_V6 ? 12 : 0) + (sysFlag & SysFlag.STORE_HOST_V6 ? 12 : 0);
  if (bodyLengthPos + 4 > end) return -1;
  const bodyLength = (bytes[bodyLengthPos]! << 24) | (bytes[bodyLengthPos + 1]! << 16) | (bytes[bodyLengthPos + 2]! << 8) | bytes[bodyLengthPos + 3]!;
  const topicLengthPos = bodyLengthPos + 4 + bodyLength;
  if (bodyLength < 0 || topicLengthPos + 1 > end) return -1;
  const propertiesLengthPos = topicLengthPos + 1 + bytes[topicLengthPos]!;
  if (propertiesLengthPos + 2 > end) return -1;
  const start = propertiesLengthPos + 2;
  const high = bytes[propertiesLengthPos]!;
  // A signed 16-bit length: the high bit set is a negative one.
  return high < 0x80 && ((high << 8) | bytes[propertiesLengthPos + 1]!) === end - start ? start : -1;
}

/** A record `decodeRecords` left out because its bytes fail their check. */
export interface CorruptRecord {
  /** Where it starts in the buffer. */
  position: number;
  /** Bytes it spans (to the buffer's end when its size field cannot be trusted). */
  size: number;
  /** Its queue offset field (untrusted, as stored). */
  queueOffset: number;
  /** Its physical offset field (untrusted, as stored). */
  commitLogOffset: number;
  /** What is wrong. */
  reason: string;
}

/** Options of `decodeRecord` and `decodeRecords`. */
export interface DecodeRecordOptions {
  /**
   * Whether each `body` is a copy (`true`) or a view into `bytes` (`false`, no copy: the bytes
   * must not be reused while a message is held, and a held body keeps all of `bytes` in memory).
   * @default true
   */
  copyBody?: boolean;
  /**
   * `decodeRecords` only. When given, each body's CRC is checked, and a record whose CRC or
   * layout is wrong is handed to this function and left out, instead of being returned (bad
   * CRC) or making the whole call throw (bad layout). Decoding goes on after it as long as its
   * size field fits the buffer. @default undefined (no CRC check; a bad layout throws)
   */
  onCorrupt?: (record: CorruptRecord) => void;
}

/** The last host read at one place of the records, kept while the next records repeat it. */
class HostSlot {
  #bits = -1;
  #port = -1;
  host: HostAddress | undefined;

  /** The host at `pos`; `changed` tells whether it differs from the last one read here. */
  at(view: DataView, bytes: Uint8Array, pos: number, ipLength: 4 | 16): { host: HostAddress; changed: boolean } {
    const port = view.getInt32(pos + ipLength);
    const bits = ipLength === 4 ? view.getInt32(pos) : -1;
    if (ipLength === 4 && bits === this.#bits && port === this.#port) return { host: this.host!, changed: false };
    this.#bits = bits; // IPv6 hosts are not remembered (-1 never matches a new read)
    this.#port = port;
    this.host = Object.freeze({ address: formatIp(bytes, pos, ipLength), port });
    return { host: this.host, changed: true };
  }
}

/**
 * Values that repeat from record to record of one buffer (a pull carries one topic from one
 * broker, mostly from one producer), decoded once: topic text, hosts and the message id prefix.
 */
class DecodeMemo {
  topicPos = -1;
  topicLength = -1;
  topic = "";
  readonly store = new HostSlot();
  readonly born = new HostSlot();
  /** Message id text before the offset's lower 16 bits, for the store host and `idHigh`. */
  idHighPrefix = "";
  idHigh = -1;

  /** The topic at `pos`, reusing the previous one when its bytes are the same. */
  topicAt(bytes: Uint8Array, pos: number, length: number): string {
    const last = this.topicPos;
    if (length === this.topicLength && last >= 0) {
      let same = true;
      for (let i = 0; i < length; i++) {
        if (bytes[pos + i] !== bytes[last + i]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.topicPos = pos;
        return this.topic;
      }
    }
    this.topicPos = pos;
    this.topicLength = length;
    this.topic = decoder.decode(bytes.subarray(pos, pos + length));
    return this.topic;
  }

  /** The store host at `pos` (a new one resets the message id prefix). */
  storeHostAt(view: DataView, bytes: Uint8Array, pos: number, ipLength: 4 | 16): HostAddress {
    const { host, changed } = this.store.at(view, bytes, pos, ipLength);
    if (changed) this.idHigh = -1;
    return host;
  }

  /** The offset message id of the record at `commitLogOffset` stored by the last store host read. */
  messageId(commitLogOffset: number): string {
    // The records of a pull lie within a few 64 KiB spans: all but the last 4 characters repeat.
    const high = Math.floor(commitLogOffset / TWO_16);
    if (high !== this.idHigh) {
      this.idHigh = high;
      this.idHighPrefix = messageIdPrefix(this.store.host!) + hex32(Math.floor(commitLogOffset / TWO_32)) + hex16((commitLogOffset >>> 16) & 0xffff);
    }
    return this.idHighPrefix + hex16(commitLogOffset & 0xffff);
  }
}

/**
 * Decodes one record.
 *
 * @param bytes The buffer holding the record.
 * @param pos Where it starts.
 * @param options Whether the body is copied.
 * @returns The message; `body` is a copy unless `copyBody` is false, compressed if the sysflag
 * says so. `bornHost` and `storeHost` are frozen.
 * @throws {RangeError} When the bytes are truncated or not a message record.
 */
export function decodeRecord(bytes: Uint8Array, pos: number, options?: DecodeRecordOptions): MessageExt {
  return decodeAt(bytes, viewOf(bytes), pos, new DecodeMemo(), options?.copyBody !== false);
}

function decodeAt(bytes: Uint8Array, view: DataView, pos: number, memo: DecodeMemo, copyBody: boolean): MessageExt {
  const layout = layoutOf(view, pos, bytes.length - pos);
  if (typeof layout === "string") throw new RangeError(`Cannot decode record at ${pos}: ${layout}`);
  const bornHostPort = pos + BORN_HOST_POS + layout.bornIpLength;
  const storeTimestampPos = bornHostPort + 4;
  const storeHostPos = storeTimestampPos + 8;
  const storeHostPort = storeHostPos + layout.storeIpLength;
  const commitLogOffset = getInt64(view, pos + PHYSICAL_OFFSET_POS);
  const storeHost = memo.storeHostAt(view, bytes, storeHostPos, layout.storeIpLength);
  const properties = layout.propertiesLength === 0 ? {} : decodeProperties(
    decoder.decode(bytes.subarray(layout.propertiesPos, layout.propertiesPos + layout.propertiesLength)),
  );
  const keys = properties[MessageConst.KEYS];
  const bodyEnd = layout.bodyPos + layout.bodyLength;
  const message: MessageExt = {
    topic: memo.topicAt(bytes, layout.topicPos, layout.topicLength),
    queueId: view.getInt32(pos + 12),
    queueOffset: getInt64(view, pos + QUEUE_OFFSET_POS),
    commitLogOffset,
    storeSize: layout.size,
    bodyCRC: view.getInt32(pos + 8),
    flag: view.getInt32(pos + 16),
    sysFlag: layout.sysFlag,
    bornTimestamp: getInt64(view, pos + 40),
    bornHost: memo.born.at(view, bytes, pos + BORN_HOST_POS, layout.bornIpLength).host,
    storeTimestamp: getInt64(view, storeTimestampPos),
    storeHost,
    reconsumeTimes: view.getInt32(storeHostPort + 4),
    preparedTransactionOffset: getInt64(view, storeHostPort + 8),
    body: copyBody ? bytes.slice(layout.bodyPos, bodyEnd) : bytes.subarray(layout.bodyPos, bodyEnd),
    properties,
    msgId: memo.messageId(commitLogOffset),
    keys: keys ? keys.split(MessageConst.KEY_SEPARATOR).filter((k) => k !== "") : [],
  };
  const tags = properties[MessageConst.TAGS];
  if (tags !== undefined) message.tags = tags;
  const uniqueKey = properties[MessageConst.UNIQ_KEY];
  if (uniqueKey !== undefined) message.uniqueKey = uniqueKey;
  return message;
}

/**
 * Decodes concatenated records, as a pull response body carries them.
 *
 * @param bytes The records back to back.
 * @param options Whether bodies are copied (see `DecodeRecordOptions.copyBody`).
 * @returns The messages in order.
 * @throws {RangeError} When a record is truncated or malformed.
 */
export function decodeRecords(bytes: Uint8Array, options?: DecodeRecordOptions): MessageExt[] {
  const messages: MessageExt[] = [];
  const view = viewOf(bytes);
  const memo = new DecodeMemo();
  const copyBody = options?.copyBody !== false;
  const onCorrupt = options?.onCorrupt;
  let pos = 0;
  if (onCorrupt === undefined) {
    while (pos < bytes.length) {
      const message = decodeAt(bytes, view, pos, memo, copyBody);
      messages.push(message);
      pos += message.storeSize;
    }
    return messages;
  }
  return decodeChecked(bytes, (at) => decodeAt(bytes, view, at, memo, copyBody), onCorrupt);
}

/**
 * Decodes records back to back with `decode`, each one's body CRC checked: a record that does not
 * decode or whose CRC does not match goes to `onCorrupt` and is left out (the walk stops at one
 * whose size cannot be trusted).
 *
 * @param bytes The records.
 * @param decode Decodes the record at a position.
 * @param onCorrupt Told of each corrupt record.
 * @returns The sound messages in order.
 */
export function decodeChecked<M extends MessageExt>(bytes: Uint8Array, decode: (pos: number) => M, onCorrupt: (record: CorruptRecord) => void): M[] {
  const messages: M[] = [];
  const view = viewOf(bytes);
  let pos = 0;
  while (pos < bytes.length) {
    let message: M;
    try {
      message = decode(pos);
    } catch (error) {
      const left = bytes.length - pos;
      const size = left >= 4 ? view.getInt32(pos) : left;
      const whole = size >= MIN_RECORD_SIZE && size <= left;
      const fields = left >= PHYSICAL_OFFSET_POS + 8 ? readRecordOffsets(bytes, pos) : { queueOffset: -1, physicalOffset: -1 };
      onCorrupt({
        position: pos,
        size: whole ? size : left,
        queueOffset: fields.queueOffset,
        commitLogOffset: fields.physicalOffset,
        reason: (error as Error).message,
      });
      if (!whole) break;
      pos += size;
      continue;
    }
    pos += message.storeSize;
    const crc = bodyCrc(message.body);
    if (crc === message.bodyCRC) {
      messages.push(message);
    } else {
      onCorrupt({
        position: pos - message.storeSize,
        size: message.storeSize,
        queueOffset: message.queueOffset,
        commitLogOffset: message.commitLogOffset,
        reason: `body CRC ${message.bodyCRC} does not match the computed ${crc}`,
      });
    }
  }
  return messages;
}

/**
 * Reads the store timestamp of the record at `pos` without decoding the rest.
 *
 * @param bytes The buffer holding at least the record's fixed part.
 * @param pos Where the record starts.
 * @returns The store timestamp (ms since epoch).
 */
export function readStoreTimestamp(bytes: Uint8Array, pos: number): number {
  const view = viewOf(bytes);
  const bornIpLength = view.getInt32(pos + SYSFLAG_POS) & SysFlag.BORN_HOST_V6 ? 16 : 4;
  return getInt64(view, pos + BORN_HOST_POS + bornIpLength + 4);
}

/**
 * Reads a record's redelivery count without decoding it.
 *
 * @param bytes The buffer holding a verified record.
 * @param pos Where it starts.
 * @returns Its `reconsumeTimes`.
 */
export function readReconsumeTimes(bytes: Uint8Array, pos: number): number {
  const view = viewOf(bytes);
  const sysFlag = view.getInt32(pos + SYSFLAG_POS);
  const bornIpLength = sysFlag & SysFlag.BORN_HOST_V6 ? 16 : 4;
  const storeIpLength = sysFlag & SysFlag.STORE_HOST_V6 ? 16 : 4;
  return view.getInt32(pos + BORN_HOST_POS + bornIpLength + 4 + 8 + storeIpLength + 4);
}

/**
 * Reads a record's encoded property text without decoding the rest.
 *
 * @param bytes The buffer holding a record.
 * @param pos Where it starts.
 * @returns The property text (empty when it has none).
 * @throws {RangeError} When the bytes are not a well-formed record.
 */
export function readRecordProperties(bytes: Uint8Array, pos: number): string {
  const layout = layoutOf(viewOf(bytes), pos, bytes.length - pos);
  if (typeof layout === "string") throw new RangeError(`Cannot read record at ${pos}: ${layout}`);
  return layout.propertiesLength === 0 ? "" : decoder.decode(bytes.subarray(layout.propertiesPos, layout.propertiesPos + layout.propertiesLength));
}

/** The fields recovery needs to index a record. */
export interface RecordIndexFields {
  topic: string;
  queueId: number;
  queueOffset: number;
  size: number;
  /** The `TAGS` property, when set. */
  tags: string | undefined;
  /** The encoded property text (empty when the record has none). */
  properties: string;
}

/**
 * Reads the fields a ConsumeQueue entry needs without copying the body.
 *
 * @param bytes The buffer holding a verified record.
 * @param pos Where it starts.
 * @returns Topic, queue id, queue offset, size and tags.
 * @throws {RangeError} When the bytes are not a well-formed record.
 */
export function readRecordIndexFields(bytes: Uint8Array, pos: number): RecordIndexFields {
  const view = viewOf(bytes);
  const layout = layoutOf(view, pos, bytes.length - pos);
  if (typeof layout === "string") throw new RangeError(`Cannot read record at ${pos}: ${layout}`);
  let tags: string | undefined;
  let text = "";
  if (layout.propertiesLength > 0) {
    text = decoder.decode(bytes.subarray(layout.propertiesPos, layout.propertiesPos + layout.propertiesLength));
    tags = decodeProperties(text)[MessageConst.TAGS];
  }
  return {
    topic: decoder.decode(bytes.subarray(layout.topicPos, layout.topicPos + layout.topicLength)),
    queueId: view.getInt32(pos + 12),
    queueOffset: getInt64(view, pos + QUEUE_OFFSET_POS),
    size: layout.size,
    tags,
    properties: text,
  };
}

/**
 * Reads the queue offset and physical offset fields of the record at `pos`.
 *
 * @param bytes The buffer holding the record.
 * @param pos Where the record starts.
 * @returns The two offsets.
 */
export function readRecordOffsets(
  bytes: Uint8Array,
  pos: number,
): { queueOffset: number; physicalOffset: number } {
  const view = viewOf(bytes);
  return {
    queueOffset: getInt64(view, pos + QUEUE_OFFSET_POS),
    physicalOffset: getInt64(view, pos + PHYSICAL_OFFSET_POS),
  };
}
