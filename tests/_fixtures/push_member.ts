/**
 * A push consumer group member as its own process, for failover tests. Prints `READY` once
 * started, `ASSIGN <queueIds>` (queues of the topic, comma separated) whenever its share changes,
 * and `H <queueId> <body>` for every handled message; each handler takes about `handleMs`.
 * `options` (JSON) adds or overrides `PushConsumerOptions`, e.g. small pulls and buffers.
 * Usage: bun tests/_fixtures/push_member.ts <nameServer> <group> <topic> <handleMs> [options]
 */
import { writeSync } from "node:fs";
import { PushConsumer } from "../../client/push_consumer.ts";

const [nameServer, group, topic, handleMsText, optionsJson] = process.argv.slice(2);
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
  heartbeatIntervalMs: 1000,
  rebalanceIntervalMs: 2000,
  persistOffsetIntervalMs: 200,
  suspendMs: 2000,
  log: (line) => out.push(`LOG ${line}\n`),
  ...(optionsJson === undefined ? {} : JSON.parse(optionsJson)),
});
consumer.subscribe(topic!);
consumer.onMessage(async (message) => {
  if (handleMs > 0) await new Promise((r) => setTimeout(r, handleMs));
  // Written before the handler returns: once it answers SUCCESS the offset may be committed at
  // once, and a SIGKILL must not lose the record of a message the group counts as done.
  flush();
  writeSync(1, `H ${message.queueId} ${decoder.decode(message.body)}\n`);
  return "SUCCESS";
});
await consumer.start();
out.push("READY\n");
let last = "";
setInterval(() => {
  const ids = consumer.assignedQueues().filter((q) => q.topic === topic).map((q) => q.queueId).join(",");
  if (ids !== last) {
    last = ids;
    out.push(`ASSIGN ${ids}\n`);
  }
}, 5);
process.on("SIGTERM", async () => {
  await consumer.shutdown();
  flush();
  process.exit(0);
});
