/**
 * CRC-32 (IEEE 802.3, the polynomial zlib and Java's `java.util.zip.CRC32` use), table driven
 * with slicing-by-8 for speed.
 *
 * @module
 */

const POLY = 0xedb88320;

function buildTables(): Uint32Array[] {
  const tables: Uint32Array[] = [];
  const base = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLY ^ (c >>> 1) : c >>> 1;
    base[n] = c >>> 0;
  }
  tables.push(base);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1]!;
    const next = new Uint32Array(256);
    for (let n = 0; n < 256; n++) next[n] = (base[prev[n]! & 0xff]! ^ (prev[n]! >>> 8)) >>> 0;
    tables.push(next);
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = buildTables() as [
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
  Uint32Array,
];

/**
 * CRC-32 of `bytes[start, end)`, the same value zlib's `crc32()` and Java's `CRC32` give.
 *
 * @param bytes The input.
 * @param start First byte to include. @default 0
 * @param end One past the last byte to include. @default bytes.length
 * @returns The checksum as an unsigned 32-bit number.
 *
 * @example Checksum of ASCII text
 * ```ts
 * import { crc32 } from "./crc32.ts";
 * crc32(new TextEncoder().encode("123456789")); // 0xCBF43926
 * ```
 */
export function crc32(bytes: Uint8Array, start = 0, end: number = bytes.length): number {
  if (start < 0 || end > bytes.length || start > end) {
    throw new RangeError(`Cannot checksum range [${start}, ${end}) of ${bytes.length} bytes`);
  }
  if (native !== undefined) return native(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end)) >>> 0;
  return portableCrc32(bytes, start, end);
}

/** A runtime's own CRC-32 (zlib's, vectorised), when one was installed with `useCrc32`. */
let native: ((bytes: Uint8Array) => number) | undefined;

/**
 * Makes `crc32` use a faster implementation, such as a runtime's zlib binding (about twenty times
 * the speed of the tables here on 1 KiB). The candidate is checked against known checksums first
 * and refused if it disagrees.
 *
 * @param fn CRC-32 of a whole byte array, as zlib computes it.
 * @returns Whether `fn` is now used.
 */
export function useCrc32(fn: (bytes: Uint8Array) => number): boolean {
  const sample = new Uint8Array(1031).map((_, i) => (i * 131 + 7) & 0xff);
  try {
    const ok = fn(new TextEncoder().encode("123456789")) >>> 0 === 0xcbf43926 &&
      fn(sample.subarray(3, 1030)) >>> 0 === portableCrc32(sample, 3, 1030) &&
      fn(new Uint8Array(0)) >>> 0 === 0;
    if (ok) native = fn;
    return ok;
  } catch {
    return false;
  }
}

/**
 * CRC-32 computed here with tables (slicing-by-8), whatever `useCrc32` installed.
 *
 * @param bytes The input.
 * @param start First byte to include.
 * @param end One past the last byte to include.
 * @returns The checksum as an unsigned 32-bit number.
 */
export function portableCrc32(bytes: Uint8Array, start: number, end: number): number {
  let c = 0xffffffff;
  let i = start;
  const stop8 = end - ((end - start) & 7);
  while (i < stop8) {
    const lo = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c = T7[lo & 0xff]! ^ T6[(lo >>> 8) & 0xff]! ^ T5[(lo >>> 16) & 0xff]! ^ T4[lo >>> 24]! ^
      T3[bytes[i + 4]!]! ^ T2[bytes[i + 5]!]! ^ T1[bytes[i + 6]!]! ^ T0[bytes[i + 7]!]!;
    i += 8;
  }
  while (i < end) c = T0[(c ^ bytes[i++]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The body checksum stored in a message record: CRC-32 with the sign bit cleared, as RocketMQ's
 * `UtilAll.crc32` computes it.
 *
 * @param bytes The message body as stored.
 * @returns A non-negative 31-bit number.
 *
 * @example Checksum of a body
 * ```ts
 * import { bodyCrc } from "./crc32.ts";
 * bodyCrc(new TextEncoder().encode("123456789")); // 0x4BF43926
 * ```
 */
export function bodyCrc(bytes: Uint8Array): number {
  return crc32(bytes) & 0x7fffffff;
}
