/**
 * What consumers subscribe with: a tag expression, or `{ sql }` for a SQL92 filter the broker
 * evaluates on each message's properties. Both are checked when given, so a bad SQL expression
 * is refused at `subscribe` (or `pull`) with its column, before anything reaches a broker.
 *
 * @module
 */
import { ClientError } from "../core/errors.ts";
import { compileFilter, type ExpressionType } from "../core/model/message_filter.ts";
import { matchesTag, type TagExpression } from "../core/model/tag_expression.ts";
import type { MessageExt } from "../core/model/message.ts";

/**
 * Which messages of a topic a consumer wants: a tag expression (`*`, `TagA`, `TagA || TagB`), or
 * `{ sql }`, a SQL92 condition on the message's properties and its `TAGS`, such as
 * `{ sql: "region = 'eu' AND amount > 100" }` (see docs/CONSUMING.md).
 */
export type MessageSelector = string | { sql: string };

/** A selector as consumers keep and send it. */
export interface Subscription {
  /** The expression text. */
  expression: string;
  expressionType: ExpressionType;
  /** TAG with tags: the tags, which the client checks by text (the broker matched hashes). */
  tags: TagExpression | undefined;
}

/**
 * Checks and compiles a selector.
 *
 * @param selector A tag expression or `{ sql }`.
 * @returns The subscription.
 * @throws {ClientError} When the selector is neither a string nor `{ sql: string }`.
 * @throws {FilterExpressionError} When the SQL expression is invalid (the message names the column).
 */
export function subscriptionOf(selector: unknown): Subscription {
  if (typeof selector === "string") {
    return { expression: selector, expressionType: "TAG", tags: compileFilter("TAG", selector).tags };
  }
  if (typeof selector === "object" && selector !== null && typeof (selector as { sql?: unknown }).sql === "string") {
    const expression = (selector as { sql: string }).sql;
    compileFilter("SQL92", expression);
    return { expression, expressionType: "SQL92", tags: undefined };
  }
  throw new ClientError("Message selector must be a tag expression (a string) or { sql: string }");
}

/**
 * The pulled messages a subscription keeps: the broker has filtered already, exactly for SQL92
 * and by tag hash for tags, so only tags are checked again, by text.
 *
 * @param subscription The subscription (undefined: keep all).
 * @param messages What a pull returned.
 * @returns The messages to hand over.
 */
export function keptMessages(subscription: Subscription | undefined, messages: MessageExt[]): MessageExt[] {
  const tags = subscription?.tags;
  return tags === undefined ? messages : messages.filter((m) => matchesTag(tags, m.tags));
}
