/**
 * The text encoding of message properties inside a stored record: `name` U+0001 `value` U+0002,
 * repeated.
 *
 * @module
 */

/** Separates a property name from its value. */
export const NAME_VALUE_SEPARATOR = "\u0001";
/** Ends one property. */
export const PROPERTY_SEPARATOR = "\u0002";

/**
 * Encodes properties the way RocketMQ's `MessageDecoder.messageProperties2String` does.
 *
 * @param properties Names and values; neither may contain U+0001 or U+0002.
 * @returns The encoded text (empty for no properties).
 *
 * @example Two properties
 * ```ts
 * import { encodeProperties } from "./properties.ts";
 * encodeProperties({ TAGS: "TagA", KEYS: "k1" }); // "TAGS\u0001TagA\u0002KEYS\u0001k1\u0002"
 * ```
 */
export function encodeProperties(properties: Record<string, string>): string {
  let text = "";
  for (const name in properties) {
    const value = properties[name];
    if (value === undefined) continue;
    if (/[\u0001\u0002]/.test(name) || /[\u0001\u0002]/.test(value)) {
      throw new TypeError(`Cannot encode property "${name}": it contains a separator character`);
    }
    text += name + NAME_VALUE_SEPARATOR + value + PROPERTY_SEPARATOR;
  }
  return text;
}

/**
 * Encodes properties whose names and values are known to be free of separators (checked when
 * they were gathered), without checking them again.
 *
 * @param properties Names and values without U+0001 or U+0002.
 * @returns The encoded text (empty for no properties).
 */
export function joinProperties(properties: Record<string, string>): string {
  let text = "";
  for (const name in properties) {
    const value = properties[name];
    if (value !== undefined) text += name + NAME_VALUE_SEPARATOR + value + PROPERTY_SEPARATOR;
  }
  return text;
}

/**
 * Decodes property text. Tolerates a missing final separator and empty text; an entry without
 * a name/value separator is skipped.
 *
 * @param text Encoded properties.
 * @returns The properties as a plain object.
 *
 * @example Round trip
 * ```ts
 * import { decodeProperties } from "./properties.ts";
 * decodeProperties("TAGS\u0001TagA\u0002"); // { TAGS: "TagA" }
 * ```
 */
export function decodeProperties(text: string): Record<string, string> {
  const properties: Record<string, string> = {};
  let start = 0;
  const length = text.length;
  while (start < length) {
    let end = text.indexOf(PROPERTY_SEPARATOR, start);
    if (end < 0) end = length;
    const split = text.indexOf(NAME_VALUE_SEPARATOR, start);
    if (split >= 0 && split < end) {
      properties[propertyName(text, start, split)] = text.slice(split + 1, end);
    }
    start = end + 1;
  }
  return properties;
}

/** `U+0002 name U+0001` for the names looked up, built once each. */
const NEEDLES = new Map<string, string>();

/**
 * Where the value of one property starts in encoded text, without decoding the rest (it ends at
 * the next U+0002 or the end of the text).
 *
 * @param text Encoded properties.
 * @param name The property name.
 * @returns The index of its first character, or -1 when the text has no such property.
 */
export function propertyValueStart(text: string, name: string): number {
  if (text.startsWith(name, 0) && text.charCodeAt(name.length) === 1) return name.length + 1;
  let needle = NEEDLES.get(name);
  if (needle === undefined) {
    needle = PROPERTY_SEPARATOR + name + NAME_VALUE_SEPARATOR;
    if (NEEDLES.size < 64) NEEDLES.set(name, needle);
  }
  const at = text.indexOf(needle);
  return at < 0 ? -1 : at + needle.length;
}

/**
 * The value of one property in encoded text, without decoding the rest: what the store's write
 * path needs of every message (its tags and keys).
 *
 * @param text Encoded properties.
 * @param name The property name.
 * @returns Its value, or undefined when the text has no such property.
 *
 * @example The keys of a message
 * ```ts
 * import { propertyValue } from "./properties.ts";
 * propertyValue("TAGS\u0001TagA\u0002KEYS\u0001k1 k2\u0002", "KEYS"); // "k1 k2"
 * ```
 */
export function propertyValue(text: string, name: string): string | undefined {
  const start = propertyValueStart(text, name);
  if (start < 0) return undefined;
  const end = text.indexOf(PROPERTY_SEPARATOR, start);
  return text.slice(start, end < 0 ? text.length : end);
}

/** Property names seen, by length: a name repeats in every message, and a known string is cheaper as a key. */
const NAMES_BY_LENGTH: string[][] = [];
let namesKnown = 0;
const NAMES_MAX = 512;

function propertyName(text: string, start: number, end: number): string {
  const length = end - start;
  const known = NAMES_BY_LENGTH[length];
  if (known !== undefined) {
    for (let i = 0; i < known.length; i++) {
      if (text.startsWith(known[i]!, start)) return known[i]!;
    }
  }
  const name = text.slice(start, end);
  if (namesKnown < NAMES_MAX && length <= 64) {
    namesKnown++;
    (NAMES_BY_LENGTH[length] ??= []).push(name);
  }
  return name;
}

/**
 * Checks property text the way a broker must before storing it as sent: every entry is a non-empty
 * name, one U+0001, a value and U+0002.
 *
 * @param text Encoded properties.
 * @returns Whether the text is well formed (empty text is).
 */
export function isWellFormedProperties(text: string): boolean {
  let nameStart = 0;
  let separators = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 1) {
      if (separators !== 0 || i === nameStart) return false;
      separators = 1;
    } else if (c === 2) {
      if (separators !== 1) return false;
      separators = 0;
      nameStart = i + 1;
    }
  }
  return separators === 0 && nameStart === text.length;
}
