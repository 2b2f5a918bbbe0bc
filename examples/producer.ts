/**
 * Quick start, part 1: send some orders. Start the standalone server first (`npm start`), then:
 *
 *   npx bun examples/producer.ts [count]      # or: bun examples/producer.ts, deno run -A examples/producer.ts
 *
 * The topic is created on first send (standalone mode auto-creates topics).
 */
import { Producer } from "../mod.ts";

const count = Number(process.argv[2] ?? 10);
const producer = new Producer({ nameServer: "127.0.0.1:9876", group: "example_producer" });
await producer.start();
try {
  for (let i = 0; i < count; i++) {
    const tags = i % 2 === 0 ? "created" : "paid";
    const result = await producer.send({ topic: "example_orders", tags, keys: `order-${i}`, body: `order ${i} ${tags}` });
    console.log(`sent order-${i} (${tags}) to queue ${result.messageQueue.queueId} at offset ${result.queueOffset}`);
  }
} finally {
  await producer.shutdown();
}
