/**
 * Pull bodies lent from a `BodyBuffer`: one body's memory is read into again only once it was
 * given back, so a body still held keeps exactly the bytes that were stored.
 */
import { describe, expect, test } from "bun:test";
import { decodeRecords } from "../../../core/model/record.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import { BodyBuffer } from "../../../server/store/queue_reader.ts";
import { HOST, msg } from "./_store_helpers.ts";

const text = new TextDecoder();

async function storeOfTwoQueues(): Promise<MessageStore> {
  const store = await MessageStore.open({ dataDir: "/data", storage: new MemorySegmentStorage(), storeHost: HOST, flushIntervalMs: 3_600_000 });
  // Interleaved (the read window's path) and, in queue 2, back to back (the straight read's path).
  await store.putMessageGroups(Array.from({ length: 40 }, (_, i) => [msg("Lent", { queueId: i % 2, body: `${i % 2}:${Math.floor(i / 2)}` })]));
  await store.putMessageGroups([Array.from({ length: 20 }, (_, k) => msg("Lent", { queueId: 2, body: `2:${k}` }))]);
  return store;
}

const bodiesOf = (body: Uint8Array) => decodeRecords(body).map((m) => text.decode(m.body));

describe("BodyBuffer", () => {
  test("a body given back has its memory read into by the next pull, and each pull's bytes are the ones stored", async () => {
    const store = await storeOfTwoQueues();
    const bodies = new BodyBuffer();
    const expected = (q: number) => Array.from({ length: 20 }, (_, k) => `${q}:${k}`);
    let memory: ArrayBufferLike | undefined;
    for (const queueId of [0, 1, 2, 0]) {
      const read = store.getMessage("Lent", queueId, 0, 32, undefined, 1 << 20, bodies);
      expect(read.status).toBe("FOUND");
      expect(bodiesOf(read.body!)).toEqual(expected(queueId));
      // Byte for byte what a pull into new memory returns.
      expect(read.body!).toEqual(store.getMessage("Lent", queueId, 0, 32, undefined, 1 << 20).body!);
      memory ??= read.body!.buffer;
      expect(read.body!.buffer).toBe(memory);
      bodies.release(read.body!);
    }
    await store.close();
  });

  test("a body not given back keeps its bytes: the pulls after it read into other memory", async () => {
    const store = await storeOfTwoQueues();
    const bodies = new BodyBuffer();
    const kept = store.getMessage("Lent", 0, 0, 32, undefined, 1 << 20, bodies).body!;
    const copy = kept.slice();
    const second = store.getMessage("Lent", 1, 0, 32, undefined, 1 << 20, bodies).body!;
    bodies.release(second);
    const third = store.getMessage("Lent", 2, 0, 32, undefined, 1 << 20, bodies).body!;
    expect(second.buffer).not.toBe(kept.buffer);
    expect(third.buffer).toBe(second.buffer);
    expect(kept).toEqual(copy);
    expect(bodiesOf(kept)).toEqual(Array.from({ length: 20 }, (_, k) => `0:${k}`));
    // Giving back a body that is not the buffer's (the one abandoned above) changes nothing.
    bodies.release(kept);
    const fourth = store.getMessage("Lent", 1, 0, 32, undefined, 1 << 20, bodies).body!;
    expect(fourth.buffer).not.toBe(third.buffer);
    expect(bodiesOf(third)).toEqual(Array.from({ length: 20 }, (_, k) => `2:${k}`));
    await store.close();
  });

  test("a body larger than what is kept gets memory of its own, and the next small one new memory again", () => {
    const bodies = new BodyBuffer(64 * 1024);
    const large = bodies.lend(100_000);
    bodies.release(large);
    const small = bodies.lend(1000);
    expect(small.buffer).not.toBe(large.buffer);
    expect(large.length).toBe(100_000);
    bodies.release(small);
    expect(bodies.lend(2000).buffer).toBe(small.buffer);
  });
});
