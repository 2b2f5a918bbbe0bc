/**
 * Sends numbered messages through the NameServer from several producers, each with several sends
 * in flight, for a while, printing one line per outcome with the time (ms since the epoch):
 * `ACK <key> <msgId> <ms>` for SEND_OK, `ERR <key> <status or error> <ms>` otherwise.
 * Usage: bun tests/_fixtures/failover_sender.ts <namesrv> <topic> <producers> <concurrency> <durationMs> <prefix>
 */
import { Producer } from "../../client/producer.ts";

const [nameServer, topic, producersText, concurrencyText, durationText, prefix] = process.argv.slice(2);
const started = Date.now();
const deadline = started + Number(durationText);
const lines: string[] = [];
const flush = () => {
  if (lines.length) process.stdout.write(lines.splice(0).join(""));
};
const timer = setInterval(flush, 5);
let next = 0;

async function run(index: number): Promise<void> {
  const producer = new Producer({ nameServer: nameServer!, group: `failover-${index}`, sendTimeoutMs: 2000, retryTimesWhenSendFailed: 2 });
  await producer.start();
  const worker = async () => {
    while (Date.now() < deadline) {
      const key = `${prefix}-${next++}`;
      try {
        const result = await producer.send({ topic: topic!, body: `${key}-${"x".repeat(200)}`, keys: [key] });
        lines.push(result.status === "SEND_OK" ? `ACK ${key} ${result.msgId} ${Date.now()}\n` : `ERR ${key} ${result.status} ${Date.now()}\n`);
      } catch (error) {
        lines.push(`ERR ${key} ${(error as Error).name} ${Date.now()}\n`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  };
  await Promise.all(Array.from({ length: Number(concurrencyText) }, worker));
  await producer.shutdown();
}

await Promise.all(Array.from({ length: Number(producersText) }, (_, i) => run(i)));
clearInterval(timer);
flush();
process.stdout.write("DONE\n");
process.exit(0);
