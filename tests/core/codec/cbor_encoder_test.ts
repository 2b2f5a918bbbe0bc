import { describe, expect, test } from "bun:test";
import { Decoder } from "cbor-x/decode";
import { CborWriter } from "../../../core/codec/cbor_encoder.ts";
import { type Random, replayable } from "../../_helpers/random.ts";

const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, int64AsNumber: true } as ConstructorParameters<typeof Decoder>[0]);

function roundTrip(value: unknown): unknown {
  const writer = new CborWriter(16);
  writer.write(value);
  return decoder.decode(writer.take());
}

function randomString(r: Random): string {
  const pools = ["abcXYZ019_-", "äöüß€", "日本語テキスト", "🎉🚀", "\u0001\u0002"];
  const pool = pools[r.int(pools.length)]!;
  const chars = [...pool];
  const n = [0, 1, 5, 23, 24, 30, 63, 64, 200, 300][r.int(10)]!;
  return Array.from({ length: n }, () => chars[r.int(chars.length)]).join("");
}

function randomValue(r: Random, depth: number): unknown {
  const kind = r.int(depth > 3 ? 6 : 9);
  switch (kind) {
    case 0: return r.int(2 ** (r.next() * 53)) * (r.next() < 0.3 ? -1 : 1);
    case 1: return randomString(r);
    case 2: return r.next() < 0.5;
    case 3: return null;
    case 4: return r.next() * 1e6;
    case 5: return r.bytes(r.int(300));
    case 6: return Array.from({ length: r.int(5) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(6); i > 0; i--) o[randomString(r) || "k"] = randomValue(r, depth + 1);
      return o;
    }
  }
}

describe("CborWriter", () => {
  test("boundaries of every integer width round-trip through cbor-x", () => {
    for (const n of [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, -1, -24, -25, -256, -257, -(2 ** 32), -(2 ** 53 - 1)]) {
      expect(roundTrip(n)).toBe(n);
    }
  });

  test("floats, booleans, null and text of every length round-trip", () => {
    for (const v of [0.5, -1.25, 1e300, Number.NaN, true, false, null, "", "a".repeat(23), "b".repeat(24), "c".repeat(255), "d".repeat(70000), "é", "€".repeat(100), "🎉"]) {
      expect(roundTrip(v)).toEqual(v);
    }
  });

  test("undefined object fields are left out", () => {
    expect(roundTrip({ a: 1, b: undefined, c: "x" })).toEqual({ a: 1, c: "x" });
  });

  test("5,000 random nested values round-trip exactly", () => replayable((r) => {
    for (let i = 0; i < 5000; i++) {
      const value = randomValue(r, 0);
      expect(roundTrip(value)).toEqual(value);
    }
  }));

  test("several items back to back with length prefixes", () => {
    const writer = new CborWriter(8);
    const items = [{ a: 1 }, "two", new Uint8Array(5000).fill(7)];
    for (const item of items) {
      const at = writer.beginLength();
      writer.write(item);
      writer.endLength(at);
    }
    const bytes = writer.take();
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    let pos = 0;
    for (const item of items) {
      const length = view.getUint32(pos);
      expect(decoder.decode(bytes.subarray(pos + 4, pos + 4 + length))).toEqual(item);
      pos += 4 + length;
    }
    expect(pos).toBe(bytes.length);
    expect(writer.length).toBe(0);
  });

  test("rejects values commands never carry", () => {
    const writer = new CborWriter();
    expect(() => writer.write(() => 1)).toThrow(TypeError);
    expect(() => writer.write(10n)).toThrow(TypeError);
    expect(() => writer.write(new Date())).toThrow("Cannot encode an instance of Date");
    let deep: unknown = 1;
    for (let i = 0; i < 70; i++) deep = [deep];
    expect(() => writer.write(deep)).toThrow(/deeper than 64/);
  });
});

describe("writeFrame()", () => {
  test("a command that cannot be encoded leaves the writer as it was", async () => {
    const { writeFrame } = await import("../../../core/codec/frame.ts");
    const writer = new CborWriter();
    writeFrame(writer, { code: 1, id: 1, flags: 0, header: { ok: true } });
    const before = writer.length;
    expect(() => writeFrame(writer, { code: 1, id: 2, flags: 0, header: { bad: () => 1 } })).toThrow(TypeError);
    expect(writer.length).toBe(before);
  });
});
