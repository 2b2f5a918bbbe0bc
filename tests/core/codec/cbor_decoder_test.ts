import { describe, expect, test } from "bun:test";
import { Encoder } from "cbor-x/encode";
import { decodeCbor } from "../../../core/codec/cbor_decoder.ts";
import { CborWriter } from "../../../core/codec/cbor_encoder.ts";
import { type Random, replayable } from "../../_helpers/random.ts";

const reference = new Encoder({ useRecords: false, mapsAsObjects: true, tagUint8Array: false });

function ours(value: unknown): Uint8Array {
  const writer = new CborWriter(16);
  writer.write(value);
  return writer.take();
}

function randomString(r: Random): string {
  const pools = ["abcXYZ019_-", "äöüß€", "日本語", "🎉", "\u0001\u0002"];
  const chars = [...pools[r.int(pools.length)]!];
  const n = [0, 1, 5, 12, 13, 23, 24, 32, 33, 200][r.int(10)]!;
  return Array.from({ length: n }, () => chars[r.int(chars.length)]).join("");
}

function randomValue(r: Random, depth: number): unknown {
  switch (r.int(depth > 3 ? 6 : 8)) {
    case 0: return (r.int(2 ** (r.next() * 53)) * (r.next() < 0.3 ? -1 : 1)) || 0; // no -0: cbor-x writes it as 0
    case 1: return randomString(r);
    case 2: return r.next() < 0.5;
    case 3: return null;
    case 4: return r.next() * 1e9;
    case 5: return r.bytes(r.int(100));
    case 6: return Array.from({ length: r.int(5) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(6); i > 0; i--) o[randomString(r) || "k"] = randomValue(r, depth + 1);
      return o;
    }
  }
}

describe("decodeCbor()", () => {
  test("decodes 5,000 random values encoded by cbor-x and by CborWriter", () => replayable((r) => {
    for (let i = 0; i < 5000; i++) {
      const value = randomValue(r, 0);
      expect(decodeCbor(ours(value))).toEqual(value);
      expect(decodeCbor(reference.encode(value))).toEqual(value);
    }
  }));

  test("reads half, single and double floats and every integer width", () => {
    expect(decodeCbor(new Uint8Array([0xf9, 0x3c, 0x00]))).toBe(1);
    expect(decodeCbor(new Uint8Array([0xf9, 0x7c, 0x00]))).toBe(Infinity);
    expect(decodeCbor(new Uint8Array([0xfa, 0x3f, 0xc0, 0x00, 0x00]))).toBe(1.5);
    expect(decodeCbor(new Uint8Array([0x1b, 0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe(2 ** 53 - 1);
    expect(decodeCbor(new Uint8Array([0x3b, 0, 0, 0, 1, 0, 0, 0, 0]))).toBe(-(2 ** 32) - 1);
  });

  test("truncated input of every length is a RangeError, never a crash", () => {
    const full = ours({ topic: "orders", body: new Uint8Array(50), list: [1, "two", { three: 3 }], text: "é".repeat(40) });
    for (let n = 0; n < full.length; n++) expect(() => decodeCbor(full.subarray(0, n))).toThrow(RangeError);
    expect(() => decodeCbor(new Uint8Array([...full, 0]))).toThrow("Unexpected 1 bytes after the CBOR item");
  });

  test("lengths beyond the input are refused before allocating", () => {
    // byte string of 2^32-1 bytes, array of 2^32-1 items, map of 2^32-1 entries, all in 5 bytes
    for (const head of [0x5a, 0x9a, 0xba, 0x7a]) {
      expect(() => decodeCbor(new Uint8Array([head, 0xff, 0xff, 0xff, 0xff]))).toThrow(RangeError);
    }
    expect(() => decodeCbor(new Uint8Array([0x1b, 0xff, 0, 0, 0, 0, 0, 0, 0]))).toThrow("CBOR integer is beyond 2^53");
  });

  test("deep nesting, tags, indefinite lengths and odd keys are refused", () => {
    expect(() => decodeCbor(new Uint8Array(100).fill(0x81))).toThrow(/nests deeper than 32/);
    expect(() => decodeCbor(new Uint8Array([0xc1, 0x00]))).toThrow("CBOR tags are not supported");
    expect(() => decodeCbor(new Uint8Array([0x9f, 0xff]))).toThrow("Indefinite-length CBOR items are not supported");
    expect(() => decodeCbor(new Uint8Array([0xa1, 0x80, 0x01]))).toThrow(RangeError); // array as a key
    expect(() => decodeCbor(new Uint8Array([0xa1, 0x40, 0x01]))).toThrow("CBOR map keys must be text or integers");
    expect(() => decodeCbor(new Uint8Array([0xf8, 0x20]))).toThrow(TypeError);
    expect(decodeCbor(new Uint8Array([0xa1, 0x01, 0x02]))).toEqual({ 1: 2 });
  });

  test("a __proto__ key is dropped, so no later copy can turn it into a prototype", () => {
    const value = decodeCbor(ours(JSON.parse('{"__proto__": [1, 2], "a": {"__proto__": {"polluted": true}, "b": 2}}'))) as Record<string, unknown>;
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
    expect(Object.keys(value)).toEqual(["a"]);
    expect(value.a).toEqual({ b: 2 });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("2,000 random byte strings never escape as anything but TypeError or RangeError", () => replayable((r) => {
    for (let i = 0; i < 2000; i++) {
      const bytes = r.bytes(1 + r.int(64));
      try {
        decodeCbor(bytes);
      } catch (error) {
        expect(error instanceof TypeError || error instanceof RangeError).toBe(true);
      }
    }
  }));
});
