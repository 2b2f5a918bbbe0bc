/**
 * Hands the runtime's native CRC-32 to the record code, so consumers check every pulled body's CRC
 * at about 30 ns a KiB instead of 1 µs with the JavaScript tables: `Bun.hash.crc32` on Bun (built
 * in; `node:zlib` would add ~10 MiB of resident memory), `crc32` from `node:zlib` on Deno and Node.
 * Loaded on demand by `client/_pull.ts`; on a runtime without either (Workers, browsers) the
 * tables are used. The specifier is a variable so that bundlers of the edge and browser builds
 * leave it alone.
 *
 * @module
 */
import { useCrc32 } from "../../core/model/crc32.ts";

const ZLIB = "node:zlib";
/** Runtimes with `node:zlib`; a page is not tried (Chromium logs a failed `node:` import as an error). */
const HAS_ZLIB = "Bun" in globalThis || "Deno" in globalThis || (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node !== undefined;

const bunCrc32 = (globalThis as { Bun?: { hash?: { crc32?: (data: Uint8Array) => number } } }).Bun?.hash?.crc32;
const zlib = typeof bunCrc32 === "function" ? { crc32: bunCrc32 } : HAS_ZLIB ? await (import(ZLIB) as Promise<{ crc32?: (data: Uint8Array) => number }>).catch(() => undefined) : undefined;
const fn = zlib?.crc32;
if (typeof fn === "function") useCrc32((bytes) => fn(bytes));
