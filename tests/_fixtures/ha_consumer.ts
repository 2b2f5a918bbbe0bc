/**
 * A push consumer process for replication failover tests: small pull batches and a small local
 * buffer (so it cannot have pulled everything before a broker dies), printing `H <queueId> <body>`
 * for every handled message and `LOG <line>` for the consumer's log. Each handler takes `handleMs`.
 * Usage: bun tests/_fixtures/ha_consumer.ts <nameServer> <group> <topic> <handleMs>
 */
import { PushConsumer } from "../../client/push_consumer.ts";

const [nameServer, group, topic, handleMsText] = process.argv.slice(2);
const handleMs = Number(handleMsText);
const decoder = new TextDecoder();
let out: string[] = [];
const flush = () => {
  if (out.length > 0) process.stdout.write(out.join(""));
  out = [];
};
setInterval(flush, 5);

const consumer = new PushConsumer({
  nameServer: nameServer!,
  group: group!,
  consumeFromWhere: "FIRST_OFFSET",
  pullBatchSize: 8,
  pullThresholdForQueue: 16,
  consumeThreads: 4,
  heartbeatIntervalMs: 1000,
  rebalanceIntervalMs: 2000,
  persistOffsetIntervalMs: 200,
  suspendMs: 2000,
  log: (line) => out.push(`LOG ${line}\n`),
});
consumer.subscribe(topic!);
consumer.onMessage(async (message) => {
  if (handleMs > 0) await new Promise((r) => setTimeout(r, handleMs));
  out.push(`H ${message.queueId} ${decoder.decode(message.body)}\n`);
  return "SUCCESS";
});
await consumer.start();
out.push("READY\n");
process.on("SIGTERM", async () => {
  await consumer.shutdown();
  flush();
  process.exit(0);
});
