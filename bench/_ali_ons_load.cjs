/**
 * The ali-ons side of bench/remoting_bench.ts (a Node process):
 *   node bench/_ali_ons_load.cjs produce <nameSrv> <topic> <count> <inFlight> <bodyBytes>
 *   node bench/_ali_ons_load.cjs consume <nameSrv> <group> <topic> <count>
 * Prints one JSON line {"ms": <wall time of the sends or of the receipts>, "count": n} and exits.
 */
"use strict";
const { Producer, Consumer, Message } = require("ali-ons");

const [, , mode, nameSrv, ...rest] = process.argv;
const httpclient = { request() { throw new Error("No HTTP address server is used: nameSrv is set"); } };
const logger = { info() {}, warn() {}, debug() {}, error: (...args) => console.error(...args) };

async function produce(topic, count, inFlight, bodyBytes) {
  const producer = new Producer({ httpclient, nameSrv, producerGroup: "PG_BENCH_ALI_ONS", logger });
  await producer.ready();
  const body = Buffer.alloc(bodyBytes, "x");
  // One send to warm up the route and the connection, outside the timing.
  await producer.send(new Message(topic, "warm", body));
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < count) {
      next++;
      const result = await producer.send(new Message(topic, "bench", body));
      if (result.sendStatus !== "SEND_OK") throw new Error(`send ${result.sendStatus}`);
    }
  }));
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  process.stdout.write(`${JSON.stringify({ ms, count })}\n`);
  process.exit(0);
}

async function consume(group, topic, count) {
  const consumer = new Consumer({ httpclient, nameSrv, consumerGroup: group, logger, consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET", parallelConsumeLimit: 32 });
  let received = 0;
  let started;
  consumer.subscribe(topic, "bench", async () => {
    started ??= process.hrtime.bigint();
    if (++received === count) {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      process.stdout.write(`${JSON.stringify({ ms, count })}\n`);
      process.exit(0);
    }
  });
  await consumer.ready();
}

(mode === "produce" ? produce(rest[0], Number(rest[1]), Number(rest[2]), Number(rest[3])) : consume(rest[0], rest[1], Number(rest[2]))).catch((error) => {
  console.error(error);
  process.exit(1);
});
