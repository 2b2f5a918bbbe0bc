/**
 * rocketmq-ts's own Producer and PushConsumer in their own process, printing one JSON line per
 * event like `ali_ons_client.cjs`, so one test can put either client on either side:
 *
 *   bun tests/_fixtures/native_client.ts produce <nameSrv> <topic> <json list of {tag, keys, body|size}>
 *   bun tests/_fixtures/native_client.ts consume <nameSrv> <group> <topic> <tag expression>
 */
import process from "node:process";
import { Producer, PushConsumer } from "../../mod.ts";

const [mode, nameServer, ...rest] = process.argv.slice(2);

function print(event: unknown): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

const decoder = new TextDecoder();

if (mode === "produce") {
  const [topic, list] = rest;
  const producer = new Producer({ nameServer: nameServer!, group: "PG_NATIVE" });
  await producer.start();
  const specs = JSON.parse(list!) as { tag: string; keys?: string[]; body?: string; size?: number }[];
  for (let index = 0; index < specs.length; index++) {
    const spec = specs[index]!;
    const body = spec.size !== undefined ? new TextEncoder().encode(`${index}:`.repeat(spec.size).slice(0, spec.size)) : spec.body!;
    const result = await producer.send({ topic: topic!, tags: spec.tag, keys: spec.keys, body });
    print({ sent: { msgId: result.msgId, queueId: result.messageQueue.queueId, queueOffset: result.queueOffset, index } });
  }
  print({ done: specs.length });
  await producer.shutdown();
} else if (mode === "consume") {
  const [group, topic, expression] = rest;
  const consumer = new PushConsumer({ nameServer: nameServer!, group: group!, consumeFromWhere: "FIRST_OFFSET" });
  consumer.subscribe(topic!, expression!);
  consumer.onMessage((message) => {
    print({
      received: {
        msgId: message.msgId,
        topic: message.topic,
        tags: message.tags,
        keys: message.keys.join(" "),
        body: message.body.length <= 256 ? decoder.decode(message.body) : undefined,
        bodySize: message.body.length,
        bodyHead: decoder.decode(message.body.subarray(0, 8)),
        reconsumeTimes: message.reconsumeTimes,
        sysFlag: message.sysFlag,
      },
    });
    return "SUCCESS";
  });
  await consumer.start();
  print({ ready: true, clientId: consumer.clientId });
  process.on("SIGTERM", async () => {
    await consumer.shutdown();
    print({ closed: true });
    process.exit(0);
  });
} else {
  throw new Error(`Unknown mode "${mode}"`);
}
