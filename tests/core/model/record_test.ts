import { describe, expect, test } from "bun:test";
import * as zlib from "node:zlib";
import { bodyCrc, crc32, portableCrc32, useCrc32 } from "../../../core/model/crc32.ts";
import { SysFlag } from "../../../core/model/message.ts";
import { createOffsetMessageId, decodeOffsetMessageId } from "../../../core/model/message_id.ts";
import { decodeProperties, encodeProperties } from "../../../core/model/properties.ts";
import {
  decodeRecord,
  decodeRecords,
  encodeBlankMarker,
  encodeRecord,
  PreparedRecord,
  type RecordInput,
  readRecordIndexFields,
  readStoreTimestamp,
  type CorruptRecord,
  recordMatches,
  recordSize,
  verifyRecord,
} from "../../../core/model/record.ts";
import { tagHash } from "../../../core/model/tag_hash.ts";

const enc = new TextEncoder();

function input(overrides: Partial<RecordInput> = {}): RecordInput {
  return {
    topic: "TopicTest",
    queueId: 3,
    flag: 7,
    sysFlag: 0,
    bornTimestamp: 1_700_000_000_123,
    bornHost: { address: "192.168.1.20", port: 51234 },
    storeHost: { address: "10.1.2.3", port: 10911 },
    reconsumeTimes: 2,
    preparedTransactionOffset: 0,
    body: enc.encode("Hello RocketMQ"),
    properties: encodeProperties({ TAGS: "TagA", KEYS: "k1 k2", UNIQ_KEY: "ABC123" }),
    ...overrides,
  };
}

function encode(rec: RecordInput, queueOffset = 42, physicalOffset = 4096, storeTimestamp = 1_700_000_000_999) {
  const bytes = new Uint8Array(recordSize(rec));
  const written = encodeRecord(rec, bytes, 0, queueOffset, physicalOffset, storeTimestamp);
  expect(written).toBe(bytes.length);
  return bytes;
}

describe("crc32", () => {
  test("crc32() matches zlib's check values", () => {
    expect(crc32(enc.encode("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(enc.encode("The quick brown fox jumps over the lazy dog"))).toBe(0x414fa339);
  });

  test("crc32() of a range equals crc32() of the slice, for every tail length", () => {
    const data = enc.encode("abcdefghijklmnopqrstuvwxyz0123456789");
    for (let start = 0; start < 9; start++) {
      for (let end = start; end <= data.length; end += 5) {
        expect(crc32(data, start, end)).toBe(crc32(data.slice(start, end)));
      }
    }
  });

  test("useCrc32() refuses an implementation that disagrees, and takes zlib's, which agrees with the tables", () => {
    expect(useCrc32(() => 42)).toBe(false);
    expect(useCrc32(() => {
      throw new Error("broken");
    })).toBe(false);
    expect(crc32(enc.encode("123456789"))).toBe(0xcbf43926);
    expect(useCrc32((bytes) => zlib.crc32(bytes))).toBe(true);
    const data = new Uint8Array(3000).map((_, i) => (i * 97 + 13) & 0xff);
    for (let length = 0; length < 2100; length += 37) {
      expect(crc32(data, 5, 5 + length)).toBe(portableCrc32(data, 5, 5 + length));
    }
  });

  test("crc32() rejects a range outside the input", () => {
    expect(() => crc32(new Uint8Array(4), 2, 9)).toThrow(RangeError);
  });

  test("bodyCrc() clears the sign bit", () => {
    expect(bodyCrc(enc.encode("123456789"))).toBe(0x4bf43926);
  });
});

describe("tagHash", () => {
  test("tagHash() equals Java String.hashCode()", () => {
    expect(tagHash("TagA")).toBe(2598919);
    expect(tagHash("hello")).toBe(99162322);
    expect(tagHash("polygenelubricants")).toBe(-2147483648);
    expect(tagHash("中文")).toBe(20013 * 31 + 25991);
  });

  test("tagHash() is 0 without a tag", () => {
    expect(tagHash(undefined)).toBe(0);
    expect(tagHash("")).toBe(0);
  });
});

describe("properties", () => {
  test("encodeProperties() and decodeProperties() round trip", () => {
    const props = { TAGS: "TagA", KEYS: "a b", "user-prop": "värde ✓" };
    const text = encodeProperties(props);
    expect(text).toBe("TAGS\u0001TagA\u0002KEYS\u0001a b\u0002user-prop\u0001värde ✓\u0002");
    expect(decodeProperties(text)).toEqual(props);
  });

  test("decodeProperties() tolerates a missing final separator and empty text", () => {
    expect(decodeProperties("")).toEqual({});
    expect(decodeProperties("A\u00011\u0002B\u00012")).toEqual({ A: "1", B: "2" });
    expect(decodeProperties("A\u0001\u0002\u0002")).toEqual({ A: "" });
  });

  test("encodeProperties() rejects separator characters", () => {
    expect(() => encodeProperties({ "a\u0001": "x" })).toThrow(TypeError);
    expect(() => encodeProperties({ a: "x\u0002" })).toThrow(TypeError);
  });
});

describe("message id", () => {
  test("createOffsetMessageId() writes host, port and offset as upper-case hex", () => {
    expect(createOffsetMessageId({ address: "127.0.0.1", port: 10911 }, 0)).toBe(
      "7F00000100002A9F0000000000000000",
    );
    const id = createOffsetMessageId({ address: "10.1.2.3", port: 10911 }, 2 ** 40 + 255);
    expect(id).toBe("0A01020300002A9F00000100000000FF");
  });

  test("decodeOffsetMessageId() round trips IPv4 and IPv6", () => {
    for (const host of [
      { address: "10.1.2.3", port: 10911 },
      { address: "2001:db8::1", port: 9876 },
      { address: "::1", port: 1 },
      { address: "fe80::1:2:3:4", port: 65535 },
    ]) {
      for (const offset of [0, 1234, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER]) {
        const id = createOffsetMessageId(host, offset);
        expect(id.length).toBe(host.address.includes(":") ? 56 : 32);
        expect(decodeOffsetMessageId(id)).toEqual({ host, commitLogOffset: offset });
      }
    }
  });

  test("decodeOffsetMessageId() rejects malformed ids", () => {
    expect(() => decodeOffsetMessageId("ABC")).toThrow(RangeError);
    expect(() => decodeOffsetMessageId("Z".repeat(32))).toThrow(TypeError);
    expect(() => decodeOffsetMessageId("7F00000100002A9FFFFFFFFFFFFFFFFF")).toThrow(RangeError);
    expect(() => createOffsetMessageId({ address: "nope", port: 1 }, 0)).toThrow(TypeError);
    expect(() => createOffsetMessageId({ address: "1.2.3.4", port: 1 }, -1)).toThrow(RangeError);
  });
});

describe("record", () => {
  test("recordSize() of an empty IPv4 record is 92 bytes", () => {
    expect(recordSize(input({ body: new Uint8Array(0), properties: "", topic: "T" }))).toBe(92);
  });

  test("encodeRecord() lays out the fixed fields as RocketMQ does", () => {
    const bytes = encode(input());
    const view = new DataView(bytes.buffer);
    expect(view.getInt32(0)).toBe(bytes.length);
    expect(view.getInt32(4)).toBe(-626843481);
    expect(view.getInt32(8)).toBe(bodyCrc(enc.encode("Hello RocketMQ")));
    expect(view.getInt32(12)).toBe(3);
    expect(view.getInt32(16)).toBe(7);
    expect(view.getBigInt64(20)).toBe(42n);
    expect(view.getBigInt64(28)).toBe(4096n);
    expect(view.getBigInt64(56)).toBe(1_700_000_000_999n);
    expect(view.getInt32(84)).toBe(14);
    expect(readStoreTimestamp(bytes, 0)).toBe(1_700_000_000_999);
  });

  test("decodeRecord() round trips every field", () => {
    const rec = input();
    const m = decodeRecord(encode(rec), 0);
    expect(m).toMatchObject({
      topic: "TopicTest",
      queueId: 3,
      flag: 7,
      sysFlag: 0,
      queueOffset: 42,
      commitLogOffset: 4096,
      bornTimestamp: 1_700_000_000_123,
      storeTimestamp: 1_700_000_000_999,
      bornHost: rec.bornHost,
      storeHost: rec.storeHost,
      reconsumeTimes: 2,
      preparedTransactionOffset: 0,
      tags: "TagA",
      keys: ["k1", "k2"],
      uniqueKey: "ABC123",
      bodyCRC: bodyCrc(rec.body),
      msgId: createOffsetMessageId(rec.storeHost, 4096),
    });
    expect(m.body).toEqual(rec.body);
    expect(m.properties).toEqual({ TAGS: "TagA", KEYS: "k1 k2", UNIQ_KEY: "ABC123" });
  });

  test("IPv6 hosts set the sysflag bits and round trip", () => {
    const rec = input({
      bornHost: { address: "2001:db8::42", port: 4000 },
      storeHost: { address: "::ffff:10.0.0.1", port: 10911 },
      sysFlag: SysFlag.TRANSACTION_PREPARED,
      preparedTransactionOffset: 2 ** 35,
    });
    const bytes = encode(rec);
    expect(bytes.length).toBe(recordSize(input()) + 24);
    const m = decodeRecord(bytes, 0);
    expect(m.sysFlag).toBe(SysFlag.TRANSACTION_PREPARED | SysFlag.BORN_HOST_V6 | SysFlag.STORE_HOST_V6);
    expect(m.bornHost).toEqual({ address: "2001:db8::42", port: 4000 });
    expect(m.storeHost).toEqual({ address: "::ffff:a00:1", port: 10911 });
    expect(m.preparedTransactionOffset).toBe(2 ** 35);
    expect(m.msgId.length).toBe(56);
    expect(readStoreTimestamp(bytes, 0)).toBe(1_700_000_000_999);
  });

  test("stale IPv6 bits in the input sysflag are corrected for IPv4 hosts", () => {
    const m = decodeRecord(encode(input({ sysFlag: SysFlag.BORN_HOST_V6 | SysFlag.COMPRESSED })), 0);
    expect(m.sysFlag).toBe(SysFlag.COMPRESSED);
  });

  test("multi-byte topics and properties use UTF-8 lengths", () => {
    const rec = input({ topic: "主题", properties: encodeProperties({ TAGS: "标签" }) });
    const m = decodeRecord(encode(rec), 0);
    expect(m.topic).toBe("主题");
    expect(m.tags).toBe("标签");
    expect(readRecordIndexFields(encode(rec), 0)).toEqual({
      topic: "主题",
      queueId: 3,
      queueOffset: 42,
      size: recordSize(rec),
      tags: "标签",
      properties: "TAGS\u0001标签\u0002",
    });
  });

  test("encodeRecord() rejects oversized topics and properties and a short target", () => {
    expect(() => new PreparedRecord(input({ topic: "x".repeat(128) }))).toThrow(RangeError);
    expect(() => new PreparedRecord(input({ properties: "a\u0001" + "b".repeat(40000) + "\u0002" }))).toThrow(
      RangeError,
    );
    expect(() => encodeRecord(input(), new Uint8Array(10), 0, 0, 0, 0)).toThrow(RangeError);
  });

  test("decodeRecords() splits concatenated records", () => {
    const a = encode(input({ body: enc.encode("one") }), 0, 0);
    const b = encode(input({ body: enc.encode("two"), properties: "" }), 1, a.length);
    const both = new Uint8Array(a.length + b.length);
    both.set(a);
    both.set(b, a.length);
    const messages = decodeRecords(both);
    expect(messages.map((m) => new TextDecoder().decode(m.body))).toEqual(["one", "two"]);
    expect(messages[1]!.keys).toEqual([]);
    expect(messages[1]!.tags).toBeUndefined();
    expect(() => decodeRecords(both.subarray(0, both.length - 1))).toThrow(RangeError);
  });

  test("verifyRecord() accepts a good record and a blank marker", () => {
    const bytes = encode(input());
    expect(verifyRecord(bytes, 0, bytes.length)).toEqual({ ok: true, size: bytes.length, blank: false });
    const blank = new Uint8Array(8);
    encodeBlankMarker(blank, 0, 500);
    expect(verifyRecord(blank, 0, 8)).toEqual({ ok: true, size: 500, blank: true });
  });

  test("verifyRecord() detects a torn record, a flipped body byte and a bad magic", () => {
    const bytes = encode(input());
    expect(verifyRecord(bytes, 0, bytes.length - 1)).toMatchObject({ ok: false });
    expect(verifyRecord(bytes, 0, 6)).toMatchObject({ ok: false });
    const flipped = bytes.slice();
    flipped[90]! ^= 0x01;
    const result = verifyRecord(flipped, 0, flipped.length);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toContain("CRC");
    const badMagic = bytes.slice();
    badMagic[5] = 0;
    expect(verifyRecord(badMagic, 0, badMagic.length)).toMatchObject({ ok: false });
    expect(verifyRecord(new Uint8Array(100), 0, 100)).toMatchObject({ ok: false });
  });

  test("ASCII and non-ASCII property text both store as UTF-8 and decode back", () => {
    for (const properties of ["KEYS\u0001k1\u0002UNIQ_KEY\u0001ABC\u0002", "user-prop\u0001värde ✓ 中文\u0002TAGS\u0001t\u0002", ""]) {
      const prepared = new PreparedRecord(input({ properties }));
      const utf8 = new TextEncoder().encode(properties);
      expect(prepared.propertiesLength).toBe(utf8.length);
      const bytes = new Uint8Array(prepared.size + 5).fill(0xee);
      encodeRecord(prepared, bytes, 5, 0, 0, 1);
      const decoded = decodeRecord(bytes, 5);
      expect(decoded.properties).toEqual(decodeProperties(properties));
      expect(decoded.storeSize).toBe(prepared.size);
    }
  });

  test("a prepared record encodes identically at any buffer position", () => {
    const prepared = new PreparedRecord(input());
    const big = new Uint8Array(prepared.size + 13);
    encodeRecord(prepared, big, 13, 42, 4096, 1_700_000_000_999);
    expect(big.subarray(13)).toEqual(encode(input()));
  });
});

import { isWellFormedProperties } from "../../../core/model/properties.ts";

describe("isWellFormedProperties()", () => {
  test("accepts encoded text and empty text", () => {
    expect(isWellFormedProperties("")).toBe(true);
    expect(isWellFormedProperties("TAGS\u0001a\u0002KEYS\u0001k1 k2\u0002")).toBe(true);
    expect(isWellFormedProperties("E\u0001\u0002")).toBe(true);
  });

  test("rejects missing separators, empty names and doubled separators", () => {
    for (const bad of ["TAGS", "TAGS\u0001a", "\u0001a\u0002", "A\u0001b\u0001c\u0002", "\u0002", "A\u0001b\u0002\u0002"]) {
      expect(isWellFormedProperties(bad)).toBe(false);
    }
  });
});

describe("checking records", () => {
  const topic = enc.encode("TopicTest");

  test("recordMatches() holds a record to its size, offsets, queue id and topic", () => {
    const bytes = encode(input({ bornHost: { address: "::1", port: 1 } }));
    const identity = { size: bytes.length, physicalOffset: 4096, queueId: 3, queueOffset: 42, topic };
    expect(recordMatches(bytes, 0, identity)).toBe(true);
    expect(recordMatches(bytes, 0, { ...identity, size: bytes.length - 1 })).toBe(false);
    expect(recordMatches(bytes, 0, { ...identity, physicalOffset: 4097 })).toBe(false);
    expect(recordMatches(bytes, 0, { ...identity, queueId: 2 })).toBe(false);
    expect(recordMatches(bytes, 0, { ...identity, queueOffset: 41 })).toBe(false);
    expect(recordMatches(bytes, 0, { ...identity, topic: enc.encode("TopicTesu") })).toBe(false);
    expect(recordMatches(bytes.subarray(0, bytes.length - 1), 0, identity)).toBe(false);
  });

  test("decodeRecords() gives each record the offset message id of its own CommitLog offset, across 64 KiB and 4 GiB boundaries", () => {
    const offsets = [0xfff0, 0x10010, 0x1fffe, 0xffff_fff0, 0x1_0000_0004, 0x1_0000_ffff, 0x1_0001_0000, 2 ** 40 + 0x12345];
    const records = offsets.map((offset, i) => encode(input(), i, offset));
    const all = new Uint8Array(records.reduce((n, r) => n + r.length, 0));
    records.reduce((pos, r) => (all.set(r, pos), pos + r.length), 0);
    const storeHost = input().storeHost;
    expect(decodeRecords(all).map((m) => m.msgId)).toEqual(offsets.map((offset) => createOffsetMessageId(storeHost, offset)));
  });

  test("decodeRecords() with onCorrupt leaves out a record whose body CRC or layout is wrong and goes on", () => {
    const a = encode(input({ body: enc.encode("first") }), 0, 0);
    const b = encode(input({ body: enc.encode("second") }), 1, a.length);
    const c = encode(input({ body: enc.encode("third") }), 2, a.length + b.length);
    const all = new Uint8Array(a.length + b.length + c.length);
    all.set(a, 0);
    all.set(b, a.length);
    all.set(c, a.length + b.length);
    const bodyAt = a.length + 84 + 4 + 2; // IPv4 hosts: the body length at 84, the body after it
    all[bodyAt]! ^= 1;
    const corrupt: CorruptRecord[] = [];
    const messages = decodeRecords(all, { onCorrupt: (record) => corrupt.push(record) });
    expect(messages.map((m) => new TextDecoder().decode(m.body))).toEqual(["first", "third"]);
    expect(corrupt).toMatchObject([{ position: a.length, size: b.length, queueOffset: 1, commitLogOffset: a.length }]);
    expect(corrupt[0]!.reason).toContain("body CRC");
    expect(decodeRecords(all).length).toBe(3);
    // A layout that does not add up (body length past the record) is reported, not thrown.
    const broken = all.slice();
    new DataView(broken.buffer).setInt32(a.length + 84, 10_000);
    const found: CorruptRecord[] = [];
    expect(decodeRecords(broken, { onCorrupt: (record) => found.push(record) }).length).toBe(2);
    expect(found[0]!.reason).toContain("bad body length");
    expect(() => decodeRecords(broken)).toThrow(RangeError);
  });
});
