/**
 * A batch as the producer encodes it for SEND_BATCH_RECORDS: each message already laid out as the
 * stored record (`record.ts`, IPv4 hosts), with the fields only the broker knows left zero (body
 * CRC, queue id and offset, physical offset, sysflag, hosts, store time). The broker checks the
 * bytes once (`scanBatchRecords`), copies them into the CommitLog and writes those fields in place
 * (`patchBatchRecord`): no message is decoded or encoded again on the way to the disk.
 *
 * @module
 */

import { crc32 } from "./crc32.ts";
import { MessageConst } from "./message.ts";
import { joinProperties } from "./properties.ts";
import { BORN_HOST_POS, MESSAGE_MAGIC, PHYSICAL_OFFSET_POS, QUEUE_OFFSET_POS, SYSFLAG_POS } from "./record.ts";

/** Bytes before the body of a record with IPv4 hosts (the body length field included). */
export const BATCH_RECORD_HEADER = 88;
const BODY_LENGTH_POS = 84;
const STORE_TIMESTAMP_POS = BORN_HOST_POS + 8;
const STORE_HOST_POS = STORE_TIMESTAMP_POS + 8;
const RECONSUME_POS = STORE_HOST_POS + 8;
const TWO_32 = 0x100000000;
const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/** One message of a batch to encode. */
export interface BatchRecordInput {
  body: Uint8Array;
  flag: number;
  /** Encoded property text (`encodeProperties`), or the properties themselves (names and values without U+0001 or U+0002). */
  properties: string | Readonly<Record<string, string>>;
}

const MAX_PROPERTIES_BYTES = 32767;
let lastTopic = "";
let lastTopicBytes = new Uint8Array(0);

/** Characters of the property text, which are its bytes when ASCII. */
function textLength(properties: string | Readonly<Record<string, string>>): number {
  if (typeof properties === "string") return properties.length;
  let n = 0;
  for (const name in properties) n += name.length + properties[name]!.length + 2;
  return n;
}

/** Writes text as bytes from `pos`; -1 when a character is not ASCII (nothing else is promised then). */
function writeAscii(out: Uint8Array, pos: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return -1;
    out[pos + i] = c;
  }
  return pos + text.length;
}

/** Writes the property text from `pos` if it is ASCII; the position after it, or -1. */
function writeProperties(out: Uint8Array, pos: number, properties: string | Readonly<Record<string, string>>): number {
  if (typeof properties === "string") return writeAscii(out, pos, properties);
  for (const name in properties) {
    pos = writeAscii(out, pos, name);
    if (pos < 0) return -1;
    out[pos] = 1;
    pos = writeAscii(out, pos + 1, properties[name]!);
    if (pos < 0) return -1;
    out[pos++] = 2;
  }
  return pos;
}

/** Options of `encodeBatchRecords`. */
export interface EncodeBatchOptions {
  /** When the messages were sent (ms since epoch). */
  bornTimestamp: number;
  /**
   * Memory to encode into when the records fit (every byte of the records is written, so it may
   * hold anything before). @default new memory
   */
  into?: Uint8Array;
}

/**
 * Encodes messages of one topic as stored records with IPv4 host slots, back to back.
 *
 * @param topic The topic every message goes to.
 * @param messages The messages.
 * @param options Their born time, and memory to reuse.
 * @returns The records (a view of `into` when they fit there).
 * @throws {RangeError} When the topic or a property text is too long for the record format.
 *
 * @example Two messages
 * ```ts
 * import { encodeBatchRecords, scanBatchRecords } from "./batch_records.ts";
 * const bytes = encodeBatchRecords("T", [
 *   { body: new Uint8Array([1]), flag: 0, properties: "" },
 *   { body: new Uint8Array([2, 3]), flag: 0, properties: { TAGS: "a" } },
 * ], { bornTimestamp: Date.now() });
 * scanBatchRecords(bytes, { topic: "T", count: 2, maxBodySize: 1024, maxPropertiesSize: 1024 }); // a BatchScan
 * ```
 */
export function encodeBatchRecords(topic: string, messages: readonly BatchRecordInput[], options: EncodeBatchOptions): Uint8Array {
  const bornTimestamp = options.bornTimestamp;
  if (topic !== lastTopic) {
    lastTopicBytes = encoder.encode(topic);
    lastTopic = topic;
  }
  const topicBytes = lastTopicBytes;
  if (topicBytes.length === 0 || topicBytes.length > 127) throw new RangeError(`Cannot store topic "${topic}": ${topicBytes.length} bytes, expected 1 to 127`);
  // Sized for ASCII property text (what producers send); other text takes the slower path below.
  let total = 0;
  for (const m of messages) total += BATCH_RECORD_HEADER + m.body.length + 1 + topicBytes.length + 2 + textLength(m.properties);
  const into = options.into;
  const out = into !== undefined && into.length >= total ? into.subarray(0, total) : new Uint8Array(total);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  let pos = 0;
  for (const m of messages) {
    const bodyEnd = pos + BATCH_RECORD_HEADER + m.body.length;
    out.set(m.body, pos + BATCH_RECORD_HEADER);
    out[bodyEnd] = topicBytes.length;
    out.set(topicBytes, bodyEnd + 1);
    const textStart = bodyEnd + 1 + topicBytes.length + 2;
    const end = writeProperties(out, textStart, m.properties);
    if (end < 0) return encodeText(topicBytes, messages, bornTimestamp);
    // The bytes the broker fills in are zero, whatever `into` held.
    out.fill(0, pos + 8, pos + BODY_LENGTH_POS);
    if (end - textStart > MAX_PROPERTIES_BYTES) throw new RangeError(`Cannot store properties of ${end - textStart} bytes: the limit is ${MAX_PROPERTIES_BYTES}`);
    view.setInt16(textStart - 2, end - textStart);
    writeFixed(view, pos, end - pos, m, bornTimestamp);
    pos = end;
  }
  return out;
}

/** The size, magic, flag, born time and body length of a record at `pos`. */
function writeFixed(view: DataView, pos: number, size: number, m: BatchRecordInput, bornTimestamp: number): void {
  view.setInt32(pos, size);
  view.setInt32(pos + 4, MESSAGE_MAGIC);
  view.setInt32(pos + 16, m.flag);
  view.setInt32(pos + 40, Math.floor(bornTimestamp / TWO_32));
  view.setUint32(pos + 44, bornTimestamp >>> 0);
  view.setInt32(pos + BODY_LENGTH_POS, m.body.length);
}

/** `encodeBatchRecords` for property text that is not all ASCII: each text encoded first. */
function encodeText(topicBytes: Uint8Array, messages: readonly BatchRecordInput[], bornTimestamp: number): Uint8Array {
  const texts = messages.map((m) => encoder.encode(typeof m.properties === "string" ? m.properties : joinProperties(m.properties)));
  let total = 0;
  for (let i = 0; i < messages.length; i++) {
    if (texts[i]!.length > MAX_PROPERTIES_BYTES) throw new RangeError(`Cannot store properties of ${texts[i]!.length} bytes: the limit is ${MAX_PROPERTIES_BYTES}`);
    total += BATCH_RECORD_HEADER + messages[i]!.body.length + 1 + topicBytes.length + 2 + texts[i]!.length;
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let pos = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const text = texts[i]!;
    const size = BATCH_RECORD_HEADER + m.body.length + 1 + topicBytes.length + 2 + text.length;
    writeFixed(view, pos, size, m, bornTimestamp);
    out.set(m.body, pos + BATCH_RECORD_HEADER);
    let p = pos + BATCH_RECORD_HEADER + m.body.length;
    out[p] = topicBytes.length;
    out.set(topicBytes, p + 1);
    p += 1 + topicBytes.length;
    view.setInt16(p, text.length);
    out.set(text, p + 2);
    pos += size;
  }
  return out;
}

/** What `scanBatchRecords` checks the records against. */
export interface BatchScanOptions {
  /** The topic the header names: every record must carry it. */
  topic: string;
  /** How many records the header announces. */
  count: number;
  /** Largest body. */
  maxBodySize: number;
  /** Largest property text in bytes. */
  maxPropertiesSize: number;
}

/** A checked batch. */
export interface BatchScan {
  /** The records. */
  bytes: Uint8Array;
  /** Each record's start in `bytes`. */
  starts: number[];
  /** Each record's size. */
  sizes: number[];
  /** Each record's body CRC, as stored. */
  crcs: number[];
  /** Each record's tag hash (`tagHash` of its `TAGS`). */
  tagHashes: number[];
  /** Bytes of all the bodies. */
  bodyBytes: number;
  /** Whether every property text is ASCII (its bytes are its characters). */
  ascii: boolean;
  /**
   * Whether a record names a property the broker must route by (`DELAY`, `WAIT`, `DEDUP_ID`, a
   * `TIMER_` one): such a batch takes the per-message path.
   */
  routed: boolean;
}

const TAGS = bytesOf(MessageConst.TAGS);
const ROUTED = [MessageConst.DELAY, MessageConst.WAIT, MessageConst.DEDUP_ID].map(bytesOf);
const TIMER_PREFIX = bytesOf("TIMER_");

function bytesOf(text: string): Uint8Array {
  return encoder.encode(text);
}

function nameIs(bytes: Uint8Array, start: number, end: number, name: Uint8Array, prefix = false): boolean {
  if (prefix ? end - start < name.length : end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (bytes[start + i] !== name[i]) return false;
  return true;
}

/** Java's `String.hashCode()` of UTF-8 bytes (their UTF-16 text's, decoded when not ASCII). */
function textHash(bytes: Uint8Array, start: number, end: number, ascii: boolean): number {
  let h = 0;
  if (ascii) {
    for (let i = start; i < end; i++) h = (Math.imul(h, 31) + bytes[i]!) | 0;
    return h;
  }
  const text = strictDecoder.decode(bytes.subarray(start, end));
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  return h;
}

/**
 * Checks records encoded by `encodeBatchRecords` in one pass: sizes and magic, the IPv4 layout,
 * bodies (not empty, within the limit), the topic, property text (well formed, within the limit,
 * valid UTF-8), and computes what the store needs of each: body CRC and tag hash.
 *
 * @param bytes The request body.
 * @param options What the header says and the limits.
 * @returns The checked batch, or what is wrong, for people.
 */
export function scanBatchRecords(bytes: Uint8Array, options: BatchScanOptions): BatchScan | string {
  const { count, maxBodySize, maxPropertiesSize } = options;
  const topic = encoder.encode(options.topic);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const starts: number[] = new Array(count);
  const sizes: number[] = new Array(count);
  const crcs: number[] = new Array(count);
  const tagHashes: number[] = new Array(count);
  let ascii = true;
  let routed = false;
  let bodyBytes = 0;
  let pos = 0;
  const end = bytes.length;
  for (let i = 0; i < count; i++) {
    const left = end - pos;
    const fixed = BATCH_RECORD_HEADER + 1 + topic.length + 2;
    if (left < fixed) return `Message ${i} of the batch is truncated: ${left} bytes left`;
    const size = view.getInt32(pos);
    if (view.getInt32(pos + 4) !== MESSAGE_MAGIC) return `Message ${i} of the batch does not start with the record magic code`;
    if (size < fixed || size > left) return `Message ${i} of the batch has a bad size ${size}`;
    if (view.getInt32(pos + SYSFLAG_POS) !== 0) return `Message ${i} of the batch has sysflag ${view.getInt32(pos + SYSFLAG_POS)}; expected 0`;
    const bodyLength = view.getInt32(pos + BODY_LENGTH_POS);
    if (bodyLength <= 0) return `Message ${i} of the batch has an empty body`;
    if (bodyLength > maxBodySize) return `Message ${i} of the batch exceeds the limit of ${maxBodySize} bytes`;
    const bodyStart = pos + BATCH_RECORD_HEADER;
    const topicAt = bodyStart + bodyLength;
    if (topicAt + 1 + topic.length + 2 > pos + size) return `Message ${i} of the batch has a bad body length ${bodyLength}`;
    if (bytes[topicAt] !== topic.length || !nameIs(bytes, topicAt + 1, topicAt + 1 + topic.length, topic)) {
      return `Message ${i} of the batch names another topic than "${options.topic}"`;
    }
    const propertiesAt = topicAt + 1 + topic.length;
    const propertiesLength = view.getInt16(propertiesAt);
    const textStart = propertiesAt + 2;
    const textEnd = pos + size;
    if (propertiesLength < 0 || textStart + propertiesLength !== textEnd) return `Message ${i} of the batch has a bad properties length ${propertiesLength}`;
    if (propertiesLength > maxPropertiesSize) return `Message ${i} of the batch: properties are larger than ${maxPropertiesSize} bytes`;
    // Entries are name U+0001 value U+0002; a name is not empty.
    let nameStart = textStart;
    let valueStart = -1;
    let tags = 0;
    let textAscii = true;
    for (let p = textStart; p < textEnd; p++) {
      const c = bytes[p]!;
      if (c === 1) {
        if (valueStart >= 0 || p === nameStart) return `Message ${i} of the batch: properties text is malformed`;
        valueStart = p + 1;
      } else if (c === 2) {
        if (valueStart < 0) return `Message ${i} of the batch: properties text is malformed`;
        const nameEnd = valueStart - 1;
        if (nameIs(bytes, nameStart, nameEnd, TAGS)) tags = p - valueStart > 0 ? textHash(bytes, valueStart, p, textAscii) : 0;
        else if (!routed) {
          routed = nameIs(bytes, nameStart, nameEnd, TIMER_PREFIX, true) || ROUTED.some((name) => nameIs(bytes, nameStart, nameEnd, name));
        }
        valueStart = -1;
        nameStart = p + 1;
      } else if (c >= 0x80 && textAscii) {
        textAscii = false;
        try {
          strictDecoder.decode(bytes.subarray(textStart, textEnd));
        } catch {
          return `Message ${i} of the batch: properties text is not valid UTF-8`;
        }
      }
    }
    if (valueStart >= 0 || nameStart !== textEnd) return `Message ${i} of the batch: properties text is malformed`;
    if (!textAscii) ascii = false;
    starts[i] = pos;
    sizes[i] = size;
    crcs[i] = crc32(bytes, bodyStart, bodyStart + bodyLength) & 0x7fffffff;
    tagHashes[i] = tags;
    bodyBytes += bodyLength;
    pos += size;
  }
  if (pos !== end) return `The batch body holds ${end - pos} bytes past its ${count} messages`;
  return { bytes, starts, sizes, crcs, tagHashes, bodyBytes, ascii, routed };
}

/** What the broker writes into a record of a batch as it stores it. */
export interface RecordPatch {
  queueId: number;
  queueOffset: number;
  physicalOffset: number;
  bodyCrc: number;
  bornTimestamp: number;
  /** Born host: IPv4 bytes and port. */
  bornIp: Uint8Array;
  bornPort: number;
  storeTimestamp: number;
  /** Store host: IPv4 bytes and port. */
  storeIp: Uint8Array;
  storePort: number;
}

/**
 * Writes the broker's fields into a record of a scanned batch that was copied to `target` at `pos`.
 *
 * @param target The buffer holding the copy.
 * @param view A view of all of `target`.
 * @param pos Where the record starts.
 * @param patch The fields.
 */
export function patchBatchRecord(target: Uint8Array, view: DataView, pos: number, patch: RecordPatch): void {
  view.setInt32(pos + 8, patch.bodyCrc);
  view.setInt32(pos + 12, patch.queueId);
  view.setInt32(pos + QUEUE_OFFSET_POS, Math.floor(patch.queueOffset / TWO_32));
  view.setUint32(pos + QUEUE_OFFSET_POS + 4, patch.queueOffset >>> 0);
  view.setInt32(pos + PHYSICAL_OFFSET_POS, Math.floor(patch.physicalOffset / TWO_32));
  view.setUint32(pos + PHYSICAL_OFFSET_POS + 4, patch.physicalOffset >>> 0);
  view.setInt32(pos + SYSFLAG_POS, 0);
  view.setInt32(pos + 40, Math.floor(patch.bornTimestamp / TWO_32));
  view.setUint32(pos + 44, patch.bornTimestamp >>> 0);
  const born = patch.bornIp;
  let p = pos + BORN_HOST_POS;
  target[p] = born[0]!;
  target[p + 1] = born[1]!;
  target[p + 2] = born[2]!;
  target[p + 3] = born[3]!;
  view.setInt32(p + 4, patch.bornPort);
  view.setInt32(pos + STORE_TIMESTAMP_POS, Math.floor(patch.storeTimestamp / TWO_32));
  view.setUint32(pos + STORE_TIMESTAMP_POS + 4, patch.storeTimestamp >>> 0);
  const store = patch.storeIp;
  p = pos + STORE_HOST_POS;
  target[p] = store[0]!;
  target[p + 1] = store[1]!;
  target[p + 2] = store[2]!;
  target[p + 3] = store[3]!;
  view.setInt32(p + 4, patch.storePort);
  view.setInt32(pos + RECONSUME_POS, 0);
  view.setInt32(pos + RECONSUME_POS + 4, 0);
  view.setInt32(pos + RECONSUME_POS + 8, 0);
}

/**
 * The messages of a scanned batch as separate fields, for the per-message path (a batch that
 * needs routing, or a host the IPv4 layout cannot hold).
 *
 * @param scan The checked batch.
 * @returns Each message's body (a view into the batch), flag and property text.
 */
export function batchMessages(scan: BatchScan): (BatchRecordInput & { properties: string })[] {
  const { bytes, starts, sizes } = scan;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: (BatchRecordInput & { properties: string })[] = new Array(starts.length);
  for (let i = 0; i < starts.length; i++) {
    const pos = starts[i]!;
    const bodyLength = view.getInt32(pos + BODY_LENGTH_POS);
    const bodyStart = pos + BATCH_RECORD_HEADER;
    const topicLength = bytes[bodyStart + bodyLength]!;
    const textStart = bodyStart + bodyLength + 1 + topicLength + 2;
    out[i] = {
      body: bytes.subarray(bodyStart, bodyStart + bodyLength),
      flag: view.getInt32(pos + 16),
      properties: strictDecoder.decode(bytes.subarray(textStart, pos + sizes[i]!)),
    };
  }
  return out;
}
