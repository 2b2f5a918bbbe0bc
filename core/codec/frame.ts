/**
 * Frame codec: a 4-byte big-endian length, then one CBOR item holding a command.
 *
 * @module
 */
import type { Command, Header } from "../protocol/command.ts";
import { decodeCbor } from "./cbor_decoder.ts";
import { CborWriter } from "./cbor_encoder.ts";

/** Bytes of the length prefix. */
export const FRAME_PREFIX_SIZE = 4;
/** Default largest frame accepted (length prefix excluded): 8 MiB, room for a 4 MiB body. */
export const DEFAULT_MAX_FRAME_SIZE = 8 * 1024 * 1024;

const WRITER = new CborWriter();

/** Writes a command's CBOR item, `[code, id, flags, header, body?, remark?]`, without building the array. */
function writeCommandItem(writer: CborWriter, command: Command): void {
  const { body, remark } = command;
  writer.writeArrayHead(remark !== undefined ? 6 : body !== undefined ? 5 : 4);
  writer.write(command.code);
  writer.write(command.id);
  writer.write(command.flags);
  writer.write(command.header);
  if (body !== undefined || remark !== undefined) writer.write(body ?? null);
  if (remark !== undefined) writer.write(remark);
}

/**
 * Encodes a command to its CBOR item (no length prefix).
 *
 * @param command The command to encode.
 * @returns New CBOR bytes.
 */
export function encodeCommand(command: Command): Uint8Array {
  const at = WRITER.length;
  try {
    writeCommandItem(WRITER, command);
  } catch (error) {
    WRITER.truncate(at);
    throw error;
  }
  return WRITER.take();
}

/**
 * Appends a command as a whole frame (length prefix and CBOR item) to a writer, so many frames can
 * leave in one socket write.
 *
 * @param writer Where to append.
 * @param command The command.
 * @returns The frame's CBOR length.
 */
export function writeFrame(writer: CborWriter, command: Command): number {
  const at = writer.beginLength();
  try {
    writeCommandItem(writer, command);
  } catch (error) {
    writer.truncate(at);
    throw error;
  }
  return writer.endLength(at);
}

/**
 * Encodes a command as a whole frame: length prefix and CBOR item.
 *
 * @param command The command to encode.
 * @returns A new array holding the frame.
 * @example Encode and decode a frame
 * ```ts
 * import { encodeFrame, FrameDecoder } from "./frame.ts";
 * const frame = encodeFrame({ code: 105, id: 1, flags: 0, header: { topic: "orders" } });
 * const [command] = new FrameDecoder().push(frame);
 * console.log(command.header.topic); // "orders"
 * ```
 */
export function encodeFrame(command: Command): Uint8Array {
  writeFrame(WRITER, command);
  return WRITER.take();
}

/**
 * Decodes one CBOR item into a command.
 *
 * @param bytes The CBOR item (no length prefix).
 * @returns The command.
 * @throws {TypeError} When the item is not a well-formed command.
 */
export function decodeCommand(bytes: Uint8Array): Command {
  const item = decodeCbor(bytes);
  if (!Array.isArray(item) || item.length < 4 || item.length > 6) {
    throw new TypeError("Frame is not a command array of 4 to 6 items");
  }
  const [code, id, flags, header, body, remark] = item;
  if (!Number.isInteger(code) || !Number.isInteger(id) || !Number.isInteger(flags)) {
    throw new TypeError("Command code, id and flags must be integers");
  }
  if (header === null || typeof header !== "object" || Array.isArray(header) || header instanceof Uint8Array) {
    throw new TypeError("Command header must be a map");
  }
  if (body != null && !(body instanceof Uint8Array)) {
    throw new TypeError("Command body must be a byte string");
  }
  if (remark != null && typeof remark !== "string") {
    throw new TypeError("Command remark must be a text string");
  }
  const command: Command = { code, id, flags, header: header as Header };
  if (body != null) command.body = body;
  if (remark != null) command.remark = remark;
  return command;
}

/**
 * Writes a 4-byte big-endian length.
 *
 * @param target Where to write.
 * @param pos The byte position.
 * @param length The length to write.
 */
export function writeLength(target: Uint8Array, pos: number, length: number): void {
  target[pos] = length >>> 24;
  target[pos + 1] = (length >>> 16) & 0xff;
  target[pos + 2] = (length >>> 8) & 0xff;
  target[pos + 3] = length & 0xff;
}

function readLength(source: Uint8Array, pos: number): number {
  return ((source[pos]! << 24) >>> 0) + (source[pos + 1]! << 16) + (source[pos + 2]! << 8) + source[pos + 3]!;
}

/**
 * Pays for the buffers of incomplete frames, so a server can bound what slow or stalled peers make
 * it hold. The decoder reserves before it allocates and releases when the frame completes or the
 * decoder is reset.
 */
export interface FrameBudget {
  /**
   * Asks for `bytes` more of buffer.
   *
   * @param bytes How many more bytes the decoder wants to allocate.
   * @throws Any error to refuse; the decoder passes it on and allocates nothing.
   */
  reserve(bytes: number): void;
  /**
   * Gives back bytes reserved earlier.
   *
   * @param bytes How many.
   */
  release(bytes: number): void;
}

/** Options of `FrameDecoder`. */
export interface FrameDecoderOptions<T = Command> {
  /** Largest frame accepted (length prefix excluded), in bytes. @default DEFAULT_MAX_FRAME_SIZE */
  maxFrameSize?: number;
  /** Pays for the buffers of incomplete frames. @default none: no limit but `maxFrameSize` */
  budget?: FrameBudget;
  /**
   * Turns the bytes of one whole frame (after its length prefix) into what `push` returns, throwing
   * when they are malformed; the bytes may point into a chunk given to `push`. Other protocols framed
   * by a 4-byte length (RocketMQ's remoting) share the buffering through this. @default decodeCommand
   */
  decode?: (frame: Uint8Array) => T;
}

/**
 * First buffer of an incomplete frame: frames up to this size get their whole buffer at once,
 * larger ones grow from here as their bytes arrive.
 */
export const FRAME_BUFFER_START = 64 * 1024;
const NO_BUFFER = new Uint8Array(0);
const GROWTH = 4;

/** Frees an array's memory now rather than at the next garbage collection (the array is unusable after). */
function discard(buffer: Uint8Array): void {
  if (buffer.length > 0) (buffer.buffer as ArrayBuffer).transfer(0);
}

/**
 * A push-style frame decoder: bytes in, whole commands out. Copes with frames split across chunks
 * and several frames in one chunk; rejects a length above `maxFrameSize` before allocating. The
 * buffer of an incomplete frame grows as its bytes arrive (fourfold each time, from `FRAME_BUFFER_START`,
 * and the whole frame at once when what arrived is a quarter of it), so a peer that announces a large
 * frame and sends little costs little (at most eight times what it sent, or `2 * FRAME_BUFFER_START`),
 * and a `budget` can bound the total. Chunks handed to `push` must not be reused by the caller (bodies may point into them).
 * `T` is what `decode` makes of a frame (a `Command` by default).
 */
export class FrameDecoder<T = Command> {
  readonly #maxFrameSize: number;
  readonly #budget: FrameBudget | undefined;
  readonly #decode: (frame: Uint8Array) => T;
  /** Bytes of an incomplete length prefix. */
  #prefix = new Uint8Array(FRAME_PREFIX_SIZE);
  #prefixFill = 0;
  /** The buffer of the frame being assembled (its capacity is its length); undefined between frames. */
  #frame: Uint8Array | undefined;
  /** The length of the frame being assembled. */
  #frameLength = 0;
  #frameFill = 0;
  #viewedChunk = false;

  /** @param options Limits, and how a frame is decoded. */
  constructor(options: FrameDecoderOptions<T> = {}) {
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#budget = options.budget;
    this.#decode = options.decode ?? (decodeCommand as unknown as (frame: Uint8Array) => T);
  }

  /** Bytes received of an incomplete frame, its length prefix included. */
  get pendingBytes(): number {
    return this.#frame === undefined ? this.#prefixFill : FRAME_PREFIX_SIZE + this.#frameFill;
  }

  /** Bytes allocated for an incomplete frame (what the budget pays for). */
  get bufferedBytes(): number {
    return this.#frame?.length ?? 0;
  }

  /**
   * Whether a frame of the last `push` was decoded in place from its chunk, so what it returned may
   * point into the chunk. When false, every byte of the chunk the decoder needed was copied and the
   * caller may reuse the chunk's memory (a socket read buffer, say).
   */
  get viewedChunk(): boolean {
    return this.#viewedChunk;
  }

  /**
   * Feeds bytes to the decoder.
   *
   * @param chunk The bytes received.
   * @returns The commands completed by this chunk, in order.
   * @throws {RangeError} When a frame's length is 0 or above `maxFrameSize`.
   * @throws {TypeError} When a frame is not a well-formed command (or what `decode` throws).
   * @throws What the budget throws when it refuses more buffer.
   */
  push(chunk: Uint8Array): T[] {
    const out: T[] = [];
    let pos = 0;
    const end = chunk.length;
    this.#viewedChunk = false;
    while (pos < end) {
      if (this.#frame !== undefined) {
        let frame = this.#frame;
        const take = Math.min(this.#frameLength - this.#frameFill, end - pos);
        if (this.#frameFill + take > frame.length) frame = this.#grow(this.#frameFill + take);
        frame.set(chunk.subarray(pos, pos + take), this.#frameFill);
        this.#frameFill += take;
        pos += take;
        if (this.#frameFill === this.#frameLength) {
          this.#frame = undefined;
          this.#frameFill = 0;
          this.#budget?.release(frame.length);
          out.push(this.#decode(frame));
        }
        continue;
      }
      let length: number;
      if (this.#prefixFill === 0 && end - pos >= FRAME_PREFIX_SIZE) {
        length = readLength(chunk, pos);
        pos += FRAME_PREFIX_SIZE;
      } else {
        while (this.#prefixFill < FRAME_PREFIX_SIZE && pos < end) this.#prefix[this.#prefixFill++] = chunk[pos++]!;
        if (this.#prefixFill < FRAME_PREFIX_SIZE) break;
        this.#prefixFill = 0;
        length = readLength(this.#prefix, 0);
      }
      this.#checkLength(length);
      if (end - pos >= length) {
        this.#viewedChunk = true;
        out.push(this.#decode(chunk.subarray(pos, pos + length)));
        pos += length;
      } else {
        this.#frameLength = length;
        this.#frameFill = 0;
        // A small frame gets its whole buffer now; a large one gets nothing until its bytes arrive.
        if (length > FRAME_BUFFER_START) {
          this.#frame = NO_BUFFER;
        } else {
          this.#budget?.reserve(length);
          this.#frame = new Uint8Array(length);
        }
      }
    }
    return out;
  }

  /**
   * Drops an incomplete frame and gives its memory back at once (call when the connection closes).
   */
  reset(): void {
    const frame = this.#frame;
    this.#frame = undefined;
    this.#frameFill = 0;
    this.#prefixFill = 0;
    if (frame === undefined) return;
    this.#budget?.release(frame.length);
    discard(frame);
  }

  /**
   * Replaces the frame's buffer with one of at least `needed` bytes: four times as large (fewer
   * copies than doubling), at least the start size, and the whole frame at its exact size once that
   * is at most twice as much or at most four times what arrived. So a 140 KB answer in 64 KiB reads
   * gets its buffer with the first read and is copied once, and the buffer stays within eight times
   * what arrived.
   */
  #grow(needed: number): Uint8Array {
    const old = this.#frame!;
    const length = this.#frameLength;
    let capacity = Math.max(needed, old.length * GROWTH, FRAME_BUFFER_START);
    if (capacity * 2 >= length || needed * GROWTH >= length) capacity = length;
    this.#budget?.reserve(capacity - old.length);
    const grown = new Uint8Array(capacity);
    if (this.#frameFill > 0) grown.set(old.subarray(0, this.#frameFill));
    this.#frame = grown;
    discard(old);
    return grown;
  }

  #checkLength(length: number): void {
    if (length === 0) throw new RangeError("Frame length is 0");
    if (length > this.#maxFrameSize) {
      throw new RangeError(`Frame length ${length} exceeds the maximum of ${this.#maxFrameSize} bytes`);
    }
  }
}

/**
 * Decodes frames from a byte stream, for Web Streams sockets.
 *
 * @example Decode a socket's frames
 * ```ts
 * import { encodeFrame, FrameDecoderStream } from "./frame.ts";
 * const bytes = new ReadableStream<Uint8Array>({
 *   start(controller) {
 *     controller.enqueue(encodeFrame({ code: 10, id: 1, flags: 0, header: {} }));
 *     controller.close();
 *   },
 * });
 * for await (const command of bytes.pipeThrough(new FrameDecoderStream())) console.log(command.code);
 * ```
 */
export class FrameDecoderStream extends TransformStream<Uint8Array, Command> {
  /** @param options Limits. */
  constructor(options: FrameDecoderOptions = {}) {
    const decoder = new FrameDecoder(options);
    super({
      transform(chunk, controller) {
        for (const command of decoder.push(chunk)) controller.enqueue(command);
      },
      flush() {
        if (decoder.pendingBytes > 0) throw new RangeError(`Stream ended inside a frame (${decoder.pendingBytes} bytes pending)`);
      },
    });
  }
}
