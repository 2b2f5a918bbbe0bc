import { describe, expect, test } from "bun:test";
import { encodeFrame } from "../../../core/codec/frame.ts";
import { encodeRemotingFrame, SerializeType } from "../../../core/codec/remoting_frame.ts";
import { remotingOrigin, remotingWire } from "../../../core/remoting/remoting_wire.ts";
import { detectProtocol } from "../../../core/remoting/wire.ts";

const wire = () => detectProtocol(remotingWire)({ maxFrameSize: 1 << 20 });

describe("detectProtocol()", () => {
  test("a CBOR command frame is native, even when its first 5 bytes arrive one at a time", () => {
    const w = wire();
    const frame = encodeFrame({ code: 105, id: 9, flags: 0, header: { topic: "orders" } });
    const out = [];
    for (let i = 0; i < frame.length; i++) out.push(...w.push(frame.slice(i, i + 1)));
    expect(w.protocol).toBe("native");
    expect(out.map((c) => [c.code, c.id, c.header.topic])).toEqual([[105, 9, "orders"]]);
  });

  for (const serializeType of [SerializeType.JSON, SerializeType.ROCKETMQ]) {
    test(`a remoting frame with a ${serializeType === 0 ? "JSON" : "ROCKETMQ"} header is remoting; its origin stays with the command`, () => {
      const w = wire();
      const frame = encodeRemotingFrame({ code: 105, language: "GO", version: 317, opaque: 4, flag: 2, extFields: { topic: "orders" }, serializeType });
      const [first] = [...w.push(frame.slice(0, 3)), ...w.push(frame.slice(3))];
      expect(w.protocol).toBe("remoting");
      expect([first!.code, first!.id, first!.flags, first!.header.topic]).toEqual([105, 4, 2, "orders"]);
      expect(remotingOrigin(first!)?.command).toMatchObject({ language: "GO", version: 317, serializeType });
    });
  }

  const refused: [string, number[], RegExp][] = [
    ["a TLS handshake", [0x16, 0x03, 0x01, 0x02, 0x00, 0x01], /look like a TLS handshake/],
    ["HTTP", [...new TextEncoder().encode("POST /topics HTTP/1.1")], /look like HTTP/],
    ["anything else", [0, 0, 0, 9, 0x42], /byte 4 is 0x42, expected 0x84 to 0x86 \(CBOR command\) or 0x00\/0x01 \(remoting header\)/],
  ];
  for (const [what, bytes, error] of refused) {
    test(`refuses ${what} with an error naming the bytes`, () => {
      expect(() => wire().push(new Uint8Array(bytes))).toThrow(error);
    });
  }

  test("looks at the first 5 bytes only, however large the first chunk (a 1 MiB frame in one read)", () => {
    const w = wire();
    const frame = encodeFrame({ code: 10, id: 1, flags: 0, header: {}, body: new Uint8Array(1000 * 1024) });
    expect(w.push(frame).map((c) => c.body?.length)).toEqual([1000 * 1024]);
    const bad = new Uint8Array(1024 * 1024).fill(0x42);
    expect(() => wire().push(bad)).toThrow(/^First bytes 42 42 42 42 42 are neither/);
  });

  test("holds fewer than 5 bytes without deciding, and counts them as pending", () => {
    const w = wire();
    expect(w.push(new Uint8Array([0, 0, 0]))).toEqual([]);
    expect([w.protocol, w.pendingBytes]).toEqual([undefined, 3]);
  });
});
