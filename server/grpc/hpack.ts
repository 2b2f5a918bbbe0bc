/**
 * HPACK (RFC 7541), the header compression of HTTP/2: a decoder with the static and dynamic tables,
 * Huffman-coded strings and table size updates, and an encoder that writes literals without
 * indexing (so it keeps no table the peer must follow).
 *
 * @module
 */
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, STATIC_TABLE } from "./_hpack_tables.ts";

/** A header block the decoder cannot read: a connection error (COMPRESSION_ERROR) in HTTP/2. */
export class HpackError extends Error {
  override readonly name = "HpackError";
}

/** A decoded header block. */
export interface HeaderList {
  /** Name and value pairs in the order sent (names as sent: HTTP/2 requires lower case). */
  readonly headers: [name: string, value: string][];
  /** The block's size as RFC 7541 section 4.1 counts it (each name and value plus 32). */
  readonly size: number;
  /** True when `size` exceeded the decoder's limit: `headers` then holds only those that fit. */
  readonly tooLarge: boolean;
}

/** Huffman decoding tree: node `n`'s children at `2n` (bit 0) and `2n + 1` (bit 1); a leaf is `-(symbol + 1)`. */
function huffmanTree(): { tree: Int32Array; nodes: number } {
  const tree = new Int32Array(2 * 512);
  let nodes = 1;
  for (let symbol = 0; symbol < 257; symbol++) {
    const code = HUFFMAN_CODES[symbol]!;
    const length = HUFFMAN_LENGTHS[symbol]!;
    let node = 0;
    for (let i = length - 1; i >= 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      if (i === 0) tree[slot] = -(symbol + 1);
      else {
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot]!;
      }
    }
  }
  return { tree, nodes };
}

const EOS = 256;
/** In a `NIBBLES` entry: a symbol was completed (its value in bits 8..15). */
const EMIT = 0x10000;
/** In a `NIBBLES` entry: the EOS symbol was decoded, which a string must not hold. */
const FAIL = 0x20000;
/** In a `NIBBLES` entry: the state after the nibble may end a string (it is the root, or up to 7 one bits into a code). */
const ACCEPT = 0x40000;

/**
 * Huffman decoding four bits at a time: the entry of (node, nibble) is the next node (low 8 bits),
 * the symbol completed on the way, if any (a nibble completes at most one: no code is shorter than
 * 5 bits), and whether the string may end there.
 */
const NIBBLES: Int32Array = (() => {
  const { tree, nodes } = huffmanTree();
  // Nodes reached from the root by ones only, up to 7 deep: EOS padding may stop there.
  const padding = new Set<number>([0]);
  for (let node = 0, depth = 0; depth < 7; depth++) {
    node = tree[2 * node + 1]!;
    padding.add(node);
  }
  const table = new Int32Array(nodes * 16);
  for (let start = 0; start < nodes; start++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = start;
      let entry = 0;
      for (let b = 3; b >= 0; b--) {
        const next = tree[2 * node + ((nibble >>> b) & 1)]!;
        if (next < 0) {
          const symbol = -next - 1;
          if (symbol === EOS) entry |= FAIL;
          else entry |= EMIT | (symbol << 8);
          node = 0;
        } else {
          node = next;
        }
      }
      table[start * 16 + nibble] = entry | node | (padding.has(node) ? ACCEPT : 0);
    }
  }
  return table;
})();

let scratch = new Uint8Array(256);

/**
 * Decodes a Huffman-coded string (RFC 7541 section 5.2).
 *
 * @param bytes The coded bytes.
 * @param start Where they start in `bytes`. @default 0
 * @param end Where they end. @default bytes.length
 * @returns The decoded bytes (a view of a buffer the next call reuses).
 * @throws {HpackError} On the EOS symbol, or padding longer than 7 bits or not all ones.
 */
export function huffmanDecode(bytes: Uint8Array, start = 0, end: number = bytes.length): Uint8Array {
  // No code is shorter than 5 bits.
  const most = Math.ceil(((end - start) * 8) / 5);
  if (scratch.length < most) scratch = new Uint8Array(most);
  const out = scratch;
  let n = 0;
  let state = 0;
  let entry = ACCEPT;
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    entry = NIBBLES[state * 16 + (byte >>> 4)]!;
    if (entry & EMIT) out[n++] = (entry >>> 8) & 0xff;
    entry = NIBBLES[(entry & 0xff) * 16 + (byte & 0xf)]! | (entry & FAIL);
    if (entry & EMIT) out[n++] = (entry >>> 8) & 0xff;
    if (entry & FAIL) throw new HpackError("Huffman-coded string holds the EOS symbol");
    state = entry & 0xff;
  }
  if ((entry & ACCEPT) === 0) throw new HpackError("Huffman-coded string has bad padding");
  return out.subarray(0, n);
}

const UTF8 = new TextDecoder();
const UTF8_ENCODER = new TextEncoder();

/** Header text: UTF-8 (ASCII as HTTP/2 sends it); the runtime's decoder is several times faster than a loop even for short strings. */
function text(bytes: Uint8Array, start: number, end: number): string {
  return UTF8.decode(bytes.subarray(start, end));
}

function byteLength(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return UTF8_ENCODER.encode(s).length;
  return s.length;
}

/** A table entry: its size as RFC 7541 section 4.1 counts it, and its name's bytes. */
interface Entry {
  readonly name: string;
  readonly value: string;
  readonly size: number;
  readonly nameSize: number;
}

const STATIC: readonly Entry[] = STATIC_TABLE.map(([name, value]) => ({ name, value, size: name.length + value.length + 32, nameSize: name.length }));

/** Options of `HpackDecoder`. */
export interface HpackDecoderOptions {
  /** Largest dynamic table the peer may use (our SETTINGS_HEADER_TABLE_SIZE). @default 4096 */
  maxTableSize?: number;
  /** Largest header list kept (our SETTINGS_MAX_HEADER_LIST_SIZE). @default 16384 */
  maxHeaderListSize?: number;
}

/** Decodes the header blocks of one HTTP/2 connection (its dynamic table lasts as long as it). */
export class HpackDecoder {
  readonly #maxTableSize: number;
  readonly #maxListSize: number;
  /** Entries oldest first, each with its size. */
  readonly #table: Entry[] = [];
  #tableSize = 0;
  #capacity: number;
  #pos = 0;
  /** Bytes of the names and values read for the field being decoded. */
  #length = 0;
  #block: Uint8Array = new Uint8Array(0);

  /** @param options Table and list limits. */
  constructor(options: HpackDecoderOptions = {}) {
    this.#maxTableSize = options.maxTableSize ?? 4096;
    this.#maxListSize = options.maxHeaderListSize ?? 16384;
    this.#capacity = this.#maxTableSize;
  }

  /** The dynamic table's current size, bytes as RFC 7541 counts them. */
  get tableSize(): number {
    return this.#tableSize;
  }

  /** The dynamic table's entries, newest first (index 62 first). */
  get entries(): [string, string][] {
    return this.#table.map((e) => [e.name, e.value] as [string, string]).reverse();
  }

  /**
   * Decodes one complete header block.
   *
   * @param block The block (HEADERS and its CONTINUATIONs' fragments, joined).
   * @returns The headers.
   * @throws {HpackError} When the block is malformed; the connection must then be closed.
   */
  decode(block: Uint8Array): HeaderList {
    this.#block = block;
    this.#pos = 0;
    const headers: [string, string][] = [];
    let size = 0;
    let tooLarge = false;
    let fieldSeen = false;
    while (this.#pos < block.length) {
      const first = block[this.#pos]!;
      let name: string;
      let value: string;
      this.#length = 0;
      if (first & 0x80) {
        const entry = this.#entry(this.#integer(7));
        name = entry.name;
        value = entry.value;
        this.#length = entry.size - 32;
      } else if (first & 0x40) {
        const index = this.#integer(6);
        name = index === 0 ? this.#string() : this.#name(index);
        value = this.#string();
        this.#insert(name, value, this.#length + 32);
      } else if (first & 0x20) {
        if (fieldSeen) throw new HpackError("Dynamic table size update after a header field");
        const capacity = this.#integer(5);
        if (capacity > this.#maxTableSize) throw new HpackError(`Dynamic table size update to ${capacity} exceeds the limit of ${this.#maxTableSize}`);
        this.#capacity = capacity;
        this.#evict(0);
        continue;
      } else {
        // Literal without indexing (0000) or never indexed (0001): both 4-bit prefixes.
        const index = this.#integer(4);
        name = index === 0 ? this.#string() : this.#name(index);
        value = this.#string();
      }
      fieldSeen = true;
      size += this.#length + 32;
      if (size > this.#maxListSize) tooLarge = true;
      if (!tooLarge) headers.push([name, value]);
    }
    this.#block = new Uint8Array(0);
    return { headers, size, tooLarge };
  }

  #integer(prefixBits: number): number {
    const block = this.#block;
    const max = (1 << prefixBits) - 1;
    let value = block[this.#pos++]! & max;
    if (value < max) return value;
    let shift = 0;
    for (;;) {
      if (this.#pos >= block.length) throw new HpackError("Header block ends inside an integer");
      const byte = block[this.#pos++]!;
      value += (byte & 0x7f) * 2 ** shift;
      shift += 7;
      if ((byte & 0x80) === 0) break;
      if (shift > 28) throw new HpackError("Integer in header block is too large");
    }
    return value;
  }

  #string(): string {
    const block = this.#block;
    if (this.#pos >= block.length) throw new HpackError("Header block ends before a string");
    const huffman = (block[this.#pos]! & 0x80) !== 0;
    const length = this.#integer(7);
    const start = this.#pos;
    const end = start + length;
    if (end > block.length) throw new HpackError(`String of ${length} bytes runs past the end of the header block`);
    this.#pos = end;
    if (!huffman) {
      this.#length += length;
      return text(block, start, end);
    }
    const decoded = huffmanDecode(block, start, end);
    this.#length += decoded.length;
    return text(decoded, 0, decoded.length);
  }

  #entry(index: number): Entry {
    if (index === 0) throw new HpackError("Header field index 0 is not valid");
    if (index <= STATIC.length) return STATIC[index - 1]!;
    const at = this.#table.length - 1 - (index - STATIC.length - 1);
    const entry = this.#table[at];
    if (entry === undefined) throw new HpackError(`Header field index ${index} is past the table`);
    return entry;
  }

  /** The name of entry `index`; its bytes count towards the field being decoded. */
  #name(index: number): string {
    const entry = this.#entry(index);
    this.#length += entry.nameSize;
    return entry.name;
  }

  #insert(name: string, value: string, size: number): void {
    if (size > this.#capacity) {
      this.#table.length = 0;
      this.#tableSize = 0;
      return;
    }
    this.#evict(size);
    this.#table.push({ name, value, size, nameSize: byteLength(name) });
    this.#tableSize += size;
  }

  /** Evicts the oldest entries until `room` more bytes fit. */
  #evict(room: number): void {
    let drop = 0;
    while (this.#tableSize + room > this.#capacity && drop < this.#table.length) {
      this.#tableSize -= this.#table[drop]!.size;
      drop++;
    }
    if (drop > 0) this.#table.splice(0, drop);
  }
}

function pushInteger(out: number[], value: number, prefixBits: number, flags: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(flags | value);
    return;
  }
  out.push(flags | max);
  value -= max;
  while (value >= 0x80) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
}

/**
 * Encodes a header block of literals without indexing, with literal names and values (no Huffman
 * coding): it needs no state, so a block can be built once and sent on any connection.
 *
 * @param headers Name and value pairs (names in lower case).
 * @returns The block.
 */
export function encodeHeaders(headers: readonly (readonly [string, string])[]): Uint8Array {
  const out: number[] = [];
  for (const [name, value] of headers) {
    out.push(0);
    for (const s of [name, value]) {
      const bytes = UTF8_ENCODER.encode(s);
      pushInteger(out, bytes.length, 7, 0);
      for (const b of bytes) out.push(b);
    }
  }
  return Uint8Array.from(out);
}
