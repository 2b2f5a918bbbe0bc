/**
 * Hands the runtime's zlib CRC-32 (Bun, Deno and Node all have `crc32` in `node:zlib`) to the
 * record code, which otherwise computes it with tables in JavaScript: the broker checksums every
 * body it stores and every record it recovers or replicates. `node:zlib` is loaded when the first
 * store opens, not with the broker's modules: on Bun it takes ~35 ms to load (its streams with it),
 * which would otherwise delay every start before the ports listen.
 *
 * @module
 */
import { useCrc32 } from "../../core/model/crc32.ts";

let installed: Promise<boolean> | undefined;

/**
 * Installs the native CRC-32 once.
 *
 * @returns Whether it is in use (false on a runtime without `zlib.crc32`: the tables are used).
 */
export function installNativeCrc32(): Promise<boolean> {
  installed ??= import("node:zlib").then(
    (zlib) => {
      const fn = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
      return typeof fn === "function" && useCrc32((bytes) => fn(bytes));
    },
    () => false,
  );
  return installed;
}
