/**
 * Consume rate with broker-side filters: a backlog of `--count` 1 KiB messages (a tenth with
 * `region = 'eu'` and tag `TagA`, the rest `us` and `TagB`, each with an `amount`), read to its end
 * by one PullConsumer loop per queue (32 messages a pull, no long polling) with each filter:
 *
 *   all     `*`                       every message, no filter
 *   tag10   `TagA`                    a tenth, by ConsumeQueue tag hash (then tag text on the client)
 *   tag100  `TagA || TagB`            every message, by tag hash
 *   sql10   `region = 'eu'`           a tenth, SQL92 on each record's properties
 *   sql100  `amount >= 0`             every message, SQL92
 *
 * Reports per filter the wall time, the backlog scanned per second, messages delivered per second,
 * and CPU time of the broker (from /proc) and of this client process per message; the median of
 * `--rounds` rounds. The broker is a standalone in a child process (this runtime).
 *
 *   bun bench/filter_bench.ts --count 100000 --rounds 3
 *   bun bench/filter_bench.ts --cases all,tag10,tag100      # the tag cases only
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { processCpuSeconds } from "../cli/_load_stats.ts";
import { startLoadServer } from "../cli/_load_server.ts";
import { Producer, PullConsumer } from "../mod.ts";
import type { MessageQueue } from "../core/model/message_queue.ts";

const CASES = {
  all: { expression: "*" },
  tag10: { expression: "TagA" },
  tag100: { expression: "TagA || TagB" },
  sql10: { sql: "region = 'eu'" },
  sql100: { sql: "amount >= 0" },
} as const;
type CaseName = keyof typeof CASES;

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "100000" },
    rounds: { type: "string", default: "3" },
    cases: { type: "string", default: Object.keys(CASES).join(",") },
    queues: { type: "string", default: "4" },
  },
});
const count = Number(values.count);
const rounds = Number(values.rounds);
const queueCount = Number(values.queues);
const cases = values.cases!.split(",").map((c) => c.trim()) as CaseName[];
for (const name of cases) if (!(name in CASES)) throw new Error(`Unknown case "${name}": expected ${Object.keys(CASES).join(", ")}`);

const server = await startLoadServer({ runtime: "Deno" in globalThis ? "deno" : "bun", flush: "async" });
const topic = `filter_bench_${Date.now()}`;
const body = new Uint8Array(1024).fill(120);

interface Round {
  delivered: number;
  wallMs: number;
  brokerCpuS: number;
  clientCpuS: number;
}

async function fill(): Promise<void> {
  const producer = new Producer({ nameServer: server.namesrv, defaultTopicQueueNums: queueCount });
  await producer.start();
  try {
    const batch = 32;
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < count) {
        const start = next;
        next = Math.min(count, next + batch);
        const messages = [];
        for (let i = start; i < next; i++) {
          const eu = i % 10 === 0;
          messages.push({ topic, tags: eu ? "TagA" : "TagB", properties: { region: eu ? "eu" : "us", amount: String(i) }, body });
        }
        await producer.sendBatch(messages);
      }
    }));
  } finally {
    await producer.shutdown();
  }
}

async function readAll(consumer: PullConsumer, queues: MessageQueue[], name: CaseName): Promise<number> {
  const selector = CASES[name];
  let delivered = 0;
  await Promise.all(queues.map(async (queue) => {
    let offset = 0;
    for (;;) {
      const result = await consumer.pull(queue, offset, { maxNums: 32, ...selector });
      delivered += result.messages.length;
      if (result.status === "NO_NEW_MSG") return;
      offset = result.nextBeginOffset;
    }
  }));
  return delivered;
}

async function round(name: CaseName, queues: MessageQueue[]): Promise<Round> {
  const consumer = new PullConsumer({ nameServer: server.namesrv, group: `filter_bench_${name}` });
  await consumer.start();
  try {
    const broker0 = processCpuSeconds(server.startup.pid) ?? NaN;
    const client0 = process.cpuUsage();
    const started = performance.now();
    const delivered = await readAll(consumer, queues, name);
    const wallMs = performance.now() - started;
    const client = process.cpuUsage(client0);
    return {
      delivered,
      wallMs,
      brokerCpuS: (processCpuSeconds(server.startup.pid) ?? NaN) - broker0,
      clientCpuS: (client.user + client.system) / 1e6,
    };
  } finally {
    await consumer.shutdown();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  await fill();
  const probe = new PullConsumer({ nameServer: server.namesrv, group: "filter_bench_probe" });
  await probe.start();
  let queues: MessageQueue[] = [];
  while (queues.length === 0) queues = await probe.fetchMessageQueues(topic).catch(() => []);
  await probe.shutdown();
  // Warm-up: one pass of each case, not counted.
  for (const name of cases) await round(name, queues);
  const results = new Map<CaseName, Round[]>(cases.map((c) => [c, []]));
  for (let r = 0; r < rounds; r++) for (const name of cases) results.get(name)!.push(await round(name, queues));
  const rows = [["case", "filter", "delivered", "wall s", "scanned/s", "delivered/s", "broker µs/scanned", "broker µs/delivered", "client µs/delivered"]];
  for (const name of cases) {
    const rs = results.get(name)!;
    const wall = median(rs.map((r) => r.wallMs)) / 1000;
    const broker = median(rs.map((r) => r.brokerCpuS));
    const client = median(rs.map((r) => r.clientCpuS));
    const delivered = rs[0]!.delivered;
    const selector = CASES[name];
    rows.push([
      name,
      "sql" in selector ? `sql: ${selector.sql}` : selector.expression,
      String(delivered),
      wall.toFixed(2),
      Math.round(count / wall).toLocaleString("en-US"),
      Math.round(delivered / wall).toLocaleString("en-US"),
      ((broker / count) * 1e6).toFixed(2),
      ((broker / delivered) * 1e6).toFixed(2),
      ((client / delivered) * 1e6).toFixed(2),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  console.log(`${count} messages of 1 KiB in ${queues.length} queues, 32 a pull, median of ${rounds} rounds, ${server.startup.runtime} broker (pid ${server.startup.pid})`);
  for (const row of rows) console.log(row.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  "));
} finally {
  await server.stop();
}
