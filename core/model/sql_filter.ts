/**
 * SQL92 message filters (RocketMQ's `SQL92` expression type), compiled once and evaluated on the
 * stored bytes of a message's properties: the properties a filter names are found by one scan of
 * the encoded text, and compared as bytes or parsed as numbers in place, so evaluating a message
 * allocates nothing in the common case.
 *
 * Semantics, as docs/CONSUMING.md states them for users: properties are text; a comparison with a
 * number converts the text to a number (decimal syntax: `-12`, `3.5`, `1e3`), and one with TRUE or
 * FALSE reads `true`/`false` (any case). A missing property, or text that does not convert, makes
 * the comparison UNKNOWN; NOT UNKNOWN is UNKNOWN, FALSE AND UNKNOWN is FALSE, TRUE OR UNKNOWN is
 * TRUE, and a message matches only when the whole filter is TRUE. Numbers compare as 64-bit
 * floats, except that two integers compare exactly however many digits they have.
 *
 * @module
 */
import { parseSql, type SqlCondition, type SqlValue } from "./_sql_parser.ts";
import { recordPropertiesStart } from "./record.ts";

const FALSE = 0;
const TRUE = 1;
const UNKNOWN = 2;
/** A comparison that could not be made. */
const INCOMPARABLE = 2;
const TWO_53 = 2 ** 53;

const PROPERTY = 0;
const STRING = 1;
const NUMBER = 2;
const BOOLEAN = 3;
const NULL = 4;
const NEGATE = 5;

/** A compiled value. */
interface Operand {
  kind: number;
  /** PROPERTY: index of the property. */
  index: number;
  /** STRING: the UTF-8 text; NUMBER: the ASCII digits of an integer beyond ±(2^53 - 1), else null. */
  bytes: Uint8Array | null;
  /** NUMBER: the value; BOOLEAN: 1 or 0. */
  number: number;
  /** NUMBER: the integer is negative. */
  negative: boolean;
  /** NEGATE: what is negated. */
  inner: Operand | null;
}

/** Where the properties a filter names are in one message's property text. */
interface Scan {
  bytes: Uint8Array;
  /** Start of each property's value; -1 when the message does not have it. */
  starts: Int32Array;
  ends: Int32Array;
}

type Evaluate = (scan: Scan) => number;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// The integer text behind the last number read (for exact comparison of large integers): bytes,
// range of the digits (no sign) and sign; `intBytes` null when the number was not an integer.
let intBytes: Uint8Array | null = null;
let intStart = 0;
let intEnd = 0;
let intNegative = false;

const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * Parses decimal text (`[+-]digits[.digits][e[+-]digits]`) in place. Up to 15 significant
 * digits with a small exponent are converted exactly by arithmetic; longer text goes through
 * `Number()`. Sets `intBytes` when the text is an integer.
 *
 * @returns The number, or NaN when the text is not a number.
 */
function parseNumber(bytes: Uint8Array, start: number, end: number): number {
  intBytes = null;
  let i = start;
  let negative = false;
  if (i < end && (bytes[i] === 43 || bytes[i] === 45)) {
    negative = bytes[i] === 45;
    i++;
  }
  const digitsStart = i;
  let mantissa = 0;
  let significant = 0;
  let digits = 0;
  let fraction = 0;
  while (i < end && bytes[i]! >= 48 && bytes[i]! <= 57) {
    if (mantissa !== 0 || bytes[i] !== 48) {
      mantissa = mantissa * 10 + (bytes[i]! - 48);
      significant++;
    }
    digits++;
    i++;
  }
  const digitsEnd = i;
  let integer = true;
  if (i < end && bytes[i] === 46) {
    integer = false;
    i++;
    while (i < end && bytes[i]! >= 48 && bytes[i]! <= 57) {
      if (mantissa !== 0 || bytes[i] !== 48) {
        mantissa = mantissa * 10 + (bytes[i]! - 48);
        significant++;
      }
      fraction++;
      digits++;
      i++;
    }
  }
  if (digits === 0) return NaN;
  let exponent = 0;
  if (i < end && (bytes[i] === 101 || bytes[i] === 69)) {
    integer = false;
    i++;
    let expNegative = false;
    if (i < end && (bytes[i] === 43 || bytes[i] === 45)) {
      expNegative = bytes[i] === 45;
      i++;
    }
    if (i === end) return NaN;
    while (i < end && bytes[i]! >= 48 && bytes[i]! <= 57) {
      // Beyond this, the value is 0 or Infinity whatever the digits; stop growing.
      if (exponent < 100_000) exponent = exponent * 10 + (bytes[i]! - 48);
      i++;
    }
    if (expNegative) exponent = -exponent;
  }
  if (i !== end) return NaN;
  if (integer) {
    intBytes = bytes;
    intStart = digitsStart;
    intEnd = digitsEnd;
    intNegative = negative;
  }
  let value: number;
  const scale = exponent - fraction;
  if (significant <= 15 && scale >= -22 && scale <= 22) {
    value = scale >= 0 ? mantissa * POWERS_OF_TEN[scale]! : mantissa / POWERS_OF_TEN[-scale]!;
  } else {
    value = Math.abs(Number(decoder.decode(bytes.subarray(start, end))));
  }
  return negative ? -value : value;
}

/** The number an operand stands for (NaN: NULL or not a number), with `intBytes` set for integers. */
function numberOf(operand: Operand, scan: Scan): number {
  switch (operand.kind) {
    case PROPERTY: {
      const start = scan.starts[operand.index]!;
      if (start < 0) return NaN;
      return parseNumber(scan.bytes, start, scan.ends[operand.index]!);
    }
    case NUMBER:
      intBytes = operand.bytes;
      intStart = 0;
      intEnd = operand.bytes === null ? 0 : operand.bytes.length;
      intNegative = operand.negative;
      return operand.number;
    case STRING:
      return parseNumber(operand.bytes!, 0, operand.bytes!.length);
    case NEGATE: {
      const value = numberOf(operand.inner!, scan);
      intNegative = !intNegative;
      return -value;
    }
    default:
      intBytes = null;
      return NaN;
  }
}

/** Compares two integers given as digit ranges and signs, exactly. */
function compareIntegers(
  a: Uint8Array,
  aStart: number,
  aEnd: number,
  aNegative: boolean,
  b: Uint8Array,
  bStart: number,
  bEnd: number,
  bNegative: boolean,
): number {
  while (aStart < aEnd && a[aStart] === 48) aStart++;
  while (bStart < bEnd && b[bStart] === 48) bStart++;
  const aZero = aStart === aEnd;
  const bZero = bStart === bEnd;
  if (aZero && bZero) return 0;
  const aSign = aZero ? 0 : aNegative ? -1 : 1;
  const bSign = bZero ? 0 : bNegative ? -1 : 1;
  if (aSign !== bSign) return aSign < bSign ? -1 : 1;
  let magnitude = (aEnd - aStart) - (bEnd - bStart);
  for (let i = 0; magnitude === 0 && aStart + i < aEnd; i++) magnitude = a[aStart + i]! - b[bStart + i]!;
  const order = magnitude < 0 ? -1 : magnitude > 0 ? 1 : 0;
  return aSign < 0 ? -order : order;
}

/** Orders two numeric operands: -1, 0, 1, or INCOMPARABLE when either is not a number. */
function compareNumbers(left: Operand, right: Operand, scan: Scan): number {
  const a = numberOf(left, scan);
  if (a !== a) return INCOMPARABLE;
  const aBytes = intBytes;
  const aStart = intStart;
  const aEnd = intEnd;
  const aNegative = intNegative;
  const b = numberOf(right, scan);
  if (b !== b) return INCOMPARABLE;
  if (a < b) return -1;
  if (a > b) return 1;
  // Equal as floats; two integers this large may still differ.
  if (aBytes !== null && intBytes !== null && Math.abs(a) >= TWO_53) {
    return compareIntegers(aBytes, aStart, aEnd, aNegative, intBytes, intStart, intEnd, intNegative);
  }
  return 0;
}

/** TRUE or FALSE of a boolean literal, or of a property reading `true`/`false` (any case); else -1 (NULL). */
function booleanOf(operand: Operand, scan: Scan): number {
  let bytes: Uint8Array;
  let start: number;
  let end: number;
  switch (operand.kind) {
    case BOOLEAN:
      return operand.number;
    case PROPERTY:
      start = scan.starts[operand.index]!;
      if (start < 0) return -1;
      bytes = scan.bytes;
      end = scan.ends[operand.index]!;
      break;
    default:
      return -1;
  }
  const length = end - start;
  if (length === 4 && (bytes[start]! | 32) === 116 && (bytes[start + 1]! | 32) === 114 && (bytes[start + 2]! | 32) === 117 && (bytes[start + 3]! | 32) === 101) {
    return TRUE;
  }
  if (
    length === 5 && (bytes[start]! | 32) === 102 && (bytes[start + 1]! | 32) === 97 && (bytes[start + 2]! | 32) === 108 &&
    (bytes[start + 3]! | 32) === 115 && (bytes[start + 4]! | 32) === 101
  ) {
    return FALSE;
  }
  return -1;
}

/** Text of a property or string operand as a range: sets `textBytes`, `textStart`, `textEnd`; false when NULL. */
let textBytes: Uint8Array = new Uint8Array(0);
let textStart = 0;
let textEnd = 0;
function textOf(operand: Operand, scan: Scan): boolean {
  if (operand.kind === STRING) {
    textBytes = operand.bytes!;
    textStart = 0;
    textEnd = textBytes.length;
    return true;
  }
  const start = scan.starts[operand.index]!;
  if (start < 0) return false;
  textBytes = scan.bytes;
  textStart = start;
  textEnd = scan.ends[operand.index]!;
  return true;
}

function sameBytes(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let i = 0; aStart + i < aEnd; i++) if (a[aStart + i] !== b[bStart + i]) return false;
  return true;
}

function tri(condition: boolean): number {
  return condition ? TRUE : FALSE;
}

/** Where `search` occurs in `bytes[start, end)`, as `op` asks. */
function matchText(op: string, bytes: Uint8Array, start: number, end: number, search: Uint8Array): boolean {
  const n = search.length;
  if (n > end - start) return false;
  if (op === "startsWith") return sameBytes(bytes, start, start + n, search, 0, n);
  if (op === "endsWith") return sameBytes(bytes, end - n, end, search, 0, n);
  const first = search[0];
  for (let i = start; i + n <= end; i++) {
    if (bytes[i] === first && sameBytes(bytes, i, i + n, search, 0, n)) return true;
  }
  return false;
}

class Compiler {
  readonly names: string[] = [];

  condition(node: SqlCondition): Evaluate {
    switch (node.kind) {
      case "and": {
        const operands = node.operands.map((o) => this.condition(o));
        return (scan) => {
          let result = TRUE;
          for (let i = 0; i < operands.length; i++) {
            const r = operands[i]!(scan);
            if (r === FALSE) return FALSE;
            if (r === UNKNOWN) result = UNKNOWN;
          }
          return result;
        };
      }
      case "or": {
        const operands = node.operands.map((o) => this.condition(o));
        return (scan) => {
          let result = FALSE;
          for (let i = 0; i < operands.length; i++) {
            const r = operands[i]!(scan);
            if (r === TRUE) return TRUE;
            if (r === UNKNOWN) result = UNKNOWN;
          }
          return result;
        };
      }
      case "not": {
        const operand = this.condition(node.operand);
        return (scan) => {
          const r = operand(scan);
          return r === UNKNOWN ? UNKNOWN : r === TRUE ? FALSE : TRUE;
        };
      }
      case "constant": {
        const value = tri(node.value);
        return () => value;
      }
      case "compare":
        return this.#compare(node.op, this.value(node.left), this.value(node.right));
      case "between": {
        const value = this.value(node.value);
        const low = this.value(node.low);
        const high = this.value(node.high);
        const not = node.not;
        return (scan) => {
          const a = compareNumbers(value, low, scan);
          const b = compareNumbers(value, high, scan);
          // BETWEEN: value >= low AND value <= high; NOT BETWEEN: value < low OR value > high.
          const inLow = a === INCOMPARABLE ? UNKNOWN : tri(a >= 0);
          const inHigh = b === INCOMPARABLE ? UNKNOWN : tri(b <= 0);
          if (inLow === FALSE || inHigh === FALSE) return not ? TRUE : FALSE;
          if (inLow === UNKNOWN || inHigh === UNKNOWN) return UNKNOWN;
          return not ? FALSE : TRUE;
        };
      }
      case "in": {
        const index = this.#property(node.property);
        const values = node.values.map((v) => encoder.encode(v));
        const not = node.not;
        return (scan) => {
          const start = scan.starts[index]!;
          if (start < 0) return UNKNOWN;
          const end = scan.ends[index]!;
          for (let i = 0; i < values.length; i++) {
            const v = values[i]!;
            if (sameBytes(scan.bytes, start, end, v, 0, v.length)) return not ? FALSE : TRUE;
          }
          return not ? TRUE : FALSE;
        };
      }
      case "isNull": {
        const value = this.value(node.value);
        const not = node.not;
        return (scan) => {
          let isNull: boolean;
          if (value.kind === PROPERTY) isNull = scan.starts[value.index]! < 0;
          else if (value.kind === NEGATE) isNull = Number.isNaN(numberOf(value, scan));
          else isNull = value.kind === NULL;
          return tri(isNull !== not);
        };
      }
      case "match": {
        const index = this.#property(node.property);
        const search = encoder.encode(node.search);
        const { op, not } = node;
        return (scan) => {
          const start = scan.starts[index]!;
          if (start < 0) return UNKNOWN;
          return tri(matchText(op, scan.bytes, start, scan.ends[index]!, search) !== not);
        };
      }
    }
  }

  value(node: SqlValue): Operand {
    const operand: Operand = { kind: NULL, index: -1, bytes: null, number: 0, negative: false, inner: null };
    switch (node.kind) {
      case "property":
        operand.kind = PROPERTY;
        operand.index = this.#property(node.name);
        break;
      case "string":
        operand.kind = STRING;
        operand.bytes = encoder.encode(node.value);
        break;
      case "number":
        operand.kind = NUMBER;
        operand.number = node.value;
        if (node.exact !== undefined) {
          operand.negative = node.exact < 0n;
          operand.bytes = encoder.encode((operand.negative ? -node.exact : node.exact).toString());
        }
        break;
      case "boolean":
        operand.kind = BOOLEAN;
        operand.number = tri(node.value);
        break;
      case "negate":
        operand.kind = NEGATE;
        operand.inner = this.value(node.operand);
        break;
    }
    return operand;
  }

  #property(name: string): number {
    const index = this.names.indexOf(name);
    if (index >= 0) return index;
    this.names.push(name);
    return this.names.length - 1;
  }

  #compare(op: string, left: Operand, right: Operand): Evaluate {
    if (op === "=" || op === "<>") {
      const equal = op === "=" ? TRUE : FALSE;
      const unequal = op === "=" ? FALSE : TRUE;
      if (left.kind === BOOLEAN || right.kind === BOOLEAN) {
        return (scan) => {
          const a = booleanOf(left, scan);
          const b = booleanOf(right, scan);
          if (a < 0 || b < 0) return UNKNOWN;
          return a === b ? equal : unequal;
        };
      }
      if (left.kind === NUMBER || right.kind === NUMBER || left.kind === NEGATE || right.kind === NEGATE) {
        return (scan) => {
          const c = compareNumbers(left, right, scan);
          return c === INCOMPARABLE ? UNKNOWN : c === 0 ? equal : unequal;
        };
      }
      return (scan) => {
        if (!textOf(left, scan)) return UNKNOWN;
        const a = textBytes;
        const aStart = textStart;
        const aEnd = textEnd;
        if (!textOf(right, scan)) return UNKNOWN;
        return sameBytes(a, aStart, aEnd, textBytes, textStart, textEnd) ? equal : unequal;
      };
    }
    switch (op) {
      case "<":
        return (scan) => {
          const c = compareNumbers(left, right, scan);
          return c === INCOMPARABLE ? UNKNOWN : tri(c < 0);
        };
      case "<=":
        return (scan) => {
          const c = compareNumbers(left, right, scan);
          return c === INCOMPARABLE ? UNKNOWN : tri(c <= 0);
        };
      case ">":
        return (scan) => {
          const c = compareNumbers(left, right, scan);
          return c === INCOMPARABLE ? UNKNOWN : tri(c > 0);
        };
      default:
        return (scan) => {
          const c = compareNumbers(left, right, scan);
          return c === INCOMPARABLE ? UNKNOWN : tri(c >= 0);
        };
    }
  }
}

/** A compiled SQL92 filter. Compile with `compileSqlFilter`. */
export class SqlFilter {
  /** The expression as given. */
  readonly expression: string;
  /** The properties it reads, each once. */
  readonly properties: readonly string[];
  readonly #root: Evaluate;
  readonly #names: Uint8Array[];
  readonly #scan: Scan;

  /**
   * @param expression The expression text.
   * @param tree Its parsed form.
   */
  constructor(expression: string, tree: SqlCondition) {
    this.expression = expression;
    const compiler = new Compiler();
    this.#root = compiler.condition(tree);
    this.properties = compiler.names;
    this.#names = compiler.names.map((n) => encoder.encode(n));
    const n = compiler.names.length;
    this.#scan = { bytes: new Uint8Array(0), starts: new Int32Array(n), ends: new Int32Array(n) };
  }

  /**
   * Evaluates the filter on a message's encoded properties (`name` U+0001 `value` U+0002 …, as
   * UTF-8). When a name repeats, its last value counts, as when the text is decoded.
   *
   * @param bytes Holds the property text.
   * @param start Where the text starts.
   * @param end Where it ends.
   * @returns Whether the filter is TRUE for the message.
   */
  matches(bytes: Uint8Array, start: number, end: number): boolean {
    const scan = this.#scan;
    const names = this.#names;
    scan.bytes = bytes;
    scan.starts.fill(-1);
    if (names.length > 0) {
      let p = start;
      while (p < end) {
        // One entry: the name up to the first U+0001, the value up to U+0002 (byte loops: faster
        // here than indexOf on short text).
        let separator = -1;
        let q = p;
        while (q < end) {
          const c = bytes[q]!;
          if (c === 2) break;
          if (c === 1 && separator < 0) separator = q;
          q++;
        }
        if (separator >= 0) {
          const length = separator - p;
          for (let i = 0; i < names.length; i++) {
            const name = names[i]!;
            if (name.length === length && sameBytes(bytes, p, separator, name, 0, length)) {
              scan.starts[i] = separator + 1;
              scan.ends[i] = q;
              break;
            }
          }
        }
        p = q + 1;
      }
    }
    return this.#root(scan) === TRUE;
  }

  /**
   * Evaluates the filter on a stored record (RocketMQ's MessageExt encoding), reading only its
   * properties. A record whose layout does not add up is passed (true): the consumer's checks
   * report it rather than a filter hiding it.
   *
   * @param bytes Holds the record.
   * @param pos Where it starts.
   * @param size Its size.
   * @returns Whether the message matches.
   */
  matchesRecord(bytes: Uint8Array, pos: number, size: number): boolean {
    const start = recordPropertiesStart(bytes, pos, size);
    return start < 0 || this.matches(bytes, start, pos + size);
  }
}

/**
 * Compiles a SQL92 filter expression.
 *
 * @param expression The expression, e.g. `region = 'eu' AND amount > 100`.
 * @returns The compiled filter.
 * @throws {FilterExpressionError} When the expression is invalid (the message names the column).
 *
 * @example Filter on properties
 * ```ts
 * import { compileSqlFilter } from "./sql_filter.ts";
 * import { encodeProperties } from "./properties.ts";
 * const filter = compileSqlFilter("region = 'eu' AND amount > 100");
 * const text = new TextEncoder().encode(encodeProperties({ region: "eu", amount: "150" }));
 * filter.matches(text, 0, text.length); // true
 * ```
 */
export function compileSqlFilter(expression: string): SqlFilter {
  return new SqlFilter(expression, parseSql(expression));
}
