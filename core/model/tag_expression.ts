/**
 * Tag expressions, RocketMQ's `TAG` filter type: `*` (or empty) for every message, else tags
 * joined by `||`. The broker matches the hash codes kept in ConsumeQueue entries; two tags can
 * share a hash, so consumers check the tag text of what arrives.
 *
 * @module
 */
import { tagHash } from "./tag_hash.ts";

/** A tag expression that names tags (`*` parses to undefined instead). */
export interface TagExpression {
  /** The tags named. */
  readonly tags: ReadonlySet<string>;
  /** Their hash codes, as ConsumeQueue entries keep them. */
  readonly hashes: ReadonlySet<number>;
}

/**
 * Parses a tag expression: parts split on `||`, trimmed, empty ones dropped (RocketMQ's
 * `FilterAPI.buildSubscriptionData`).
 *
 * @param expression `*`, empty, or tags joined by `||`.
 * @returns The tags and their hashes, or undefined when every message matches.
 *
 * @example Two tags
 * ```ts
 * import { parseTagExpression } from "./tag_expression.ts";
 * [...parseTagExpression("TagA || TagB")!.tags]; // ["TagA", "TagB"]
 * parseTagExpression("*"); // undefined
 * ```
 */
export function parseTagExpression(expression: string): TagExpression | undefined {
  const trimmed = expression.trim();
  if (trimmed === "" || trimmed === "*") return undefined;
  const tags = trimmed.split("||").map((t) => t.trim()).filter((t) => t !== "");
  if (tags.length === 0) return undefined;
  return { tags: new Set(tags), hashes: new Set(tags.map(tagHash)) };
}

/**
 * Tells whether a message's tag passes a parsed expression, by its text.
 *
 * @param expression The parsed expression (undefined: every message passes).
 * @param tag The message's `TAGS` property.
 * @returns Whether the message matches.
 *
 * @example Exact match
 * ```ts
 * import { matchesTag, parseTagExpression } from "./tag_expression.ts";
 * matchesTag(parseTagExpression("Aa"), "BB"); // false, though "Aa" and "BB" share a hash
 * ```
 */
export function matchesTag(expression: TagExpression | undefined, tag: string | undefined): boolean {
  return expression === undefined || (tag !== undefined && expression.tags.has(tag));
}

/**
 * The canonical text of a tag expression: `*`, or its distinct tags sorted and joined by ` || `,
 * so two members' subscriptions can be compared.
 *
 * @param expression A tag expression.
 * @returns Its canonical text.
 *
 * @example Order and spaces do not matter
 * ```ts
 * import { normalizeTagExpression } from "./tag_expression.ts";
 * normalizeTagExpression("B||A || B"); // "A || B"
 * ```
 */
export function normalizeTagExpression(expression: string): string {
  const parsed = parseTagExpression(expression);
  return parsed === undefined ? "*" : [...parsed.tags].sort().join(" || ");
}
