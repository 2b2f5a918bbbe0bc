import { describe, expect, test } from "bun:test";
import { ProcessQueue } from "../../client/process_queue.ts";
import type { MessageExt } from "../../core/model/message.ts";

const QUEUE = { topic: "T", brokerName: "b", queueId: 0 };
function message(queueOffset: number, size = 10): MessageExt {
  return {
    topic: "T", queueId: 0, queueOffset, commitLogOffset: queueOffset * 100, storeSize: 100, bodyCRC: 0, flag: 0, sysFlag: 0,
    bornTimestamp: 0, bornHost: { address: "127.0.0.1", port: 1 }, storeTimestamp: 0, storeHost: { address: "127.0.0.1", port: 2 },
    reconsumeTimes: 0, preparedTransactionOffset: 0, body: new Uint8Array(size), properties: {}, msgId: `m${queueOffset}`, keys: [],
  };
}

describe("ProcessQueue", () => {
  test("commitOffset is -1 before anything was added", () => {
    expect(new ProcessQueue(QUEUE).commitOffset).toBe(-1);
  });

  test("commitOffset stays at the lowest message still in process", () => {
    const pq = new ProcessQueue(QUEUE);
    const [m5, m6, m7] = [message(5), message(6), message(7)];
    pq.add([m5, m6, m7]);
    expect(pq.remove([m7])).toBe(5);
    expect(pq.remove([m6])).toBe(5);
    expect(pq.remove([m5])).toBe(8);
    expect(pq.count).toBe(0);
  });

  test("many pulls with gaps, finished in random order: commitOffset is always the lowest held offset", () => {
    const pq = new ProcessQueue(QUEUE);
    const held = new Set<number>();
    const all: MessageExt[] = [];
    let offset = 0;
    for (let pull = 0; pull < 50; pull++) {
      const batch: MessageExt[] = [];
      for (let i = 0; i < 1 + (pull % 7); i++) {
        offset += 1 + (pull % 3 === 0 ? 0 : i % 3); // dense pulls and pulls with gaps (tag filtering)
        batch.push(message(offset));
        held.add(offset);
      }
      pq.add(batch);
      all.push(...batch);
    }
    expect(pq.count).toBe(all.length);
    let seed = 7;
    const order = all.map((m) => ({ m, key: (seed = (seed * 48271) % 2147483647) })).sort((a, b) => a.key - b.key);
    for (const { m } of order) {
      const commit = pq.remove([m, m]); // the same message twice counts once
      held.delete(m.queueOffset);
      expect(pq.count).toBe(held.size);
      expect(commit).toBe(held.size === 0 ? offset + 1 : Math.min(...held));
      expect(pq.peek(3).map((x) => x.queueOffset)).toEqual([...held].sort((a, b) => a - b).slice(0, 3));
    }
    expect(pq.bytes).toBe(0);
  });

  test("removeRange() over runs that span pulls, with repeats and unknown offsets, leaves what removeOne() one at a time leaves", () => {
    const batched = new ProcessQueue(QUEUE);
    const single = new ProcessQueue(QUEUE);
    const all: MessageExt[] = [];
    let offset = 10;
    for (let pull = 0; pull < 30; pull++) {
      const batch: MessageExt[] = [];
      for (let i = 0; i < 1 + (pull % 5); i++) batch.push(message(offset += 1 + (pull % 2) * (i % 2), 1 + i));
      batched.add(batch);
      single.add(batch);
      all.push(...batch);
    }
    // Runs in offset order across pull boundaries, plus a repeat and offsets never pulled.
    const runs: MessageExt[] = [...all, all[3]!, message(5), message(offset + 10)];
    const held = new Map(all.map((m) => [m.queueOffset, m.body.length]));
    let seed = 11;
    for (let from = 0; from < runs.length;) {
      const to = Math.min(runs.length, from + 1 + ((seed = (seed * 48271) % 2147483647) % 9));
      batched.removeRange(runs, from, to);
      for (let i = from; i < to; i++) {
        single.removeOne(runs[i]!);
        held.delete(runs[i]!.queueOffset);
      }
      // Against a model: what is held, its bytes, and the lowest held offset.
      const bytes = [...held.values()].reduce((n, b) => n + b, 0);
      expect([batched.count, batched.bytes, batched.commitOffset]).toEqual([held.size, bytes, held.size === 0 ? offset + 1 : Math.min(...held.keys())]);
      expect([batched.count, batched.bytes, batched.commitOffset]).toEqual([single.count, single.bytes, single.commitOffset]);
      expect(batched.peek(4).map((m) => m.queueOffset)).toEqual(single.peek(4).map((m) => m.queueOffset));
      from = to;
    }
    expect([batched.count, batched.bytes, batched.commitOffset]).toEqual([0, 0, offset + 1]);
  });

  test("removeRange() wakes a flow-control waiter once the run brings the queue below its limits", async () => {
    const pq = new ProcessQueue(QUEUE);
    const batch = [message(0), message(1), message(2), message(3)];
    pq.add(batch);
    let woke = false;
    const waiting = pq.room(2, 1_000_000, 60_000).then(() => (woke = true));
    pq.removeRange(batch, 0, 2);
    await Promise.resolve();
    expect(woke).toBe(false);
    pq.removeRange(batch, 2, 3);
    await waiting;
    expect(woke).toBe(true);
  });

  test("advanceTo() lets the offset pass filtered-out messages once nothing before them is held", () => {
    const pq = new ProcessQueue(QUEUE);
    const m3 = message(3);
    pq.add([m3]);
    pq.advanceTo(10); // offsets 4-9 were filtered out
    expect(pq.commitOffset).toBe(3);
    expect(pq.remove([m3])).toBe(10);
  });

  test("counts messages and body bytes, ignoring duplicates", () => {
    const pq = new ProcessQueue(QUEUE);
    pq.add([message(0, 100), message(1, 50)]);
    pq.add([message(1, 50)]);
    expect(pq.count).toBe(2);
    expect(pq.bytes).toBe(150);
    pq.remove([message(0)]);
    expect(pq.bytes).toBe(50);
  });

  test("peek() returns held messages in offset order without removing them", () => {
    const pq = new ProcessQueue(QUEUE);
    pq.add([message(1), message(2), message(3)]);
    expect(pq.peek(2).map((m) => m.queueOffset)).toEqual([1, 2]);
    expect(pq.count).toBe(3);
  });

  test("room() resolves as soon as a removal brings the queue below the flow-control limits, not after its timeout", async () => {
    const pq = new ProcessQueue(QUEUE);
    const held = [message(0, 100), message(1, 100), message(2, 100)];
    pq.add(held);
    const started = performance.now();
    await pq.room(4, 1000, 2000); // room already: at once
    let woke = false;
    const byCount = pq.room(3, 1000, 2000).then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    pq.removeOne(held[0]!);
    await byCount;
    expect(woke).toBe(true);
    // Below the count limit but not the bytes limit: waits for the bytes too.
    woke = false;
    const byBytes = pq.room(10, 150, 2000).then(() => (woke = true));
    await Promise.resolve();
    expect(woke).toBe(false);
    pq.removeOne(held[1]!);
    await byBytes;
    expect(woke).toBe(true);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  test("room() resolves when the queue is dropped or cleared, and after its timeout otherwise", async () => {
    let started = performance.now();
    const dropped = new ProcessQueue(QUEUE);
    dropped.add([message(0)]);
    const waitDrop = dropped.room(1, Infinity, 2000);
    dropped.drop();
    await waitDrop;
    const cleared = new ProcessQueue(QUEUE);
    cleared.add([message(0)]);
    const waitClear = cleared.room(1, Infinity, 2000);
    cleared.clear();
    await waitClear;
    expect(performance.now() - started).toBeLessThan(1000);
    const full = new ProcessQueue(QUEUE);
    full.add([message(0)]);
    started = performance.now();
    await full.room(1, Infinity, 30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(full.count).toBe(1);
  });

  test("idle() resolves when the last running handler ends, or false on timeout", async () => {
    const pq = new ProcessQueue(QUEUE);
    expect(await pq.idle(10)).toBe(true);
    pq.begin();
    expect(await pq.idle(5)).toBe(false);
    const waiting = pq.idle(5000);
    pq.end();
    expect(await waiting).toBe(true);
    expect(pq.lastConsumeTime).toBeGreaterThan(0);
  });
});
