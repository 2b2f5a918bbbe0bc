import { describe, expect, test } from "bun:test";
import { decodeRecords } from "../../../core/model/record.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import { HOST, msg } from "./_store_helpers.ts";

const SEGMENT = 64 * 1024;

function open(storage: MemorySegmentStorage, dataDir: string, flushMode: "async" | "sync" = "async"): Promise<MessageStore> {
  return MessageStore.open({ dataDir, storage, storeHost: HOST, commitLogSegmentSize: SEGMENT, flushMode });
}

/** Copies everything the master shows into the slave, chunk by chunk, as the HA link does. */
async function replicate(master: MessageStore, slave: MessageStore, maxBytes: number): Promise<number> {
  let offset = slave.stats.commitLogMaxOffset;
  let chunks = 0;
  for (;;) {
    const chunk = master.readReplica(offset, maxBytes);
    if (chunk.bytes.length === 0) return chunks;
    const end = await slave.appendReplica(chunk.offset, chunk.bytes);
    expect(end).toBe(chunk.next);
    offset = end;
    chunks++;
  }
}

function bytesOf(storage: MemorySegmentStorage, dir: string): Uint8Array[] {
  return storage.list(`${dir}/commitlog`).map((name) => {
    const file = storage.open(`${dir}/commitlog/${name}`);
    const out = new Uint8Array(file.size());
    file.read(out, 0);
    file.close();
    return out;
  });
}

describe("replica store", () => {
  for (const flushMode of ["async", "sync"] as const) {
    test(`a slave written chunk by chunk holds the master's bytes at the same offsets and serves pulls (${flushMode} flush)`, async () => {
      const storage = new MemorySegmentStorage();
      const master = await open(storage, "/m");
      const slave = await open(storage, "/s", flushMode);
      const arrived: number[] = [];
      slave.onArrive = (_t, _q, offset) => arrived.push(offset);
      // Enough data for several segments, so blank markers travel too.
      for (let round = 0; round < 4; round++) {
        await Promise.all(Array.from({ length: 150 }, (_, i) => master.putMessage(msg("orders", { queueId: i % 3, body: "x".repeat(200 + i), tags: `t${i % 2}` }))));
        expect(await replicate(master, slave, 5000)).toBeGreaterThan(0);
      }
      expect(slave.stats.commitLogMaxOffset).toBe(master.stats.commitLogMaxOffset);
      expect(slave.stats.segmentCount).toBeGreaterThan(2);
      expect(bytesOf(storage, "/s")).toEqual(bytesOf(storage, "/m"));
      expect(arrived.length).toBe(600);
      for (const queueId of [0, 1, 2]) {
        expect(slave.getMaxOffset("orders", queueId)).toBe(master.getMaxOffset("orders", queueId));
        const pulled = slave.getMessage("orders", queueId, 0, 1000, undefined, 1 << 24);
        const expected = master.getMessage("orders", queueId, 0, 1000, undefined, 1 << 24);
        expect(pulled.count).toBe(200);
        expect(pulled.body).toEqual(expected.body);
      }
      await master.close();
      await slave.close();
      // Reopened, the slave recovers to the same end and resumes there.
      const again = await open(storage, "/s", flushMode);
      expect(again.stats.commitLogMaxOffset).toBe(slave.stats.commitLogMaxOffset);
      expect(again.stats.recovery.cutAt).toBeUndefined();
      await again.close();
    });
  }

  test("a chunk with a corrupt record is refused and nothing of it is written", async () => {
    const storage = new MemorySegmentStorage();
    const master = await open(storage, "/m");
    const slave = await open(storage, "/s");
    await master.putMessage(msg("orders", { body: "hello" }));
    await master.putMessage(msg("orders", { body: "world" }));
    const chunk = master.readReplica(0, 1 << 20);
    const bad = chunk.bytes.slice();
    bad[bad.length - 12] ^= 0xff; // inside the second record's body, which its CRC covers
    await expect(slave.appendReplica(0, bad)).rejects.toThrow(/Replicated record at CommitLog offset \d+ is invalid/);
    expect(slave.stats.commitLogMaxOffset).toBe(0);
    await expect(slave.appendReplica(100, chunk.bytes)).rejects.toThrow(/claims physical offset 0|the log ends at 0/);
    expect(await slave.appendReplica(0, chunk.bytes)).toBe(chunk.next);
    expect(decodeRecords(slave.getMessage("orders", 0, 0, 10).body!).map((m) => new TextDecoder().decode(m.body))).toEqual(["hello", "world"]);
    await master.close();
    await slave.close();
  });

  test("readReplica never passes the visible end and sends a record larger than the budget alone", async () => {
    const storage = new MemorySegmentStorage();
    const master = await open(storage, "/m");
    await master.putMessage(msg("orders", { body: "y".repeat(9000) }));
    await master.putMessage(msg("orders", { body: "small" }));
    const first = master.readReplica(0, 100);
    expect(first.bytes.length).toBeGreaterThan(9000);
    expect(decodeRecords(first.bytes).length).toBe(1);
    const second = master.readReplica(first.next, 1 << 20);
    expect(second.next).toBe(master.stats.visibleOffset);
    expect(master.readReplica(second.next, 1 << 20).bytes.length).toBe(0);
    expect(() => master.readReplica(1, 1 << 20)).toThrow(RangeError);
    await master.close();
  });

  test("an empty slave can start at a later segment (the master's older ones deleted by retention)", async () => {
    const storage = new MemorySegmentStorage();
    const master = await open(storage, "/m");
    while (master.stats.segmentCount < 3) {
      await Promise.all(Array.from({ length: 50 }, () => master.putMessage(msg("orders", { body: "z".repeat(500) }))));
    }
    const slave = await open(storage, "/s");
    const chunk = master.readReplica(SEGMENT, 1 << 20);
    await slave.appendReplica(SEGMENT, chunk.bytes);
    expect(slave.stats.commitLogMinOffset).toBe(SEGMENT);
    await replicate(master, slave, 1 << 20);
    expect(slave.stats.commitLogMaxOffset).toBe(master.stats.commitLogMaxOffset);
    const firstQueueOffset = slave.getMinOffset("orders", 0);
    const pulled = slave.getMessage("orders", 0, firstQueueOffset, 5);
    expect(pulled.status).toBe("FOUND");
    expect(decodeRecords(pulled.body!)[0]!.commitLogOffset).toBe(SEGMENT);
    await master.close();
    await slave.close();
  });
});
