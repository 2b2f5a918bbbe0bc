/**
 * A requester as its own process: sends one request and prints `ASKED` once it is sent (the
 * reply's wait begins), then `REPLY <body>` or `ERROR <name> <message>`.
 * Usage: bun tests/_fixtures/requester.ts <nameServer> <topic> <body> <timeoutMs>
 */
import { writeSync } from "node:fs";
import { Producer } from "../../client/producer.ts";

const [nameServer, topic, body, timeoutText] = process.argv.slice(2);
const say = (line: string) => writeSync(1, `${line}\n`);
const producer = new Producer({ nameServer: nameServer!, group: "requesters", log: (line) => say(`LOG ${line}`) });
await producer.start();
const asking = producer.request({ topic: topic!, body: body! }, Number(timeoutText));
say("ASKED");
try {
  const reply = await asking;
  say(`REPLY ${new TextDecoder().decode(reply.body)}`);
} catch (error) {
  say(`ERROR ${(error as Error).name} ${(error as Error).message}`);
}
await producer.shutdown();
