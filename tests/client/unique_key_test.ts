import { describe, expect, test } from "bun:test";
import { UniqueKeyGenerator } from "../../client/_unique_key.ts";

describe("UniqueKeyGenerator", () => {
  test("next() lays out prefix, time and counter as 32 upper-case hex characters", () => {
    const generator = new UniqueKeyGenerator({ prefix: new Uint8Array([1, 2, 3, 4, 0xab, 0xff]), now: () => 0x123456789ab });
    expect(generator.next()).toBe("01020304ABFF" + "0123456789AB" + "00000000");
    expect(generator.next()).toBe("01020304ABFF" + "0123456789AB" + "00000001");
  });

  test("next() never repeats within a generator, even in one millisecond", () => {
    const generator = new UniqueKeyGenerator({ now: () => 1_700_000_000_000 });
    const ids = new Set(Array.from({ length: 100_000 }, () => generator.next()));
    expect(ids.size).toBe(100_000);
  });

  test("two generators get different random prefixes", () => {
    const a = new UniqueKeyGenerator({ now: () => 1 }).next();
    const b = new UniqueKeyGenerator({ now: () => 1 }).next();
    expect(a.slice(0, 12)).not.toBe(b.slice(0, 12));
    expect(a).toMatch(/^[0-9A-F]{32}$/);
  });

  test("the constructor rejects a prefix that is not 6 bytes", () => {
    expect(() => new UniqueKeyGenerator({ prefix: new Uint8Array(5) })).toThrow(RangeError);
  });
});
