import { describe, expect, test } from "bun:test";
import { MemoryOffsetStore, RemoteOffsetStore } from "../../client/offset_store.ts";
import { messageQueueKey } from "../../core/model/message_queue.ts";

const Q0 = { topic: "T", brokerName: "b", queueId: 0 };
const Q1 = { topic: "T", brokerName: "b", queueId: 1 };

describe("MemoryOffsetStore", () => {
  test("read() is -1 until persisted, and finds persisted offsets after remove()", async () => {
    const store = new MemoryOffsetStore();
    expect(await store.read(Q0)).toBe(-1);
    store.update(Q0, 7);
    expect(store.get(Q0)).toBe(7);
    expect(await store.read(Q1)).toBe(-1);
    await store.persist([Q0]);
    store.remove(Q0);
    expect(store.get(Q0)).toBe(-1);
    expect(await store.read(Q0)).toBe(7);
  });

  test("update(…, true) never moves an offset back; a plain update does", () => {
    const store = new MemoryOffsetStore();
    store.update(Q0, 10);
    store.update(Q0, 5, true);
    expect(store.get(Q0)).toBe(10);
    store.update(Q0, 5);
    expect(store.get(Q0)).toBe(5);
  });
});

describe("RemoteOffsetStore", () => {
  test("persist() commits only offsets changed since the last commit", async () => {
    const commits: string[] = [];
    const store = new RemoteOffsetStore({
      query: (q) => Promise.resolve(q.queueId === 0 ? 3 : -1),
      commit: (q, offset) => {
        commits.push(`${messageQueueKey(q)}=${offset}`);
        return Promise.resolve();
      },
    });
    expect(await store.read(Q0)).toBe(3);
    await store.persist([Q0]);
    expect(commits).toEqual([]);
    store.update(Q0, 4);
    store.update(Q1, 9);
    await store.persist([Q0, Q1]);
    await store.persist([Q0, Q1]);
    expect(commits).toEqual(["T@b@0=4", "T@b@1=9"]);
  });

  test("a failed commit is retried by the next persist()", async () => {
    let fail = true;
    const commits: number[] = [];
    const store = new RemoteOffsetStore({
      query: () => Promise.resolve(-1),
      commit: (_q, offset) => {
        if (fail) return Promise.reject(new Error("broker down"));
        commits.push(offset);
        return Promise.resolve();
      },
    });
    store.update(Q0, 2);
    await expect(store.persist([Q0])).rejects.toThrow("broker down");
    fail = false;
    await store.persist([Q0]);
    expect(commits).toEqual([2]);
  });
});
