import { describe, expect, test } from "bun:test";
import { countIn, countOut, createBrokerStats } from "../../../server/broker/broker_stats.ts";
import { TrafficWindow } from "../../../server/broker/traffic_window.ts";

describe("TrafficWindow", () => {
  test("rates cover the trailing window, sampled once a second, and fall to zero once traffic stops", () => {
    const stats = createBrokerStats();
    const window = new TrafficWindow(stats, { startedAt: 0, windowMs: 5000 });
    // 100 messages in and 50 out a second for 10 s.
    for (let t = 1000; t <= 10_000; t += 1000) {
      countIn(stats, "orders", 100, 100);
      countOut(stats, "orders", 50, 50);
      window.sample(t);
    }
    expect(window.rates(10_000)).toEqual({ in: 100, out: 50, windowMs: 5000 });
    // Between samples the span grows to at most a window and one sample: 500 messages over 5.5 s.
    expect(window.topicRates("orders", 10_500)).toEqual({ in: 90.91, out: 45.45, windowMs: 5500 });
    // Quiet from here; samples go on, nobody reads for a while.
    for (let t = 11_000; t <= 20_000; t += 1000) window.sample(t);
    expect(window.rates(20_000)).toEqual({ in: 0, out: 0, windowMs: 5000 });
    expect(window.topicRates("orders", 20_000).in).toBe(0);
    // Half the window busy again: half the rate.
    for (let t = 21_000; t <= 23_000; t += 1000) {
      countIn(stats, "orders", 100, 100);
      window.sample(t);
    }
    expect(window.rates(25_000).in).toBe(60);
  });

  test("just after start the rate is over the time since start (at least a second), and unknown topics read zero", () => {
    const stats = createBrokerStats();
    const window = new TrafficWindow(stats, { startedAt: 1000 });
    countIn(stats, "a", 10, 10);
    expect(window.rates(1500)).toEqual({ in: 10, out: 0, windowMs: 500 });
    expect(window.rates(3000).in).toBe(5);
    expect(window.topicRates("a", 3000).in).toBe(5);
    expect(window.topicRates("none", 3000)).toEqual({ in: 0, out: 0, windowMs: 2000 });
  });

  test("a topic first counted between samples is measured from zero", () => {
    const stats = createBrokerStats();
    const window = new TrafficWindow(stats, { startedAt: 0, windowMs: 2000 });
    for (let t = 1000; t <= 5000; t += 1000) window.sample(t);
    countIn(stats, "late", 40, 40);
    expect(window.topicRates("late", 5500).in).toBe(16);
    window.sample(6000);
    expect(window.topicRates("late", 6000).in).toBe(20);
  });
});
