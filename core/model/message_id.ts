/**
 * Offset message ids: the store host and the record's CommitLog offset, as upper-case hex.
 *
 * @module
 */

import { formatIp, parseIp } from "./_ip.ts";
import type { HostAddress } from "./message.ts";

/**
 * Builds the offset message id of a stored record: address bytes (4 or 16), port (int32) and
 * CommitLog offset (int64), big-endian, as 32 (IPv4) or 56 (IPv6) upper-case hex characters.
 *
 * @param host The broker's store host.
 * @param commitLogOffset The record's physical offset.
 * @returns The message id.
 *
 * @example An IPv4 broker
 * ```ts
 * import { createOffsetMessageId } from "./message_id.ts";
 * createOffsetMessageId({ address: "127.0.0.1", port: 10911 }, 0);
 * // "7F00000100002A9F0000000000000000"
 * ```
 */
export function createOffsetMessageId(host: HostAddress, commitLogOffset: number): string {
  if (!Number.isSafeInteger(commitLogOffset) || commitLogOffset < 0) {
    throw new RangeError(`Cannot encode commit log offset "${commitLogOffset}" in a message id`);
  }
  return offsetMessageId(messageIdPrefix(host), commitLogOffset);
}


/**
 * Completes an offset message id from its host prefix.
 *
 * @param prefix From `messageIdPrefix`.
 * @param commitLogOffset The record's physical offset, a safe non-negative integer.
 * @returns The message id.
 */
export function offsetMessageId(prefix: string, commitLogOffset: number): string {
  return prefix + hex32(Math.floor(commitLogOffset / 0x100000000)) + hex32(commitLogOffset >>> 0);
}

/** Hex of each byte value, upper case. */
const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, "0"));
/** Hex of address and port by host: a store or producer has few hosts and each id repeats one. */
const PREFIXES = new Map<string, string>();
const PREFIXES_MAX = 1024;

/**
 * The part of an offset message id that names the host (address and port as hex), for building
 * many ids of one host with `offsetMessageId`.
 *
 * @param host The broker's store host.
 * @returns 16 (IPv4) or 40 (IPv6) upper-case hex characters.
 */
export function messageIdPrefix(host: HostAddress): string {
  const key = `${host.address}|${host.port}`;
  let prefix = PREFIXES.get(key);
  if (prefix === undefined) {
    const ip = parseIp(host.address);
    prefix = "";
    for (let i = 0; i < ip.length; i++) prefix += HEX_BYTE[ip[i]!]!;
    prefix += hex32(host.port);
    if (PREFIXES.size < PREFIXES_MAX) PREFIXES.set(key, prefix);
  }
  return prefix;
}

/**
 * Formats 16 bits as 4 upper-case hex characters.
 *
 * @param n The value (its lower 16 bits are taken).
 * @returns The hex text.
 */
export function hex16(n: number): string {
  return HEX_BYTE[(n >>> 8) & 0xff]! + HEX_BYTE[n & 0xff]!;
}

/**
 * Formats 32 bits as 8 upper-case hex characters.
 *
 * @param n The value (taken as unsigned 32 bits).
 * @returns The hex text.
 */
export function hex32(n: number): string {
  const u = n >>> 0;
  return HEX_BYTE[u >>> 24]! + HEX_BYTE[(u >>> 16) & 0xff]! + HEX_BYTE[(u >>> 8) & 0xff]! + HEX_BYTE[u & 0xff]!;
}

/**
 * Decodes an offset message id.
 *
 * @param id 32 or 56 hex characters (any case).
 * @returns The store host and the record's CommitLog offset.
 * @throws {TypeError} When the id has characters other than hex digits.
 * @throws {RangeError} When the id has the wrong length or an offset beyond 2^53.
 *
 * @example Round trip
 * ```ts
 * import { decodeOffsetMessageId } from "./message_id.ts";
 * decodeOffsetMessageId("7F00000100002A9F0000000000000010");
 * // { host: { address: "127.0.0.1", port: 10911 }, commitLogOffset: 16 }
 * ```
 */
export function decodeOffsetMessageId(
  id: string,
): { host: HostAddress; commitLogOffset: number } {
  if (typeof id !== "string") throw new TypeError(`Cannot decode message id "${String(id)}"`);
  if (id.length !== 32 && id.length !== 56) {
    throw new RangeError(`Cannot decode message id "${id}": expected 32 or 56 hex characters`);
  }
  if (!/^[0-9a-fA-F]+$/.test(id)) {
    throw new TypeError(`Cannot decode message id "${id}": not hexadecimal`);
  }
  const ipLength = id.length === 32 ? 4 : 16;
  const bytes = new Uint8Array(ipLength);
  for (let i = 0; i < ipLength; i++) bytes[i] = parseInt(id.slice(i * 2, i * 2 + 2), 16);
  const rest = ipLength * 2;
  const port = parseInt(id.slice(rest, rest + 8), 16) | 0;
  const high = parseInt(id.slice(rest + 8, rest + 16), 16);
  const low = parseInt(id.slice(rest + 16, rest + 24), 16);
  if (high > 0x1fffff) {
    throw new RangeError(`Cannot decode message id "${id}": offset beyond 2^53`);
  }
  return {
    host: { address: formatIp(bytes, 0, ipLength), port },
    commitLogOffset: high * 0x100000000 + low,
  };
}
