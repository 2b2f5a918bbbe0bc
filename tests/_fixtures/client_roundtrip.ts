/**
 * Sends messages with the public client and pulls them back, on whatever runtime runs it.
 * Usage: <runtime> tests/_fixtures/client_roundtrip.ts <namesrv> <topic> <count> [streams]
 * With `streams` (Deno only), the clients dial through `duplexDialer` over `Deno.connect`'s Web
 * Streams instead of the runtime's default dialer.
 * Prints "ROUNDTRIP OK <count>" and exits 0 when every message came back intact.
 */
import process from "node:process";
import { type Dialer, type Duplex, duplexDialer, Producer, PullConsumer, SimpleConsumer } from "../../mod.ts";

const [namesrv, topic, countText, transport] = process.argv.slice(2);
const count = Number(countText);
type DenoConnect = (options: { hostname: string; port: number }) => Promise<Duplex>;
const dial: Dialer | undefined = transport === "streams"
  ? duplexDialer(({ host, port }) => (globalThis as unknown as { Deno: { connect: DenoConnect } }).Deno.connect({ hostname: host, port }))
  : undefined;
const producer = new Producer({ nameServer: namesrv!, dial });
await producer.start();
await Promise.all(Array.from({ length: count }, (_, i) => producer.send({ topic: topic!, tags: "x", keys: `k${i}`, body: `body-${i}` })));
// Oneway sends right before the shutdown must still leave: closing waits for written bytes.
const oneway = 500;
for (let i = 0; i < oneway; i++) await producer.sendOneway({ topic: topic!, body: `oneway-${i}` });
await producer.shutdown();

const consumer = new PullConsumer({ nameServer: namesrv!, group: "roundtrip", dial });
await consumer.start();
// The broker tells the NameServer about the topic it created on the first send a moment later.
async function queuesOf(name: string) {
  for (let attempt = 1;; attempt++) {
    try {
      return await consumer.fetchMessageQueues(name);
    } catch (error) {
      if (attempt === 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
const seen = new Set<string>();
const expected = [...Array.from({ length: count }, (_, i) => `body-${i}`), ...Array.from({ length: oneway }, (_, i) => `oneway-${i}`)];
// Oneway sends have no answer: the broker may still be reading them (and, under sync flush, syncing
// them: a pull never sees past the durable point) when the pulls start. So read every queue from
// where it stopped until every message arrived or 15 s passed.
const queues = await queuesOf(topic!);
const next = new Map(queues.map((queue) => [queue, 0]));
const deadline = Date.now() + 15_000;
while (seen.size < expected.length && Date.now() < deadline) {
  for (const queue of queues) {
    for (;;) {
      const result = await consumer.pull(queue, next.get(queue)!, { maxNums: 64 });
      for (const m of result.messages) seen.add(new TextDecoder().decode(m.body));
      if (result.status === "NO_NEW_MSG") break;
      next.set(queue, result.nextBeginOffset);
    }
  }
  if (seen.size < expected.length) await new Promise((resolve) => setTimeout(resolve, 50));
}
await consumer.shutdown();
const missing = expected.filter((b) => !seen.has(b));
if (missing.length > 0) {
  console.log(`ROUNDTRIP FAILED: ${missing.length} missing, e.g. ${missing.slice(0, 3).join(", ")}`);
  process.exit(1);
}
// The same messages over POP: received once each, acked, none twice.
const simple = new SimpleConsumer({ nameServer: namesrv!, group: "roundtrip_pop", dial, consumeFromWhere: "FIRST_OFFSET", awaitDurationMs: 500, log: () => {} });
simple.subscribe(topic!);
await simple.start();
const popped = new Set<string>();
let twice = 0;
const popDeadline = Date.now() + 15_000;
while (popped.size < expected.length && Date.now() < popDeadline) {
  const got = await simple.receive(32, 30_000);
  for (const m of got) {
    const b = new TextDecoder().decode(m.body);
    if (popped.has(b)) twice++;
    popped.add(b);
  }
  // Acked together: they leave as one batch ack (under sync flush, one fsync rather than 32).
  await Promise.all(got.map((m) => simple.ack(m.receiptHandle)));
}
await simple.shutdown();
if (popped.size < expected.length || twice > 0) {
  console.log(`ROUNDTRIP FAILED over POP: ${expected.length - popped.size} missing, ${twice} twice`);
  process.exit(1);
}
console.log(`ROUNDTRIP OK ${count}`);
process.exit(0);
