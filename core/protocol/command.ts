/**
 * The unit of the native wire protocol: one request, response or oneway request.
 *
 * @module
 */

/** Bits of `Command.flags`. */
export const CommandFlag = {
  /** The command answers the request with the same `id`. */
  RESPONSE: 0x1,
  /** The sender expects no answer. */
  ONEWAY: 0x2,
} as const;
/** One of the `CommandFlag` bits. */
export type CommandFlag = typeof CommandFlag[keyof typeof CommandFlag];

/** A header: a CBOR map of named fields, validated per request code. */
export type Header = Record<string, unknown>;

/**
 * A request or response. On the wire it is the CBOR array `[code, id, flags, header, body, remark]`
 * (trailing absent items left out) after a 4-byte big-endian length.
 */
export interface Command {
  /** A `RequestCode` for requests, a `ResponseCode` for responses. */
  code: number;
  /** Correlates a response with its request; unique among a connection's requests in flight. */
  id: number;
  /** `CommandFlag` bits. */
  flags: number;
  /** Named fields; `{}` when there are none. */
  header: Header;
  /** Raw payload bytes (message bodies, stored records). */
  body?: Uint8Array;
  /** A person-readable explanation on error responses. */
  remark?: string;
}

/**
 * Tells whether a command is a response.
 *
 * @param command The command to look at.
 * @returns `true` when the RESPONSE flag is set.
 */
export function isResponse(command: Command): boolean {
  return (command.flags & CommandFlag.RESPONSE) !== 0;
}

/**
 * Tells whether a command is a oneway request.
 *
 * @param command The command to look at.
 * @returns `true` when the ONEWAY flag is set.
 */
export function isOneway(command: Command): boolean {
  return (command.flags & CommandFlag.ONEWAY) !== 0;
}
