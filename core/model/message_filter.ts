/**
 * A subscription's filter, of either RocketMQ expression type: `TAG` (tags joined by `||`,
 * matched on the ConsumeQueue's tag hash, then by text) or `SQL92` (evaluated on each message's
 * properties). Compiled filters are cached by text, so a pull pays for a map lookup, not a parse.
 *
 * @module
 */
import { FilterExpressionError } from "../errors.ts";
import { MAX_SQL_LENGTH } from "./_sql_parser.ts";
import { compileSqlFilter, type SqlFilter } from "./sql_filter.ts";
import { parseTagExpression, type TagExpression } from "./tag_expression.ts";

/** The expression types, with RocketMQ's names (`ExpressionType.TAG`, `ExpressionType.SQL92`). */
export const EXPRESSION_TYPES = ["TAG", "SQL92"] as const;

/** Longest subscription expression, tag or SQL92, in characters (longer ones are refused on the wire). */
export const MAX_EXPRESSION_LENGTH: number = MAX_SQL_LENGTH;

/** How a subscription's expression is read. */
export type ExpressionType = typeof EXPRESSION_TYPES[number];

/** A compiled subscription filter. */
export interface MessageFilter {
  readonly type: ExpressionType;
  /** The expression as given. */
  readonly expression: string;
  /** TAG: the tags named (undefined when every message matches, and for SQL92). */
  readonly tags: TagExpression | undefined;
  /** TAG with tags: keeps a ConsumeQueue entry by its tag hash. */
  readonly acceptsTagHash: ((tagHash: number) => boolean) | undefined;
  /** SQL92: the compiled expression. */
  readonly sql: SqlFilter | undefined;
}

/** Filters kept per type; past this the oldest is dropped. */
const CACHE_SIZE = 1024;
const caches: Record<ExpressionType, Map<string, MessageFilter | FilterExpressionError>> = { TAG: new Map(), SQL92: new Map() };
const EVERY_MESSAGE: MessageFilter = { type: "TAG", expression: "*", tags: undefined, acceptsTagHash: undefined, sql: undefined };

function build(type: ExpressionType, expression: string): MessageFilter {
  if (type === "SQL92") return { type, expression, tags: undefined, acceptsTagHash: undefined, sql: compileSqlFilter(expression) };
  const tags = parseTagExpression(expression);
  if (tags === undefined) return { ...EVERY_MESSAGE, expression };
  const hashes = tags.hashes;
  return { type, expression, tags, acceptsTagHash: (hash) => hashes.has(hash), sql: undefined };
}

/**
 * Compiles a subscription expression, or takes it from the cache (the last 1,024 distinct texts
 * per type, refusals included).
 *
 * @param type `TAG` or `SQL92`.
 * @param expression The expression text.
 * @returns The filter.
 * @throws {FilterExpressionError} When a SQL92 expression is invalid.
 *
 * @example Both types
 * ```ts
 * import { compileFilter } from "./message_filter.ts";
 * compileFilter("TAG", "TagA || TagB").tags?.tags.has("TagA"); // true
 * compileFilter("SQL92", "amount > 100").sql?.properties; // ["amount"]
 * ```
 */
export function compileFilter(type: ExpressionType, expression: string): MessageFilter {
  if (type === "TAG" && expression === "*") return EVERY_MESSAGE;
  const cache = caches[type];
  let found = cache.get(expression);
  if (found === undefined) {
    try {
      found = build(type, expression);
    } catch (error) {
      if (!(error instanceof FilterExpressionError)) throw error;
      found = error;
    }
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(expression, found);
  }
  if (found instanceof FilterExpressionError) throw found;
  return found;
}
