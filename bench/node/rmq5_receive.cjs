/**
 * Apache's RocketMQ 5 Node.js client (rocketmq-client-nodejs, unchanged) receiving for
 * bench/grpc_bench.ts: `node rmq5_receive.cjs <endpoint> <topic> <group> <total> <concurrency>`.
 * A SimpleConsumer of a fresh group runs `concurrency` loops, each receiving up to 32 messages
 * (invisible 60 s) and acking each, until `total` distinct messages were acked; prints
 * {"seconds":…,"cpuUs":…,"received":…} timed from the first receive to the last ack.
 */
"use strict";
const { SimpleConsumer } = require("rocketmq-client-nodejs");

const [endpoints, topic, consumerGroup, totalText, concurrencyText] = process.argv.slice(2);
const total = Number(totalText);
const concurrency = Number(concurrencyText);
const quiet = { info() {}, debug() {}, warn() {}, error(...args) { process.stderr.write(`${args.map(String).join(" ")}\n`); } };

const consumer = new SimpleConsumer({ endpoints, consumerGroup, subscriptions: new Map([[topic, "*"]]), awaitDuration: 2000, logger: quiet });
(async () => {
  await consumer.startup();
  const seen = new Set();
  let received = 0;
  let finished;
  let used;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (seen.size < total) {
      const messages = await consumer.receive(32, 60_000);
      received += messages.length;
      await Promise.all(messages.map((m) => consumer.ack(m)));
      for (const m of messages) seen.add(m.messageId);
      // The other loops may still be long-polling an empty topic: the run ends at the last ack.
      if (seen.size >= total && finished === undefined) {
        finished = performance.now();
        used = process.cpuUsage(cpu);
      }
    }
  }));
  process.stdout.write(`${JSON.stringify({ seconds: (finished - started) / 1000, cpuUs: used.user + used.system, received, distinct: seen.size })}\n`);
  await consumer.shutdown();
  process.exit(0);
})().catch((error) => {
  process.stderr.write(`${error && error.stack || error}\n`);
  process.exit(1);
});
