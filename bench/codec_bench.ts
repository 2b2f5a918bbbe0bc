/**
 * Micro benchmarks of the frame codec: a send request with a 1 KiB body and its response, encoded
 * and decoded, plus the FrameDecoder on a chunk of 64 frames and header validation.
 * Run: `bun bench/codec_bench.ts` or `deno run -A bench/codec_bench.ts`.
 */
import { bench, do_not_optimize, run, summary } from "mitata";
import * as v from "valibot";
import { decodeCommand, encodeCommand, encodeFrame, FrameDecoder } from "../core/codec/frame.ts";
import type { Command } from "../core/protocol/command.ts";
import { SendMessageHeader } from "../core/protocol/headers.ts";
import { RequestCode } from "../core/protocol/request_code.ts";

const request: Command = {
  code: RequestCode.SEND_MESSAGE,
  id: 12345,
  flags: 0,
  header: {
    producerGroup: "DEFAULT_PRODUCER",
    topic: "BenchTopic",
    queueId: 3,
    bornTimestamp: Date.now(),
    flag: 0,
    sysFlag: 0,
    // As producers send them: RocketMQ's encoded property text.
    properties: "TAGS\u0001TagA\u0002KEYS\u0001order-1\u0002UNIQ_KEY\u00010A0000020000C350000001234567ABCD\u0002",
  },
  body: new Uint8Array(1024).map((_, i) => i),
};
const response: Command = {
  code: 0,
  id: 12345,
  flags: 1,
  header: { msgId: "7F00000100002A9F0000000000000000", queueId: 3, queueOffset: 123456 },
};
const requestBytes = encodeCommand(request).slice();
const responseBytes = encodeCommand(response).slice();
const frames = new Uint8Array(64 * (requestBytes.length + 4));
for (let i = 0; i < 64; i++) frames.set(encodeFrame(request), i * (requestBytes.length + 4));

summary(() => {
  bench("encode send request (1 KiB body)", () => do_not_optimize(encodeCommand(request)));
  bench("decode send request (1 KiB body)", () => do_not_optimize(decodeCommand(requestBytes)));
  bench("encode send response", () => do_not_optimize(encodeCommand(response)));
  bench("decode send response", () => do_not_optimize(decodeCommand(responseBytes)));
});

bench("FrameDecoder.push: 64 send frames in one chunk", () => do_not_optimize(new FrameDecoder().push(frames)));
bench("valibot: validate a send header", () => do_not_optimize(v.safeParse(SendMessageHeader, request.header)));

await run();
