/**
 * A push consumer that answers request messages, as its own process. A request body
 * `slow:<ms>:<text>` is answered after <ms> ms; every other body at once. The reply body is
 * `echo:<request body>`. Prints `READY`, then `REPLIED <request body> OK <reply msgId>` or
 * `REPLIED <request body> ERROR <code> <message>` for each reply.
 * Usage: bun tests/_fixtures/replier.ts <nameServer> <group> <topic>
 */
import { writeSync } from "node:fs";
import { PushConsumer } from "../../client/push_consumer.ts";
import { BrokerError } from "../../core/errors.ts";

const [nameServer, group, topic] = process.argv.slice(2);
const decoder = new TextDecoder();
const say = (line: string) => writeSync(1, `${line}\n`);

const consumer = new PushConsumer({
  nameServer: nameServer!,
  group: group!,
  consumeFromWhere: "FIRST_OFFSET",
  heartbeatIntervalMs: 1000,
  rebalanceIntervalMs: 1000,
  suspendMs: 2000,
  log: (line) => say(`LOG ${line}`),
});
consumer.subscribe(topic!);
consumer.onMessage(async (message) => {
  const body = decoder.decode(message.body);
  const slow = /^slow:(\d+):/.exec(body);
  if (slow !== null) await new Promise((resolve) => setTimeout(resolve, Number(slow[1])));
  try {
    const msgId = await consumer.reply(message, `echo:${body}`);
    say(`REPLIED ${body} OK ${msgId}`);
  } catch (error) {
    const code = error instanceof BrokerError ? error.code : "-";
    say(`REPLIED ${body} ERROR ${code} ${(error as Error).message}`);
  }
  return "SUCCESS";
});
await consumer.start();
say("READY");
process.on("SIGTERM", async () => {
  await consumer.shutdown();
  process.exit(0);
});
