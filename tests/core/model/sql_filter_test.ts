/**
 * SQL92 filters: examples of the semantics, the errors and their columns, a property test holding
 * the parser and evaluator to an independent reference (random syntax trees, printed as text
 * with random case, spacing, comments and parentheses, then parsed back and evaluated on random
 * properties), and hostile expressions (deep nesting, 1 MB literals, unterminated strings, token
 * soup) that must be refused clearly and quickly.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { FilterExpressionError } from "../../../core/errors.ts";
import { MAX_SQL_DEPTH, MAX_SQL_LENGTH, parseSql, type SqlCondition, type SqlValue } from "../../../core/model/_sql_parser.ts";
import { compileFilter } from "../../../core/model/message_filter.ts";
import { decodeProperties, encodeProperties } from "../../../core/model/properties.ts";
import { encodeRecord, PreparedRecord } from "../../../core/model/record.ts";
import { compileSqlFilter } from "../../../core/model/sql_filter.ts";
import { type Random, replayable } from "../../_helpers/random.ts";

const enc = new TextEncoder();

function matches(expression: string, properties: Record<string, string>): boolean {
  const text = enc.encode(encodeProperties(properties));
  return compileSqlFilter(expression).matches(text, 0, text.length);
}

function errorOf(expression: string): FilterExpressionError {
  try {
    compileSqlFilter(expression);
  } catch (error) {
    if (error instanceof FilterExpressionError) return error;
    throw error;
  }
  throw new Error(`Expected ${JSON.stringify(expression)} to be refused`);
}

describe("SQL92 filter semantics", () => {
  const cases: [string, Record<string, string>, boolean][] = [
    ["region = 'eu' AND amount > 100", { region: "eu", amount: "150" }, true],
    ["region = 'eu' AND amount > 100", { region: "eu", amount: "100" }, false],
    ["region = 'eu' AND amount > 100", { region: "us", amount: "150" }, false],
    ["region = 'eu' AND amount > 100", { region: "eu" }, false],
    ["amount > 99.5", { amount: "100" }, true],
    ["amount = 100", { amount: "100.0" }, true],
    ["amount = 100", { amount: "1e2" }, true],
    ["amount < 0", { amount: "-0.5" }, true],
    ["amount > 100", { amount: "lots" }, false],
    ["NOT (amount > 100)", { amount: "lots" }, false],
    ["amount > 100 OR region = 'eu'", { amount: "lots", region: "eu" }, true],
    ["region = 'eu' OR amount > 100", { amount: "lots", region: "eu" }, true],
    ["amount > 100 AND region = 'eu'", { amount: "lots", region: "us" }, false],
    ["a = b", { a: "1.0", b: "1" }, false],
    ["a < b", { a: "1.0", b: "2" }, true],
    ["-a > -5", { a: "3" }, true],
    ["-a IS NULL", { a: "x" }, true],
    ["amount BETWEEN 10 AND 20", { amount: "10" }, true],
    ["amount BETWEEN 10 AND 20", { amount: "20.5" }, false],
    ["amount NOT BETWEEN 10 AND 20", { amount: "20.5" }, true],
    ["amount NOT BETWEEN 10 AND 20", {}, false],
    ["TAGS IN ('Aa', 'Cc')", { TAGS: "Aa" }, true],
    ["TAGS IN ('Aa', 'Cc')", { TAGS: "BB" }, false],
    ["TAGS NOT IN ('Aa')", { TAGS: "BB" }, true],
    ["TAGS NOT IN ('Aa')", {}, false],
    ["region IS NULL", {}, true],
    ["region IS NULL", { region: "" }, false],
    ["region IS NOT NULL", { region: "" }, true],
    ["NOT (region IS NULL)", { region: "x" }, true],
    ["flag = TRUE", { flag: "True" }, true],
    ["flag = FALSE", { flag: "false" }, true],
    ["flag = FALSE", { flag: "no" }, false],
    ["flag <> TRUE", { flag: "no" }, false],
    ["TRUE", {}, true],
    ["FALSE OR TRUE", {}, true],
    ["NOT FALSE AND NOT NOT TRUE", {}, true],
    ["name CONTAINS 'ell'", { name: "hello" }, true],
    ["name STARTSWITH 'he' AND name ENDSWITH 'lo'", { name: "hello" }, true],
    ["name NOT CONTAINS 'x'", { name: "hello" }, true],
    ["name NOT CONTAINS 'x'", {}, false],
    ["city = 'Zürich' AND name CONTAINS '日本'", { city: "Zürich", name: "ようこそ日本へ" }, true],
    ["note = 'it''s'", { note: "it's" }, true],
    ["id = 9223372036854775807", { id: "9223372036854775806" }, false],
    ["id > 9223372036854775806", { id: "9223372036854775807" }, true],
    ["id = 9007199254740993", { id: "9007199254740992" }, false],
    ["id < 9007199254740993", { id: "9007199254740992" }, true],
    ["id = 9007199254740993", { id: "+0009007199254740993" }, true],
    ["big > 5", { big: "1e400" }, true],
    ["n = 0.1", { n: "0.1000000000000000055511151231257827" }, true],
    ["a = 1 -- a comment\n OR a = 2 /* another */", { a: "2" }, true],
    ["Region = 'eu'", { region: "eu" }, false],
    ["x = 1 and Y = 2 Or z is not null", { z: "" }, true],
  ];
  for (const [expression, properties, expected] of cases) {
    test(`${JSON.stringify(expression)} is ${expected} for ${JSON.stringify(properties)}`, () => {
      expect(matches(expression, properties)).toBe(expected);
    });
  }

  test("a repeated property counts with its last value, as when the text is decoded", () => {
    const text = enc.encode("region\u0001us\u0002region\u0001eu\u0002");
    expect(compileSqlFilter("region = 'eu'").matches(text, 0, text.length)).toBe(true);
    expect(decodeProperties("region\u0001us\u0002region\u0001eu\u0002").region).toBe("eu");
  });

  test("a property whose name another's begins with is not confused with it", () => {
    expect(matches("region = 'eu'", { regions: "eu", regio: "eu" })).toBe(false);
  });

  test("evaluating allocates nothing: 2,000,000 evaluations in a child run without a garbage collection", () => {
    const child = Bun.spawnSync([process.execPath, "run", join(import.meta.dir, "_sql_alloc_probe.ts")], { env: { ...process.env, BUN_JSC_logGC: "1" } });
    const log = child.stderr.toString();
    expect(child.exitCode).toBe(0);
    expect(Number(child.stdout.toString())).toBeGreaterThan(0);
    const window = log.slice(log.indexOf("PROBE START"), log.indexOf("PROBE END"));
    expect(window).not.toBe("");
    // One small object an evaluation would fill the young generation dozens of times over.
    expect(window.match(/GC END/g)?.length ?? 0).toBeLessThanOrEqual(1);
  }, 30_000);

  test("matchesRecord() reads the properties of a stored record without decoding it", () => {
    const host = { address: "127.0.0.1", port: 10911 };
    const record = new PreparedRecord({
      topic: "T", queueId: 0, flag: 0, sysFlag: 0, bornTimestamp: 1, bornHost: { address: "::1", port: 1 }, storeHost: host,
      reconsumeTimes: 0, preparedTransactionOffset: 0, body: enc.encode("region\u0001eu\u0002"), properties: encodeProperties({ region: "us" }),
    });
    const bytes = new Uint8Array(record.size + 10);
    encodeRecord(record, bytes, 10, 0, 0, 1);
    expect(compileSqlFilter("region = 'us'").matchesRecord(bytes, 10, record.size)).toBe(true);
    expect(compileSqlFilter("region = 'eu'").matchesRecord(bytes, 10, record.size)).toBe(false);
  });
});

describe("SQL92 filter errors name the column", () => {
  const cases: [string, string][] = [
    ["region = 'eu' AND amount >", 'at column 27: expected a value after ">"'],
    ["amount > 'x'", 'at column 10: expected a number or property after ">", found string \'x\''],
    ["a = NULL", 'at column 3: NULL cannot be compared with "=": use IS NULL'],
    ["(a > 1", 'at column 7: expected ")" to close the "(" at column 1, found the end'],
    ["a = 'abc", "at column 5: string is not closed (missing \"'\")"],
    ["a = 1 /* x", 'at column 7: comment is not closed (missing "*/")'],
    ["region", 'at column 1: expected a condition, found property "region"'],
    ["5 = TRUE", "at column 1: 5 cannot be compared with TRUE"],
    ["a IN (1)", 'at column 7: expected a string literal in the IN list, found "1"'],
    ["a IN ('x' 'y')", 'at column 11: expected "," or ")" in the IN list opened at column 6'],
    ["5 IN ('x')", 'at column 1: IN needs a property on its left, found 5'],
    ["a BETWEEN 5 AND 1", "at column 3: BETWEEN 5 AND 1 has its low bound above its high bound"],
    ["a BETWEEN 1 OR 2", "at column 13: expected AND between the bounds of BETWEEN"],
    ["a != 1", 'at column 3: unexpected character "!"'],
    ["a = 99999999999999999999", "at column 5: number 99999999999999999999 is out of range (at most 9223372036854775807)"],
    ["a > 1e999", "at column 5: number 1e999 is out of range"],
    ["a = 1x", 'at column 5: invalid number "1x"'],
    ["a = 1 b = 2", 'at column 7: expected AND, OR or the end after "1", found "b"'],
    ["", "at column 1: expected a condition, found nothing"],
    ["a = 1 AND", "at column 10: expected a condition after AND"],
    ["NOT", "at column 4: expected a condition after NOT"],
    ["a IS 5", 'at column 6: expected NULL or NOT NULL after IS, found "5"'],
    ["a CONTAINS ''", "at column 12: CONTAINS needs a non-empty string"],
    ["x = (a > 1)", 'at column 5: expected a value after "=", found a condition'],
    ["a = -'x'", "at column 6: expected a number or property after \"-\", found string 'x'"],
    ["a = 1 AND\n  b >", 'at line 2, column 6: expected a value after ">"'],
  ];
  for (const [expression, message] of cases) {
    test(`${JSON.stringify(expression)}: ${message}`, () => {
      const error = errorOf(expression);
      expect(error.message).toStartWith(`Invalid SQL filter ${message}`);
      expect(error).toBeInstanceOf(SyntaxError);
    });
  }

  test("the error carries the line and column", () => {
    const error = errorOf("a = 1 AND\n  b >");
    expect([error.line, error.column]).toEqual([2, 6]);
  });
});

// ---------------------------------------------------------------------------------------------
// Property test: random trees, printed, parsed back, and evaluated against a reference.

const NAMES = ["a", "b", "region", "amount", "TAGS", "x_1", "$y", "Amount"];
const STRINGS = ["", "eu", "us", "Aa", "BB", "it's", "Zürich", "日本", "😀", "a b", "--", "/*", "true", "FALSE", "7", "-3.5", "1e3"];
const NUMBER_TEXTS = [
  "0", "-0", "1", "7", "-3", "42", "100", "+5", "007", "3.5", "-3.5", "0.1", ".5", "5.", "1e3", "1E-2", "-2.5e1",
  "9007199254740991", "9007199254740992", "9007199254740993", "-9007199254740993", "9223372036854775807",
  "12345678901234567890123", "0.30000000000000004", "1e400", "-1e400", "1e-400",
];
const PROPERTY_VALUES = [...STRINGS, ...NUMBER_TEXTS, "True", "tRuE", "false", "1.2.3", "1e", "e5", " 5", "5 ", "Infinity", "NaN", "0x10"];
const KEYWORD_FORMS = (r: Random, word: string) => r.pick([word, word.toLowerCase(), word[0] + word.slice(1).toLowerCase()]);

/** Number literals as the parser builds them: `exact` for integers beyond ±(2^53 - 1). */
function numberLiteral(r: Random): SqlValue {
  if (r.chance(0.2)) {
    let exact: bigint;
    if (r.chance(0.5)) {
      exact = (2n ** 53n + BigInt(r.int(5) - 2)) * (r.chance(0.5) ? 1n : -1n);
    } else {
      exact = BigInt.asIntN(64, (BigInt(r.int(2 ** 32)) << 32n) | BigInt(r.int(2 ** 32)));
      if (exact === -(2n ** 63n)) exact = 0n;
    }
    const value = Number(exact);
    return Number.isSafeInteger(value) ? { kind: "number", value } : { kind: "number", value, exact };
  }
  const text = r.pick(NUMBER_TEXTS.filter((t) => !/e400|12345678901234567890123|9223372036854775807/.test(t)));
  const value = Number(text);
  if (/^[+-]?\d+$/.test(text) && !Number.isSafeInteger(value)) return { kind: "number", value, exact: BigInt(text) };
  return { kind: "number", value: Object.is(value, -0) ? 0 : value };
}

function genValue(r: Random, allowed: readonly SqlValue["kind"][], depth: number): SqlValue {
  const kind = r.pick(allowed);
  switch (kind) {
    case "property":
      return { kind, name: r.pick(NAMES) };
    case "string":
      return { kind, value: r.pick(STRINGS) };
    case "number":
      return numberLiteral(r);
    case "boolean":
      return { kind, value: r.chance(0.5) };
    case "null":
      return { kind };
    case "negate":
      return { kind, operand: depth > 0 && r.chance(0.3) ? genValue(r, ["negate"], depth - 1) : { kind: "property", name: r.pick(NAMES) } };
  }
}

const NUMERIC_KINDS = ["property", "number", "negate"] as const;
const EQUALITY_KINDS = ["property", "property", "string", "number", "boolean", "negate"] as const;
const isLiteral = (v: SqlValue) => v.kind === "string" || v.kind === "number" || v.kind === "boolean";

function genCondition(r: Random, depth: number): SqlCondition {
  const roll = depth <= 0 ? 2 + r.int(6) : r.int(9);
  switch (roll) {
    case 0:
    case 1: {
      const operands = Array.from({ length: 2 + r.int(3) }, () => genCondition(r, depth - 1));
      return { kind: roll === 0 ? "and" : "or", operands };
    }
    case 2: {
      const op = r.pick(["=", "<>", "<", "<=", ">", ">="] as const);
      if (op === "=" || op === "<>") {
        const left = genValue(r, EQUALITY_KINDS, 2);
        let right = genValue(r, EQUALITY_KINDS, 2);
        while (isLiteral(left) && isLiteral(right) && (left.kind === "boolean") !== (right.kind === "boolean")) right = genValue(r, EQUALITY_KINDS, 2);
        return { kind: "compare", op, left, right };
      }
      return { kind: "compare", op, left: genValue(r, NUMERIC_KINDS, 2), right: genValue(r, NUMERIC_KINDS, 2) };
    }
    case 3: {
      let low = genValue(r, NUMERIC_KINDS, 1);
      let high = genValue(r, NUMERIC_KINDS, 1);
      if (low.kind === "number" && high.kind === "number") {
        const lowBig = low.exact ?? low.value;
        const highBig = high.exact ?? high.value;
        if (low.value > high.value || (low.value === high.value && lowBig > highBig)) [low, high] = [high, low];
      }
      return { kind: "between", not: r.chance(0.4), value: genValue(r, NUMERIC_KINDS, 1), low, high };
    }
    case 4:
      return { kind: "in", not: r.chance(0.4), property: r.pick(NAMES), values: Array.from({ length: 1 + r.int(4) }, () => r.pick(STRINGS)) };
    case 5:
      return { kind: "isNull", not: r.chance(0.5), value: genValue(r, ["property", "property", "property", "null", "string", "number", "boolean", "negate"], 1) };
    case 6:
      return {
        kind: "match",
        op: r.pick(["contains", "startsWith", "endsWith"] as const),
        not: r.chance(0.4),
        property: r.pick(NAMES),
        search: r.pick(STRINGS.filter((s) => s !== "")),
      };
    case 7:
      return { kind: "constant", value: r.chance(0.5) };
    default:
      return { kind: "not", operand: genCondition(r, depth - 1) };
  }
}

/** Writes a tree as text, with random keyword case, spacing, comments and redundant parentheses. */
function print(r: Random, node: SqlCondition): string {
  const space = () => r.pick([" ", " ", "  ", "\t", "\n", " /* c */ ", " -- c\n"]);
  const kw = (word: string) => KEYWORD_FORMS(r, word);
  const wrap = (text: string) => (r.chance(0.15) ? `(${space()}${text}${space()})` : text);
  const value = (v: SqlValue): string => {
    switch (v.kind) {
      case "property":
        return wrap(v.name);
      case "string":
        return wrap(`'${v.value.replaceAll("'", "''")}'`);
      case "number": {
        if (v.exact !== undefined) return v.exact.toString();
        if (Number.isSafeInteger(v.value)) return String(v.value);
        const text = String(v.value);
        return /[.e]/.test(text) ? text : `${text}.0`;
      }
      case "boolean":
        return kw(v.value ? "TRUE" : "FALSE");
      case "null":
        return kw("NULL");
      case "negate":
        return `-(${value(v.operand)})`;
    }
  };
  const condition = (c: SqlCondition, nested: boolean): string => {
    let text: string;
    switch (c.kind) {
      case "and":
      case "or":
        text = c.operands.map((o) => condition(o, true)).join(`${space()}${kw(c.kind.toUpperCase())}${space()}`);
        return nested ? `(${text})` : wrap(text);
      case "not":
        return wrap(`${kw("NOT")}${space()}${condition(c.operand, true)}`);
      case "compare":
        text = `${value(c.left)}${r.pick(["", " "])}${c.op}${r.pick(["", " "])}${value(c.right)}`;
        break;
      case "between":
        text = `${value(c.value)} ${c.not ? `${kw("NOT")} ` : ""}${kw("BETWEEN")} ${value(c.low)} ${kw("AND")} ${value(c.high)}`;
        break;
      case "in":
        text = `${c.property} ${c.not ? `${kw("NOT")} ` : ""}${kw("IN")} (${c.values.map((s) => `'${s.replaceAll("'", "''")}'`).join(r.pick([",", ", "]))})`;
        break;
      case "isNull":
        text = `${value(c.value)} ${kw("IS")} ${c.not ? `${kw("NOT")} ` : ""}${kw("NULL")}`;
        break;
      case "match":
        text = `${c.property} ${c.not ? `${kw("NOT")} ` : ""}${kw(c.op.toUpperCase())} '${c.search.replaceAll("'", "''")}'`;
        break;
      case "constant":
        text = kw(c.value ? "TRUE" : "FALSE");
        break;
    }
    return wrap(text);
  };
  return `${r.pick(["", " "])}${condition(node, false)}${r.pick(["", " ", "\n"])}`;
}

// The reference: three-valued logic (null = UNKNOWN) over decoded properties, numbers exact as
// BigInt when both sides are integers, else compared as JavaScript numbers.
type Num = { num: number; int: bigint | undefined };
type Val = string | Num | boolean | null;
const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

function refValue(v: SqlValue, props: Record<string, string>): Val {
  switch (v.kind) {
    case "property":
      return props[v.name] ?? null;
    case "string":
      return v.value;
    case "number":
      return { num: v.value, int: v.exact ?? (Number.isSafeInteger(v.value) ? BigInt(v.value) : undefined) };
    case "boolean":
      return v.value;
    case "null":
      return null;
    case "negate": {
      const n = toNum(refValue(v.operand, props));
      return n === null ? null : { num: -n.num, int: n.int === undefined ? undefined : -n.int };
    }
  }
}

function toNum(v: Val): Num | null {
  if (typeof v === "string") return NUMERIC.test(v) ? { num: Number(v), int: /^[+-]?\d+$/.test(v) ? BigInt(v) : undefined } : null;
  if (v !== null && typeof v === "object") return v;
  return null;
}

function toBool(v: Val): boolean | null {
  if (typeof v === "boolean") return v;
  if (typeof v === "string") return v.toLowerCase() === "true" ? true : v.toLowerCase() === "false" ? false : null;
  return null;
}

function cmpNum(a: Num, b: Num): number {
  if (a.int !== undefined && b.int !== undefined) return a.int < b.int ? -1 : a.int > b.int ? 1 : 0;
  return a.num < b.num ? -1 : a.num > b.num ? 1 : 0;
}

function order(a: SqlValue, b: SqlValue, props: Record<string, string>): number | null {
  const x = toNum(refValue(a, props));
  const y = toNum(refValue(b, props));
  return x === null || y === null ? null : cmpNum(x, y);
}

function refEval(c: SqlCondition, props: Record<string, string>): boolean | null {
  switch (c.kind) {
    case "and": {
      const results = c.operands.map((o) => refEval(o, props));
      return results.includes(false) ? false : results.includes(null) ? null : true;
    }
    case "or": {
      const results = c.operands.map((o) => refEval(o, props));
      return results.includes(true) ? true : results.includes(null) ? null : false;
    }
    case "not": {
      const r = refEval(c.operand, props);
      return r === null ? null : !r;
    }
    case "constant":
      return c.value;
    case "compare": {
      let equal: boolean | null;
      if (c.op === "=" || c.op === "<>") {
        if (c.left.kind === "boolean" || c.right.kind === "boolean") {
          const a = toBool(refValue(c.left, props));
          const b = toBool(refValue(c.right, props));
          equal = a === null || b === null ? null : a === b;
        } else if ([c.left.kind, c.right.kind].some((k) => k === "number" || k === "negate")) {
          const o = order(c.left, c.right, props);
          equal = o === null ? null : o === 0;
        } else {
          const a = refValue(c.left, props);
          const b = refValue(c.right, props);
          equal = a === null || b === null ? null : a === b;
        }
        return equal === null ? null : c.op === "=" ? equal : !equal;
      }
      const o = order(c.left, c.right, props);
      if (o === null) return null;
      return c.op === "<" ? o < 0 : c.op === "<=" ? o <= 0 : c.op === ">" ? o > 0 : o >= 0;
    }
    case "between": {
      const lo = order(c.value, c.low, props);
      const hi = order(c.value, c.high, props);
      const aboveLow = lo === null ? null : lo >= 0;
      const belowHigh = hi === null ? null : hi <= 0;
      const inside = aboveLow === false || belowHigh === false ? false : aboveLow === null || belowHigh === null ? null : true;
      return inside === null ? null : c.not ? !inside : inside;
    }
    case "in": {
      const v = props[c.property];
      if (v === undefined) return null;
      return c.values.includes(v) !== c.not;
    }
    case "isNull": {
      const v = c.value;
      const isNull = v.kind === "negate" ? refValue(v, props) === null : v.kind === "property" ? props[v.name] === undefined : v.kind === "null";
      return isNull !== c.not;
    }
    case "match": {
      const v = props[c.property];
      if (v === undefined) return null;
      const hit = c.op === "contains" ? v.includes(c.search) : c.op === "startsWith" ? v.startsWith(c.search) : v.endsWith(c.search);
      return hit !== c.not;
    }
  }
}

function genProperties(r: Random): string {
  const entries: string[] = [];
  for (let n = r.int(7); n > 0; n--) {
    const name = r.chance(0.85) ? r.pick(NAMES) : r.pick(["regio", "regions", "KEYS", "UNIQ_KEY", "amount2"]);
    entries.push(`${name}\u0001${r.pick(PROPERTY_VALUES)}\u0002`);
  }
  return entries.join("");
}

const bigintJson = (_: string, v: unknown) => (typeof v === "bigint" ? `${v}n` : v);

describe("SQL92 parser and evaluator against a reference", () => {
  test("3,000 random trees: printed and parsed back to the same tree, and each evaluates as the reference on 10 property sets", () => replayable((r) => {
    let decided = 0;
    const seen = { true: 0, false: 0, null: 0 };
    for (let i = 0; i < 3000; i++) {
      const tree = genCondition(r, 3);
      const text = print(r, tree);
      if (text.length > MAX_SQL_LENGTH) continue;
      let parsed: SqlCondition;
      try {
        parsed = parseSql(text);
      } catch (error) {
        throw new Error(`${(error as Error).message}\nText: ${JSON.stringify(text)}\nTree: ${JSON.stringify(tree, bigintJson)}`);
      }
      if (JSON.stringify(parsed, bigintJson) !== JSON.stringify(tree, bigintJson)) {
        throw new Error(`Parsed back differently.\nText: ${JSON.stringify(text)}\nTree:   ${JSON.stringify(tree, bigintJson)}\nParsed: ${JSON.stringify(parsed, bigintJson)}`);
      }
      const filter = compileSqlFilter(text);
      for (let j = 0; j < 10; j++) {
        const propertiesText = genProperties(r);
        const expected = refEval(tree, decodeProperties(propertiesText));
        seen[String(expected) as "true" | "false" | "null"]++;
        // Evaluated at an offset inside a larger buffer, as in a pull body.
        const bytes = enc.encode(`xx\u0002${propertiesText}`);
        const got = filter.matches(bytes, 3, bytes.length);
        if (got !== (expected === true)) {
          throw new Error(`Filter ${JSON.stringify(text)} gave ${got} on ${JSON.stringify(decodeProperties(propertiesText))}; the reference says ${expected}`);
        }
        decided++;
      }
    }
    expect(decided).toBeGreaterThan(25_000);
    // The cases exercise all three outcomes, not one.
    for (const count of Object.values(seen)) expect(count).toBeGreaterThan(2000);
  }), 60_000);
});

describe("hostile SQL92 expressions are refused clearly and quickly", () => {
  function refusedQuickly(expression: string, message: RegExp): void {
    const started = performance.now();
    const error = errorOf(expression);
    const ms = performance.now() - started;
    expect(error.message).toMatch(message);
    expect(ms).toBeLessThan(250);
  }

  test("1 MB string literal", () => {
    refusedQuickly(`a = '${"x".repeat(1 << 20)}'`, /^Invalid SQL filter: it is 1048582 characters long, more than the 4096 allowed$/);
  });

  test("an expression of exactly the limit compiles; one character more does not", () => {
    const literal = "x".repeat(MAX_SQL_LENGTH - 6);
    expect(compileSqlFilter(`a = '${literal}'`).properties).toEqual(["a"]);
    refusedQuickly(`a = '${literal}x'`, /more than the 4096 allowed/);
  });

  test("unterminated strings and comments name where they start", () => {
    refusedQuickly(`a = 'x' OR b = '${"y".repeat(4000)}`, /^Invalid SQL filter at column 16: string is not closed/);
    refusedQuickly("a = 1 OR /* never closed", /^Invalid SQL filter at column 10: comment is not closed/);
    refusedQuickly("a = '''", /^Invalid SQL filter at column 5: string is not closed/);
  });

  test("deep nesting of parentheses, NOT and signs stops at the depth limit", () => {
    const depth = 2000;
    refusedQuickly(`${"(".repeat(depth)}a = 1${")".repeat(depth)}`, new RegExp(`column ${MAX_SQL_DEPTH + 1}: nested more than ${MAX_SQL_DEPTH} levels deep`));
    refusedQuickly(`${"NOT ".repeat(1000)}a = 1`, /nested more than 64 levels deep/);
    refusedQuickly(`a = ${"- ".repeat(2000)}5`, /nested more than 64 levels deep/);
    expect(compileSqlFilter(`${"(".repeat(MAX_SQL_DEPTH)}a = 1${")".repeat(MAX_SQL_DEPTH)}`).properties).toEqual(["a"]);
  });

  test("a long flat chain compiles and evaluates without deep recursion", () => {
    const terms = Array.from({ length: 350 }, (_, i) => `a = ${i}`).join(" OR ");
    expect(terms.length).toBeLessThanOrEqual(MAX_SQL_LENGTH);
    expect(matches(terms, { a: "349" })).toBe(true);
    expect(matches(terms, { a: "350" })).toBe(false);
  });

  test("20,000 token soups either compile (and evaluate) or throw FilterExpressionError naming a column, each quickly", () => replayable((r) => {
    const pieces = [
      "a", "b", "TAGS", "region", "NOT", "AND", "OR", "IN", "BETWEEN", "IS", "NULL", "TRUE", "FALSE", "CONTAINS", "STARTSWITH", "ENDSWITH",
      "=", "<>", "<", "<=", ">", ">=", "(", ")", ",", "+", "-", "'x'", "'", "''", "'it''s'", "1", "-7", "3.5", ".5", "5.", "1e3", "1e", "9".repeat(25),
      "10L", "--", "/*", "*/", "\n", " ", "!", "\"", ";", "é", "\u0000", "\u0001", "\ud800", "$", "_", "#",
    ];
    let compiled = 0;
    let refused = 0;
    let slowest = 0;
    const text = enc.encode(encodeProperties({ a: "1", b: "x", TAGS: "t", region: "eu" }));
    for (let i = 0; i < 20_000; i++) {
      const parts: string[] = [];
      for (let n = 1 + r.int(16); n > 0; n--) parts.push(r.pick(pieces));
      const expression = parts.join(r.chance(0.5) ? " " : "");
      const started = performance.now();
      try {
        const filter = compileSqlFilter(expression);
        filter.matches(text, 0, text.length);
        compiled++;
      } catch (error) {
        if (!(error instanceof FilterExpressionError)) throw new Error(`${JSON.stringify(expression)} threw ${error}`);
        expect(error.message).toMatch(/^Invalid SQL filter( at (line \d+, )?column \d+)?: \S/);
        expect(error.message).not.toMatch(/\.$/);
        refused++;
      }
      slowest = Math.max(slowest, performance.now() - started);
    }
    expect(compiled).toBeGreaterThan(50);
    expect(refused).toBeGreaterThan(10_000);
    expect(slowest).toBeLessThan(250);
  }), 60_000);

  test("random property bytes never make a compiled filter throw", () => replayable((r) => {
    const filter = compileSqlFilter("a = 'x' OR b > 3 OR c IN ('y') OR d CONTAINS 'z' OR e IS NULL OR -f < 0 OR g = TRUE");
    for (let i = 0; i < 5000; i++) {
      const bytes = r.bytes(r.int(200));
      for (let j = 0; j < bytes.length; j++) if (r.chance(0.1)) bytes[j] = r.pick([1, 2, 97, 98, 48]);
      const start = r.int(bytes.length + 1);
      filter.matches(bytes, start, start + r.int(bytes.length - start + 1));
    }
  }));
});

describe("compileFilter()", () => {
  test("caches compiled filters and refusals by text", () => {
    expect(compileFilter("SQL92", "cached = 1")).toBe(compileFilter("SQL92", "cached = 1"));
    expect(compileFilter("TAG", "A || B")).toBe(compileFilter("TAG", "A || B"));
    let first: unknown;
    let second: unknown;
    try {
      compileFilter("SQL92", "cached >");
    } catch (error) {
      first = error;
    }
    try {
      compileFilter("SQL92", "cached >");
    } catch (error) {
      second = error;
    }
    expect(first).toBeInstanceOf(FilterExpressionError);
    expect(second).toBe(first);
  });

  test("a tag expression is never parsed as SQL, nor SQL as tags", () => {
    expect(compileFilter("TAG", "a = 1").tags?.tags).toEqual(new Set(["a = 1"]));
    expect(compileFilter("TAG", "a = 1").sql).toBeUndefined();
    expect(compileFilter("SQL92", "a = 1").tags).toBeUndefined();
    expect(compileFilter("TAG", " * ").acceptsTagHash).toBeUndefined();
  });

  test("the cache is bounded: after 1,024 other texts a filter is compiled again", () => {
    const filter = compileFilter("SQL92", "evicted = 1");
    for (let i = 0; i < 1024; i++) compileFilter("SQL92", `filler = ${i}`);
    expect(compileFilter("SQL92", "evicted = 1")).not.toBe(filter);
  });
});
