/**
 * The floor of a gRPC unary call on a runtime's `node:http2`, for bench/grpc_http2_bench.ts:
 * `<runtime> h2_server.mjs raw|grpc-js`, prints `port N`. `raw` reads the request and answers
 * headers, one 60-byte message and the grpc-status trailers with `node:http2` alone (the least any
 * gRPC server on it does); `grpc-js` is `@grpc/grpc-js`'s server with one method answering at once
 * (no protobuf: raw bytes in and out). Runs under Bun, Deno and Node.
 */
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";

const PATH = "/apache.rocketmq.v2.MessagingService/SendMessage";
const answer = Buffer.alloc(60, 1);
const kind = process.argv[2];
// Exits cleanly on SIGTERM, so that `bun --cpu-prof` writes its profile.
process.on("SIGTERM", () => process.exit(0));

if (kind === "raw") {
  const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, answer.length]), answer]);
  const server = http2.createServer();
  server.on("stream", (stream) => {
    stream.on("data", () => {});
    stream.on("end", () => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
      stream.end(framed);
    });
  });
  server.listen(0, "127.0.0.1", () => console.log(`port ${server.address().port}`));
} else if (kind === "grpc-js") {
  const same = (b) => b;
  const server = new grpc.Server();
  server.addService(
    { SendMessage: { path: PATH, requestStream: false, responseStream: false, requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same } },
    { SendMessage: (_call, callback) => callback(null, answer) },
  );
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    console.log(`port ${port}`);
  });
} else {
  throw new Error(`Unknown server "${kind}": raw or grpc-js`);
}
