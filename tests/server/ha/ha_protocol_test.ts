import { describe, expect, test } from "bun:test";
import {
  encodeAuth,
  encodeChallenge,
  encodeData,
  encodeHello,
  encodeRefuse,
  encodeReport,
  encodeWelcome,
  HA_PROTOCOL_VERSION,
  HaAuthKind,
  HaFrameDecoder,
  HaFrameType,
  MAX_SLAVE_FRAME,
} from "../../../server/ha/ha_protocol.ts";

const hello = {
  version: HA_PROTOCOL_VERSION,
  offset: 2 ** 40 + 7,
  segmentSize: 1024 ** 3,
  brokerId: 3,
  brokerName: "broker-ä",
  authKind: HaAuthKind.ACCOUNT,
  accessKey: "rocketmq-admin",
  nonce: new Uint8Array(32).fill(9),
};

describe("replication frames", () => {
  test("every frame type round-trips, fed one byte at a time", () => {
    const bytes = [
      encodeHello(hello),
      encodeChallenge(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)),
      encodeAuth(new Uint8Array(32).fill(3)),
      encodeReport(12345),
      encodeWelcome({ version: 1, startOffset: 0, masterOffset: 99, masterAddress: "10.0.0.1:10911" }),
      encodeData(4096, 8192, new Uint8Array([1, 2, 3])),
      encodeData(4096, 8192, new Uint8Array(0)),
      encodeRefuse("no such thing"),
    ];
    const all = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const b of bytes) {
      all.set(b, at);
      at += b.length;
    }
    const decoder = new HaFrameDecoder({ maxFrameSize: 4096 });
    const frames = [];
    for (let i = 0; i < all.length; i++) frames.push(...decoder.push(all.subarray(i, i + 1)));
    expect(frames.map((f) => f.type)).toEqual([
      HaFrameType.HELLO, HaFrameType.CHALLENGE, HaFrameType.AUTH, HaFrameType.REPORT, HaFrameType.WELCOME, HaFrameType.DATA, HaFrameType.DATA, HaFrameType.REFUSE,
    ]);
    expect(frames[0]).toEqual({ type: HaFrameType.HELLO, ...hello });
    expect(frames[1]).toEqual({ type: HaFrameType.CHALLENGE, nonce: new Uint8Array(32).fill(1), proof: new Uint8Array(32).fill(2) });
    expect(frames[2]).toEqual({ type: HaFrameType.AUTH, proof: new Uint8Array(32).fill(3) });
    expect(frames[3]).toEqual({ type: HaFrameType.REPORT, offset: 12345 });
    expect(frames[4]).toMatchObject({ startOffset: 0, masterOffset: 99, masterAddress: "10.0.0.1:10911" });
    expect(frames[5]).toMatchObject({ offset: 4096, masterOffset: 8192, bytes: new Uint8Array([1, 2, 3]) });
    expect(frames[7]).toEqual({ type: HaFrameType.REFUSE, reason: "no such thing" });
  });

  test("several frames in one chunk decode together", () => {
    const decoder = new HaFrameDecoder({ maxFrameSize: MAX_SLAVE_FRAME });
    const a = encodeReport(1);
    const b = encodeReport(2);
    const chunk = new Uint8Array(a.length + b.length);
    chunk.set(a);
    chunk.set(b, a.length);
    expect(decoder.push(chunk)).toEqual([{ type: HaFrameType.REPORT, offset: 1 }, { type: HaFrameType.REPORT, offset: 2 }]);
  });

  test("garbage is refused: a length past the maximum, an unknown type, a wrong payload size", () => {
    const text = new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n");
    expect(() => new HaFrameDecoder({ maxFrameSize: MAX_SLAVE_FRAME }).push(text)).toThrow(/outside 1\.\.1024/);
    expect(() => new HaFrameDecoder({ maxFrameSize: 512 }).push(new Uint8Array([0, 0, 0, 1, 0x7f]))).toThrow(/Unknown replication frame type 0x7f/);
    expect(() => new HaFrameDecoder({ maxFrameSize: 512 }).push(new Uint8Array([0, 0, 0, 3, 2, 0, 0]))).toThrow(/expected 9/);
    expect(() => new HaFrameDecoder({ maxFrameSize: 512 }).push(new Uint8Array([0, 0, 0, 0]))).toThrow(RangeError);
  });

  test("offsets past 2^53 are refused", () => {
    const report = encodeReport(1);
    report.fill(0xff, 5);
    expect(() => new HaFrameDecoder({ maxFrameSize: 512 }).push(report)).toThrow(/beyond 2\^53/);
    expect(() => encodeReport(-1)).toThrow(RangeError);
  });
});

describe("the slave's frame decoder under big frames", () => {
  test("a 64 MiB frame fed in 64 KiB chunks decodes in linear time (each byte copied a bounded number of times)", () => {
    const payload = new Uint8Array(64 * 1024 * 1024).fill(7);
    const frame = encodeData(0, payload.length, payload);
    const decoder = new HaFrameDecoder({ maxFrameSize: frame.length });
    const before = process.cpuUsage();
    const started = performance.now();
    let decoded = 0;
    for (let at = 0; at < frame.length; at += 64 * 1024) {
      for (const f of decoder.push(frame.subarray(at, at + 64 * 1024))) if (f.type === HaFrameType.DATA) decoded += f.bytes.length;
    }
    const cpu = process.cpuUsage(before);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    console.log(`HA decoder: 64 MiB frame in 1,024 chunks of 64 KiB: ${cpuMs.toFixed(0)} ms CPU, ${(performance.now() - started).toFixed(0)} ms`);
    expect(decoded).toBe(payload.length);
    // Joining once costs one 64 MiB copy (tens of ms); re-copying the buffer per chunk costs ~32 GiB of copies.
    expect(cpuMs).toBeLessThan(1500);
  });

  test("a length above the maximum is refused as soon as its four bytes are in, before any payload is buffered", () => {
    const decoder = new HaFrameDecoder({ maxFrameSize: 8192 });
    expect(decoder.push(new Uint8Array([0x06, 0x40]))).toEqual([]);
    expect(() => decoder.push(new Uint8Array([0x00, 0x00]))).toThrow("Replication frame length 104857600 is outside 1..8192");
    const upgraded = new HaFrameDecoder({ maxFrameSize: 64, upgrade: { after: HaFrameType.WELCOME, maxFrameSize: 1 << 20 } });
    const welcome = encodeWelcome({ version: HA_PROTOCOL_VERSION, startOffset: 0, masterOffset: 1, masterAddress: "127.0.0.1:1" });
    const data = encodeData(0, 1, new Uint8Array(1000));
    expect(() => new HaFrameDecoder({ maxFrameSize: 64 }).push(data)).toThrow(/outside 1\.\.64/);
    const both = new Uint8Array(welcome.length + data.length);
    both.set(welcome);
    both.set(data, welcome.length);
    // The DATA right behind WELCOME in one chunk already gets the larger limit.
    expect(upgraded.push(both).map((f) => f.type)).toEqual([HaFrameType.WELCOME, HaFrameType.DATA]);
  });
});
