/**
 * Preload for `bench/bun/sync_tail_bench.ts`'s broker: every `setInterval` and `setTimeout`
 * callback (global and `node:timers`) that runs longer than 0.1 ms synchronously prints
 * `[timer <start ms> <duration ms> <where>]` to stderr, where "where" is the interval's
 * registration site or the timeout's function head.
 *
 * @module
 */
import process from "node:process";
import timers from "node:timers";

const THRESHOLD_MS = 0.1;
type Timer = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => unknown;

function site(): string {
  const lines = (new Error().stack ?? "").split("\n").slice(3);
  const own = lines.find((l) => l.includes("/server/") || l.includes("/core/")) ?? lines[0] ?? "";
  return own.trim().replace(/^at\s+/, "").replace(/\(?\S*\/(server|core)\//, "$1/").replace(/\)$/, "");
}

function wrap(original: Timer, interval: boolean): Timer {
  return function (this: unknown, fn, ms, ...args) {
    if (typeof fn !== "function") return original.call(this, fn, ms, ...args);
    const where = interval ? site() : undefined;
    const traced = function (this: unknown, ...a: unknown[]) {
      const t0 = performance.now();
      try {
        return fn.apply(this, a);
      } finally {
        const d = performance.now() - t0;
        if (d > THRESHOLD_MS) {
          const name = where ?? `timeout ${fn.toString().slice(0, 50).replace(/\s+/g, " ")}`;
          process.stderr.write(`[timer ${(performance.timeOrigin + t0).toFixed(3)} ${d.toFixed(3)} ${interval ? "interval " : ""}${name}]\n`);
        }
      }
    };
    return original.call(this, traced, ms, ...args);
  };
}

const g = globalThis as unknown as { setInterval: Timer; setTimeout: Timer };
const [gi, gt] = [g.setInterval, g.setTimeout];
g.setInterval = wrap(gi, true);
g.setTimeout = wrap(gt, false);
const t = timers as unknown as { setInterval: Timer; setTimeout: Timer };
if (t.setInterval === gi) t.setInterval = g.setInterval;
else t.setInterval = wrap(t.setInterval, true);
if (t.setTimeout === gt) t.setTimeout = g.setTimeout;
else t.setTimeout = wrap(t.setTimeout, false);
