/**
 * A small, fast CBOR (RFC 8949) encoder for the values commands carry: integers and other numbers,
 * text, byte strings, booleans, null, arrays and plain objects with text keys. It writes into one
 * growable buffer, so a connection can encode every frame of a tick back to back and send them with
 * one write. Decoding stays with cbor-x, which copes with any input a peer may send.
 *
 * @module
 */

const MIN_CAPACITY = 16 * 1024;
/** Largest buffer a `CborWriter` keeps after `take` or `clear`; a larger one is let go. */
export const CBOR_WRITER_KEPT_BYTES = 1024 * 1024;
const MAX_DEPTH = 64;
const TEXT_ENCODER = new TextEncoder();

/** Appends CBOR items to a growable buffer. */
export class CborWriter {
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;

  /** @param capacity Initial buffer size in bytes. */
  constructor(capacity: number = MIN_CAPACITY) {
    this.#buf = new Uint8Array(capacity);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#pos;
  }

  /**
   * Copies out the bytes written so far and starts over, reusing the buffer (a buffer that grew past
   * 1 MiB for a large item is let go).
   *
   * @returns A new array owned by the caller.
   */
  take(): Uint8Array {
    const out = this.#buf.slice(0, this.#pos);
    this.#pos = 0;
    if (this.#buf.length > CBOR_WRITER_KEPT_BYTES) {
      this.#buf = new Uint8Array(MIN_CAPACITY);
      this.#view = new DataView(this.#buf.buffer);
    }
    return out;
  }

  /**
   * The bytes written so far, without copying: valid until the next write, `take` or `clear`.
   *
   * @returns A view of this writer's buffer.
   */
  written(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }

  /** Forgets everything written since the last `take` (a buffer that grew past 1 MiB is let go). */
  clear(): void {
    this.#pos = 0;
    if (this.#buf.length > CBOR_WRITER_KEPT_BYTES) {
      this.#buf = new Uint8Array(MIN_CAPACITY);
      this.#view = new DataView(this.#buf.buffer);
    }
  }

  /**
   * Drops what was written after a position (an item that failed half way).
   *
   * @param at A length this writer had before.
   */
  truncate(at: number): void {
    if (at < this.#pos) this.#pos = at;
  }

  /**
   * Reserves 4 bytes for a big-endian length to be filled in by `endLength`.
   *
   * @returns The position of the reserved bytes.
   */
  beginLength(): number {
    this.#ensure(4);
    const at = this.#pos;
    this.#pos += 4;
    return at;
  }

  /**
   * Writes the number of bytes written since `beginLength` into its reserved bytes.
   *
   * @param at What `beginLength` returned.
   * @returns The length written.
   */
  endLength(at: number): number {
    const length = this.#pos - at - 4;
    this.#view.setUint32(at, length);
    return length;
  }

  /**
   * Appends a big-endian unsigned 32-bit integer as it is (for frames of other protocols).
   *
   * @param value The integer, 0 to 2^32 - 1.
   */
  writeUint32(value: number): void {
    this.#ensure(4);
    this.#view.setUint32(this.#pos, value);
    this.#pos += 4;
  }

  /**
   * Appends bytes as they are (for frames of other protocols).
   *
   * @param bytes The bytes.
   */
  writeBytes(bytes: Uint8Array): void {
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#pos);
    this.#pos += bytes.length;
  }

  /**
   * Appends one value.
   *
   * @param value The value.
   * @throws {TypeError} For values CBOR commands do not carry (functions, symbols, bigints, class
   *   instances other than Uint8Array) or nesting deeper than 64.
   */
  write(value: unknown): void {
    this.#value(value, 0);
  }

  /**
   * Appends the head of an array of `n` items; the caller writes the items next.
   *
   * @param n How many items follow.
   */
  writeArrayHead(n: number): void {
    this.#head(4, n);
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    let capacity = this.#buf.length * 2;
    while (capacity < this.#pos + n) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.#buf.subarray(0, this.#pos));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  /** Writes a major type with its argument. */
  #head(major: number, n: number): void {
    this.#ensure(9);
    const buf = this.#buf;
    const m = major << 5;
    if (n < 24) {
      buf[this.#pos++] = m | n;
    } else if (n < 0x100) {
      buf[this.#pos++] = m | 24;
      buf[this.#pos++] = n;
    } else if (n < 0x10000) {
      buf[this.#pos++] = m | 25;
      buf[this.#pos++] = n >>> 8;
      buf[this.#pos++] = n & 0xff;
    } else if (n < 0x100000000) {
      buf[this.#pos++] = m | 26;
      this.#view.setUint32(this.#pos, n);
      this.#pos += 4;
    } else {
      buf[this.#pos++] = m | 27;
      this.#view.setUint32(this.#pos, Math.floor(n / 0x100000000));
      this.#view.setUint32(this.#pos + 4, n >>> 0);
      this.#pos += 8;
    }
  }

  #value(value: unknown, depth: number): void {
    switch (typeof value) {
      case "string":
        this.#string(value);
        return;
      case "number":
        this.#number(value);
        return;
      case "boolean":
        this.#ensure(1);
        this.#buf[this.#pos++] = value ? 0xf5 : 0xf4;
        return;
      case "undefined":
        this.#ensure(1);
        this.#buf[this.#pos++] = 0xf7;
        return;
      case "object": {
        if (value === null) {
          this.#ensure(1);
          this.#buf[this.#pos++] = 0xf6;
          return;
        }
        if (depth >= MAX_DEPTH) throw new TypeError(`Value nests deeper than ${MAX_DEPTH} levels`);
        if (value instanceof Uint8Array) {
          this.#head(2, value.length);
          this.#ensure(value.length);
          this.#buf.set(value, this.#pos);
          this.#pos += value.length;
          return;
        }
        if (Array.isArray(value)) {
          this.#head(4, value.length);
          for (let i = 0; i < value.length; i++) this.#value(value[i], depth + 1);
          return;
        }
        const proto = Object.getPrototypeOf(value);
        if (proto !== Object.prototype && proto !== null) {
          throw new TypeError(`Cannot encode an instance of ${(value as object).constructor?.name ?? "an unknown class"}`);
        }
        const record = value as Record<string, unknown>;
        // Object.keys rather than for-in: V8 (Deno) falls off its fast path when for-in meets the
        // many header shapes a server encodes, and then it costs microseconds an object.
        const keys = Object.keys(record);
        let count = 0;
        for (let i = 0; i < keys.length; i++) if (record[keys[i]!] !== undefined) count++;
        this.#head(5, count);
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i]!;
          const item = record[key];
          if (item === undefined) continue;
          this.#string(key);
          this.#value(item, depth + 1);
        }
        return;
      }
      default:
        throw new TypeError(`Cannot encode a value of type ${typeof value}`);
    }
  }

  #number(n: number): void {
    if (Number.isSafeInteger(n) && !Object.is(n, -0)) {
      if (n >= 0) this.#head(0, n);
      else this.#head(1, -1 - n);
      return;
    }
    this.#ensure(9);
    this.#buf[this.#pos++] = 0xfb;
    this.#view.setFloat64(this.#pos, n);
    this.#pos += 8;
  }

  #string(s: string): void {
    const n = s.length;
    if (n < 64) {
      // Short strings: try ASCII in place, the common case for header keys and values.
      this.#ensure(2 + n);
      const buf = this.#buf;
      const start = this.#pos;
      let pos = start + (n < 24 ? 1 : 2);
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[pos++] = c;
      }
      if (i === n) {
        if (n < 24) buf[start] = 0x60 | n;
        else {
          buf[start] = 0x78;
          buf[start + 1] = n;
        }
        this.#pos = pos;
        return;
      }
    }
    // General case: at most 3 bytes per UTF-16 unit; write the head for that bound, then shrink it.
    const max = n * 3;
    const headSize = max < 24 ? 1 : max < 0x100 ? 2 : max < 0x10000 ? 3 : 5;
    // Room for the bytes and for #head's own reserve, so that it never moves the buffer under us.
    this.#ensure(headSize + max + 9);
    const start = this.#pos;
    const { written } = TEXT_ENCODER.encodeInto(s, this.#buf.subarray(start + headSize, start + headSize + max));
    const actualHead = written < 24 ? 1 : written < 0x100 ? 2 : written < 0x10000 ? 3 : 5;
    if (actualHead !== headSize) {
      this.#buf.copyWithin(start + actualHead, start + headSize, start + headSize + written);
    }
    this.#head(3, written);
    this.#pos = start + actualHead + written;
  }
}
