/**
 * Hands the runtime's zlib CRC-32 (Bun, Deno and Node all have `crc32` in `node:zlib`) to the
 * record code, which otherwise computes it with tables in JavaScript: the broker checksums every
 * body it stores and every record it recovers or replicates.
 *
 * @module
 */
import * as zlib from "node:zlib";
import { useCrc32 } from "../../core/model/crc32.ts";

let installed: boolean | undefined;

/**
 * Installs the native CRC-32 once.
 *
 * @returns Whether it is in use (false on a runtime without `zlib.crc32`: the tables are used).
 */
export function installNativeCrc32(): boolean {
  if (installed === undefined) {
    const fn = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
    installed = typeof fn === "function" && useCrc32((bytes) => fn(bytes));
  }
  return installed;
}
