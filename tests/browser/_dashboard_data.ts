/**
 * A standalone system with what an operator's dashboard shows, made the way clients make it:
 * user topics (more than a page of them), messages with tags, keys, JSON and binary bodies, a
 * consumer group online and one offline with lag, dead letters from a consumer that fails (traced:
 * each payment's send, two failed deliveries and its dead letter are in the trace topic), a
 * transaction left pending, timers pending and fired, and traffic for the TPS history. The broker
 * needs `traceTopicEnable` and short delay levels (retries come back at once).
 */
import { Producer } from "../../client/producer.ts";
import { PushConsumer } from "../../client/push_consumer.ts";
import { dial } from "../../server/bun/connect.ts";
import type { Standalone } from "../../server/standalone.ts";

/** What the data holds, for assertions. */
export interface DashboardData {
  /** A JSON message of "orders" with key "order-7". */
  json: { msgId: string; queueId: number; queueOffset: number };
  /** A binary message of "orders". */
  binary: { msgId: string; uniqueKey: string };
  /** The dead letter of group "fragile". */
  deadLetterId: string;
  /** A payment sent traced, failed twice by "fragile" and dead-lettered. */
  traced: { msgId: string; uniqueKey: string };
  /** Messages the online member of "billing" consumed. */
  billingReceived(): number;
  /** Stops the clients. */
  close(): Promise<void>;
}

async function waitFor(what: string, ready: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await Bun.sleep(25);
  }
}

async function post(base: string, path: string, body: unknown): Promise<any> {
  const response = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const json = await response.json();
  if (!response.ok) throw new Error(`POST ${path} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

/**
 * Fills a system through its admin API and real clients.
 *
 * @param system The standalone system.
 * @param base The admin URL, ending in `/`.
 * @returns What was made, and how to stop the clients.
 */
export async function populate(system: Standalone, base: string): Promise<DashboardData> {
  const nameServer = system.nameServerAddress;
  await post(base, "api/topics", { topic: "orders", queueNums: 4 });
  await post(base, "api/topics", { topic: "payments", queueNums: 2, retentionHours: 48 });
  await post(base, "api/topics", { topic: "audit-log", queueNums: 1, perm: "r", order: true });
  for (let i = 0; i < 24; i++) await post(base, "api/topics", { topic: `load-${String(i).padStart(2, "0")}`, queueNums: 1 });

  const producer = new Producer({ nameServer, dial, group: "dashboard_orders", enableTrace: true, log: () => {} });
  await producer.start();
  for (let i = 0; i < 40; i++) {
    await producer.send({ topic: "orders", body: `order #${i}`, tags: i % 2 ? "created" : "paid", keys: [`order-${i}`] });
  }
  const json = await post(base, "api/topics/orders/messages", {
    body: JSON.stringify({ id: 7, customer: "Ada", items: [{ sku: "X-1", qty: 2 }], total: 19.9 }),
    tags: "created",
    keys: "order-7 customer-ada",
    properties: { region: "eu" },
  });
  // A body that is not UTF-8, sent as a client would.
  const binarySent = await producer.send({ topic: "orders", body: new Uint8Array([0, 159, 146, 150, 255, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]), tags: "blob" });
  const payments = [];
  for (let i = 0; i < 6; i++) payments.push(await producer.send({ topic: "payments", body: `payment ${i}`, keys: [`pay-${i}`] }));

  // "billing" consumes orders online; "audit" read two messages of each queue long ago and is offline.
  const billingGot = new Set<string>();
  let billingCount = 0;
  const billing = new PushConsumer({ nameServer, dial, group: "billing", consumeFromWhere: "FIRST_OFFSET", log: () => {} });
  billing.subscribe("orders", "*");
  billing.onMessage((message) => {
    billingGot.add(message.msgId);
    billingCount++;
    return "SUCCESS";
  });
  await billing.start();
  const ctx = system.broker.context;
  for (let q = 0; q < 4; q++) ctx.offsets.commit("audit", "orders", q, 2);

  // "fragile" fails every payment twice (one retry): each goes to its dead-letter topic.
  const fragile = new PushConsumer({ nameServer, dial, group: "fragile", consumeFromWhere: "FIRST_OFFSET", maxReconsumeTimes: 1, enableTrace: true, log: () => {} });
  fragile.subscribe("payments", "*");
  fragile.onMessage(() => "RECONSUME_LATER");
  await fragile.start();

  // A transaction its producer never resolves.
  const transactional = new Producer({
    nameServer,
    dial,
    group: "dashboard_tx",
    log: () => {},
    transactionListener: { executeLocalTransaction: () => "UNKNOWN", checkLocalTransaction: () => "UNKNOWN" },
  });
  await transactional.start();
  await transactional.sendMessageInTransaction({ topic: "tx_orders", body: "pending order" });

  // Timers: one due in an hour, one due at once.
  await post(base, "api/topics/orders/messages", { body: "reminder in an hour", properties: { TIMER_DELAY_SEC: "3600" } });
  await post(base, "api/topics/orders/messages", { body: "reminder now", properties: { TIMER_DELAY_MS: "200" } });

  await waitFor("billing to consume orders", () => billingGot.size >= 42);
  await waitFor("the dead letters of fragile", () => (ctx.stats.deadLetters.get("fragile")?.get("payments") ?? 0) >= 6);
  await waitFor("the timer due at once", () => (ctx.timers?.stats.delivered ?? 0) >= 1);
  const traced = payments[0]!;
  const traceOf = async () => (await (await fetch(`${base}api/messages/${traced.uniqueKey}/trace?topic=payments`)).json()).events as { step: string }[];
  const deadline = Date.now() + 20_000;
  // Sent, delivered and failed twice, dead-lettered: the broker's record may come before the consumer's last.
  while ((await traceOf()).length < 6) {
    if (Date.now() > deadline) throw new Error("Timed out waiting for the trace of a dead letter");
    await Bun.sleep(50);
  }
  const deadLetterId = (await (await fetch(`${base}api/topics/%25DLQ%25fragile/queues/0/messages?offset=0&limit=1`)).json()).messages[0].msgId as string;

  return {
    json,
    binary: { msgId: binarySent.msgId, uniqueKey: binarySent.uniqueKey },
    deadLetterId,
    traced: { msgId: traced.msgId, uniqueKey: traced.uniqueKey },
    billingReceived: () => billingCount,
    async close() {
      await fragile.shutdown();
      await billing.shutdown();
      await transactional.shutdown();
      await producer.shutdown();
    },
  };
}
