/**
 * Byte buffers for the read path through `node:buffer` (Bun, Deno and Node all have it): a buffer
 * whose bytes are not zeroed first, for a pull body every byte of which is read into at once, and
 * a copy between two arrays that makes no view of the source (a pull copies a record at a time).
 *
 * @module
 */
import { Buffer } from "node:buffer";

const copy = Buffer.prototype.copy;

/**
 * A new array of `length` bytes, not zeroed and never a slice of a shared pool (its `buffer` is
 * its own): the caller writes every byte before anyone sees it.
 *
 * @param length Its size.
 * @returns The bytes.
 */
export function uninitialisedBytes(length: number): Uint8Array {
  const bytes = Buffer.allocUnsafeSlow(length);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, length);
}

/**
 * Copies `source[from, to)` into `target` at `at`, as `target.set(source.subarray(from, to), at)`
 * does, without making the view.
 *
 * @param source Where the bytes are.
 * @param from First byte.
 * @param to One past the last.
 * @param target Where they go.
 * @param at Where in `target`.
 * @throws {RangeError} When they do not fit in `target` or `[from, to)` is not inside `source`.
 */
export function copyBytes(source: Uint8Array, from: number, to: number, target: Uint8Array, at: number): void {
  if (from < 0 || to > source.length || from > to || at < 0 || at + (to - from) > target.length) {
    throw new RangeError(`Cannot copy bytes ${from} to ${to} of ${source.length} into ${target.length} at ${at}`);
  }
  copy.call(source, target, at, from, to);
}
