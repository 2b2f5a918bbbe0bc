import { describe, expect, test } from "bun:test";
import { decodeCommand, encodeFrame, FrameDecoder, FrameDecoderStream } from "../../../core/codec/frame.ts";
import type { Command } from "../../../core/protocol/command.ts";

const body = new Uint8Array(1024).map((_, i) => i & 0xff);
const sample: Command[] = [
  { code: 10, id: 1, flags: 0, header: { topic: "orders", queueId: 3, properties: { TAGS: "a" } }, body },
  { code: 0, id: 1, flags: 1, header: { msgId: "ABC", queueOffset: 2 ** 40 } },
  { code: 17, id: 2, flags: 1, header: {}, remark: "Topic \"x\" does not exist" },
  { code: 11, id: 3, flags: 2, header: { big: "x".repeat(70000) } },
];

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

async function collect<T>(stream: ReadableStream<T>): Promise<T[]> {
  const out: T[] = [];
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return out;
    out.push(value);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

describe("FrameDecoder", () => {
  test("push() decodes frames fed one byte at a time", () => {
    const bytes = concat(sample.map(encodeFrame));
    const decoder = new FrameDecoder();
    const out: Command[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...decoder.push(bytes.subarray(i, i + 1).slice()));
    expect(out).toEqual(sample);
    expect(decoder.pendingBytes).toBe(0);
  });

  test("push() decodes many frames in one chunk", () => {
    const frames = Array.from({ length: 100 }, (_, i) => ({ ...sample[i % sample.length]!, id: i }));
    const out = new FrameDecoder().push(concat(frames.map(encodeFrame)));
    expect(out).toEqual(frames);
  });

  test("push() decodes frames split at every boundary", () => {
    const bytes = concat(sample.slice(0, 3).map(encodeFrame));
    for (let cut = 1; cut < bytes.length; cut += 7) {
      const decoder = new FrameDecoder();
      const out = [...decoder.push(bytes.slice(0, cut)), ...decoder.push(bytes.slice(cut))];
      expect(out).toEqual(sample.slice(0, 3));
    }
  });

  test("push() rejects a length above maxFrameSize before allocating", () => {
    const decoder = new FrameDecoder({ maxFrameSize: 1000 });
    expect(() => decoder.push(new Uint8Array([0x7f, 0xff, 0xff, 0xff]))).toThrow(RangeError);
    expect(() => new FrameDecoder({ maxFrameSize: 1000 }).push(new Uint8Array([0, 0, 3, 0xe9]))).toThrow(
      "Frame length 1001 exceeds the maximum of 1000 bytes",
    );
  });

  test("push() rejects a zero length", () => {
    expect(() => new FrameDecoder().push(new Uint8Array([0, 0, 0, 0]))).toThrow(RangeError);
  });

  test("decodeCommand() rejects wrongly shaped items with TypeError", () => {
    // CBOR: text "hi"
    expect(() => decodeCommand(new Uint8Array([0x62, 0x68, 0x69]))).toThrow(TypeError);
    // CBOR: [1, 2, 3, "x"] — header not a map
    expect(() => decodeCommand(new Uint8Array([0x84, 1, 2, 3, 0x61, 0x78]))).toThrow("Command header must be a map");
    // CBOR: ["a", 2, 3, {}]
    expect(() => decodeCommand(new Uint8Array([0x84, 0x61, 0x61, 2, 3, 0xa0]))).toThrow(TypeError);
  });

  test("FrameDecoderStream decodes a chunked stream", async () => {
    const bytes = concat(sample.map(encodeFrame));
    const chunks = [bytes.slice(0, 5), bytes.slice(5, 2000), bytes.slice(2000)];
    expect(await collect(streamOf(chunks).pipeThrough(new FrameDecoderStream()))).toEqual(sample);
  });

  test("FrameDecoderStream errors when the stream ends inside a frame", async () => {
    const bytes = encodeFrame(sample[0]!);
    const stream = streamOf([bytes.slice(0, 10)]).pipeThrough(new FrameDecoderStream());
    await expect(collect(stream)).rejects.toThrow("Stream ended inside a frame");
  });
});
