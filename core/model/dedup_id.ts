/**
 * Dedup ids of idempotent sends, checked the same way by producers and brokers.
 *
 * @module
 */

/** Longest dedup id. */
export const MAX_DEDUP_ID_LENGTH = 128;
const DEDUP_ID_PATTERN = /^[A-Za-z0-9_.:@+=\/-]+$/;

/**
 * Checks a dedup id: 1 to 128 characters of letters, digits and `_ . : @ + = / -`.
 *
 * @param id The id.
 * @returns Undefined when valid, else why not.
 *
 * @example A producer's unique key is a valid id
 * ```ts
 * import { checkDedupId } from "./dedup_id.ts";
 * checkDedupId("7F0000010F3A18B4AAC2A1B2C3D40000"); // undefined
 * ```
 */
export function checkDedupId(id: unknown): string | undefined {
  if (typeof id !== "string" || id.length === 0) return "Dedup id is empty";
  if (id.length > MAX_DEDUP_ID_LENGTH) return `Dedup id "${id.slice(0, 16)}…" is longer than ${MAX_DEDUP_ID_LENGTH} characters`;
  if (!DEDUP_ID_PATTERN.test(id)) return `Dedup id "${id.slice(0, 32)}" may only contain letters, digits and _ . : @ + = / -`;
  return undefined;
}
