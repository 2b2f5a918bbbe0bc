/**
 * Micro benchmarks of the frame codec: a send request with a 1 KiB body and its response, encoded
 * and decoded, the FrameDecoder on 64 frames in one chunk, split at TCP segment size (1,460 bytes)
 * and as one 1 MiB frame in 64 KiB reads, a server Connection receiving split frames, header
 * validation, and the same send as a RocketMQ 4.x remoting frame (JSON header, as ali-ons writes it)
 * with its answer.
 * Run: `bun bench/codec_bench.ts` or `deno run -A bench/codec_bench.ts`.
 */
import { bench, do_not_optimize, run, summary } from "mitata";
import * as v from "valibot";
import { decodeCommand, encodeCommand, encodeFrame, FrameDecoder } from "../core/codec/frame.ts";
import type { Command } from "../core/protocol/command.ts";
import { SendMessageHeader } from "../core/protocol/headers.ts";
import { RequestCode } from "../core/protocol/request_code.ts";
import { Connection } from "../core/remoting/connection.ts";
import { CborWriter } from "../core/codec/cbor_encoder.ts";
import { decodeRemotingCommand, encodeRemotingFrame, SerializeType, writeRemotingFrame } from "../core/codec/remoting_frame.ts";

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

/** `bytes` cut into pieces of `size`, as a socket hands them over. */
function chunks(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let pos = 0; pos < bytes.length; pos += size) out.push(bytes.subarray(pos, pos + size));
  return out;
}
const segments = chunks(frames, 1460);
const bigFrame = encodeFrame({ ...request, body: new Uint8Array(1024 * 1024) }).slice();
const bigReads = chunks(bigFrame, 64 * 1024);

/** A server-side connection whose requests are counted and whose transport drops what is written. */
let handled = 0;
const server = new Connection({ onRequest: () => void handled++ });
server.attach({ write() {}, close() {}, remoteAddress: "127.0.0.1:1", bufferedAmount: 0, writeCopies: true });

summary(() => {
  bench("encode send request (1 KiB body)", () => do_not_optimize(encodeCommand(request)));
  bench("decode send request (1 KiB body)", () => do_not_optimize(decodeCommand(requestBytes)));
  bench("encode send response", () => do_not_optimize(encodeCommand(response)));
  bench("decode send response", () => do_not_optimize(decodeCommand(responseBytes)));
});

bench("FrameDecoder.push: 64 send frames in one chunk", () => do_not_optimize(new FrameDecoder().push(frames)));
bench("FrameDecoder.push: 64 send frames in 1,460-byte segments", () => {
  const decoder = new FrameDecoder();
  for (const segment of segments) do_not_optimize(decoder.push(segment));
});
bench("FrameDecoder.push: one 1 MiB frame in 64 KiB reads", () => {
  const decoder = new FrameDecoder();
  for (const read of bigReads) do_not_optimize(decoder.push(read));
});
bench("Connection: receive 64 send frames in 1,460-byte segments", () => {
  for (const segment of segments) server.handlers.data(segment);
  do_not_optimize(handled);
});
const remotingSend = encodeRemotingFrame({
  code: RequestCode.SEND_MESSAGE_V2,
  language: "JAVA",
  version: 121,
  opaque: 12345,
  flag: 0,
  extFields: { a: "PG", b: "BenchTopic", c: "TBW102", d: "4", e: "3", f: "0", g: String(Date.now()), h: "0", i: request.header.properties as string, j: "0", k: "false" },
  body: request.body!,
  serializeType: SerializeType.JSON,
}).subarray(4);
const remotingWriter = new CborWriter();
const remotingAnswer = {
  code: 0, language: "JAVA", version: 401, opaque: 12345, flag: 1, serializeType: SerializeType.JSON,
  extFields: { msgId: "7F00000100002A9F0000000000000000", queueId: "3", queueOffset: "123456" },
};
summary(() => {
  bench("remoting: decode a SEND_MESSAGE_V2 frame (JSON header, 1 KiB body)", () => do_not_optimize(decodeRemotingCommand(remotingSend)));
  bench("remoting: encode its answer (JSON header)", () => {
    writeRemotingFrame(remotingWriter, remotingAnswer);
    remotingWriter.clear();
  });
});
bench("valibot: validate a send header", () => do_not_optimize(v.safeParse(SendMessageHeader, request.header)));

await run();
