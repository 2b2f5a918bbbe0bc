/**
 * Hands the runtime's native CRC-32 to the record code, which otherwise computes it with tables in
 * JavaScript: the broker checksums every body it stores and every record it recovers or replicates.
 * On Bun that is `Bun.hash.crc32` (the same checksum, as fast, and built in: loading `node:zlib`
 * for its `crc32` costs ~10 MiB of resident memory and ~35 ms). Elsewhere (Deno, Node) it is
 * `crc32` from `node:zlib`, loaded when the first store opens, not with the broker's modules, so
 * that it does not delay the ports' listening.
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
  const bunCrc32 = (globalThis as { Bun?: { hash?: { crc32?: (data: Uint8Array) => number } } }).Bun?.hash?.crc32;
  if (typeof bunCrc32 === "function") installed ??= Promise.resolve(useCrc32((bytes) => bunCrc32(bytes)));
  installed ??= import("node:zlib").then(
    (zlib) => {
      const fn = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
      return typeof fn === "function" && useCrc32((bytes) => fn(bytes));
    },
    () => false,
  );
  return installed;
}
