/**
 * How a connection turns bytes into commands and commands into bytes: the native protocol's CBOR
 * frames, RocketMQ 4.x remoting frames (`remoting_wire.ts`), or — on a server port that answers
 * both — whichever the first bytes of the connection show.
 *
 * ## Telling the protocols apart
 *
 * Both start with a 4-byte big-endian length. What follows differs in its first byte, byte 4 of
 * the connection:
 *
 * - a native frame's CBOR item is a command array of 4 to 6 items, whose head is `0x84`, `0x85` or
 *   `0x86` (every encoder writes such a short array in its one-byte form);
 * - a remoting frame goes on with its header-length word, whose high byte is the serialize type:
 *   `0x00` (JSON) or `0x01` (ROCKETMQ).
 *
 * Anything else closes the connection with an error naming the bytes, and so do bytes that look
 * like a TLS handshake (`16 03`) or an HTTP request, whatever byte 4 is, saying what they look like:
 * no frame can start so (its length would be over 256 MiB). The first 5 bytes are held until they have all arrived;
 * the connection's handshake timeout covers a peer that stops before.
 *
 * @module
 */
import type { CborWriter } from "../codec/cbor_encoder.ts";
import { type FrameBudget, FrameDecoder, writeFrame } from "../codec/frame.ts";
import type { Command } from "../protocol/command.ts";

/** The wire protocols a connection may speak. */
export type WireProtocol = "native" | "remoting";

/** What a connection's bytes go through, both ways. */
export interface Wire {
  /** The protocol, once known (a detecting wire knows it after the first bytes). */
  readonly protocol: WireProtocol | undefined;
  /** Bytes of an incomplete frame received so far. */
  readonly pendingBytes: number;
  /**
   * False when the commands of the last `push` point nowhere into its chunk (their frames were
   * assembled in buffers of their own), so the chunk's memory may be read into again; when absent,
   * a chunk any command came of is taken as kept.
   */
  readonly viewedChunk?: boolean;
  /**
   * Feeds received bytes.
   *
   * @param chunk The bytes; not to be reused by the caller (commands may point into them).
   * @returns The commands completed, in order.
   * @throws When the bytes are malformed or past a limit (the connection closes).
   */
  push(chunk: Uint8Array): Command[];
  /** Drops an incomplete frame and frees its memory (the connection closed). */
  reset(): void;
  /**
   * Appends a command as a whole frame.
   *
   * @param out Where frames of this tick collect.
   * @param command The command.
   * @param request The request a response answers (undefined for requests).
   */
  write(out: CborWriter, command: Command, request: Command | undefined): void;
  /**
   * Once a detecting wire knows the protocol: the wire that does the work, which the connection
   * uses directly from then on (one call less per chunk and per frame).
   */
  readonly settled?: Wire;
}

/** What a wire is built with. */
export interface WireOptions {
  /** Largest frame accepted (length prefix excluded). */
  maxFrameSize: number;
  /** Pays for the buffers of incomplete frames. */
  budget?: FrameBudget;
}

/** Builds the wire of one connection. */
export type WireFactory = (options: WireOptions) => Wire;

/** The native protocol: CBOR command frames (the frame decoder itself, plus how frames are written). */
class NativeWire extends FrameDecoder implements Wire {
  readonly protocol = "native";

  write(out: CborWriter, command: Command): void {
    writeFrame(out, command);
  }
}

/** The native protocol: CBOR command frames. */
export const nativeWire: WireFactory = (options) => new NativeWire({ maxFrameSize: options.maxFrameSize, budget: options.budget });

/** Bytes held before the protocol is known. */
const SNIFF_BYTES = 5;

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join(" ");
}

/** How HTTP requests start, as far as 5 bytes show. */
const HTTP_STARTS = ["GET /", "POST ", "PUT /", "HEAD ", "DELET", "OPTIO", "PATCH", "CONNE", "PRI *"];

/** Names the protocol of a connection's first bytes (5 or more). */
function protocolOf(bytes: Uint8Array): WireProtocol {
  const first = bytes.subarray(0, SNIFF_BYTES);
  // TLS records and HTTP requests start with bytes no frame length can have (above 256 MiB).
  let hint = "";
  if (first[0] === 0x16 && first[1] === 0x03) hint = " (they look like a TLS handshake: this port serves plain TCP)";
  else if (HTTP_STARTS.some((start) => String.fromCharCode(...first).startsWith(start))) {
    hint = " (they look like HTTP: the admin API and dashboard have their own port)";
  }
  const kind = first[4]!;
  if (hint === "") {
    if (kind >= 0x84 && kind <= 0x86) return "native";
    if (kind === 0x00 || kind === 0x01) return "remoting";
  }
  throw new TypeError(
    `First bytes ${hex(first)} are neither a rocketmq-ts frame nor a RocketMQ remoting frame: byte 4 is 0x${kind.toString(16).padStart(2, "0")}, ` +
      `expected 0x84 to 0x86 (CBOR command) or 0x00/0x01 (remoting header)${hint}`,
  );
}

/**
 * A server port that answers both protocols: each connection's wire is chosen by its first bytes
 * (see the module doc).
 *
 * @param remoting The remoting wire.
 * @returns The factory to give the server's connections.
 */
export function detectProtocol(remoting: WireFactory): WireFactory {
  return (options) => {
    let chosen: Wire | undefined;
    let held: Uint8Array | undefined;
    const choose = (first: Uint8Array): Wire => (chosen = (protocolOf(first) === "native" ? nativeWire : remoting)(options));
    return {
      get protocol() {
        return chosen?.protocol;
      },
      get settled() {
        return chosen;
      },
      get pendingBytes() {
        return chosen?.pendingBytes ?? held?.length ?? 0;
      },
      get viewedChunk() {
        return chosen?.viewedChunk;
      },
      push(chunk) {
        if (chosen !== undefined) return chosen.push(chunk);
        if (held === undefined && chunk.length >= SNIFF_BYTES) return choose(chunk).push(chunk);
        const joined = new Uint8Array((held?.length ?? 0) + chunk.length);
        if (held !== undefined) joined.set(held);
        joined.set(chunk, held?.length ?? 0);
        if (joined.length < SNIFF_BYTES) {
          held = joined;
          return [];
        }
        held = undefined;
        return choose(joined).push(joined);
      },
      reset() {
        held = undefined;
        chosen?.reset();
      },
      write(out, command, request) {
        // Nothing is written to a connection before it spoke, but for a refusal: that is native.
        (chosen ?? nativeWire(options)).write(out, command, request);
      },
    };
  };
}
