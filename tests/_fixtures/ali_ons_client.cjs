/**
 * An unchanged RocketMQ 4.x client (the npm package `ali-ons`) in its own Node process, pointed at
 * a rocketmq-ts NameServer. Prints one JSON line per event on stdout, so a test can follow it:
 *
 *   node tests/_fixtures/ali_ons_client.cjs produce <nameSrv> <topic> <json list of {tag, keys, body|size}>
 *     -> {"sent":{msgId,queueId,queueOffset,index}} per message, then {"done":N}
 *   node tests/_fixtures/ali_ons_client.cjs consume <nameSrv> <group> <topic> <tag expression> [failFirst]
 *     -> {"ready":true} once started, then {"received":{msgId,tags,keys,body,bodySize,reconsumeTimes,topic}} per delivery;
 *        with failFirst, the handler throws the first time it sees each message (so it comes back through the retry topic)
 *
 * ACCESS_KEY and SECRET_KEY in the environment sign every request (RocketMQ ACL 1.0).
 * The consumer stops on SIGTERM (closing, which commits offsets and unregisters).
 */
"use strict";
const { Producer, Consumer, Message } = require("ali-ons");

const [, , mode, nameSrv, ...rest] = process.argv;
// ali-ons asserts an HTTP client for its address-server lookup, which `nameSrv` replaces: never called.
const httpclient = {
  request() {
    throw new Error("No HTTP address server is used: nameSrv is set");
  },
};
const credentials = process.env.ACCESS_KEY ? { accessKeyId: process.env.ACCESS_KEY, accessKeySecret: process.env.SECRET_KEY } : {};
// ali-ons logs through console by default; keep stdout for the JSON lines.
const logger = { info() {}, warn() {}, debug() {}, error: (...args) => console.error(...args) };

function print(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

async function produce(topic, list) {
  const producer = new Producer({ httpclient, nameSrv, producerGroup: "PG_ALI_ONS", logger, ...credentials });
  producer.on("error", (error) => console.error(`producer error: ${error.message}`));
  await producer.ready();
  const messages = JSON.parse(list);
  for (let index = 0; index < messages.length; index++) {
    const spec = messages[index];
    const body = spec.size !== undefined ? Buffer.alloc(spec.size, `${index}:`) : Buffer.from(spec.body);
    const message = new Message(topic, spec.tag, body);
    if (spec.keys) message.keys = spec.keys;
    const result = await producer.send(message);
    print({ sent: { msgId: result.msgId, queueId: result.messageQueue.queueId, queueOffset: result.queueOffset, index, status: result.sendStatus } });
  }
  print({ done: messages.length });
  await producer.close();
  print({ closed: true });
  // ali-ons keeps timers of its shared client instance running after close.
  process.exit(0);
}

async function consume(group, topic, expression, failFirst) {
  const consumer = new Consumer({
    httpclient,
    nameSrv,
    consumerGroup: group,
    logger,
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    persistConsumerOffsetInterval: 1000,
    rebalanceInterval: 1000,
    ...credentials,
  });
  consumer.on("error", (error) => console.error(`consumer error: ${error.message}`));
  const failed = new Set();
  consumer.subscribe(topic, expression, async (message) => {
    const key = message.originMessageId || message.msgId;
    const event = {
      msgId: message.msgId,
      topic: message.topic,
      tags: message.tags,
      keys: message.keys,
      body: message.body.length <= 256 ? message.body.toString() : undefined,
      bodySize: message.body.length,
      bodyHead: message.body.subarray(0, 8).toString(),
      reconsumeTimes: message.reconsumeTimes,
      originMessageId: message.originMessageId,
    };
    if (failFirst && !failed.has(key)) {
      failed.add(key);
      print({ failing: event });
      throw new Error(`failing ${key} once on purpose`);
    }
    print({ received: event });
  });
  await consumer.ready();
  print({ ready: true });
  process.on("SIGTERM", async () => {
    await consumer.close();
    print({ closed: true });
    process.exit(0);
  });
}

(async () => {
  if (mode === "produce") await produce(rest[0], rest[1]);
  else if (mode === "consume") await consume(rest[0], rest[1], rest[2], rest[3] === "failFirst");
  else throw new Error(`Unknown mode "${mode}"`);
})().catch((error) => {
  console.error(`ali-ons ${mode} failed: ${error.stack}`);
  process.exit(1);
});
