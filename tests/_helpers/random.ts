/**
 * Seeded randomness for property and fuzz tests, so that a failing run can be replayed. Each
 * generator's seed is `TEST_SEED` when set, else a fixed seed under CI (one known sequence, never
 * flaky) and a fresh one elsewhere (every local run explores new cases). `replayable()` names the
 * seed in a failure's message:
 *
 * ```sh
 * TEST_SEED=12345 bun test tests/core/codec/cbor_encoder_test.ts
 * ```
 */

/** The seed CI runs with when `TEST_SEED` is not set. */
const CI_SEED = 20261124;

/** A deterministic pseudo-random generator (mulberry32) with the helpers tests use. */
export interface Random {
  /** The seed this generator started from. */
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One of `items`. */
  pick<T>(items: readonly T[]): T;
  /** `n` random bytes. */
  bytes(n: number): Uint8Array;
}

/**
 * The seed of this run: `TEST_SEED`, else fixed under CI, else drawn once per process.
 *
 * @returns The seed.
 * @throws {RangeError} When `TEST_SEED` is not an unsigned 32-bit integer.
 */
export function runSeed(): number {
  const text = process.env.TEST_SEED;
  if (text !== undefined && text !== "") {
    const seed = Number(text);
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new RangeError(`Invalid TEST_SEED "${text}": expected an integer from 0 to 4294967295`);
    }
    return seed;
  }
  if (process.env.CI) return CI_SEED;
  drawn ??= crypto.getRandomValues(new Uint32Array(1))[0]!;
  return drawn;
}
let drawn: number | undefined;

/**
 * A generator seeded with `seed` (default: the run's seed).
 *
 * @param seed The seed.
 * @returns The generator.
 */
export function seeded(seed: number = runSeed()): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    seed: seed >>> 0,
    next,
    int,
    chance: (p) => next() < p,
    pick: (items) => items[int(items.length)]!,
    bytes(n) {
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = int(256);
      return out;
    },
  };
}

/**
 * Runs a test body with a generator (a fresh one of the run's seed by default); a failure's
 * message names the seed and how to replay it.
 *
 * @param body The test body, given the generator.
 * @param random The generator to use.
 * @returns What the body returns.
 * @example Property test
 * ```ts ignore
 * test("decode(encode(x)) is x", () => replayable((random) => { ... random.int(10) ... }));
 * ```
 */
export async function replayable<T>(body: (random: Random) => T | Promise<T>, random: Random = seeded()): Promise<T> {
  try {
    return await body(random);
  } catch (error) {
    const note = `(random seed ${random.seed}: TEST_SEED=${random.seed} replays this run)`;
    if (error instanceof Error) {
      error.message = `${error.message}\n${note}`;
      throw error;
    }
    throw new Error(`${String(error)}\n${note}`);
  }
}
