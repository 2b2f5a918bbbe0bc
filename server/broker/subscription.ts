/**
 * Tag expressions: `*`, `TagA`, `TagA || TagB`.
 *
 * @module
 */
import { tagHash } from "../../core/model/tag_hash.ts";

/** A parsed tag expression. */
export interface TagFilter {
  /** The tags named; empty for `*`. */
  tags: string[];
  /** Their hash codes, as stored in ConsumeQueue entries. */
  hashes: Set<number>;
}

/**
 * Parses a tag expression.
 *
 * @param expression `*`, empty, or tags separated by `||`.
 * @returns The filter, or undefined when every message matches.
 */
export function parseTagExpression(expression: string | undefined): TagFilter | undefined {
  if (expression === undefined) return undefined;
  const trimmed = expression.trim();
  if (trimmed === "" || trimmed === "*") return undefined;
  const tags = trimmed.split("||").map((t) => t.trim()).filter((t) => t !== "");
  if (tags.length === 0) return undefined;
  return { tags, hashes: new Set(tags.map(tagHash)) };
}
