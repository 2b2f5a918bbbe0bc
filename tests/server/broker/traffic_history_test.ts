import { describe, expect, test } from "bun:test";
import { countIn, countOut, createBrokerStats } from "../../../server/broker/broker_stats.ts";
import { TrafficHistory } from "../../../server/broker/traffic_history.ts";

describe("TrafficHistory", () => {
  test("keeps one point a second and one every ten seconds, whole intervals only, per topic and in total", () => {
    const stats = createBrokerStats();
    const history = new TrafficHistory(stats, { startedAt: 500, fineSeconds: 5, coarseMinutes: 1 });
    // 10 messages in a second to orders, 4 out; 2 in to invoices, for 25 s.
    for (let t = 1000; t <= 25_000; t += 1000) {
      countIn(stats, "orders", 10, 10);
      countOut(stats, "orders", 4, 4);
      countIn(stats, "invoices", 2, 2);
      history.sample(t);
    }
    const orders = history.read("orders");
    // Seconds 20-24 are whole (25 is filling); the first five of them are kept.
    expect(orders.fine).toEqual({ intervalMs: 1000, start: 20_000, in: [10, 10, 10, 10, 10], out: [4, 4, 4, 4, 4] });
    // Ten-second points from the first whole one (10-20 s); 20-30 s is still filling.
    expect(orders.coarse).toEqual({ intervalMs: 10_000, start: 10_000, in: [10], out: [4] });
    expect(history.read("invoices").fine.in).toEqual([2, 2, 2, 2, 2]);
    expect(history.read().fine).toEqual({ intervalMs: 1000, start: 20_000, in: [12, 12, 12, 12, 12], out: [4, 4, 4, 4, 4] });
    // A topic never seen reads as zeros over the same span.
    expect(history.read("ghost").fine).toEqual({ intervalMs: 1000, start: 20_000, in: [0, 0, 0, 0, 0], out: [0, 0, 0, 0, 0] });
  });

  test("a silent spell and missed samples read as zeros, and the rings stay bounded", () => {
    const stats = createBrokerStats();
    const history = new TrafficHistory(stats, { startedAt: 0, fineSeconds: 4, coarseMinutes: 1 });
    for (let t = 1000; t <= 5000; t += 1000) {
      countIn(stats, "orders", 3, 3);
      history.sample(t);
    }
    expect(history.read("orders").fine.in).toEqual([3, 3, 3, 3]);
    // A sample counts what arrived since the one before in the second it runs in. The timer missed
    // seconds 6-7: what arrived meanwhile lands in second 8.
    countIn(stats, "orders", 6, 6);
    history.sample(8000);
    history.sample(9000);
    expect(history.read("orders").fine).toEqual({ intervalMs: 1000, start: 5000, in: [3, 0, 0, 6], out: [0, 0, 0, 0] });
    expect(history.read("orders").coarse).toEqual({ intervalMs: 10_000, start: 10_000, in: [], out: [] });
    history.sample(10_000);
    // 0-10 s is not whole from the start (the first interval starts after the broker's start).
    expect(history.read("orders").coarse.in).toEqual([]);
    history.sample(20_000);
    expect(history.read("orders").coarse).toEqual({ intervalMs: 10_000, start: 10_000, in: [0], out: [0] });
    // Long after: at most a minute of ten-second points, and the silent topic gives its rings back.
    expect(history.trackedTopics).toBe(1);
    for (let t = 21_000; t <= 200_000; t += 1000) history.sample(t);
    const coarse = history.read("orders").coarse;
    expect(coarse.in.length).toBe(6);
    expect(coarse.start).toBe(140_000);
    expect(history.trackedTopics).toBe(0);
    expect(history.read("orders").fine.in).toEqual([0, 0, 0, 0]);
    // Traffic again: the topic gets fresh rings.
    countIn(stats, "orders", 7, 7);
    history.sample(201_000);
    history.sample(202_000);
    expect(history.read("orders").fine.in).toEqual([0, 0, 0, 7]);
    expect(history.read().fine.in).toEqual([0, 0, 0, 7]);
  });

  test("a clock step back adds to the latest point instead of rewriting old ones", () => {
    const stats = createBrokerStats();
    const history = new TrafficHistory(stats, { startedAt: 0, fineSeconds: 3, coarseMinutes: 1 });
    for (let t = 1000; t <= 4000; t += 1000) {
      countIn(stats, "orders", 1, 1);
      history.sample(t);
    }
    countIn(stats, "orders", 5, 5);
    history.sample(2500);
    history.sample(5000);
    expect(history.read("orders").fine.in).toEqual([1, 1, 6]);
  });
});
