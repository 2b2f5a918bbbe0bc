import { describe, expect, test } from "bun:test";
import { encodeProperties } from "../../../../core/model/properties.ts";
import { TIMER_TOPIC } from "../../../../core/model/system_topics.ts";
import { MemorySegmentStorage } from "../../../../server/store/memory_segment_storage.ts";
import { MessageStore } from "../../../../server/store/message_store.ts";
import { readLogRecord } from "../../../../server/store/_log_scan.ts";
import { TIMER_ENTRY_SIZE, type TimerEntry, TimerKind, TimerLog } from "../../../../server/store/timer/timer_log.ts";
import { TimerMessageStore, timerProperties } from "../../../../server/store/timer/timer_message_store.ts";
import { TimerWheel } from "../../../../server/store/timer/timer_wheel.ts";

const HOST = { address: "127.0.0.1", port: 10911 };

function entry(i: number): TimerEntry {
  return { prev: i - 1, dueMs: 1_000_000 + i, logOffset: i * 100, timerId: i * 100, queueOffset: i, size: 100, kind: TimerKind.DELIVER, slot: 1000 + i };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("Condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe("TimerLog", () => {
  test("entries round-trip across segment files and a torn tail is cut at the last whole entry", () => {
    const storage = new MemorySegmentStorage();
    const log = new TimerLog("/t/timerlog", { storage, entriesPerSegment: 4 });
    const first = log.append(Array.from({ length: 10 }, (_, i) => entry(i)));
    expect(first).toBe(0);
    expect(log.end).toBe(10 * TIMER_ENTRY_SIZE);
    expect(log.segmentStarts).toEqual([0, 4 * TIMER_ENTRY_SIZE, 8 * TIMER_ENTRY_SIZE]);
    for (let i = 9; i >= 0; i--) expect(log.read(i * TIMER_ENTRY_SIZE)).toEqual(entry(i));
    // Half an entry and a flipped byte after it: both refused, the log ends after entry 8.
    const file = storage.open("/t/timerlog/" + String(8 * TIMER_ENTRY_SIZE).padStart(20, "0"));
    file.write(new Uint8Array(TIMER_ENTRY_SIZE / 2).fill(9), 2 * TIMER_ENTRY_SIZE);
    const bytes = new Uint8Array(TIMER_ENTRY_SIZE);
    file.read(bytes, TIMER_ENTRY_SIZE);
    bytes[10]! ^= 0xff;
    file.write(bytes, TIMER_ENTRY_SIZE);
    log.close();
    const reopened = new TimerLog("/t/timerlog", { storage, entriesPerSegment: 4 });
    const seen: number[] = [];
    const end = reopened.recover(0, (e) => seen.push(e.queueOffset));
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(end).toBe(9 * TIMER_ENTRY_SIZE);
    expect(reopened.deleteBelow(8 * TIMER_ENTRY_SIZE)).toBe(2);
    expect(reopened.start).toBe(8 * TIMER_ENTRY_SIZE);
    expect(reopened.read(0)).toBeUndefined();
  });

  test("the wheel keeps one head per second and refuses a file of another size", async () => {
    const storage = new MemorySegmentStorage();
    storage.mkdir("/w");
    const wheel = new TimerWheel("/w/wheel", { storage, slots: 10 });
    wheel.setHead(1005, 560);
    expect(wheel.head(1005)).toBe(560);
    expect(wheel.head(1015)).toBe(-1);
    await wheel.flush();
    wheel.close();
    const again = new TimerWheel("/w/wheel", { storage, slots: 10 });
    expect(again.head(1005)).toBe(560);
    again.close();
    expect(() => new TimerWheel("/w/wheel", { storage, slots: 11 })).toThrow("the wheel size cannot change");
  });
});

describe("TimerMessageStore recovery", () => {
  async function setup(storage: MemorySegmentStorage) {
    const store = await MessageStore.open({ dataDir: "/data", storage, storeHost: HOST });
    const timers = await TimerMessageStore.open({ store, dir: "/data/timer", storage, flushIntervalMs: 3_600_000 });
    store.onArrive = (topic) => {
      if (topic === TIMER_TOPIC) timers.wake();
    };
    return { store, timers };
  }

  function putTimers(store: MessageStore, count: number, dueMs: number) {
    return Promise.all(Array.from({ length: count }, (_, i) => store.putMessage({
      topic: TIMER_TOPIC, queueId: 0, flag: 0, sysFlag: 0, bornTimestamp: Date.now(), bornHost: HOST, reconsumeTimes: 0,
      preparedTransactionOffset: 0, body: new TextEncoder().encode(`t${i}`),
      properties: encodeProperties(timerProperties({}, { topic: "real", queueId: 0, dueMs, enqueueMs: Date.now() })),
    })));
  }

  test("entries enqueued after the checkpoint are replayed from the timer log, not enqueued twice", async () => {
    const storage = new MemorySegmentStorage();
    const { store, timers } = await setup(storage);
    timers.start();
    await putTimers(store, 300, Date.now() + 3_600_000);
    await until(() => timers.stats.enqueueOffset === 300);
    // A crash: no checkpoint since open (it says nothing was enqueued); the log has 300 entries.
    const again = await TimerMessageStore.open({ store, dir: "/data/timer", storage });
    expect(again.stats).toMatchObject({ pending: 300, enqueueOffset: 300, logEntries: 300 });
    again.start();
    await putTimers(store, 1, Date.now() + 3_600_000);
    await until(() => again.stats.enqueueOffset === 301);
    expect(again.stats.pending).toBe(301);
    await again.close();
  });

  test("a torn timer log tail is cut and its records enqueued again from the timer topic", async () => {
    const storage = new MemorySegmentStorage();
    const { store, timers } = await setup(storage);
    timers.start();
    await putTimers(store, 50, Date.now() + 3_600_000);
    await until(() => timers.stats.enqueueOffset === 50);
    const file = storage.open("/data/timer/timerlog/" + "0".padStart(20, "0"));
    file.truncate(20 * TIMER_ENTRY_SIZE + 11);
    const again = await TimerMessageStore.open({ store, dir: "/data/timer", storage });
    expect(again.stats).toMatchObject({ enqueueOffset: 20, logEntries: 20, pending: 20 });
    again.start();
    await until(() => again.stats.enqueueOffset === 50);
    expect(again.stats).toMatchObject({ pending: 50, logEntries: 50 });
    await again.close();
  });

  test("without a checkpoint the index is rebuilt from the timer topic and nothing delivered before is delivered again", async () => {
    const storage = new MemorySegmentStorage();
    const { store, timers } = await setup(storage);
    timers.start();
    await putTimers(store, 20, Date.now() + 100);
    await putTimers(store, 5, Date.now() + 3_600_000);
    await until(() => timers.stats.delivered === 20);
    await timers.close();
    storage.remove("/data/timer");
    const rebuilt = await TimerMessageStore.open({ store, dir: "/data/timer", storage });
    store.onArrive = (topic) => {
      if (topic === TIMER_TOPIC) rebuilt.wake();
    };
    rebuilt.start();
    await until(() => rebuilt.stats.enqueueOffset === 25);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(store.getMaxOffset("real", 0)).toBe(20);
    expect(rebuilt.stats).toMatchObject({ pending: 5 });
    await rebuilt.close();
    await store.close();
  });
});

describe("retention floor", () => {
  test("retention keeps the segment holding the lowest offset a pending timer needs, and everything after it", async () => {
    let clock = 1_000;
    const storage = new MemorySegmentStorage();
    const store = await MessageStore.open({ dataDir: "/data", storage, storeHost: HOST, commitLogSegmentSize: 64 * 1024, fileReservedTimeMs: 10_000, now: () => clock });
    const put = () => store.putMessage({
      topic: "Old", queueId: 0, flag: 0, sysFlag: 0, bornTimestamp: clock, bornHost: HOST, reconsumeTimes: 0,
      preparedTransactionOffset: 0, body: new Uint8Array(1000), properties: "",
    });
    const results = [];
    for (let i = 0; i < 300; i++) results.push(await put());
    clock = 100_000;
    await put();
    const segments = store.stats.segmentCount;
    expect(segments).toBeGreaterThan(3);
    // A pending timer's record in the third segment.
    const needed = results.find((r) => r.commitLogOffset >= 2 * 64 * 1024)!.commitLogOffset;
    store.retentionFloor = () => needed;
    expect(store.deleteExpiredSegments()).toBe(2);
    expect(store.stats.commitLogMinOffset).toBe(2 * 64 * 1024);
    expect(readLogRecord(store, needed)).toBeDefined();
    store.retentionFloor = undefined;
    expect(store.deleteExpiredSegments()).toBe(segments - 3);
    await store.close();
  });
});

describe("damaged timer files", () => {
  async function withTimers(damage: (storage: MemorySegmentStorage) => void): Promise<string[]> {
    const storage = new MemorySegmentStorage();
    const store = await MessageStore.open({ dataDir: "/data", storage, storeHost: HOST });
    const logs: string[] = [];
    const open = () => TimerMessageStore.open({ store, dir: "/data/timer", storage, log: (line) => logs.push(line) });
    let timers = await open();
    store.onArrive = (topic) => {
      if (topic === TIMER_TOPIC) timers.wake();
    };
    timers.start();
    const due = Date.now() + 1500;
    await Promise.all(Array.from({ length: 40 }, (_, i) => store.putMessage({
      topic: TIMER_TOPIC, queueId: 0, flag: 0, sysFlag: 0, bornTimestamp: Date.now(), bornHost: HOST, reconsumeTimes: 0,
      preparedTransactionOffset: 0, body: new TextEncoder().encode(`t${i}`),
      properties: encodeProperties(timerProperties({}, { topic: "real", queueId: 0, dueMs: due, enqueueMs: Date.now() })),
    })));
    await until(() => timers.stats.enqueueOffset === 40);
    await timers.close();
    damage(storage);
    timers = await open();
    timers.start();
    await until(() => timers.stats.delivered === 40, 5000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(store.getMaxOffset("real", 0)).toBe(40);
    await timers.close();
    await store.close();
    return logs;
  }

  function flipWheelSlots(storage: MemorySegmentStorage): void {
    const wheel = storage.open("/data/timer/wheel");
    const bytes = new Uint8Array(wheel.size());
    wheel.read(bytes, 0);
    for (let at = 0; at < bytes.length; at += 16) if (bytes.subarray(at, at + 16).some((b) => b !== 0)) bytes[at + 3]! ^= 1;
    wheel.write(bytes, 0);
  }

  function flipEntry(storage: MemorySegmentStorage, index: number): void {
    const log = storage.open("/data/timer/timerlog/" + "0".padStart(20, "0"));
    const byte = new Uint8Array(1);
    log.read(byte, index * TIMER_ENTRY_SIZE + 2);
    byte[0]! ^= 0x40;
    log.write(byte, index * TIMER_ENTRY_SIZE + 2);
  }

  test("a wheel slot that fails its check makes the wheel be rebuilt from the timer log; every timer is delivered once", async () => {
    const logs = await withTimers(flipWheelSlots);
    expect(logs.some((l) => l.includes("timer wheel slot(s) failed their check"))).toBe(true);
  });

  test("a damaged entry in a second's chain: the rest is found by a scan and the entry restored from the timer topic", async () => {
    const logs = await withTimers((storage) => flipEntry(storage, 20));
    expect(logs.some((l) => l.includes("found by a scan of the timer log"))).toBe(true);
    expect(logs.some((l) => l.includes("restored from timer queue offset 20"))).toBe(true);
  });

  test("a damaged entry before the checkpoint found while rebuilding the wheel: the index is rebuilt from the timer topic", async () => {
    const logs = await withTimers((storage) => {
      flipWheelSlots(storage);
      flipEntry(storage, 20);
    });
    expect(logs.some((l) => l.includes("damaged before its checkpoint"))).toBe(true);
  });
});
