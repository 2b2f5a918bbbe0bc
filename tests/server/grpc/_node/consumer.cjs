/**
 * Apache's RocketMQ 5 Node.js client (rocketmq-client-nodejs from npm, unchanged) as a consumer,
 * run under Node against a broker's gRPC port: `node consumer.cjs <endpoint> <topic> <group> <scenario> [count]`.
 * Prints one JSON line per message consumed (or per step) and `{"done":true}` at the end; exits 1
 * with `{"error":…}`.
 *
 * Scenarios:
 * - simple: a SimpleConsumer receives `count` messages and acks each.
 * - expire: receives one message invisible for 1 s without acking it, then receives it again
 *   (delivery attempt 2) and acks it.
 * - change: receives one message invisible for 60 s, shortens that to 500 ms with
 *   changeInvisibleDuration, receives it again and acks it with the refreshed handle.
 * - first: one receive of up to 32 messages (waiting until one arrives), none acked.
 * - park: prints {"parked":true}, then one receive (invisible 30 s) that long-polls up to 20 s; the
 *   test kills the process while it waits.
 * - push: a PushConsumer consumes `count` messages; a message whose body starts with "fail" is
 *   answered FAILURE on its first delivery, one starting with "always-fail" on every delivery.
 *   The process exits without shutdown(), which would wait out the receives long-polling.
 * - push-fifo: like push, for a FIFO group (the server's settings make the client consume in order).
 * - push-slow: like push, each message taking `RMQ5_CONSUME_MS` (default 3000) to consume.
 *
 * Environment: RMQ5_ACCESS_KEY and RMQ5_SECRET_KEY sign every call.
 */
"use strict";
const { ConsumeResult, PushConsumer, SimpleConsumer } = require("rocketmq-client-nodejs");

const [endpoints, topic, consumerGroup, scenario, countText] = process.argv.slice(2);
const count = Number(countText ?? "1");
const quiet = { info() {}, debug() {}, warn() {}, error(...args) { process.stderr.write(`${args.map(String).join(" ")}\n`); } };
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const credentials = process.env.RMQ5_ACCESS_KEY === undefined ? {} : {
  sessionCredentials: { accessKey: process.env.RMQ5_ACCESS_KEY, accessSecret: process.env.RMQ5_SECRET_KEY },
};
const common = { endpoints, consumerGroup, logger: quiet, ...credentials };
const view = (m) => ({
  body: m.body.toString(),
  messageId: m.messageId,
  attempt: m.deliveryAttempt,
  tag: m.tag,
  keys: m.keys,
  properties: Object.fromEntries(m.properties),
  group: m.messageGroup ?? null,
  topic: m.topic,
});

/** Receives until one message arrives (each receive long-polls for at most 5 s). */
async function receiveOne(consumer, invisibleMs, deadline) {
  while (Date.now() < deadline) {
    const [message] = await consumer.receive(1, invisibleMs);
    if (message !== undefined) return message;
  }
  throw new Error("No message arrived in time");
}

async function simple() {
  const consumer = new SimpleConsumer({ ...common, subscriptions: new Map([[topic, "*"]]), awaitDuration: scenario === "park" ? 20_000 : 5000 });
  await consumer.startup();
  const deadline = Date.now() + 30_000;
  try {
    switch (scenario) {
      case "simple": {
        let received = 0;
        while (received < count) {
          if (Date.now() > deadline) throw new Error(`Only ${received} of ${count} messages arrived`);
          for (const message of await consumer.receive(16, 15_000)) {
            await consumer.ack(message);
            print(view(message));
            received++;
          }
        }
        break;
      }
      case "park":
        print({ parked: true });
        await consumer.receive(1, 30_000);
        break;
      case "first": {
        const first = await receiveOne(consumer, 15_000, deadline);
        print(view(first));
        // What else that receive would have taken: a FIFO group's next messages stay back.
        for (const message of await consumer.receive(32, 15_000)) print(view(message));
        break;
      }
      case "expire": {
        const first = await receiveOne(consumer, 1000, deadline);
        print({ ...view(first), step: "first" });
        const again = await receiveOne(consumer, 15_000, deadline);
        await consumer.ack(again);
        print({ ...view(again), step: "again" });
        break;
      }
      case "change": {
        const first = await receiveOne(consumer, 60_000, deadline);
        const oldHandle = first.receiptHandle;
        await consumer.changeInvisibleDuration(first, 500);
        print({ ...view(first), step: "changed", refreshed: first.receiptHandle !== oldHandle });
        const again = await receiveOne(consumer, 15_000, deadline);
        await consumer.ack(again);
        print({ ...view(again), step: "again" });
        break;
      }
      default:
        throw new Error(`Unknown scenario "${scenario}"`);
    }
  } finally {
    await consumer.shutdown();
  }
}

async function push() {
  let finish;
  const finished = new Promise((resolve) => (finish = resolve));
  let succeeded = 0;
  const consumer = new PushConsumer({
    ...common,
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      async consume(message) {
        const body = message.body.toString();
        const fail = body.startsWith("always-fail") || (body.startsWith("fail") && message.deliveryAttempt === 1);
        print({ ...view(message), result: fail ? "FAILURE" : "SUCCESS" });
        if (fail) return ConsumeResult.FAILURE;
        if (scenario === "push-slow") await new Promise((resolve) => setTimeout(resolve, Number(process.env.RMQ5_CONSUME_MS ?? "3000")));
        if (++succeeded === count) setTimeout(finish, 200);
        return ConsumeResult.SUCCESS;
      },
    },
  });
  await consumer.startup();
  const timer = setTimeout(() => finish(new Error(`Only ${succeeded} of ${count} messages were consumed`)), 40_000);
  const error = await finished;
  clearTimeout(timer);
  if (error instanceof Error) throw error;
}

(scenario.startsWith("push") ? push() : simple()).then(() => {
  print({ done: true });
  process.exit(0);
}, (error) => {
  print({ error: String(error?.stack ?? error) });
  process.exit(1);
});
