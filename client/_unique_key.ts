/**
 * Producer-side unique message ids (the `UNIQ_KEY` property), in the spirit of RocketMQ's
 * `MessageClientIDSetter`.
 *
 * @module
 */

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).toUpperCase().padStart(2, "0"));

/** Options of `UniqueKeyGenerator`. */
export interface UniqueKeyGeneratorOptions {
  /** Six bytes naming this generator; random by default. */
  prefix?: Uint8Array;
  /** Clock in ms since the epoch. @default Date.now */
  now?: () => number;
}

/**
 * Makes ids of 32 upper-case hex characters: a 6-byte per-generator random prefix, the 6-byte
 * millisecond time and a 4-byte counter. Within a generator, ids are unique until the counter wraps
 * (2^32 ids) inside one millisecond, which cannot happen; across generators, the 48 random bits
 * and the time keep collisions out of practical reach.
 */
export class UniqueKeyGenerator {
  readonly #prefix: string;
  readonly #now: () => number;
  #counter = 0;
  #lastTime = -1;
  /** The prefix and the hex of `#lastTime`, reused while the millisecond does not change. */
  #head = "";

  /** @param options Prefix and clock, for tests. */
  constructor(options: UniqueKeyGeneratorOptions = {}) {
    const prefix = options.prefix ?? crypto.getRandomValues(new Uint8Array(6));
    if (prefix.length !== 6) throw new RangeError(`Unique key prefix must be 6 bytes, not ${prefix.length}`);
    this.#prefix = Array.from(prefix, (b) => HEX[b]!).join("");
    this.#now = options.now ?? Date.now;
  }

  /**
   * The next id.
   *
   * @returns 32 hex characters.
   */
  next(): string {
    const time = this.#now();
    const counter = this.#counter;
    this.#counter = (counter + 1) >>> 0;
    if (time !== this.#lastTime) {
      this.#lastTime = time;
      this.#head = this.#prefix + hex(Math.floor(time / 0x100000000), 4) + hex(time >>> 0, 8);
    }
    return this.#head + HEX[counter >>> 24]! + HEX[(counter >>> 16) & 0xff]! + HEX[(counter >>> 8) & 0xff]! + HEX[counter & 0xff]!;
  }
}

function hex(value: number, digits: number): string {
  return value.toString(16).toUpperCase().padStart(digits, "0").slice(-digits);
}
