/**
 * The parser of SQL92 filter expressions (RocketMQ's subset): text to a typed syntax tree, with
 * errors that name the column. Conditions and values are told apart while parsing, so every
 * comparison that can never be made (`'abc' > 1`, `a = NULL`, `(a > 1) = 2`) is refused here
 * rather than at evaluation. Length and nesting are bounded before any work grows with them.
 *
 * @module
 */
import { FilterExpressionError } from "../errors.ts";

/** Longest expression accepted, in UTF-16 code units (the pull header's `subscription` limit). */
export const MAX_SQL_LENGTH = 4096;
/** Deepest nesting of parentheses, NOT and unary signs. */
export const MAX_SQL_DEPTH = 64;
/** Largest integer literal: Java's `Long.MAX_VALUE`, as RocketMQ allows. */
const MAX_INTEGER = 9223372036854775807n;

/** A value: a property, a literal, or a number negated. */
export type SqlValue =
  | { kind: "property"; name: string }
  | { kind: "string"; value: string }
  /** `exact` holds an integer literal beyond ±(2^53 - 1), which `value` only approximates. */
  | { kind: "number"; value: number; exact?: bigint }
  | { kind: "boolean"; value: boolean }
  | { kind: "null" }
  | { kind: "negate"; operand: SqlValue };

/** Comparison operators. */
export type SqlCompareOp = "=" | "<>" | "<" | "<=" | ">" | ">=";

/** String tests on a property. */
export type SqlMatchOp = "contains" | "startsWith" | "endsWith";

/** A condition: TRUE, FALSE or UNKNOWN for a message. */
export type SqlCondition =
  | { kind: "and" | "or"; operands: SqlCondition[] }
  | { kind: "not"; operand: SqlCondition }
  | { kind: "compare"; op: SqlCompareOp; left: SqlValue; right: SqlValue }
  | { kind: "between"; not: boolean; value: SqlValue; low: SqlValue; high: SqlValue }
  | { kind: "in"; not: boolean; property: string; values: string[] }
  | { kind: "isNull"; not: boolean; value: SqlValue }
  | { kind: "match"; op: SqlMatchOp; not: boolean; property: string; search: string }
  | { kind: "constant"; value: boolean };

type TokenType = "word" | "number" | "string" | "op" | "end";

interface Token {
  type: TokenType;
  /** The text as written (a string literal with its quotes). */
  text: string;
  /** Index in the expression. */
  at: number;
  /** Keyword in upper case, for words. */
  upper: string;
}

const KEYWORDS = new Set(["NOT", "AND", "OR", "BETWEEN", "IN", "TRUE", "FALSE", "NULL", "IS", "CONTAINS", "STARTSWITH", "ENDSWITH"]);
const MATCH_OPS: Readonly<Record<string, SqlMatchOp>> = { CONTAINS: "contains", STARTSWITH: "startsWith", ENDSWITH: "endsWith" };
const ORDER_OPS = new Set(["<", "<=", ">", ">="]);

function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12;
}

/** What the parser builds while it goes: a condition, or a value not yet compared. */
type Parsed = { condition: SqlCondition; value?: undefined; at: number } | { value: SqlValue; condition?: undefined; at: number };

class Parser {
  readonly #text: string;
  readonly #tokens: Token[] = [];
  #pos = 0;
  #depth = 0;

  constructor(text: string) {
    this.#text = text;
    this.#tokenize();
  }

  parse(): SqlCondition {
    const first = this.#peek();
    if (first.type === "end") throw this.#error("expected a condition, found nothing", first.at);
    const parsed = this.#or();
    const next = this.#peek();
    if (next.type !== "end") {
      const expected = parsed.value === undefined ? "AND, OR or the end" : "an operator such as =, >, IN or IS NULL";
      throw this.#error(`expected ${expected} after ${describe(this.#tokens[this.#pos - 1]!)}, found ${describe(next)}`, next.at);
    }
    return this.#condition(parsed, "the filter");
  }

  // --- tokens ---

  #tokenize(): void {
    const text = this.#text;
    let i = 0;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (isSpace(c)) {
        i++;
      } else if (c === 45 && text.charCodeAt(i + 1) === 45) {
        // -- comment to the end of the line
        while (i < text.length && text.charCodeAt(i) !== 10 && text.charCodeAt(i) !== 13) i++;
      } else if (c === 47 && text.charCodeAt(i + 1) === 42) {
        const end = text.indexOf("*/", i + 2);
        if (end < 0) throw this.#error('comment is not closed (missing "*/")', i);
        i = end + 2;
      } else if (isIdentStart(c)) {
        const start = i;
        while (i < text.length && (isIdentStart(text.charCodeAt(i)) || isDigit(text.charCodeAt(i)))) i++;
        const word = text.slice(start, i);
        this.#tokens.push({ type: "word", text: word, at: start, upper: word.toUpperCase() });
      } else if (isDigit(c) || (c === 46 && isDigit(text.charCodeAt(i + 1)))) {
        i = this.#number(i);
      } else if (c === 39) {
        i = this.#string(i);
      } else {
        const two = text.slice(i, i + 2);
        const op = two === "<>" || two === "<=" || two === ">=" ? two : text[i]!;
        if (op.length === 1 && !"=<>(),+-".includes(op)) throw this.#error(`unexpected character ${quote(text.codePointAt(i)!)}`, i);
        this.#tokens.push({ type: "op", text: op, at: i, upper: op });
        i += op.length;
      }
    }
    this.#tokens.push({ type: "end", text: "", at: text.length, upper: "" });
  }

  /** Reads a number: digits with an optional fraction and exponent, or digits with an `L` suffix. */
  #number(start: number): number {
    const text = this.#text;
    let i = start;
    while (isDigit(text.charCodeAt(i))) i++;
    let integer = true;
    if (text.charCodeAt(i) === 46) {
      integer = false;
      i++;
      while (isDigit(text.charCodeAt(i))) i++;
    }
    const e = text.charCodeAt(i);
    if (e === 101 || e === 69) {
      let j = i + 1;
      if (text.charCodeAt(j) === 43 || text.charCodeAt(j) === 45) j++;
      if (isDigit(text.charCodeAt(j))) {
        integer = false;
        while (isDigit(text.charCodeAt(j))) j++;
        i = j;
      }
    }
    if (integer && (text.charCodeAt(i) === 76 || text.charCodeAt(i) === 108)) i++;
    const next = text.charCodeAt(i);
    if (isIdentStart(next) || isDigit(next) || next === 46) {
      let end = i;
      while (end < text.length && (isIdentStart(text.charCodeAt(end)) || isDigit(text.charCodeAt(end)) || text.charCodeAt(end) === 46)) end++;
      throw this.#error(`invalid number "${text.slice(start, end)}"`, start);
    }
    this.#tokens.push({ type: "number", text: text.slice(start, i), at: start, upper: "" });
    return i;
  }

  /** Reads a string literal: `'` … `'`, with `''` standing for one quote. */
  #string(start: number): number {
    const text = this.#text;
    let i = start + 1;
    for (;;) {
      const close = text.indexOf("'", i);
      if (close < 0) throw this.#error(`string is not closed (missing "'")`, start);
      if (text.charCodeAt(close + 1) === 39) {
        i = close + 2;
        continue;
      }
      this.#tokens.push({ type: "string", text: text.slice(start, close + 1), at: start, upper: "" });
      return close + 1;
    }
  }

  #peek(): Token {
    return this.#tokens[this.#pos]!;
  }

  #next(): Token {
    return this.#tokens[this.#pos++]!;
  }

  #isWord(upper: string, offset = 0): boolean {
    const token = this.#tokens[this.#pos + offset];
    return token !== undefined && token.type === "word" && token.upper === upper;
  }

  #isOp(op: string): boolean {
    const token = this.#peek();
    return token.type === "op" && token.text === op;
  }

  // --- grammar ---

  #or(): Parsed {
    const first = this.#and();
    if (!this.#isWord("OR")) return first;
    const operands = [this.#condition(first, "OR")];
    while (this.#isWord("OR")) {
      const or = this.#next();
      operands.push(this.#condition(this.#operandAfter(or, () => this.#and()), "OR"));
    }
    return { condition: { kind: "or", operands }, at: first.at };
  }

  #and(): Parsed {
    const first = this.#not();
    if (!this.#isWord("AND")) return first;
    const operands = [this.#condition(first, "AND")];
    while (this.#isWord("AND")) {
      const and = this.#next();
      operands.push(this.#condition(this.#operandAfter(and, () => this.#not()), "AND"));
    }
    return { condition: { kind: "and", operands }, at: first.at };
  }

  #not(): Parsed {
    if (!this.#isWord("NOT")) return this.#comparison();
    const not = this.#next();
    const operand = this.#nested(not.at, () => this.#operandAfter(not, () => this.#not()));
    return { condition: { kind: "not", operand: this.#condition(operand, "NOT") }, at: not.at };
  }

  #comparison(): Parsed {
    const left = this.#operand();
    const token = this.#peek();
    if (token.type === "op" && (token.text === "=" || token.text === "<>")) {
      this.#next();
      const l = this.#value(left, `"${token.text}"`, "before");
      const right = this.#value(this.#operandAfter(token, () => this.#operand()), `"${token.text}"`, "after");
      this.#checkEquality(l, right, left.at, token);
      return { condition: { kind: "compare", op: token.text, left: l, right }, at: left.at };
    }
    if (token.type === "op" && ORDER_OPS.has(token.text)) {
      this.#next();
      const op = token.text as SqlCompareOp;
      const l = this.#numeric(left, `"${op}"`, "before");
      const right = this.#numeric(this.#operandAfter(token, () => this.#operand()), `"${op}"`, "after");
      return { condition: { kind: "compare", op, left: l, right }, at: left.at };
    }
    if (token.type !== "word") return left;
    if (token.upper === "IS") {
      this.#next();
      const not = this.#isWord("NOT");
      if (not) this.#next();
      const nullToken = this.#peek();
      if (!this.#isWord("NULL")) throw this.#error(`expected ${not ? "NULL after IS NOT" : "NULL or NOT NULL after IS"}, found ${describe(nullToken)}`, nullToken.at);
      this.#next();
      return { condition: { kind: "isNull", not, value: this.#value(left, not ? "IS NOT NULL" : "IS NULL", "before") }, at: left.at };
    }
    const not = token.upper === "NOT" && this.#tokens[this.#pos + 1]?.type === "word";
    const keyword = not ? this.#tokens[this.#pos + 1]!.upper : token.upper;
    if (keyword === "BETWEEN") {
      if (not) this.#next();
      const between = this.#next();
      const name = not ? "NOT BETWEEN" : "BETWEEN";
      const value = this.#numeric(left, name, "before");
      const low = this.#numeric(this.#operandAfter(between, () => this.#operand()), name, "after");
      const and = this.#peek();
      if (!this.#isWord("AND")) throw this.#error(`expected AND between the bounds of ${name}, found ${describe(and)}`, and.at);
      this.#next();
      const high = this.#numeric(this.#operandAfter(and, () => this.#operand()), `the AND of ${name}`, "after");
      if (low.kind === "number" && high.kind === "number" && compareLiterals(low, high) > 0) {
        throw this.#error(`${name} ${printValue(low)} AND ${printValue(high)} has its low bound above its high bound`, between.at);
      }
      return { condition: { kind: "between", not, value, low, high }, at: left.at };
    }
    if (keyword === "IN") {
      if (not) this.#next();
      const name = not ? "NOT IN" : "IN";
      this.#next();
      const property = this.#property(left, name);
      const open = this.#peek();
      if (!this.#isOp("(")) throw this.#error(`expected "(" after ${name}, found ${describe(open)}`, open.at);
      this.#next();
      const values: string[] = [];
      for (;;) {
        const item = this.#next();
        if (item.type !== "string") {
          throw this.#error(`expected a string literal in the ${name} list, found ${describe(item)}`, item.at);
        }
        values.push(unquote(item.text));
        const after = this.#next();
        if (after.type === "op" && after.text === ")") break;
        if (after.type !== "op" || after.text !== ",") {
          throw this.#error(`expected "," or ")" in the ${name} list opened at column ${this.#column(open.at)}, found ${describe(after)}`, after.at);
        }
      }
      return { condition: { kind: "in", not, property, values }, at: left.at };
    }
    const op = MATCH_OPS[keyword];
    if (op !== undefined) {
      if (not) this.#next();
      const name = not ? `NOT ${keyword}` : keyword;
      this.#next();
      const property = this.#property(left, name);
      const search = this.#next();
      if (search.type !== "string") throw this.#error(`expected a string literal after ${name}, found ${describe(search)}`, search.at);
      const value = unquote(search.text);
      if (value === "") throw this.#error(`${name} needs a non-empty string`, search.at);
      return { condition: { kind: "match", op, not, property, search: value }, at: left.at };
    }
    return left;
  }

  /** An operand of a comparison: a literal, a property, a signed value or a parenthesised expression. */
  #operand(): Parsed {
    const token = this.#next();
    switch (token.type) {
      case "number":
        return { value: this.#numberValue(token, false), at: token.at };
      case "string":
        return { value: { kind: "string", value: unquote(token.text) }, at: token.at };
      case "word":
        if (token.upper === "TRUE" || token.upper === "FALSE") return { value: { kind: "boolean", value: token.upper === "TRUE" }, at: token.at };
        if (token.upper === "NULL") return { value: { kind: "null" }, at: token.at };
        if (KEYWORDS.has(token.upper)) throw this.#error(`expected a value, found ${describe(token)}`, token.at);
        return { value: { kind: "property", name: token.text }, at: token.at };
      case "op":
        if (token.text === "(") {
          return this.#nested(token.at, () => {
            const inner = this.#or();
            const close = this.#next();
            if (close.type !== "op" || close.text !== ")") {
              throw this.#error(`expected ")" to close the "(" at column ${this.#column(token.at)}, found ${describe(close)}`, close.at);
            }
            return { ...inner, at: token.at } as Parsed;
          });
        }
        if (token.text === "-" || token.text === "+") {
          return this.#nested(token.at, () => this.#signed(token));
        }
        throw this.#error(`expected a value, found ${describe(token)}`, token.at);
      default:
        throw this.#error("expected a value, found the end", token.at);
    }
  }

  /** `-x` or `+x`: a number literal is folded (`-5`), a property is negated as a number. */
  #signed(sign: Token): Parsed {
    const next = this.#peek();
    if (next.type === "number") {
      this.#next();
      return { value: this.#numberValue(next, sign.text === "-"), at: sign.at };
    }
    const operand = this.#operandAfter(sign, () => this.#operand());
    const value = operand.value;
    const numeric = value !== undefined && (value.kind === "number" || value.kind === "property" || value.kind === "negate");
    if (!numeric) {
      throw this.#error(`expected a number or property after "${sign.text}", found ${describeParsed(operand)}`, operand.at);
    }
    if (sign.text === "+") return { value, at: sign.at };
    if (value.kind === "number") return { value: negateNumber(value), at: sign.at };
    return { value: { kind: "negate", operand: value }, at: sign.at };
  }

  #numberValue(token: Token, negative: boolean): SqlValue {
    const text = token.text.replace(/[lL]$/, "");
    const integer = /^\d+$/.test(text);
    if (integer) {
      const big = BigInt(text);
      if (big > MAX_INTEGER) throw this.#error(`number ${token.text} is out of range (at most ${MAX_INTEGER})`, token.at);
      const value = Number(negative ? -big : big);
      if (Number.isSafeInteger(value)) return { kind: "number", value };
      return { kind: "number", value, exact: negative ? -big : big };
    }
    const value = Number(text);
    if (!Number.isFinite(value)) throw this.#error(`number ${token.text} is out of range`, token.at);
    return { kind: "number", value: negative ? -value : value };
  }

  // --- checks ---

  /** Runs a nested parse, refusing nesting beyond `MAX_SQL_DEPTH`. */
  #nested<T>(at: number, parse: () => T): T {
    if (++this.#depth > MAX_SQL_DEPTH) throw this.#error(`nested more than ${MAX_SQL_DEPTH} levels deep`, at);
    try {
      return parse();
    } finally {
      this.#depth--;
    }
  }

  /** Parses what must follow `token`, naming it when nothing usable does. */
  #operandAfter(token: Token, parse: () => Parsed): Parsed {
    const next = this.#peek();
    if (next.type === "end" || (next.type === "op" && next.text === ")") || (next.type === "word" && (next.upper === "AND" || next.upper === "OR"))) {
      const what = token.type === "word" && (token.upper === "AND" || token.upper === "OR" || token.upper === "NOT") ? "a condition" : "a value";
      throw this.#error(`expected ${what} after ${describe(token)}${next.type === "end" ? "" : `, found ${describe(next)}`}`, next.at);
    }
    return parse();
  }

  #condition(parsed: Parsed, where: string): SqlCondition {
    if (parsed.condition !== undefined) return parsed.condition;
    const value = parsed.value;
    if (value.kind === "boolean") return { kind: "constant", value: value.value };
    const found = describeParsed(parsed);
    const hint = value.kind === "property" ? ` (compare it: ${value.name} = 'x', ${value.name} IS NOT NULL)` : "";
    const place = where === "the filter" ? "" : ` for ${where}`;
    throw this.#error(`expected a condition${place}, found ${found}${hint}`, parsed.at);
  }

  #value(parsed: Parsed, op: string, side: "before" | "after"): SqlValue {
    if (parsed.value === undefined) throw this.#error(`expected a value ${side} ${op}, found a condition`, parsed.at);
    return parsed.value;
  }

  /** A value an order comparison or BETWEEN can use: a number, a property or a negation. */
  #numeric(parsed: Parsed, op: string, side: "before" | "after"): SqlValue {
    if (parsed.value === undefined) throw this.#error(`expected a number or property ${side} ${op}, found a condition`, parsed.at);
    const kind = parsed.value.kind;
    if (kind !== "number" && kind !== "property" && kind !== "negate") {
      throw this.#error(`expected a number or property ${side} ${op}, found ${describeParsed(parsed)}`, parsed.at);
    }
    return parsed.value;
  }

  #property(parsed: Parsed, op: string): string {
    if (parsed.value?.kind !== "property") {
      throw this.#error(`${op} needs a property on its left, found ${describeParsed(parsed)}`, parsed.at);
    }
    return parsed.value.name;
  }

  #checkEquality(left: SqlValue, right: SqlValue, at: number, op: Token): void {
    if (left.kind === "null" || right.kind === "null") {
      throw this.#error(`NULL cannot be compared with "${op.text}": use IS ${op.text === "=" ? "" : "NOT "}NULL`, left.kind === "null" ? at : op.at);
    }
    const literal = (v: SqlValue) => v.kind === "string" || v.kind === "number" || v.kind === "boolean";
    if (literal(left) && literal(right) && (left.kind === "boolean") !== (right.kind === "boolean")) {
      throw this.#error(`${printValue(left)} cannot be compared with ${printValue(right)}`, at);
    }
  }

  #column(at: number): number {
    const lineStart = Math.max(this.#text.lastIndexOf("\n", at - 1), this.#text.lastIndexOf("\r", at - 1)) + 1;
    return at - lineStart + 1;
  }

  #error(detail: string, at: number): FilterExpressionError {
    let line = 1;
    for (let i = 0; i < at && i < this.#text.length; i++) {
      const c = this.#text.charCodeAt(i);
      if (c === 10 || (c === 13 && this.#text.charCodeAt(i + 1) !== 10)) line++;
    }
    return new FilterExpressionError(detail, { line, column: this.#column(at) });
  }
}

function quote(codePoint: number): string {
  return codePoint < 32 || codePoint === 127 ? `U+${codePoint.toString(16).toUpperCase().padStart(4, "0")}` : `"${String.fromCodePoint(codePoint)}"`;
}

/** A token as an error message names it. */
function describe(token: Token): string {
  if (token.type === "end") return "the end";
  const text = token.text.length > 40 ? `${token.text.slice(0, 37)}…` : token.text;
  if (token.type === "word" && KEYWORDS.has(token.upper)) return token.upper;
  return token.type === "string" ? text : `"${text}"`;
}

/** What a parsed operand is, for error messages. */
function describeParsed(parsed: Parsed): string {
  if (parsed.value === undefined) return "a condition";
  const value = parsed.value;
  switch (value.kind) {
    case "property":
      return `property "${value.name}"`;
    case "string": {
      const text = printValue(value);
      return `string ${text.length > 40 ? `${text.slice(0, 37)}…` : text}`;
    }
    case "boolean":
      return value.value ? "TRUE" : "FALSE";
    case "null":
      return "NULL";
    default:
      return printValue(value);
  }
}

function unquote(literal: string): string {
  return literal.slice(1, -1).replaceAll("''", "'");
}

function negateNumber(value: SqlValue & { kind: "number" }): SqlValue {
  if (value.exact !== undefined) {
    const exact = -value.exact;
    const approx = Number(exact);
    return Number.isSafeInteger(approx) ? { kind: "number", value: approx } : { kind: "number", value: approx, exact };
  }
  return { kind: "number", value: -value.value };
}

/** Orders two number literals (exactly when both are integers). */
function compareLiterals(a: SqlValue & { kind: "number" }, b: SqlValue & { kind: "number" }): number {
  if (a.value !== b.value) return a.value < b.value ? -1 : 1;
  if (a.exact !== undefined && b.exact !== undefined) return a.exact < b.exact ? -1 : a.exact > b.exact ? 1 : 0;
  return 0;
}

/**
 * Writes a value back as expression text.
 *
 * @param value The value.
 * @returns Its text: `'it''s'`, `-5`, `region`, `TRUE`.
 */
export function printValue(value: SqlValue): string {
  switch (value.kind) {
    case "property":
      return value.name;
    case "string":
      return `'${value.value.replaceAll("'", "''")}'`;
    case "number":
      return value.exact !== undefined ? value.exact.toString() : printNumber(value.value);
    case "boolean":
      return value.value ? "TRUE" : "FALSE";
    case "null":
      return "NULL";
    case "negate":
      return `-(${printValue(value.operand)})`;
  }
}

function printNumber(n: number): string {
  if (Object.is(n, -0)) return "-0.0";
  if (Number.isSafeInteger(n)) return String(n);
  const text = String(n);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

/**
 * Parses a SQL92 filter expression.
 *
 * @param text The expression, at most `MAX_SQL_LENGTH` characters.
 * @returns Its syntax tree.
 * @throws {FilterExpressionError} When it is invalid, naming the column.
 */
export function parseSql(text: string): SqlCondition {
  if (text.length > MAX_SQL_LENGTH) {
    throw new FilterExpressionError(`it is ${text.length} characters long, more than the ${MAX_SQL_LENGTH} allowed`);
  }
  return new Parser(text).parse();
}
