/**
 * A small, strict CBOR (RFC 8949) decoder for what commands carry: integers, floats, text, byte
 * strings, booleans, null/undefined, arrays and maps with text keys. It is built for input from
 * peers that may be hostile: every length is checked against the bytes that remain before anything
 * is allocated, nesting is bounded, and tags, indefinite lengths and unknown simple values are
 * refused — each with a `TypeError` or `RangeError`, never a crash. Map keys named `__proto__` are
 * dropped.
 *
 * @module
 */

/** Limits of `decodeCbor`. */
export interface CborDecodeOptions {
  /** Deepest nesting of arrays and maps. @default 32 */
  maxDepth?: number;
}

const TEXT_DECODER = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
const EMPTY = new Uint8Array(0);

/**
 * Short ASCII texts decoded before (header keys, and values such as topic and group that repeat
 * in every request), in a direct-mapped table: a text is found by the hash of its bytes, and a new
 * one takes the slot of whatever was there, so unique texts cannot crowd out repeated ones.
 */
const TEXT_SLOTS = 2048;
const TEXT_CACHE: (string | undefined)[] = new Array(TEXT_SLOTS).fill(undefined);
const CACHED_TEXT_MAX = 32;

/**
 * Decodes exactly one CBOR item.
 *
 * @param bytes The encoded item; byte strings in the result are views into it (no copy).
 * @param options Limits.
 * @returns The decoded value.
 * @throws {RangeError} When the input ends early, has bytes after the item, or nests too deep.
 * @throws {TypeError} When the input uses CBOR features commands never carry.
 */
export function decodeCbor(bytes: Uint8Array, options: CborDecodeOptions = {}): unknown {
  const reader = new Reader(bytes, options.maxDepth ?? 32);
  const value = reader.read(0);
  if (reader.pos !== bytes.length) throw new RangeError(`Unexpected ${bytes.length - reader.pos} bytes after the CBOR item`);
  return value;
}

class Reader {
  readonly bytes: Uint8Array;
  /** Made on the first float: integers are read byte by byte, so most frames never need one. */
  #view: DataView | undefined;
  readonly maxDepth: number;
  pos = 0;

  constructor(bytes: Uint8Array, maxDepth: number) {
    this.bytes = bytes;
    this.maxDepth = maxDepth;
  }

  #dataView(): DataView {
    return this.#view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }

  #need(n: number): void {
    if (this.pos + n > this.bytes.length) throw new RangeError("CBOR item ends early");
  }

  /** Reads the argument of an initial byte's additional info. */
  #arg(info: number): number {
    if (info < 24) return info;
    const bytes = this.bytes;
    const at = this.pos;
    switch (info) {
      case 24:
        this.#need(1);
        this.pos += 1;
        return this.bytes[at]!;
      case 25:
        this.#need(2);
        this.pos += 2;
        return (bytes[at]! << 8) | bytes[at + 1]!;
      case 26:
        this.#need(4);
        this.pos += 4;
        return uint32(bytes, at);
      case 27: {
        this.#need(8);
        this.pos += 8;
        const hi = uint32(bytes, at);
        if (hi >= 0x200000) throw new RangeError("CBOR integer is beyond 2^53");
        return hi * 0x100000000 + uint32(bytes, at + 4);
      }
      case 31:
        throw new TypeError("Indefinite-length CBOR items are not supported");
      default:
        throw new TypeError(`Reserved CBOR additional info ${info}`);
    }
  }

  read(depth: number): unknown {
    this.#need(1);
    const initial = this.bytes[this.pos++]!;
    const major = initial >> 5;
    const info = initial & 31;
    switch (major) {
      case 0:
        return this.#arg(info);
      case 1:
        return -1 - this.#arg(info);
      case 2: {
        const n = this.#arg(info);
        if (n === 0) return EMPTY;
        this.#need(n);
        const out = this.bytes.subarray(this.pos, this.pos + n);
        this.pos += n;
        return out;
      }
      case 3:
        return this.#text(this.#arg(info));
      case 4: {
        const n = this.#arg(info);
        if (depth >= this.maxDepth) throw new RangeError(`CBOR nests deeper than ${this.maxDepth} levels`);
        // Every element takes at least one byte: a count beyond what remains is a lie.
        this.#need(n);
        const out = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.read(depth + 1);
        return out;
      }
      case 5: {
        const n = this.#arg(info);
        if (depth >= this.maxDepth) throw new RangeError(`CBOR nests deeper than ${this.maxDepth} levels`);
        this.#need(n * 2);
        const out: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          const key = this.#key();
          const value = this.read(depth + 1);
          // A "__proto__" key is dropped: kept as an own property it would still turn into a
          // prototype in any later plain copy of the object (schema parsers make such copies).
          if (key !== "__proto__") out[key] = value;
        }
        return out;
      }
      case 6:
        throw new TypeError("CBOR tags are not supported");
      default:
        return this.#simple(info);
    }
  }

  #simple(info: number): unknown {
    switch (info) {
      case 20:
        return false;
      case 21:
        return true;
      case 22:
        return null;
      case 23:
        return undefined;
      case 25: {
        this.#need(2);
        const half = this.#dataView().getUint16(this.pos);
        this.pos += 2;
        return decodeHalf(half);
      }
      case 26: {
        this.#need(4);
        const value = this.#dataView().getFloat32(this.pos);
        this.pos += 4;
        return value;
      }
      case 27: {
        this.#need(8);
        const value = this.#dataView().getFloat64(this.pos);
        this.pos += 8;
        return value;
      }
      default:
        throw new TypeError(`Unsupported CBOR simple value ${info}`);
    }
  }

  #key(): string {
    this.#need(1);
    const initial = this.bytes[this.pos]!;
    if (initial >> 5 === 3) {
      this.pos += 1;
      return this.#text(this.#arg(initial & 31));
    }
    // Read at the depth limit, so that a key can be a scalar but never an array or a map.
    const key = this.read(this.maxDepth);
    if (typeof key === "number") return String(key);
    throw new TypeError("CBOR map keys must be text or integers");
  }

  #text(n: number): string {
    if (n === 0) return "";
    this.#need(n);
    const bytes = this.bytes;
    const start = this.pos;
    const end = start + n;
    this.pos = end;
    if (n <= CACHED_TEXT_MAX) {
      let hash = n;
      for (let i = start; i < end; i++) {
        const b = bytes[i]!;
        if (b >= 0x80) return TEXT_DECODER.decode(bytes.subarray(start, end));
        hash = (Math.imul(hash, 31) + b) | 0;
      }
      const slot = hash & (TEXT_SLOTS - 1);
      const cached = TEXT_CACHE[slot];
      if (cached !== undefined && cached.length === n && sameAscii(cached, bytes, start)) return cached;
      let s: string;
      if (n <= 16) {
        s = "";
        for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
      } else {
        s = TEXT_DECODER.decode(bytes.subarray(start, end));
      }
      TEXT_CACHE[slot] = s;
      return s;
    }
    return TEXT_DECODER.decode(bytes.subarray(start, end));
  }
}

/** A big-endian unsigned 32-bit integer (the caller checked the 4 bytes are there). */
function uint32(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

function sameAscii(s: string, bytes: Uint8Array, start: number): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== bytes[start + i]) return false;
  return true;
}

function decodeHalf(half: number): number {
  const exponent = (half >> 10) & 0x1f;
  const fraction = half & 0x3ff;
  const sign = half & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction === 0 ? sign * Infinity : Number.NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}
