import { describe, expect, test } from "bun:test";
import { FrameDecoder } from "../../../core/codec/frame.ts";
import {
  decodeRemotingCommand,
  encodeRemotingFrame,
  REMOTING_MAX_HEADER_SIZE,
  type RemotingCommand,
  SerializeType,
} from "../../../core/codec/remoting_frame.ts";
import { replayable } from "../../_helpers/random.ts";

const enc = new TextEncoder();

function command(serializeType: SerializeType, extra: Partial<RemotingCommand> = {}): RemotingCommand {
  return {
    code: 310,
    language: "JAVA",
    version: 401,
    opaque: 77,
    flag: 0,
    extFields: { b: "TopicTest", e: "3", i: "TAGS\u0001TagA\u0002", "日本": "値" },
    body: enc.encode("hello"),
    serializeType,
    ...extra,
  };
}

/** A frame with a hand-written JSON header, as ali-ons writes it (numbers and booleans raw). */
function jsonFrame(header: string, body = new Uint8Array(0)): Uint8Array {
  const headerBytes = enc.encode(header);
  const out = new Uint8Array(8 + headerBytes.length + body.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, 4 + headerBytes.length + body.length);
  view.setUint32(4, headerBytes.length);
  out.set(headerBytes, 8);
  out.set(body, 8 + headerBytes.length);
  return out;
}

describe("remoting frames", () => {
  for (const type of [SerializeType.JSON, SerializeType.ROCKETMQ]) {
    test(`a ${type === 0 ? "JSON" : "ROCKETMQ"} header round-trips with its body, fed one byte at a time`, () => {
      const frame = encodeRemotingFrame(command(type, { remark: "a remark" }));
      expect(frame[4]).toBe(type);
      const decoder = new FrameDecoder<RemotingCommand>({ decode: decodeRemotingCommand });
      const out: RemotingCommand[] = [];
      for (let i = 0; i < frame.length; i++) out.push(...decoder.push(frame.slice(i, i + 1)));
      expect(out).toHaveLength(1);
      const { body, extFields, ...rest } = out[0]!;
      expect(rest).toEqual({ code: 310, language: "JAVA", version: 401, opaque: 77, flag: 0, remark: "a remark", serializeType: type });
      expect({ ...extFields }).toEqual({ b: "TopicTest", e: "3", i: "TAGS\u0001TagA\u0002", "日本": "値" });
      expect(new TextDecoder().decode(body)).toBe("hello");
    });
  }

  test("several frames in one chunk come out in order", () => {
    const a = encodeRemotingFrame(command(SerializeType.JSON, { opaque: 1 }));
    const b = encodeRemotingFrame(command(SerializeType.ROCKETMQ, { opaque: 2, body: undefined }));
    const both = new Uint8Array([...a, ...b]);
    const out = new FrameDecoder<RemotingCommand>({ decode: decodeRemotingCommand }).push(both);
    expect(out.map((c) => [c.opaque, c.serializeType, c.body?.length])).toEqual([[1, 0, 5], [2, 1, undefined]]);
  });

  test("JSON extFields numbers and booleans become text, as Java reads them; null fields are left out; unknown members are ignored", () => {
    const frame = jsonFrame('{"code":14,"language":"JAVA","opaque":11,"flag":0,"version":121,"serializeTypeCurrentRPC":"JSON",' +
      '"extFields":{"topic":"T","queueId":0,"k":false,"n":null,"__proto__":"x"}}');
    const decoded = decodeRemotingCommand(frame.subarray(4));
    expect({ ...decoded.extFields }).toEqual({ topic: "T", queueId: "0", k: "false", ["__proto__"]: "x" } as never);
    expect(Object.getPrototypeOf(decoded.extFields)).toBeNull();
    expect(decoded.version).toBe(121);
  });

  const refusals: [string, Uint8Array, RegExp][] = [
    ["a frame shorter than its header-length word", new Uint8Array([0, 0, 0, 2, 0, 0]), /shorter than its 4-byte header length/],
    ["an unknown serialize type", new Uint8Array([0, 0, 0, 4, 7, 0, 0, 0]), /serialize type 7 is unknown/],
    ["a header length past the frame (a truncated header)", new Uint8Array([0, 0, 0, 6, 0, 0, 0, 9, 123, 125]), /header length 9 exceeds the 2 bytes left/],
    ["a header-length word of 2 GiB", new Uint8Array([0, 0, 0, 5, 0x7f, 0xff, 0xff, 0xff, 0]), /serialize type 127 is unknown/],
    ["a JSON header that is not JSON", jsonFrame("{nope"), /does not parse/],
    ["a JSON header that is an array", jsonFrame("[1,2]"), /is not an object/],
    ["a JSON header without a code", jsonFrame('{"opaque":1}'), /has no "code"/],
    ["a code that is not an integer", jsonFrame('{"code":1.5}'), /"code" must be a 32-bit integer/],
    ["an extField holding an object", jsonFrame('{"code":1,"extFields":{"a":{"b":1}}}'), /field "a" must be a string, number or boolean/],
    ["a JSON header nesting 100,000 deep, before parsing it", jsonFrame(`{"code":1,"extFields":${"[".repeat(100_000)}${"]".repeat(100_000)}}`), /nests deeper than 8 levels/],
    ["a header that is not UTF-8", new Uint8Array([0, 0, 0, 7, 0, 0, 0, 3, 0x22, 0xff, 0x22]), /not valid UTF-8/],
    ["a ROCKETMQ header shorter than its fixed fields", new Uint8Array([0, 0, 0, 8, 1, 0, 0, 4, 0, 1, 0, 0]), /shorter than its 17 fixed bytes/],
  ];
  for (const [what, bytes, error] of refusals) {
    test(`refuses ${what}`, () => {
      expect(() => new FrameDecoder<RemotingCommand>({ decode: decodeRemotingCommand }).push(bytes)).toThrow(error);
    });
  }

  test("brackets inside strings do not count as nesting", () => {
    const frame = jsonFrame(`{"code":1,"remark":"${"[{".repeat(50)}\\\"[[[","extFields":{"a":"]]]]{{{{"}}`);
    expect(decodeRemotingCommand(frame.subarray(4)).extFields.a).toBe("]]]]{{{{");
  });

  test("refuses a header above the 1 MiB limit before parsing it", () => {
    const header = new Uint8Array(REMOTING_MAX_HEADER_SIZE + 1).fill(0x20);
    const frame = new Uint8Array(4 + header.length);
    new DataView(frame.buffer).setUint32(0, header.length);
    frame.set(header, 4);
    expect(() => decodeRemotingCommand(frame)).toThrow(/exceeds the maximum of 1048576 bytes/);
  });

  test("refuses a 2 GiB frame length before allocating (the shared FrameDecoder limit)", () => {
    const bytes = new Uint8Array([0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 10]);
    expect(() => new FrameDecoder<RemotingCommand>({ maxFrameSize: 1 << 20, decode: decodeRemotingCommand }).push(bytes)).toThrow(/exceeds the maximum/);
  });

  test("ROCKETMQ headers whose inner lengths lie are refused, never read past their end", () =>
    replayable((random) => {
      const good = encodeRemotingFrame(command(SerializeType.ROCKETMQ, { remark: "r" }));
      for (let i = 0; i < 2000; i++) {
        const bytes = good.slice();
        // Lie in a length inside the header (remark, extFields, key or value lengths), or cut it.
        const at = 8 + 13 + random.int(bytes.length - 21);
        bytes[at] = random.int(256);
        let decoded: RemotingCommand | undefined;
        try {
          decoded = decodeRemotingCommand(bytes.subarray(4));
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).message).toMatch(/^(ROCKETMQ|Remoting)/);
          continue;
        }
        // What decodes came from inside the frame.
        expect(Object.values(decoded.extFields).join("").length).toBeLessThan(bytes.length);
      }
    }));
});
