/**
 * HPACK against RFC 7541's own examples: Huffman-coded requests (Appendix C.4) sharing one dynamic
 * table, responses that evict from a 256-byte table (C.5), Huffman strings with bad padding or EOS,
 * size updates over the limit, header lists over the limit, and the encoder's blocks.
 */
import { describe, expect, test } from "bun:test";
import { encodeHeaders, HpackDecoder, HpackError, huffmanDecode } from "../../../server/grpc/hpack.ts";

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+/g, "");
  return Uint8Array.from(clean.match(/../g)!.map((b) => parseInt(b, 16)));
}

describe("Huffman decoding", () => {
  test("decodes RFC 7541's vectors", () => {
    const text = (b: Uint8Array) => new TextDecoder().decode(huffmanDecode(b));
    expect(text(hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff"))).toBe("www.example.com");
    expect(text(hex("a8eb 1064 9cbf"))).toBe("no-cache");
    expect(text(hex("25a8 49e9 5ba9 7d7f"))).toBe("custom-key");
    expect(text(hex("25a8 49e9 5bb8 e8b4 bf"))).toBe("custom-value");
    expect(text(hex("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"))).toBe("Mon, 21 Oct 2013 20:13:21 GMT");
    expect(text(hex("9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"))).toBe("https://www.example.com");
  });

  test("refuses padding that is not all ones and the EOS symbol", () => {
    // "www.example.com" with its last byte's padding bit set to 0.
    expect(() => huffmanDecode(hex("f1e3 c2e5 f23a 6ba0 ab90 f4fe"))).toThrow(HpackError);
    // 32 one bits: EOS (30 ones) is decoded.
    expect(() => huffmanDecode(hex("ffff ffff"))).toThrow(HpackError);
    // A whole byte of padding (more than 7 bits).
    expect(() => huffmanDecode(hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff ff"))).toThrow(HpackError);
  });
});

describe("HpackDecoder", () => {
  test("decodes C.4's three requests, Huffman-coded, through one dynamic table", () => {
    const decoder = new HpackDecoder();
    const first = decoder.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"));
    expect(first.headers).toEqual([[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"]]);
    expect(decoder.tableSize).toBe(57);
    const second = decoder.decode(hex("8286 84be 5886 a8eb 1064 9cbf"));
    expect(second.headers).toEqual([[":method", "GET"], [":scheme", "http"], [":path", "/"], [":authority", "www.example.com"], ["cache-control", "no-cache"]]);
    expect(decoder.tableSize).toBe(110);
    const third = decoder.decode(hex("8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf"));
    expect(third.headers).toEqual([
      [":method", "GET"],
      [":scheme", "https"],
      [":path", "/index.html"],
      [":authority", "www.example.com"],
      ["custom-key", "custom-value"],
    ]);
    expect(decoder.entries).toEqual([["custom-key", "custom-value"], ["cache-control", "no-cache"], [":authority", "www.example.com"]]);
    expect(decoder.tableSize).toBe(164);
  });

  test("evicts the oldest entries from a 256-byte table (C.5)", () => {
    const decoder = new HpackDecoder({ maxTableSize: 256 });
    decoder.decode(hex(`
      4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3120 474d
      546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70 6c65 2e63 6f6d`));
    expect(decoder.tableSize).toBe(222);
    const second = decoder.decode(hex("4803 3330 37c1 c0bf"));
    expect(second.headers).toEqual([
      [":status", "307"],
      ["cache-control", "private"],
      ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
      ["location", "https://www.example.com"],
    ]);
    // ":status: 302" was evicted to make room for ":status: 307".
    expect(decoder.entries).toEqual([
      [":status", "307"],
      ["location", "https://www.example.com"],
      ["date", "Mon, 21 Oct 2013 20:13:21 GMT"],
      ["cache-control", "private"],
    ]);
    expect(decoder.tableSize).toBe(222);
  });

  test("a size update over the limit, or after a field, is a decoding error", () => {
    expect(() => new HpackDecoder({ maxTableSize: 4096 }).decode(hex("3fe2 1f"))).toThrow(/exceeds the limit of 4096/);
    expect(() => new HpackDecoder().decode(hex("82 20"))).toThrow(/after a header field/);
    const decoder = new HpackDecoder();
    decoder.decode(hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"));
    // A size update to 0 empties the table.
    decoder.decode(hex("20 82"));
    expect(decoder.tableSize).toBe(0);
    expect(() => decoder.decode(hex("be"))).toThrow(/past the table/);
  });

  test("a truncated block is a decoding error", () => {
    expect(() => new HpackDecoder().decode(hex("40 0a 6375 7374"))).toThrow(HpackError);
    expect(() => new HpackDecoder().decode(hex("ff"))).toThrow(HpackError);
  });

  test("a header list over the limit is marked, and the table still follows the block", () => {
    const decoder = new HpackDecoder({ maxHeaderListSize: 100 });
    const block = encodeIndexed([["x-a", "1".repeat(40)], ["x-b", "2".repeat(40)]]);
    const list = decoder.decode(block);
    expect(list.tooLarge).toBe(true);
    expect(list.headers).toEqual([["x-a", "1".repeat(40)]]);
    expect(decoder.entries.map(([name]) => name)).toEqual(["x-b", "x-a"]);
  });
});

/** Literals with incremental indexing and literal names (0x40), for the decoder's table. */
function encodeIndexed(headers: [string, string][]): Uint8Array {
  const out: number[] = [];
  for (const [name, value] of headers) {
    out.push(0x40, name.length, ...new TextEncoder().encode(name), value.length, ...new TextEncoder().encode(value));
  }
  return Uint8Array.from(out);
}

describe("encodeHeaders", () => {
  test("writes literals without indexing that a decoder reads back and does not index", () => {
    const headers: [string, string][] = [[":status", "200"], ["content-type", "application/grpc"], ["grpc-message", "x".repeat(200)]];
    const decoder = new HpackDecoder();
    expect(decoder.decode(encodeHeaders(headers)).headers).toEqual(headers);
    expect(decoder.tableSize).toBe(0);
  });
});
