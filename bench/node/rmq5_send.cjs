/**
 * Apache's RocketMQ 5 Node.js client (rocketmq-client-nodejs, unchanged) sending for
 * bench/grpc_bench.ts: `node rmq5_send.cjs <endpoint> <topic> <count> <concurrency> <size>`.
 * Sends a warm-up of min(count, 5000) first and prints {"warm":true}; then the counted messages,
 * each of `concurrency` senders awaiting its answer, and prints {"seconds":…,"cpuUs":…}.
 */
"use strict";
const { Producer } = require("rocketmq-client-nodejs");

const [endpoints, topic, countText, concurrencyText, sizeText] = process.argv.slice(2);
const count = Number(countText);
const concurrency = Number(concurrencyText);
const body = Buffer.alloc(Number(sizeText), 120);
const quiet = { info() {}, debug() {}, warn() {}, error(...args) { process.stderr.write(`${args.map(String).join(" ")}\n`); } };

async function run(n) {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < n) {
      next++;
      await producer.send({ topic, body });
    }
  }));
}

const producer = new Producer({ endpoints, topics: [topic], logger: quiet });
(async () => {
  await producer.startup();
  await run(Math.min(count, 5000));
  process.stdout.write(`${JSON.stringify({ warm: true })}\n`);
  const cpu = process.cpuUsage();
  const started = performance.now();
  await run(count);
  const used = process.cpuUsage(cpu);
  process.stdout.write(`${JSON.stringify({ seconds: (performance.now() - started) / 1000, cpuUs: used.user + used.system })}\n`);
  await producer.shutdown();
  process.exit(0);
})().catch((error) => {
  process.stderr.write(`${error && error.stack || error}\n`);
  process.exit(1);
});
