/**
 * A producer process for crash tests: sends `count` messages with unique keys `<id>-<seq>` over
 * a raw connection, several in flight, and retries a send whose answer it did not get (after
 * reconnecting, for up to 30 s) — so it may duplicate, never drop. Prints `ACK <key> <queueId>
 * <queueOffset>` for each acknowledged send, `RETRY <key>` before each resend, then `DONE`.
 * Usage: bun tests/_fixtures/keyed_sender.ts <host:port> <topic> <id> <count> <concurrency>
 */
import { dial } from "../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";

const [address, topic, id, countText, concurrencyText] = process.argv.slice(2);
const count = Number(countText);
const concurrency = Number(concurrencyText);
const RECONNECT_DEADLINE_MS = 30_000;
const lines: string[] = [];
const flush = () => {
  if (lines.length) process.stdout.write(lines.splice(0).join(""));
};
const timer = setInterval(flush, 5);

let current: Promise<Connection> | undefined;
function connection(): Promise<Connection> {
  current ??= (async () => {
    const deadline = Date.now() + RECONNECT_DEADLINE_MS;
    for (;;) {
      try {
        return await connect(dial, address!);
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  })();
  return current;
}

let next = 0;
async function worker(): Promise<void> {
  while (next < count) {
    const seq = next++;
    const key = `${id}-${seq}`;
    const body = new TextEncoder().encode(`${key}:${"x".repeat(200)}`);
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) lines.push(`RETRY ${key}\n`);
      const c = await connection();
      try {
        const answer = await c.request(RequestCode.SEND_MESSAGE, {
          topic,
          queueId: seq % 4,
          bornTimestamp: Date.now(),
          properties: { KEYS: key },
        }, body, 5000);
        if (answer.code === ResponseCode.SUCCESS) {
          lines.push(`ACK ${key} ${answer.header.queueId} ${answer.header.queueOffset}\n`);
          break;
        }
        lines.push(`ERR ${key} ${answer.code} ${answer.remark}\n`);
        await new Promise((r) => setTimeout(r, 50));
      } catch {
        if (current !== undefined && (await current.catch(() => undefined)) === c) {
          c.close();
          current = undefined;
        }
      }
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
clearInterval(timer);
flush();
process.stdout.write("DONE\n");
process.exit(0);
