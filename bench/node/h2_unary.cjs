/**
 * A cheap gRPC client for bench/grpc_http2_bench.ts: raw `node:http2` under Node, one connection,
 * `<concurrency>` callers each awaiting a unary SendMessage call whose request is the protobuf in
 * `<hex>`: `node h2_unary.cjs <port> <calls> <concurrency> <hex>`. Sends min(calls, 2000) first,
 * prints `warm`, waits for a line on stdin, sends `calls` and prints the seconds they took. A call
 * that does not end with grpc-status 0 fails the run.
 */
"use strict";
const http2 = require("node:http2");

const [port, callsText, concurrencyText, hex] = process.argv.slice(2);
const calls = Number(callsText);
const concurrency = Number(concurrencyText);
const message = Buffer.from(hex, "hex");
const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 0]), message]);
frame.writeUInt32BE(message.length, 1);
const session = http2.connect(`http://127.0.0.1:${port}`);
const headers = {
  ":method": "POST",
  ":path": "/apache.rocketmq.v2.MessagingService/SendMessage",
  "content-type": "application/grpc",
  te: "trailers",
  "x-mq-client-id": "h2-unary-bench",
};

function call() {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let status;
    stream.on("trailers", (trailers) => (status = trailers["grpc-status"]));
    stream.on("data", () => {});
    stream.on("end", () => (status === "0" ? resolve() : reject(new Error(`grpc-status ${status}`))));
    stream.on("error", reject);
    stream.end(frame);
  });
}

async function run(n) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      next++;
      await call();
    }
  }));
}

(async () => {
  await run(Math.min(calls, 2000));
  process.stdout.write("warm\n");
  await new Promise((resolve) => process.stdin.once("data", resolve));
  const started = performance.now();
  await run(calls);
  process.stdout.write(`${(performance.now() - started) / 1000}\n`);
  session.close();
  process.exit(0);
})().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
