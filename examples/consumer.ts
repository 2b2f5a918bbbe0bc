/**
 * Quick start, part 2: consume the orders in a consumer group. With the standalone server running
 * (`npm start`):
 *
 *   npx bun examples/consumer.ts      # or: bun examples/consumer.ts, deno run -A examples/consumer.ts
 *
 * Start it several times to see the group share the queues; stop one with Ctrl-C and the others
 * take its queues over. Messages are delivered at least once: a handler that throws gets the
 * message again later (after a delay), and after 3 failures it goes to the dead-letter topic
 * `%DLQ%example_group`.
 */
import { PushConsumer } from "../mod.ts";

const consumer = new PushConsumer({
  nameServer: "127.0.0.1:9876",
  group: "example_group",
  consumeFromWhere: "FIRST_OFFSET",
  maxReconsumeTimes: 3,
});
consumer.subscribe("example_orders", "created || paid");
consumer.onMessage((message) => {
  const retry = message.reconsumeTimes > 0 ? ` (retry ${message.reconsumeTimes})` : "";
  console.log(`${message.keys.join(",")} [${message.tags}] ${new TextDecoder().decode(message.body)}${retry}`);
  return "SUCCESS";
});
await consumer.start();
console.log(`consuming as ${consumer.clientId}; queues: ${consumer.assignedQueues().map((q) => `${q.topic}#${q.queueId}`).join(" ")}`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await consumer.shutdown(); // commits offsets and leaves the group, so the others take over at once
    process.exit(0);
  });
}
