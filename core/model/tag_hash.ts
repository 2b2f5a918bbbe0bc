/**
 * Tag hash codes as RocketMQ stores them in ConsumeQueue entries and sends them in subscriptions.
 *
 * @module
 */

/**
 * Java's `String.hashCode()` of a tag: a signed 32-bit number over the UTF-16 code units, or 0
 * when there is no tag.
 *
 * @param tags The `TAGS` property value.
 * @returns A signed 32-bit integer.
 *
 * @example Hash of a tag
 * ```ts
 * import { tagHash } from "./tag_hash.ts";
 * tagHash("TagA"); // 2598919
 * ```
 */
export function tagHash(tags: string | undefined): number {
  if (!tags) return 0;
  let h = 0;
  for (let i = 0; i < tags.length; i++) h = (Math.imul(h, 31) + tags.charCodeAt(i)) | 0;
  return h;
}
