/**
 * Reading RocketMQ extFields (every value text) into typed values, the way RocketMQ's Java side
 * parses its custom headers, and writing JSON bodies. A malformed value throws a `TypeError` naming
 * the field; the request is answered with it.
 *
 * @module
 */
import { jsonNestingWithin } from "../../core/codec/remoting_frame.ts";
import type { Header } from "../../core/protocol/command.ts";

/** extFields of a remoting request. */
export type ExtFields = Readonly<Record<string, string>>;

const INTEGER = /^-?\d{1,19}$/;

/**
 * A text field.
 *
 * @param fields The extFields.
 * @param name The field.
 * @returns Its text, or undefined when absent.
 */
export function text(fields: ExtFields, name: string): string | undefined {
  return fields[name];
}

/**
 * An integer field (Java `Integer`/`Long`).
 *
 * @param fields The extFields.
 * @param name The field.
 * @returns Its value, or undefined when absent.
 * @throws {TypeError} When the text is not an integer JavaScript holds exactly.
 */
export function integer(fields: ExtFields, name: string): number | undefined {
  const value = fields[name];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  const number = Number(trimmed);
  if (!INTEGER.test(trimmed) || !Number.isSafeInteger(number)) {
    throw new TypeError(`Header field "${name}" is ${JSON.stringify(value.slice(0, 40))}: expected an integer`);
  }
  return number;
}

/**
 * A boolean field, read as Java's `Boolean.parseBoolean` does: "true" in any case is true, any
 * other text false.
 *
 * @param fields The extFields.
 * @param name The field.
 * @returns Its value, or undefined when absent.
 */
export function flag(fields: ExtFields, name: string): boolean | undefined {
  const value = fields[name];
  return value === undefined ? undefined : value.trim().toLowerCase() === "true";
}

/**
 * A header with the absent fields left out, so the native schemas fill their defaults.
 *
 * @param fields Named values, some undefined.
 * @returns The header.
 */
export function defined(fields: Record<string, unknown>): Header {
  const header: Header = {};
  for (const name in fields) if (fields[name] !== undefined) header[name] = fields[name];
  return header;
}

const DECODER = new TextDecoder("utf-8", { fatal: true });
/** Deepest nesting a JSON body may have (RocketMQ's `HeartbeatData` nests 5 deep). */
const MAX_BODY_DEPTH = 16;
const ENCODER = new TextEncoder();

/**
 * Parses a JSON request body.
 *
 * @param body The body.
 * @param what What it is, for the error (`HeartbeatData`).
 * @returns The parsed value.
 * @throws {TypeError} When there is no body or it is not UTF-8 JSON.
 */
export function jsonBody(body: Uint8Array | undefined, what: string): unknown {
  if (body === undefined || body.length === 0) throw new TypeError(`Request has no ${what} body`);
  if (!jsonNestingWithin(body, MAX_BODY_DEPTH)) throw new TypeError(`Request body nests deeper than ${MAX_BODY_DEPTH} levels: it is not ${what}`);
  try {
    return JSON.parse(DECODER.decode(body));
  } catch (cause) {
    throw new TypeError(`Request body is not ${what} JSON: ${(cause as Error).message}`);
  }
}

/**
 * Encodes a JSON body.
 *
 * @param value The value.
 * @returns UTF-8 JSON.
 */
export function toJsonBody(value: unknown): Uint8Array {
  return ENCODER.encode(JSON.stringify(value));
}
