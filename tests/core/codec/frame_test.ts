import { describe, expect, test } from "bun:test";
import {
  decodeCommand,
  encodeCommand,
  encodeFrame,
  FRAME_BUFFER_START,
  type FrameBudget,
  FrameDecoder,
  FrameDecoderStream,
} from "../../../core/codec/frame.ts";
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

describe("encodeCommand", () => {
  test("a command whose header cannot be encoded leaves nothing behind for the next one", () => {
    const bad = { code: 10, id: 1, flags: 0, header: { topic: "orders", when: new Date(0) } } as unknown as Command;
    expect(() => encodeCommand(bad)).toThrow(TypeError);
    const good = sample[1]!;
    expect(decodeCommand(encodeCommand(good))).toEqual(good);
  });

  test("encodes code, id, flags, header, body and remark in that order, as many items as set", () => {
    for (const command of sample) expect(decodeCommand(encodeCommand(command))).toEqual(command);
    const both: Command = { code: 1, id: 9, flags: 1, header: { a: 1 }, body: new Uint8Array([1, 2]), remark: "why" };
    expect(decodeCommand(encodeCommand(both))).toEqual(both);
  });
});

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

  test("push() decodes a large frame fed one byte at a time, buffering at most eight times what arrived", () => {
    const big: Command = { code: 10, id: 9, flags: 0, header: { topic: "big" }, body: new Uint8Array(700_000).map((_, i) => i * 7) };
    const bytes = concat([encodeFrame(sample[1]!), encodeFrame(big), encodeFrame(sample[2]!)]);
    const decoder = new FrameDecoder();
    const out: Command[] = [];
    let most = 0;
    for (let i = 0; i < bytes.length; i++) {
      out.push(...decoder.push(bytes.subarray(i, i + 1).slice()));
      const pending = decoder.pendingBytes;
      if (pending > 4 + FRAME_BUFFER_START) expect(decoder.bufferedBytes).toBeLessThanOrEqual(8 * pending);
      most = Math.max(most, decoder.bufferedBytes);
    }
    expect(out).toEqual([sample[1]!, big, sample[2]!]);
    expect(most).toBe(encodeFrame(big).length - 4);
    expect([decoder.pendingBytes, decoder.bufferedBytes]).toEqual([0, 0]);
  });

  test("push() allocates nothing for a large frame's announced length until its bytes arrive", () => {
    const decoder = new FrameDecoder();
    decoder.push(new Uint8Array([0, 0x80, 0, 0])); // 8 MiB announced
    expect([decoder.pendingBytes, decoder.bufferedBytes]).toEqual([4, 0]);
    decoder.push(new Uint8Array(100));
    expect(decoder.bufferedBytes).toBe(FRAME_BUFFER_START);
    decoder.push(new Uint8Array(FRAME_BUFFER_START));
    expect(decoder.bufferedBytes).toBe(4 * FRAME_BUFFER_START);
    expect(decoder.pendingBytes).toBe(4 + 100 + FRAME_BUFFER_START);
  });

  test("push() gives a frame its whole buffer once a quarter of it arrived, so 64 KiB reads are copied once", () => {
    const asked: number[] = [];
    const decoder = new FrameDecoder({ budget: { reserve: (bytes) => void asked.push(bytes), release: () => {} } });
    // A pull answer of ~140 KB in 64 KiB socket reads: one buffer at its exact size from the first read.
    const answer: Command = { code: 0, id: 3, flags: 1, header: {}, body: new Uint8Array(140_000).map((_, i) => i * 13) };
    const bytes = encodeFrame(answer).slice();
    const out: Command[] = [];
    for (let pos = 0; pos < bytes.length; pos += 64 * 1024) out.push(...decoder.push(bytes.slice(pos, pos + 64 * 1024)));
    expect(out).toEqual([answer]);
    expect(asked).toEqual([bytes.length - 4]);
    // A 4 MiB frame still grows fourfold from the start size, and is whole once growing would take
    // half of it.
    asked.length = 0;
    decoder.push(new Uint8Array([0, 0x40, 0, 0]));
    for (let sent = 0; sent <= 1024 * 1024; sent += 64 * 1024) decoder.push(new Uint8Array(64 * 1024));
    expect(asked).toEqual([FRAME_BUFFER_START, 3 * FRAME_BUFFER_START, 12 * FRAME_BUFFER_START, 48 * FRAME_BUFFER_START]);
    expect(decoder.bufferedBytes).toBe(4 * 1024 * 1024);
  });

  test("viewedChunk tells whether the last push() decoded a frame in place from its chunk", () => {
    const decoder = new FrameDecoder();
    const bytes = encodeFrame(sample[1]!).slice();
    expect(decoder.push(bytes)).toEqual([sample[1]!]);
    expect(decoder.viewedChunk).toBe(true);
    decoder.push(bytes.slice(0, 6));
    expect(decoder.viewedChunk).toBe(false);
    // Completing a frame from the decoder's own buffer leaves the chunk free to be read over.
    const end = bytes.slice(6);
    const [command] = decoder.push(end);
    expect(decoder.viewedChunk).toBe(false);
    end.fill(0);
    expect(command).toEqual(sample[1]!);
  });

  test("push() decodes frames of every size split into chunks of random sizes", () => {
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const frames: Command[] = [1, 100, 65_000, 70_000, 300_000, 1_100_000, 12].map((size, id) => ({
      code: 10,
      id,
      flags: 0,
      header: {},
      body: new Uint8Array(size).map((_, i) => (i * 31 + id) & 0xff),
    }));
    const bytes = concat(frames.map(encodeFrame));
    for (const most of [3, 1500, 70_000, 2_000_000]) {
      const decoder = new FrameDecoder();
      const out: Command[] = [];
      for (let pos = 0; pos < bytes.length;) {
        const size = 1 + Math.floor(random() * most);
        out.push(...decoder.push(bytes.slice(pos, pos + size)));
        pos += size;
      }
      expect(out).toEqual(frames);
    }
  });

  test("push() pays for incomplete frames from its budget before allocating, and is paid back", () => {
    let held = 0;
    const asked: number[] = [];
    const budget: FrameBudget = {
      reserve: (bytes) => {
        asked.push(bytes);
        held += bytes;
      },
      release: (bytes) => void (held -= bytes),
    };
    const decoder = new FrameDecoder({ budget });
    const big = encodeFrame({ code: 10, id: 1, flags: 0, header: {}, body: new Uint8Array(1_000_000) });
    const small = encodeFrame(sample[0]!);
    // Frames whole in a chunk need no buffer.
    decoder.push(concat([small, small]));
    expect(asked).toEqual([]);
    for (let pos = 0; pos < big.length; pos += 10_000) {
      decoder.push(big.slice(pos, pos + 10_000));
      expect(held).toBe(decoder.bufferedBytes);
    }
    expect(asked).toEqual([FRAME_BUFFER_START, 3 * FRAME_BUFFER_START, big.length - 4 - 4 * FRAME_BUFFER_START]);
    expect(held).toBe(0);
    // A small split frame is paid for whole, at once.
    decoder.push(small.slice(0, 10));
    expect(held).toBe(small.length - 4);
    decoder.push(small.slice(10));
    expect(held).toBe(0);
  });

  test("push() passes on a budget's refusal and holds no more than before", () => {
    const refusal = new Error("No more");
    let held = 0;
    const decoder = new FrameDecoder({
      budget: {
        reserve: (bytes) => {
          if (held + bytes > 100_000) throw refusal;
          held += bytes;
        },
        release: (bytes) => void (held -= bytes),
      },
    });
    const big = encodeFrame({ code: 10, id: 1, flags: 0, header: {}, body: new Uint8Array(1_000_000) });
    decoder.push(big.slice(0, 1000));
    expect(held).toBe(FRAME_BUFFER_START);
    expect(() => decoder.push(big.slice(1000, 70_000))).toThrow(refusal);
    expect([held, decoder.bufferedBytes]).toEqual([FRAME_BUFFER_START, FRAME_BUFFER_START]);
  });

  test("reset() drops an incomplete frame and pays its budget back", () => {
    let held = 0;
    const decoder = new FrameDecoder({ budget: { reserve: (bytes) => void (held += bytes), release: (bytes) => void (held -= bytes) } });
    const frame = encodeFrame({ code: 10, id: 1, flags: 0, header: {}, body: new Uint8Array(500_000) });
    decoder.push(frame.slice(0, 200_000));
    expect(held).toBeGreaterThan(0);
    decoder.reset();
    expect([held, decoder.pendingBytes, decoder.bufferedBytes]).toEqual([0, 0, 0]);
    // The decoder starts afresh.
    expect(decoder.push(encodeFrame(sample[1]!))).toEqual([sample[1]!]);
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
