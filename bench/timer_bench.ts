/**
 * Timer store throughput on files, in one process: how fast timer topic records are placed in the
 * wheel (enqueue) and how fast due timers are delivered (fire), as wall time and CPU time a timer,
 * and the longest event-loop stall while firing (what a send waiting behind it would feel).
 * Run: `bun bench/timer_bench.ts [count]` (default 100000). The timers are all due in one second.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeProperties } from "../core/model/properties.ts";
import { TIMER_TOPIC } from "../core/model/system_topics.ts";
import { MessageStore } from "../server/store/message_store.ts";
import { TimerMessageStore, timerProperties } from "../server/store/timer/timer_message_store.ts";

const count = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), "rmq-timer-bench-"));
const store = await MessageStore.open({ dataDir: join(dir, "store"), storeHost: { address: "127.0.0.1", port: 10911 } });
const timers = await TimerMessageStore.open({ store, dir: join(dir, "store", "timer") });
store.onArrive = (topic) => {
  if (topic === TIMER_TOPIC) timers.wake();
};
const body = new Uint8Array(256).fill(7);
const due = Math.ceil((Date.now() + 8000 + count / 20) / 1000) * 1000;

function cpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 2));
}

// Store the timer records first (what sends do), then measure placing them.
const puts: Promise<unknown>[] = [];
for (let i = 0; i < count; i++) {
  puts.push(store.putMessage({
    topic: TIMER_TOPIC,
    queueId: 0,
    flag: 0,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    bornHost: { address: "127.0.0.1", port: 50000 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    body,
    properties: encodeProperties(timerProperties({ UNIQ_KEY: `K${i}` }, { topic: "bench", queueId: i % 4, dueMs: due + (i % 1000), enqueueMs: Date.now() })),
  }));
  if (puts.length === 4096) await Promise.all(puts.splice(0));
}
await Promise.all(puts);

let cpu = cpuMs();
let wall = performance.now();
timers.start();
await until(() => timers.stats.enqueueOffset === count);
const enqueueCpu = cpuMs() - cpu;
const enqueueWall = performance.now() - wall;

let stall = 0;
let last = performance.now();
const monitor = setInterval(() => {
  const now = performance.now();
  stall = Math.max(stall, now - last - 5);
  last = now;
}, 5);
await until(() => Date.now() >= due - 300);
stall = 0;
last = performance.now();
cpu = cpuMs();
wall = performance.now();
await until(() => timers.stats.delivered === count);
const fireCpu = cpuMs() - cpu;
const fireWall = performance.now() - wall;
clearInterval(monitor);

console.log(`timers: ${count}, all due in one second`);
console.log(`enqueue: ${(count / (enqueueWall / 1000)).toFixed(0)}/s wall, ${((enqueueCpu * 1000) / count).toFixed(1)} us CPU a timer`);
console.log(`fire:    ${(count / (fireWall / 1000)).toFixed(0)}/s wall (from 300 ms before the second), ${((fireCpu * 1000) / count).toFixed(1)} us CPU a timer, longest event-loop stall ${stall.toFixed(0)} ms`);
await timers.close();
await store.close();
rmSync(dir, { recursive: true, force: true });
