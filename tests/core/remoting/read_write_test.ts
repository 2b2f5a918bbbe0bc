import { describe, expect, test } from "bun:test";
import { type ReadWriteConn, readWriteTransport } from "../../../core/remoting/read_write.ts";

/** A connection whose writes take a while and take at most `chunk` bytes each, like a busy socket. */
function slowConn(chunk: number) {
  const written: number[] = [];
  let closedWith = -1;
  let endRead: (n: number | null) => void = () => {};
  const conn: ReadWriteConn = {
    read: () => new Promise((resolve) => (endRead = resolve)),
    async write(data) {
      await new Promise((r) => setTimeout(r, 1));
      if (closedWith >= 0) throw new Error("write after close");
      const n = Math.min(chunk, data.length);
      written.push(...data.subarray(0, n));
      return n;
    },
    close() {
      closedWith = written.length;
      endRead(null);
    },
  };
  return { conn, written, closedAt: () => closedWith };
}

/** A connection whose reads return `sizes` bytes in turn, the i-th read's bytes all `i % 251`. */
function fillingConn(sizes: readonly number[]): ReadWriteConn {
  let next = 0;
  return {
    read(buffer) {
      if (next === sizes.length) return new Promise(() => {});
      const n = Math.min(sizes[next]!, buffer.length);
      buffer.fill(next % 251, 0, n);
      next++;
      return Promise.resolve(n);
    },
    write: (data) => Promise.resolve(data.length),
    close() {},
  };
}

describe("readWriteTransport", () => {
  test("close() lets bytes written before it leave first, then closes; later writes are dropped", async () => {
    const { conn, written, closedAt } = slowConn(1000);
    let closed = 0;
    const transport = readWriteTransport(conn, "peer:1", () => ({ data: () => {}, close: () => closed++ }));
    const frames = Array.from({ length: 20 }, (_, i) => new Uint8Array(700).fill(i));
    for (const frame of frames) transport.write(frame);
    transport.close();
    transport.write(new Uint8Array(10).fill(99));
    expect(closedAt()).toBe(-1);
    const deadline = Date.now() + 5000;
    while (closedAt() < 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(closedAt()).toBe(20 * 700);
    expect(written).toEqual(frames.flatMap((f) => [...f]));
    expect(closed).toBe(1);
  });

  test("reads share a buffer, but bytes handed out are never written again", async () => {
    // Reads of varying sizes, each filled with its own number, many buffers' worth.
    const sizes = Array.from({ length: 400 }, (_, i) => 1 + ((i * 7919) % 9000));
    const conn = fillingConn(sizes);
    const chunks: Uint8Array[] = [];
    readWriteTransport(conn, "peer:1", () => ({ data: (chunk) => void chunks.push(chunk), close: () => {} }));
    const deadline = Date.now() + 5000;
    while (chunks.length < sizes.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    expect(chunks.length).toBe(sizes.length);
    chunks.forEach((chunk, i) => {
      expect(chunk.length).toBe(sizes[i]!);
      expect(chunk.every((b) => b === i % 251)).toBe(true);
    });
    expect(new Set(chunks.map((c) => c.buffer)).size).toBeLessThan(sizes.length / 2);
  });

  test("reads land again where a chunk the handler let go was (it copied what it needed); kept chunks are never written over", async () => {
    const sizes = Array.from({ length: 300 }, (_, i) => 100 + ((i * 7919) % 5000));
    const conn = fillingConn(sizes);
    // Every third chunk is kept (as a command's body would be); the others are copied and let go.
    const kept: { chunk: Uint8Array; fill: number }[] = [];
    const buffers = new Set<ArrayBufferLike>();
    let seen = 0;
    readWriteTransport(conn, "peer:1", () => ({
      data: (chunk) => {
        const i = seen++;
        expect(chunk.every((b) => b === i % 251)).toBe(true);
        buffers.add(chunk.buffer);
        if (i % 3 !== 0) return true;
        kept.push({ chunk, fill: i % 251 });
      },
      close: () => {},
    }));
    const deadline = Date.now() + 5000;
    while (seen < sizes.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    expect(seen).toBe(sizes.length);
    for (const { chunk, fill } of kept) expect(chunk.every((b) => b === fill)).toBe(true);
    // About a third of the bytes were kept, so about a third of the buffers were needed.
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(buffers.size).toBeLessThan(total / (3 * 48 * 1024) + 3);
  });

  test("write() copies: the caller reuses its array at once, and every byte leaves in order", async () => {
    const { conn, written } = slowConn(5000);
    const transport = readWriteTransport(conn, "peer:1", () => ({ data: () => {}, close: () => {} }));
    expect(transport.writeCopies).toBe(true);
    const reused = new Uint8Array(3000);
    const expected: number[] = [];
    for (let i = 0; i < 200; i++) {
      const n = 1 + ((i * 911) % 3000);
      reused.fill(i % 256, 0, n);
      transport.write(reused.subarray(0, n));
      reused.fill(255 - (i % 256)); // the caller scribbles over it right away
      for (let k = 0; k < n; k++) expected.push(i % 256);
      if (i % 37 === 0) await new Promise((r) => setTimeout(r, 2)); // some writes land mid-flight
    }
    const deadline = Date.now() + 10_000;
    while (written.length < expected.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(written.length).toBe(expected.length);
    expect(written).toEqual(expected);
    expect(transport.bufferedAmount).toBe(0);
  });

  test("close() with nothing queued closes at once", () => {
    const { conn, closedAt } = slowConn(1000);
    const transport = readWriteTransport(conn, "peer:1", () => ({ data: () => {}, close: () => {} }));
    transport.close();
    expect(closedAt()).toBe(0);
  });
});
