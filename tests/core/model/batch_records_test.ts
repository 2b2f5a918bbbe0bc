import { describe, expect, test } from "bun:test";
import { batchMessages, type BatchScan, encodeBatchRecords, scanBatchRecords } from "../../../core/model/batch_records.ts";
import { bodyCrc } from "../../../core/model/crc32.ts";
import { encodeProperties } from "../../../core/model/properties.ts";
import { tagHash } from "../../../core/model/tag_hash.ts";
import { replayable } from "../../_helpers/random.ts";

const enc = new TextEncoder();
const LIMITS = { maxBodySize: 1024, maxPropertiesSize: 512 };

function scan(bytes: Uint8Array, count: number, topic = "T"): BatchScan | string {
  return scanBatchRecords(bytes, { topic, count, ...LIMITS });
}

const MESSAGES = [
  { body: enc.encode("one"), flag: 1, properties: encodeProperties({ TAGS: "a", KEYS: "k1 k2", UNIQ_KEY: "U1" }) },
  { body: enc.encode("twotwo"), flag: -5, properties: "" },
  { body: enc.encode("three"), flag: 0, properties: encodeProperties({ TAGS: "Tägß", note: "ünïcode" }) },
];

describe("encodeBatchRecords() and scanBatchRecords()", () => {
  test("a batch round-trips: bodies, flags, property text, CRCs and tag hashes", () => {
    const bytes = encodeBatchRecords("T", MESSAGES, { bornTimestamp: 1234 });
    const checked = scan(bytes, 3);
    if (typeof checked === "string") throw new Error(checked);
    expect(checked.starts).toEqual([0, checked.sizes[0]!, checked.sizes[0]! + checked.sizes[1]!]);
    expect(checked.sizes.reduce((a, b) => a + b)).toBe(bytes.length);
    expect(checked.crcs).toEqual(MESSAGES.map((m) => bodyCrc(m.body)));
    expect(checked.tagHashes).toEqual([tagHash("a"), 0, tagHash("Tägß")]);
    expect(checked.bodyBytes).toBe(3 + 6 + 5);
    expect(checked.ascii).toBe(false);
    expect(checked.routed).toBe(false);
    expect(batchMessages(checked)).toEqual(MESSAGES);
  });

  test("properties given as a map encode as their text would, ASCII or not", () => {
    const maps: Record<string, string>[] = [{ TAGS: "a", UNIQ_KEY: "U1" }, {}, { TAGS: "Tägß", note: "ünïcode" }];
    for (const chosen of [maps.slice(0, 2), maps]) {
      const asMaps = encodeBatchRecords("T", chosen.map((properties, i) => ({ body: enc.encode(`b${i}`), flag: i, properties })), { bornTimestamp: 5 });
      const asText = encodeBatchRecords("T", chosen.map((p, i) => ({ body: enc.encode(`b${i}`), flag: i, properties: encodeProperties(p) })), { bornTimestamp: 5 });
      expect(asMaps).toEqual(asText);
    }
    expect(() => encodeBatchRecords("T", [{ body: enc.encode("x"), flag: 0, properties: { a: "b".repeat(40000) } }], { bornTimestamp: 1 })).toThrow(RangeError);
    expect(() => encodeBatchRecords("T", [{ body: enc.encode("x"), flag: 0, properties: { a: "é".repeat(20000) } }], { bornTimestamp: 1 })).toThrow(RangeError);
  });

  test("encodes into given memory, whatever it held, when the records fit", () => {
    const fresh = encodeBatchRecords("T", MESSAGES.slice(0, 2), { bornTimestamp: 9 });
    const dirty = new Uint8Array(fresh.length + 50).fill(0xee);
    const reused = encodeBatchRecords("T", MESSAGES.slice(0, 2), { bornTimestamp: 9, into: dirty });
    expect(reused.buffer).toBe(dirty.buffer);
    expect(reused).toEqual(fresh);
    const tooSmall = new Uint8Array(10);
    expect(encodeBatchRecords("T", MESSAGES.slice(0, 2), { bornTimestamp: 9, into: tooSmall }).buffer).not.toBe(tooSmall.buffer);
  });

  test("flags a batch that needs routing by property name, not by text inside values", () => {
    for (const name of ["DELAY", "WAIT", "DEDUP_ID", "TIMER_DELIVER_MS", "TIMER_ANYTHING"]) {
      const checked = scan(encodeBatchRecords("T", [{ body: enc.encode("x"), flag: 0, properties: encodeProperties({ [name]: "1" }) }], { bornTimestamp: 1 }), 1);
      expect(typeof checked !== "string" && checked.routed).toBe(true);
    }
    const plain = scan(encodeBatchRecords("T", [{ body: enc.encode("x"), flag: 0, properties: encodeProperties({ note: "DELAY", XDELAY: "2" }) }], { bornTimestamp: 1 }), 1);
    expect(typeof plain !== "string" && plain.routed).toBe(false);
  });

  test("refuses what does not add up, naming the message", () => {
    const good = encodeBatchRecords("T", MESSAGES, { bornTimestamp: 1 });
    const cases: [string, Uint8Array, number, string][] = [
      ["fewer records than announced", good, 4, "Message 3 of the batch is truncated"],
      ["more bytes than announced", good, 2, "bytes past its 2 messages"],
      ["another topic", good, 3, "names another topic"],
      ["an empty body", encodeBatchRecords("T", [{ body: new Uint8Array(0), flag: 0, properties: "" }], { bornTimestamp: 1 }), 1, "empty body"],
      ["a body over the limit", encodeBatchRecords("T", [{ body: new Uint8Array(1025), flag: 0, properties: "" }], { bornTimestamp: 1 }), 1, "exceeds the limit of 1024"],
      ["properties over the limit", encodeBatchRecords("T", [{ body: enc.encode("x"), flag: 0, properties: encodeProperties({ a: "b".repeat(600) }) }], { bornTimestamp: 1 }), 1, "larger than 512"],
      ["malformed properties", encodeBatchRecords("T", [{ body: enc.encode("x"), flag: 0, properties: "a\u0001b" }], { bornTimestamp: 1 }), 1, "malformed"],
      ["a nameless property", encodeBatchRecords("T", [{ body: enc.encode("x"), flag: 0, properties: "\u0001b\u0002" }], { bornTimestamp: 1 }), 1, "malformed"],
    ];
    for (const [what, bytes, count, remark] of cases) {
      const checked = scanBatchRecords(bytes, { topic: what === "another topic" ? "U" : "T", count, ...LIMITS });
      expect(typeof checked === "string" ? checked : "accepted").toContain(remark);
    }
    const bad = (patch: (b: Uint8Array, v: DataView) => void) => {
      const copy = good.slice();
      patch(copy, new DataView(copy.buffer));
      return scan(copy, 3);
    };
    expect(bad((_, v) => v.setInt32(4, 0x12345678))).toContain("magic");
    expect(bad((_, v) => v.setInt32(0, 10))).toContain("bad size");
    expect(bad((_, v) => v.setInt32(36, 1))).toContain("sysflag");
    expect(bad((_, v) => v.setInt32(84, 400))).toContain("bad body length");
    const firstSize = new DataView(good.buffer).getInt32(0);
    expect(bad((_, v) => v.setInt16(firstSize - 2 - encodeProperties({ TAGS: "a", KEYS: "k1 k2", UNIQ_KEY: "U1" }).length, 3))).toContain("bad properties length");
    // Invalid UTF-8 in the property text.
    const utf8 = encodeBatchRecords("T", [{ body: enc.encode("x"), flag: 0, properties: "a\u0001é\u0002" }], { bornTimestamp: 1 });
    utf8[utf8.length - 2] = 0xff;
    expect(scan(utf8, 1)).toContain("not valid UTF-8");
  });

  test("random damage is refused or still scans to records that add up, never throws", () => replayable((r) => {
    const good = encodeBatchRecords("T", MESSAGES, { bornTimestamp: 1 });
    for (let i = 0; i < 5000; i++) {
      const copy = good.slice();
      for (let n = r.int(4) + 1; n > 0; n--) copy[r.int(copy.length)] = r.int(256);
      const checked = scan(copy, 3);
      if (typeof checked !== "string") expect(checked.sizes.reduce((a, b) => a + b)).toBe(copy.length);
    }
  }));
});
