/**
 * Sends numbered messages to a broker over a raw connection with several in flight, printing
 * `ACK <seq> <queueId> <queueOffset> <time ms>` for each acknowledged send, until the connection dies.
 * Usage: bun tests/_fixtures/sync_sender.ts <host:port> <topic> <count> <concurrency>
 */
import { dial } from "../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";

const [address, topic, countText, concurrencyText] = process.argv.slice(2);
const count = Number(countText);
const concurrency = Number(concurrencyText);
const connection = await connect(dial, address!);
let next = 0;
const lines: string[] = [];
const flush = () => {
  if (lines.length) process.stdout.write(lines.splice(0).join(""));
};
const timer = setInterval(flush, 5);

async function worker(): Promise<void> {
  while (next < count) {
    const seq = next++;
    const body = new TextEncoder().encode(`message-${seq}-${"x".repeat(200)}`);
    try {
      const answer = await connection.request(RequestCode.SEND_MESSAGE, {
        topic,
        queueId: seq % 4,
        bornTimestamp: Date.now(),
        properties: { KEYS: `seq-${seq}` },
      }, body, 10_000);
      if (answer.code === ResponseCode.SUCCESS) lines.push(`ACK ${seq} ${answer.header.queueId} ${answer.header.queueOffset} ${Date.now()}\n`);
      else lines.push(`ERR ${seq} ${answer.code} ${answer.remark}\n`);
    } catch (error) {
      lines.push(`FAIL ${seq} ${(error as Error).name}\n`);
      return;
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
clearInterval(timer);
flush();
process.stdout.write("DONE\n");
process.exit(0);
