/**
 * Apache's RocketMQ 5 Node.js client (rocketmq-client-nodejs from npm, unchanged) as a producer, run
 * under Node against a broker's gRPC port: `node producer.cjs <endpoint> <topic> <scenario>`.
 * Prints one JSON line per result and `{"done":true}` at the end; exits 1 with `{"error":…}`.
 *
 * Scenarios: normal, fifo, delay, recall, commit, rollback, orphan (a half message left
 * unresolved; the checker commits it when the broker asks), pause (two sends RMQ5_PAUSE_MS apart,
 * default 1500).
 *
 * Environment: RMQ5_SSL=1 dials TLS (trusting GRPC_DEFAULT_SSL_ROOTS_FILE_PATH); RMQ5_ACCESS_KEY
 * and RMQ5_SECRET_KEY sign every call.
 */
"use strict";
const { Producer } = require("rocketmq-client-nodejs");
const { TransactionResolution } = require("rocketmq-client-nodejs/proto/apache/rocketmq/v2/definition_pb.js");

const [endpoints, topic, scenario] = process.argv.slice(2);
const quiet = { info() {}, debug() {}, warn() {}, error(...args) { process.stderr.write(`${args.map(String).join(" ")}\n`); } };
const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
const body = (text) => Buffer.from(text);

async function main() {
  let checked;
  const checkedOnce = new Promise((resolve) => (checked = resolve));
  const producer = new Producer({
    endpoints,
    topics: [topic],
    sslEnabled: process.env.RMQ5_SSL === "1",
    ...(process.env.RMQ5_ACCESS_KEY === undefined ? {} : {
      sessionCredentials: { accessKey: process.env.RMQ5_ACCESS_KEY, accessSecret: process.env.RMQ5_SECRET_KEY },
    }),
    logger: quiet,
    checker: {
      async check(message) {
        print({ checked: message.messageId, body: message.body.toString(), tag: message.tag });
        setTimeout(checked, 500);
        return TransactionResolution.COMMIT;
      },
    },
  });
  await producer.startup();
  switch (scenario) {
    case "normal": {
      const receipt = await producer.send({ topic, tag: "TagA", keys: ["key-1", "key-2"], properties: new Map([["color", "blue"]]), body: body("normal message") });
      print({ messageId: receipt.messageId, offset: Number(receipt.offset) });
      break;
    }
    case "fifo": {
      for (let i = 0; i < 10; i++) {
        const receipt = await producer.send({ topic, tag: "Fifo", messageGroup: "group-1", body: body(`fifo ${i}`) });
        print({ messageId: receipt.messageId, queueId: receipt.messageQueue.queueId, offset: Number(receipt.offset) });
      }
      break;
    }
    case "delay": {
      const sentAt = Date.now();
      const receipt = await producer.send({ topic, tag: "Delay", delay: 1500, body: body("delayed message") });
      print({ messageId: receipt.messageId, recallHandle: receipt.recallHandle, sentAt });
      break;
    }
    case "recall": {
      const receipt = await producer.send({ topic, tag: "Recall", delay: 1500, body: body("recalled message") });
      const recalled = await producer.recallMessage(topic, receipt.recallHandle);
      print({ messageId: receipt.messageId, recalled: recalled.messageId });
      break;
    }
    case "commit":
    case "rollback": {
      const transaction = producer.beginTransaction();
      const receipt = await producer.send({ topic, tag: "Tx", body: body(`${scenario} message`) }, transaction);
      if (scenario === "commit") await transaction.commit();
      else await transaction.rollback();
      print({ messageId: receipt.messageId, transactionId: receipt.transactionId });
      break;
    }
    case "orphan": {
      const transaction = producer.beginTransaction();
      const receipt = await producer.send({ topic, tag: "Orphan", body: body("orphan message") }, transaction);
      print({ messageId: receipt.messageId, sent: true });
      // Neither commit nor rollback: the broker asks this producer over its Telemetry stream.
      await checkedOnce;
      break;
    }
    case "pause": {
      for (let i = 0; i < 2; i++) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, Number(process.env.RMQ5_PAUSE_MS ?? 1500)));
        const receipt = await producer.send({ topic, tag: "Pause", body: body(`pause ${i}`) });
        print({ messageId: receipt.messageId, offset: Number(receipt.offset) });
      }
      break;
    }
    default:
      throw new Error(`Unknown scenario "${scenario}"`);
  }
  await producer.shutdown();
  print({ done: true });
}

main().then(() => process.exit(0), (error) => {
  print({ error: String(error && error.stack || error) });
  process.exit(1);
});
