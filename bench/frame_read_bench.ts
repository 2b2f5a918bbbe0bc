/**
 * CPU time of frame assembly on the read path: 16 pull answers of ~140 KB (128 records of 1.1 KB
 * each, as a consumer pulls them) back to back, fed to one `FrameDecoder` in 64 KiB reads (Deno's
 * read size, and Bun's under light load) and in 512 KiB reads (Bun's largest). Prints CPU time
 * (user + system, garbage collection included) a frame over five rounds of 2,000 passes.
 * Run: `bun bench/frame_read_bench.ts` or `deno run -A bench/frame_read_bench.ts`.
 */
import process from "node:process";
import { encodeFrame, FrameDecoder } from "../core/codec/frame.ts";

const frames: Uint8Array[] = [];
for (let i = 0; i < 16; i++) {
  const header = { nextBeginOffset: 128 * (i + 1), minOffset: 0, maxOffset: 1 << 20 };
  frames.push(encodeFrame({ code: 0, id: i, flags: 1, header, body: new Uint8Array(140_000 + i * 37).fill(i) }).slice());
}
const stream = new Uint8Array(frames.reduce((sum, frame) => sum + frame.length, 0));
frames.reduce((pos, frame) => (stream.set(frame, pos), pos + frame.length), 0);

for (const size of [64 * 1024, 512 * 1024]) {
  const reads: Uint8Array[] = [];
  for (let pos = 0; pos < stream.length; pos += size) reads.push(stream.slice(pos, pos + size));
  const decoder = new FrameDecoder();
  let decoded = 0;
  const pass = () => {
    for (const read of reads) decoded += decoder.push(read).length;
  };
  for (let i = 0; i < 300; i++) pass();
  const samples: number[] = [];
  for (let round = 0; round < 5; round++) {
    decoded = 0;
    const before = process.cpuUsage();
    for (let i = 0; i < 2000; i++) pass();
    const used = process.cpuUsage(before);
    samples.push((used.user + used.system) / decoded);
  }
  samples.sort((a, b) => a - b);
  console.log(`${size / 1024} KiB reads: ${samples[2]!.toFixed(2)} µs CPU a ~140 KB frame (median of ${samples.map((s) => s.toFixed(2)).join(", ")})`);
}
