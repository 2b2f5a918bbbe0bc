/**
 * Client-side tag matching. The broker filters by tag hash code, so two tags with the same hash
 * both get through; the client checks the tag text itself.
 *
 * @module
 */

/**
 * Parses a tag expression.
 *
 * @param expression `*`, empty, or tags separated by `||`.
 * @returns The tags named, or undefined when every message matches.
 */
export function parseTagExpression(expression: string): Set<string> | undefined {
  const trimmed = expression.trim();
  if (trimmed === "" || trimmed === "*") return undefined;
  const tags = trimmed.split("||").map((t) => t.trim()).filter((t) => t !== "");
  return tags.length === 0 ? undefined : new Set(tags);
}

/**
 * Tells whether a message's tag passes a parsed expression.
 *
 * @param tags The expression's tags (undefined: all pass).
 * @param tag The message's `TAGS` property.
 * @returns Whether the message matches.
 */
export function matchesTag(tags: ReadonlySet<string> | undefined, tag: string | undefined): boolean {
  return tags === undefined || (tag !== undefined && tags.has(tag));
}
