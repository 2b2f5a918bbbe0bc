/**
 * Apache RocketMQ 4.x "remoting" frames, the wire format of RocketMQ's own clients (Java, ali-ons,
 * Go, C++): a 4-byte big-endian length counting everything after it; a 4-byte word whose high byte
 * is the header's serialize type (0 JSON, 1 ROCKETMQ binary) and whose low 24 bits are the header's
 * length; the header; the body (the rest). Pure: bytes to `RemotingCommand` and back, every length
 * checked against the bytes that are there before anything is read or allocated. The 4-byte length
 * and the buffering of incomplete frames are `FrameDecoder`'s, shared with the native protocol.
 *
 * @module
 */
import { CborWriter } from "./cbor_encoder.ts";

/** How a remoting header is serialized: the high byte of the header-length word. */
export const SerializeType = {
  JSON: 0,
  ROCKETMQ: 1,
} as const;
/** One of the `SerializeType` values. */
export type SerializeType = typeof SerializeType[keyof typeof SerializeType];

/** RocketMQ's `LanguageCode` names, by their number in the ROCKETMQ binary header. */
export const LANGUAGE_CODES: readonly string[] = [
  "JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP", "GO", "PHP", "OMS", "RUST",
];

/** Bits of `RemotingCommand.flag`. */
export const RemotingFlag = {
  /** The command answers the request with the same opaque. */
  RESPONSE: 0x1,
  /** The sender expects no answer. */
  ONEWAY: 0x2,
} as const;

/**
 * Largest header accepted: 1 MiB. RocketMQ's own headers stay far below (a message's properties
 * are at most 32 KiB of text, six times that JSON-escaped), so a larger one is refused before it is
 * parsed.
 */
export const REMOTING_MAX_HEADER_SIZE = 1024 * 1024;

/** One remoting request or response (RocketMQ's `RemotingCommand`). */
export interface RemotingCommand {
  /** A request code in requests, a response code in responses. */
  code: number;
  /** The sender's `LanguageCode` name (`JAVA`, `GO`, …). */
  language: string;
  /** The sender's `MQVersion` ordinal (ali-ons sends 121, a 4.9.4 Java client 401). */
  version: number;
  /** Request id chosen by the requester; its response carries the same. */
  opaque: number;
  /** `RemotingFlag` bits. */
  flag: number;
  /** Free text; the error message of failed responses. */
  remark?: string;
  /** The request's or response's named fields, every value as text (RocketMQ's custom header). */
  extFields: Record<string, string>;
  /** The payload. */
  body?: Uint8Array;
  /** How the header was (or is to be) serialized. */
  serializeType: SerializeType;
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });
const ENCODER = new TextEncoder();
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function utf8(bytes: Uint8Array, what: string): string {
  try {
    return UTF8.decode(bytes);
  } catch {
    throw new TypeError(`Remoting ${what} is not valid UTF-8`);
  }
}

/** A map without a prototype, so any field name (even `__proto__`) is an ordinary key. */
function fieldMap(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}

/**
 * Decodes one remoting frame: the bytes after its 4-byte length (header-length word, header, body).
 *
 * @param frame The frame's bytes; the body points into them.
 * @returns The command.
 * @throws {RangeError} When a length does not fit the bytes there or is above the limits.
 * @throws {TypeError} When the header is malformed (unknown serialize type, bad JSON, wrong types).
 * @example Decode a JSON-header frame
 * ```ts
 * import { decodeRemotingCommand, encodeRemotingFrame } from "./remoting_frame.ts";
 * const frame = encodeRemotingFrame({ code: 105, language: "JAVA", version: 401, opaque: 1, flag: 0, extFields: { topic: "orders" }, serializeType: 0 });
 * console.log(decodeRemotingCommand(frame.subarray(4)).extFields.topic); // "orders"
 * ```
 */
export function decodeRemotingCommand(frame: Uint8Array): RemotingCommand {
  if (frame.length < 4) throw new RangeError(`Remoting frame of ${frame.length} bytes is shorter than its 4-byte header length`);
  const word = viewOf(frame).getUint32(0);
  const serializeType = word >>> 24;
  const headerLength = word & 0xffffff;
  if (serializeType !== SerializeType.JSON && serializeType !== SerializeType.ROCKETMQ) {
    throw new TypeError(`Remoting header serialize type ${serializeType} is unknown (0 is JSON, 1 is ROCKETMQ)`);
  }
  if (headerLength > frame.length - 4) {
    throw new RangeError(`Remoting header length ${headerLength} exceeds the ${frame.length - 4} bytes left in its frame`);
  }
  if (headerLength > REMOTING_MAX_HEADER_SIZE) {
    throw new RangeError(`Remoting header length ${headerLength} exceeds the maximum of ${REMOTING_MAX_HEADER_SIZE} bytes`);
  }
  const header = frame.subarray(4, 4 + headerLength);
  const command = serializeType === SerializeType.JSON ? decodeJsonHeader(header) : decodeBinaryHeader(header);
  if (frame.length > 4 + headerLength) command.body = frame.subarray(4 + headerLength);
  return command;
}

/** Deepest nesting a JSON header may have: RocketMQ's are an object holding the `extFields` object. */
const MAX_HEADER_DEPTH = 8;

/**
 * Whether JSON text nests objects and arrays at most `max` deep, found by one pass over the bytes
 * (brackets inside strings do not count), so that deep nesting is refused before `JSON.parse`
 * builds it: a 1 MiB header of brackets would otherwise become half a million arrays.
 *
 * @param bytes UTF-8 JSON text.
 * @param max The deepest nesting allowed.
 * @returns False when it nests deeper.
 */
export function jsonNestingWithin(bytes: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return false;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return true;
}

function int32Member(value: unknown, name: string, fallback?: number): number {
  if (value === undefined || value === null) {
    if (fallback !== undefined) return fallback;
    throw new TypeError(`Remoting header has no "${name}"`);
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < INT32_MIN || value > INT32_MAX) {
    throw new TypeError(`Remoting header "${name}" must be a 32-bit integer`);
  }
  return value;
}

function decodeJsonHeader(bytes: Uint8Array): RemotingCommand {
  if (!jsonNestingWithin(bytes, MAX_HEADER_DEPTH)) throw new TypeError(`Remoting JSON header nests deeper than ${MAX_HEADER_DEPTH} levels`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(utf8(bytes, "JSON header"));
  } catch (cause) {
    if (cause instanceof TypeError) throw cause;
    throw new TypeError(`Remoting JSON header does not parse: ${(cause as Error).message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new TypeError("Remoting JSON header is not an object");
  const h = parsed as Record<string, unknown>;
  const language = h.language ?? "OTHER";
  if (typeof language !== "string" || language.length > 32) throw new TypeError('Remoting header "language" must be a short string');
  const remark = h.remark;
  if (remark !== undefined && remark !== null && typeof remark !== "string") throw new TypeError('Remoting header "remark" must be a string');
  const command: RemotingCommand = {
    code: int32Member(h.code, "code"),
    language,
    version: int32Member(h.version, "version", 0),
    opaque: int32Member(h.opaque, "opaque", 0),
    flag: int32Member(h.flag, "flag", 0),
    extFields: jsonExtFields(h.extFields),
    serializeType: SerializeType.JSON,
  };
  if (typeof remark === "string") command.remark = remark;
  return command;
}

/**
 * RocketMQ's Java side writes every field as text; ali-ons writes numbers and booleans as they are.
 * Both become text here, as Java's own decoder reads them.
 */
function jsonExtFields(value: unknown): Record<string, string> {
  const fields = fieldMap();
  if (value === undefined || value === null) return fields;
  if (typeof value !== "object" || Array.isArray(value)) throw new TypeError('Remoting header "extFields" must be an object');
  for (const [name, field] of Object.entries(value as Record<string, unknown>)) {
    if (typeof field === "string") fields[name] = field;
    else if (typeof field === "number" || typeof field === "boolean") fields[name] = String(field);
    else if (field !== null) throw new TypeError(`Remoting header field "${name.slice(0, 64)}" must be a string, number or boolean`);
  }
  return fields;
}

/** Reads the ROCKETMQ binary header (RocketMQ's `RocketMQSerializable`). */
function decodeBinaryHeader(bytes: Uint8Array): RemotingCommand {
  const view = viewOf(bytes);
  const fixed = 2 + 1 + 2 + 4 + 4;
  if (bytes.length < fixed + 4) throw new RangeError(`ROCKETMQ header of ${bytes.length} bytes is shorter than its ${fixed + 4} fixed bytes`);
  const code = view.getInt16(0);
  const languageCode = view.getUint8(2);
  const version = view.getInt16(3);
  const opaque = view.getInt32(5);
  const flag = view.getInt32(9);
  let pos = fixed;
  const remarkLength = view.getInt32(pos);
  pos += 4;
  if (remarkLength < 0 || remarkLength > bytes.length - pos) {
    throw new RangeError(`ROCKETMQ header remark length ${remarkLength} does not fit the ${bytes.length - pos} bytes left`);
  }
  const remark = remarkLength > 0 ? utf8(bytes.subarray(pos, pos + remarkLength), "remark") : undefined;
  pos += remarkLength;
  if (bytes.length - pos < 4) throw new RangeError("ROCKETMQ header ends before its extFields length");
  const fieldsLength = view.getInt32(pos);
  pos += 4;
  if (fieldsLength < 0 || fieldsLength !== bytes.length - pos) {
    throw new RangeError(`ROCKETMQ header extFields length ${fieldsLength} does not match the ${bytes.length - pos} bytes left`);
  }
  const extFields = fieldMap();
  const end = pos + fieldsLength;
  while (pos < end) {
    if (end - pos < 2) throw new RangeError("ROCKETMQ header extFields end inside a key length");
    const keyLength = view.getInt16(pos);
    pos += 2;
    if (keyLength <= 0 || keyLength > end - pos) throw new RangeError(`ROCKETMQ header key length ${keyLength} does not fit the ${end - pos} bytes left`);
    const key = utf8(bytes.subarray(pos, pos + keyLength), "header key");
    pos += keyLength;
    if (end - pos < 4) throw new RangeError("ROCKETMQ header extFields end inside a value length");
    const valueLength = view.getInt32(pos);
    pos += 4;
    if (valueLength < 0 || valueLength > end - pos) {
      throw new RangeError(`ROCKETMQ header value length ${valueLength} does not fit the ${end - pos} bytes left`);
    }
    extFields[key] = utf8(bytes.subarray(pos, pos + valueLength), "header value");
    pos += valueLength;
  }
  const command: RemotingCommand = {
    code,
    language: LANGUAGE_CODES[languageCode] ?? "OTHER",
    version,
    opaque,
    flag,
    extFields,
    serializeType: SerializeType.ROCKETMQ,
  };
  if (remark !== undefined) command.remark = remark;
  return command;
}

function jsonHeader(command: RemotingCommand): Uint8Array {
  const header: Record<string, unknown> = {
    code: command.code,
    language: command.language,
    version: command.version,
    opaque: command.opaque,
    flag: command.flag,
  };
  if (command.remark !== undefined) header.remark = command.remark;
  // Spread into a plain object: a field map has no prototype, which JSON.stringify does not mind.
  header.extFields = { ...command.extFields };
  return ENCODER.encode(JSON.stringify(header));
}

function binaryHeader(command: RemotingCommand): Uint8Array {
  const remark = command.remark === undefined ? undefined : ENCODER.encode(command.remark);
  const fields: [Uint8Array, Uint8Array][] = [];
  let fieldsLength = 0;
  for (const name in command.extFields) {
    const key = ENCODER.encode(name);
    const value = ENCODER.encode(command.extFields[name]!);
    if (key.length === 0 || key.length > 0x7fff) throw new RangeError(`Remoting header key of ${key.length} bytes cannot be written in a ROCKETMQ header`);
    fields.push([key, value]);
    fieldsLength += 2 + key.length + 4 + value.length;
  }
  const out = new Uint8Array(2 + 1 + 2 + 4 + 4 + 4 + (remark?.length ?? 0) + 4 + fieldsLength);
  const view = viewOf(out);
  view.setInt16(0, command.code);
  const language = LANGUAGE_CODES.indexOf(command.language);
  view.setUint8(2, language < 0 ? LANGUAGE_CODES.indexOf("OTHER") : language);
  view.setInt16(3, command.version);
  view.setInt32(5, command.opaque);
  view.setInt32(9, command.flag);
  let pos = 13;
  view.setInt32(pos, remark?.length ?? 0);
  pos += 4;
  if (remark !== undefined) {
    out.set(remark, pos);
    pos += remark.length;
  }
  view.setInt32(pos, fieldsLength);
  pos += 4;
  for (const [key, value] of fields) {
    view.setInt16(pos, key.length);
    out.set(key, pos + 2);
    pos += 2 + key.length;
    view.setInt32(pos, value.length);
    out.set(value, pos + 4);
    pos += 4 + value.length;
  }
  return out;
}

/**
 * Appends a command as a whole remoting frame (4-byte length included) to a writer.
 *
 * @param writer Where to append (many frames may leave in one socket write).
 * @param command The command; its header is written in its `serializeType`.
 * @throws {RangeError} When the header would not fit the 24-bit header length.
 */
export function writeRemotingFrame(writer: CborWriter, command: RemotingCommand): void {
  const header = command.serializeType === SerializeType.ROCKETMQ ? binaryHeader(command) : jsonHeader(command);
  if (header.length > 0xffffff) throw new RangeError(`Remoting header of ${header.length} bytes exceeds the 24-bit header length`);
  const body = command.body;
  writer.writeUint32(4 + header.length + (body?.length ?? 0));
  writer.writeUint32(((command.serializeType << 24) | header.length) >>> 0);
  writer.writeBytes(header);
  if (body !== undefined) writer.writeBytes(body);
}

/**
 * Encodes a command as a whole remoting frame.
 *
 * @param command The command.
 * @returns A new array holding the frame, its 4-byte length first.
 */
export function encodeRemotingFrame(command: RemotingCommand): Uint8Array {
  const writer = new CborWriter(256);
  writeRemotingFrame(writer, command);
  return writer.take();
}
