import { describe, expect, test } from "bun:test";
import { InFlightLimiter } from "../../client/_in_flight.ts";
import { RequestTimeoutError } from "../../core/errors.ts";

describe("InFlightLimiter", () => {
  test("acquire() waits at the count limit until release()", async () => {
    const limiter = new InFlightLimiter(2, 1000);
    await limiter.acquire(1, 1000);
    await limiter.acquire(1, 1000);
    let third = false;
    const waiting = limiter.acquire(1, 1000).then(() => (third = true));
    await Promise.resolve();
    expect(third).toBe(false);
    expect(limiter.waiting).toBe(1);
    limiter.release(1);
    await waiting;
    expect(third).toBe(true);
    expect(limiter.count).toBe(2);
  });

  test("acquire() waits at the byte limit, in FIFO order", async () => {
    const limiter = new InFlightLimiter(100, 10);
    await limiter.acquire(8, 1000);
    const order: string[] = [];
    const big = limiter.acquire(5, 1000).then(() => order.push("big"));
    const small = limiter.acquire(1, 1000).then(() => order.push("small")); // fits, but waits its turn
    await Promise.resolve();
    expect(order).toEqual([]);
    limiter.release(8);
    await Promise.all([big, small]);
    expect(order).toEqual(["big", "small"]);
    expect(limiter.bytes).toBe(6);
  });

  test("acquire() lets a request above the byte budget through when nothing else is held", async () => {
    const limiter = new InFlightLimiter(10, 10);
    await limiter.acquire(50, 1000);
    expect(limiter.bytes).toBe(50);
  });

  test("acquire() fails with RequestTimeoutError when no room frees up in time", async () => {
    const limiter = new InFlightLimiter(1, 10);
    await limiter.acquire(1, 1000);
    await expect(limiter.acquire(1, 20)).rejects.toThrow(RequestTimeoutError);
    expect(limiter.waiting).toBe(0);
    expect(limiter.count).toBe(1);
  });

  test("idle() resolves once everything is released", async () => {
    const limiter = new InFlightLimiter(5, 100);
    await limiter.idle();
    await limiter.acquire(1, 1000);
    await limiter.acquire(1, 1000);
    let idle = false;
    const waiting = limiter.idle().then(() => (idle = true));
    limiter.release(1);
    await Promise.resolve();
    expect(idle).toBe(false);
    limiter.release(1);
    await waiting;
    expect(idle).toBe(true);
  });

  test("the constructor rejects non-positive limits", () => {
    expect(() => new InFlightLimiter(0, 10)).toThrow(RangeError);
    expect(() => new InFlightLimiter(1, 0)).toThrow(RangeError);
  });
});
