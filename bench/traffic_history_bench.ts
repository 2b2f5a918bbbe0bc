/**
 * The broker's TPS history (`TrafficHistory`): what one `sample()` (once a second, on the broker's
 * traffic timer, never on the send or pull path) costs with 100, 1,000 and 10,000 topics that have
 * traffic, and what a dashboard reading of one topic costs; the heap the rings of 10,000 busy
 * topics take is printed first.
 * Run: `bun bench/traffic_history_bench.ts` or `deno run -A bench/traffic_history_bench.ts`.
 */
import { bench, do_not_optimize, run, summary } from "mitata";
import { countIn, createBrokerStats } from "../server/broker/broker_stats.ts";
import { TrafficHistory } from "../server/broker/traffic_history.ts";

function busy(topics: number): { history: TrafficHistory; tick: () => void } {
  const stats = createBrokerStats();
  const history = new TrafficHistory(stats, { startedAt: 0 });
  let now = 0;
  const tick = () => {
    now += 1000;
    for (let k = 0; k < topics; k += 7) countIn(stats, `topic-${k}`, 3, 300);
    history.sample(now);
  };
  for (let k = 0; k < topics; k++) countIn(stats, `topic-${k}`, 1, 100);
  for (let i = 0; i < 400; i++) tick();
  return { history, tick };
}

const heapBefore = process.memoryUsage().heapUsed;
const large = busy(10_000);
const heapAfter = process.memoryUsage().heapUsed;
console.log(`10,000 busy topics: ${((heapAfter - heapBefore) / 1048576).toFixed(1)} MiB of heap for counters and rings`);

summary(() => {
  for (const topics of [100, 1000]) {
    const { tick } = busy(topics);
    bench(`sample() with ${topics} topics (a seventh of them counting)`, () => tick());
  }
  bench("sample() with 10000 topics (a seventh of them counting)", () => large.tick());
});
bench("read() of one topic: 300 one-second and 360 ten-second points", () => do_not_optimize(large.history.read("topic-7")));

await run();
