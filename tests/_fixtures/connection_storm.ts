/**
 * Opens `hold` connections to a broker and keeps them open (each answers one request first),
 * prints `OPEN <n>`, then churns for `churnMs`: `workers` loops of connect, one request, close.
 * Prints `CHURN <cycles> <errors>` and exits; bounded in count and time.
 * Usage: bun tests/_fixtures/connection_storm.ts <host:port> <hold> <churnMs> <workers>
 */
import { dial } from "../../client/bun/connect.ts";
import { RequestCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";

const [address, holdText, churnText, workersText] = process.argv.slice(2);
const hold = Number(holdText);
const churnMs = Number(churnText);
const workers = Number(workersText);
const MAX_CYCLES = 50_000;

async function ask(c: Connection): Promise<void> {
  await c.request(RequestCode.GET_MAX_OFFSET, { topic: "storm", queueId: 0 }, undefined, 10_000);
}

const held: Connection[] = [];
for (let i = 0; i < hold; i += 50) {
  const batch = await Promise.all(Array.from({ length: Math.min(50, hold - i) }, () => connect(dial, address!)));
  await Promise.all(batch.map(ask));
  held.push(...batch);
}
process.stdout.write(`OPEN ${held.length}\n`);

let cycles = 0;
let errors = 0;
const deadline = Date.now() + churnMs;
await Promise.all(Array.from({ length: workers }, async () => {
  while (Date.now() < deadline && cycles < MAX_CYCLES) {
    try {
      const c = await connect(dial, address!);
      await ask(c);
      c.close();
      cycles++;
    } catch {
      errors++;
    }
  }
}));
// Every held connection still answers.
await Promise.all(held.map(ask));
for (const c of held) c.close();
process.stdout.write(`CHURN ${cycles} ${errors}\n`);
process.exit(0);
