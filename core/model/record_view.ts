/**
 * Lazy views of stored records, as consumers receive them: the fixed fields, hosts, topic and body
 * view are read when a pull's records are decoded; the properties, keys, tags, unique key and
 * message id are decoded from the pulled bytes on first access and kept.
 *
 * @module
 */

import { formatIp } from "./_ip.ts";
import { BORN_HOST_POS, getInt64, layoutOf, PHYSICAL_OFFSET_POS, QUEUE_OFFSET_POS, viewOf } from "./_record_layout.ts";
import { type HostAddress, MessageConst, type MessageExt } from "./message.ts";
import { hex16, hex32, messageIdPrefix } from "./message_id.ts";
import { decodeProperties } from "./properties.ts";
import { type CorruptRecord, decodeChecked } from "./record.ts";

const decoder = new TextDecoder();
const TWO_32 = 0x100000000;
const TWO_16 = 0x10000;
const NAME_END = 1;
const ENTRY_END = 2;
const TAGS = bytesOf(MessageConst.TAGS);
const KEYS = bytesOf(MessageConst.KEYS);
const UNIQ_KEY = bytesOf(MessageConst.UNIQ_KEY);

function bytesOf(ascii: string): Uint8Array {
  return Uint8Array.from(ascii, (c) => c.charCodeAt(0));
}

/** Options of `decodeRecordViews`. */
export interface DecodeRecordViewsOptions {
  /**
   * When given, each body's CRC is checked, and a record whose CRC or layout is wrong is handed to
   * this function and left out (see `DecodeRecordOptions.onCorrupt`). @default undefined (no CRC
   * check; a bad layout throws)
   */
  onCorrupt?: (record: CorruptRecord) => void;
}

/** The last host read at one place of a buffer's records, reused while the next records repeat it. */
class HostMemo {
  #bits = -1;
  #port = -1;
  #host: HostAddress | undefined;

  at(view: DataView, bytes: Uint8Array, pos: number, ipLength: 4 | 16): HostAddress {
    const port = view.getInt32(pos + ipLength);
    if (ipLength === 4) {
      const bits = view.getInt32(pos);
      if (bits === this.#bits && port === this.#port) return this.#host!;
      this.#bits = bits;
    } else {
      this.#bits = -1; // IPv6 hosts are not remembered (-1 never matches a new read)
    }
    this.#port = port;
    return this.#host = Object.freeze({ address: formatIp(bytes, pos, ipLength), port });
  }
}

/** What the records of one buffer share: the bytes, and values that repeat from record to record. */
class Batch {
  readonly bytes: Uint8Array;
  readonly born = new HostMemo();
  readonly store = new HostMemo();
  topicPos = -1;
  topicLength = -1;
  topic = "";
  /** The last tag text decoded, and where its bytes are. */
  tagPos = -1;
  tagLength = -1;
  tag = "";
  /** Message id text before the offset's lower 16 bits, for `idHost` and `idHigh`. */
  idHost: HostAddress | undefined;
  idHigh = -1;
  idPrefix = "";

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** The topic at `pos`, reusing the previous one when its bytes are the same. */
  topicAt(pos: number, length: number): string {
    if (length !== this.topicLength || !this.#same(pos, this.topicPos, length)) {
      this.topicLength = length;
      this.topic = decoder.decode(this.bytes.subarray(pos, pos + length));
    }
    this.topicPos = pos;
    return this.topic;
  }

  /** The tag text at `pos`, reusing the last one decoded when its bytes are the same. */
  tagAt(pos: number, length: number): string {
    if (length !== this.tagLength || !this.#same(pos, this.tagPos, length)) {
      this.tagLength = length;
      this.tag = decoder.decode(this.bytes.subarray(pos, pos + length));
    }
    this.tagPos = pos;
    return this.tag;
  }

  /** The offset message id of a record stored by `host` at `commitLogOffset`. */
  messageId(host: HostAddress, commitLogOffset: number): string {
    // The records of a pull lie within a few 64 KiB spans: all but the last 4 characters repeat.
    const high = Math.floor(commitLogOffset / TWO_16);
    if (high !== this.idHigh || host !== this.idHost) {
      this.idHigh = high;
      this.idHost = host;
      this.idPrefix = messageIdPrefix(host) + hex32(Math.floor(commitLogOffset / TWO_32)) + hex16((commitLogOffset >>> 16) & 0xffff);
    }
    return this.idPrefix + hex16(commitLogOffset & 0xffff);
  }

  #same(pos: number, last: number, length: number): boolean {
    if (last < 0) return false;
    const bytes = this.bytes;
    for (let i = 0; i < length; i++) if (bytes[pos + i] !== bytes[last + i]) return false;
    return true;
  }

  /**
   * Where the value of property `name` lies in the text at [start, end): its start, or -1, and its
   * end in `valueEnd`. The last entry of that name counts, as in `decodeProperties`.
   */
  find(start: number, end: number, name: Uint8Array): number {
    const bytes = this.bytes;
    const length = name.length;
    let found = -1;
    let pos = start;
    while (pos < end) {
      let split = pos;
      while (split < end && bytes[split] !== NAME_END && bytes[split] !== ENTRY_END) split++;
      let entryEnd = split;
      while (entryEnd < end && bytes[entryEnd] !== ENTRY_END) entryEnd++;
      if (split - pos === length && bytes[split] === NAME_END) {
        let same = true;
        for (let i = 0; i < length; i++) {
          if (bytes[pos + i] !== name[i]) {
            same = false;
            break;
          }
        }
        if (same) {
          this.valueEnd = entryEnd;
          found = split + 1;
        }
      }
      pos = entryEnd + 1;
    }
    return found;
  }

  /** Set by `find`: where the value it found ends. */
  valueEnd = 0;
}

/** Marks a lazy field not decoded yet. */
const PENDING = undefined;

/**
 * A stored message read from the bytes of a pull: every `MessageExt` field, the ones that cost a
 * text decode (`properties`, `keys`, `tags`, `uniqueKey`, `msgId`) decoded on first access from the
 * pulled bytes and kept. Those five are accessors of the class, not own properties: `{ ...message }`
 * and `structuredClone(message)` copy only the others, while `JSON.stringify(message)` sees all
 * (through `toJSON`). Setting any field replaces it as on a plain object.
 */
class RecordView implements MessageExt {
  topic: string;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  storeSize: number;
  bodyCRC: number;
  flag: number;
  sysFlag: number;
  bornTimestamp: number;
  bornHost: HostAddress;
  storeTimestamp: number;
  storeHost: HostAddress;
  reconsumeTimes: number;
  preparedTransactionOffset: number;
  body: Uint8Array;
  readonly #batch: Batch;
  readonly #propertiesPos: number;
  readonly #propertiesEnd: number;
  #properties: Record<string, string> | undefined = PENDING;
  #msgId: string | undefined = PENDING;
  #keys: string[] | undefined = PENDING;
  /** The tags and unique key once read (null: the record has none) or set. */
  #tags: string | null | undefined = PENDING;
  #uniqueKey: string | null | undefined = PENDING;

  constructor(batch: Batch, view: DataView, pos: number) {
    const bytes = batch.bytes;
    const layout = layoutOf(view, pos, bytes.length - pos);
    if (typeof layout === "string") throw new RangeError(`Cannot decode record at ${pos}: ${layout}`);
    const bornHostPort = pos + BORN_HOST_POS + layout.bornIpLength;
    const storeHostPos = bornHostPort + 12;
    const storeHostPort = storeHostPos + layout.storeIpLength;
    const bodyPos = layout.bodyPos;
    this.topic = batch.topicAt(layout.topicPos, layout.topicLength);
    this.queueId = view.getInt32(pos + 12);
    this.queueOffset = getInt64(view, pos + QUEUE_OFFSET_POS);
    this.commitLogOffset = getInt64(view, pos + PHYSICAL_OFFSET_POS);
    this.storeSize = layout.size;
    this.bodyCRC = view.getInt32(pos + 8);
    this.flag = view.getInt32(pos + 16);
    this.sysFlag = layout.sysFlag;
    this.bornTimestamp = getInt64(view, pos + 40);
    this.bornHost = batch.born.at(view, bytes, pos + BORN_HOST_POS, layout.bornIpLength);
    this.storeTimestamp = getInt64(view, bornHostPort + 4);
    this.storeHost = batch.store.at(view, bytes, storeHostPos, layout.storeIpLength);
    this.reconsumeTimes = view.getInt32(storeHostPort + 4);
    this.preparedTransactionOffset = getInt64(view, storeHostPort + 8);
    this.body = bytes.subarray(bodyPos, bodyPos + layout.bodyLength);
    this.#batch = batch;
    this.#propertiesPos = layout.propertiesPos;
    this.#propertiesEnd = layout.propertiesPos + layout.propertiesLength;
  }

  /** All properties, system ones (`TAGS`, `KEYS`, …) included. */
  get properties(): Record<string, string> {
    if (this.#properties === PENDING) {
      const start = this.#propertiesPos;
      const end = this.#propertiesEnd;
      this.#properties = start === end ? {} : decodeProperties(decoder.decode(this.#batch.bytes.subarray(start, end)));
    }
    return this.#properties;
  }

  set properties(value: Record<string, string>) {
    this.#properties = value;
  }

  /** Offset message id: store host + commit log offset as 32 (IPv4) upper-case hex characters. */
  get msgId(): string {
    return this.#msgId ??= this.#batch.messageId(this.storeHost, this.commitLogOffset);
  }

  set msgId(value: string) {
    this.#msgId = value;
  }

  /** The `KEYS` property, split on spaces. */
  get keys(): string[] {
    if (this.#keys === PENDING) {
      const start = this.#batch.find(this.#propertiesPos, this.#propertiesEnd, KEYS);
      this.#keys = start < 0 ? [] : this.#text(start, this.#batch.valueEnd).split(MessageConst.KEY_SEPARATOR).filter((k) => k !== "");
    }
    return this.#keys;
  }

  set keys(value: string[]) {
    this.#keys = value;
  }

  /** The `TAGS` property. */
  get tags(): string | undefined {
    if (this.#tags === PENDING) {
      const batch = this.#batch;
      const start = batch.find(this.#propertiesPos, this.#propertiesEnd, TAGS);
      this.#tags = start < 0 ? null : batch.tagAt(start, batch.valueEnd - start);
    }
    return this.#tags ?? undefined;
  }

  set tags(value: string | undefined) {
    this.#tags = value ?? null;
  }

  /** Producer-side unique id (`UNIQ_KEY` property), when set. */
  get uniqueKey(): string | undefined {
    if (this.#uniqueKey === PENDING) {
      const start = this.#batch.find(this.#propertiesPos, this.#propertiesEnd, UNIQ_KEY);
      this.#uniqueKey = start < 0 ? null : this.#text(start, this.#batch.valueEnd);
    }
    return this.#uniqueKey ?? undefined;
  }

  set uniqueKey(value: string | undefined) {
    this.#uniqueKey = value ?? null;
  }

  /**
   * The message as a plain object, every field decoded: what `JSON.stringify` writes.
   *
   * @returns A `MessageExt` with own properties only (`tags` and `uniqueKey` only when set).
   */
  toJSON(): MessageExt {
    const plain: MessageExt = {
      topic: this.topic,
      queueId: this.queueId,
      queueOffset: this.queueOffset,
      commitLogOffset: this.commitLogOffset,
      storeSize: this.storeSize,
      bodyCRC: this.bodyCRC,
      flag: this.flag,
      sysFlag: this.sysFlag,
      bornTimestamp: this.bornTimestamp,
      bornHost: this.bornHost,
      storeTimestamp: this.storeTimestamp,
      storeHost: this.storeHost,
      reconsumeTimes: this.reconsumeTimes,
      preparedTransactionOffset: this.preparedTransactionOffset,
      body: this.body,
      properties: this.properties,
      msgId: this.msgId,
      keys: this.keys,
    };
    const tags = this.tags;
    if (tags !== undefined) plain.tags = tags;
    const uniqueKey = this.uniqueKey;
    if (uniqueKey !== undefined) plain.uniqueKey = uniqueKey;
    return plain;
  }

  /** What consoles print: every field. */
  [Symbol.for("nodejs.util.inspect.custom")](): MessageExt {
    return this.toJSON();
  }

  #text(start: number, end: number): string {
    return decoder.decode(this.#batch.bytes.subarray(start, end));
  }
}

/**
 * Decodes concatenated records, as a pull response body carries them, into lazy views over
 * `bytes`: each body is a view into `bytes` (no copy), and the properties, keys, tags, unique key
 * and message id are decoded from `bytes` on first access. The bytes must not be reused while a
 * message is held (a held message keeps all of `bytes` in memory).
 *
 * @param bytes The records back to back.
 * @param options Whether bodies are CRC-checked, and where corrupt records go.
 * @returns The messages in order; their fields equal what `decodeRecords` returns.
 * @throws {RangeError} When a record is truncated or malformed (and no `onCorrupt` is given).
 *
 * @example Read a pull body
 * ```ts
 * import { decodeRecordViews } from "./record_view.ts";
 * import { encodeRecord, recordSize } from "./record.ts";
 * const host = { address: "127.0.0.1", port: 10911 };
 * const input = { topic: "T", queueId: 0, flag: 0, sysFlag: 0, bornTimestamp: 1, bornHost: host,
 *   storeHost: host, reconsumeTimes: 0, preparedTransactionOffset: 0,
 *   body: new Uint8Array([1, 2]), properties: "TAGS\u0001TagA\u0002" };
 * const bytes = new Uint8Array(recordSize(input));
 * encodeRecord(input, bytes, 0, 0, 0, Date.now());
 * decodeRecordViews(bytes)[0]!.tags; // "TagA"
 * ```
 */
export function decodeRecordViews(bytes: Uint8Array, options?: DecodeRecordViewsOptions): MessageExt[] {
  const messages: MessageExt[] = [];
  if (bytes.length === 0) return messages;
  const view = viewOf(bytes);
  const batch = new Batch(bytes);
  const onCorrupt = options?.onCorrupt;
  let pos = 0;
  if (onCorrupt === undefined) {
    while (pos < bytes.length) {
      const message = new RecordView(batch, view, pos);
      messages.push(message);
      pos += message.storeSize;
    }
    return messages;
  }
  return decodeChecked(bytes, (at) => new RecordView(batch, view, at), onCorrupt);
}
