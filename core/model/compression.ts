/**
 * Compressed message bodies. RocketMQ 4.x clients compress bodies of 4 KiB and more with zlib and
 * set the sysflag's compressed bit (4.9.4 also names the algorithm in bits 8-10: 0 or 3 is zlib, 1
 * LZ4, 2 ZSTD); the broker stores them as sent, and consumers inflate them. Web-standard
 * `DecompressionStream` only, so this loads on every runtime.
 *
 * @module
 */
import { SysFlag } from "./message.ts";

/** The sysflag bits that name the compression algorithm (RocketMQ 4.9.4's `CompressionType`). */
export const COMPRESSION_TYPE_MASK = 0x700;
/** zlib in those bits; 0 means zlib as well. */
const ZLIB_TYPE = 0x300;

/** Largest body a compressed one may inflate to: 64 MiB, so a hostile body cannot exhaust memory. */
export const MAX_INFLATED_SIZE = 64 * 1024 * 1024;

/**
 * Whether a stored body is compressed with zlib (the only algorithm inflated here).
 *
 * @param sysFlag The record's sysflag.
 * @returns True for a zlib-compressed body.
 */
export function isZlibCompressed(sysFlag: number): boolean {
  if ((sysFlag & SysFlag.COMPRESSED) === 0) return false;
  const type = sysFlag & COMPRESSION_TYPE_MASK;
  return type === 0 || type === ZLIB_TYPE;
}

/**
 * Inflates a zlib stream (RFC 1950, what `java.util.zip.Deflater` and Node's `deflateSync` write).
 *
 * @param bytes The compressed body.
 * @param maxSize Refuse to inflate past this many bytes. @default MAX_INFLATED_SIZE
 * @returns The body.
 * @throws {RangeError} When it inflates past `maxSize`.
 * @throws {TypeError} When the bytes are not a whole zlib stream.
 * @example Inflate what CompressionStream made
 * ```ts
 * import { inflateZlib } from "./compression.ts";
 * const packed = new Uint8Array(await new Response(new Blob(["hello"]).stream().pipeThrough(new CompressionStream("deflate"))).arrayBuffer());
 * console.log(new TextDecoder().decode(await inflateZlib(packed))); // "hello"
 * ```
 */
export async function inflateZlib(bytes: Uint8Array, maxSize: number = MAX_INFLATED_SIZE): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(new DecompressionStream("deflate"));
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxSize) {
        await reader.cancel();
        throw new RangeError(`Compressed body inflates past ${maxSize} bytes`);
      }
      parts.push(value);
    }
  } catch (cause) {
    if (cause instanceof RangeError) throw cause;
    throw new TypeError(`Compressed body does not inflate: ${(cause as Error).message}`, { cause });
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
