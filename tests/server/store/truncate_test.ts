/**
 * Controller mode's truncation: a returning master opens its store with `truncateTo` (the point its
 * epochs agree with the new master's) and then continues as a copy of the new master.
 */
import { describe, expect, test } from "bun:test";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import { HOST, msg } from "./_store_helpers.ts";

const SEGMENT = 64 * 1024;

function open(storage: MemorySegmentStorage, dataDir: string, truncateTo?: number): Promise<MessageStore> {
  return MessageStore.open({ dataDir, storage, storeHost: HOST, commitLogSegmentSize: SEGMENT, flushMode: "sync", ...(truncateTo === undefined ? {} : { truncateTo }) });
}

describe("MessageStore truncateTo", () => {
  test("cuts the CommitLog, its queue entries and the checkpoint back to the point, copies the cut bytes aside, and takes the new master's records there", async () => {
    const storage = new MemorySegmentStorage();
    const old = await open(storage, "/old");
    const master = await open(storage, "/new");
    // Both hold the same 300 records (the new master copied them) ...
    for (let i = 0; i < 300; i++) {
      const input = msg("orders", { queueId: i % 2, body: `shared-${i}-${"x".repeat(300)}` });
      await old.putMessage(input);
    }
    let offset = 0;
    for (;;) {
      const chunk = old.readReplica(offset, 1 << 20);
      if (chunk.bytes.length === 0) break;
      offset = await master.appendReplica(chunk.offset, chunk.bytes);
    }
    const point = old.stats.commitLogMaxOffset;
    // ... then the old master wrote 50 that were never acknowledged, the new master 20 of its own.
    for (let i = 0; i < 50; i++) await old.putMessage(msg("orders", { queueId: i % 2, body: `lost-${i}` }));
    await old.close();
    for (let i = 0; i < 20; i++) await master.putMessage(msg("orders", { queueId: i % 2, body: `new-${i}` }));

    const rejoined = await open(storage, "/old", point);
    expect(rejoined.stats.commitLogMaxOffset).toBe(point);
    expect(rejoined.stats.recovery.truncated?.at).toBe(point);
    expect(rejoined.stats.recovery.truncated?.bytes).toBeGreaterThan(0);
    expect(rejoined.quarantineFiles().length).toBe(1);
    expect(rejoined.getMaxOffset("orders", 0)).toBe(150);
    expect(rejoined.getMaxOffset("orders", 1)).toBe(150);
    // It now copies the new master from the point on, with the new master's queue offsets.
    offset = point;
    for (;;) {
      const chunk = master.readReplica(offset, 1 << 20);
      if (chunk.bytes.length === 0) break;
      offset = await rejoined.appendReplica(chunk.offset, chunk.bytes);
    }
    expect(rejoined.stats.commitLogMaxOffset).toBe(master.stats.commitLogMaxOffset);
    const bodies = (s: MessageStore) => new TextDecoder().decode(s.getMessage("orders", 0, 140, 100, undefined, 1 << 24).body);
    expect(bodies(rejoined)).toBe(bodies(master));
    expect(bodies(rejoined)).toContain("new-0");
    expect(bodies(rejoined)).not.toContain("lost-");
    const end = rejoined.stats.commitLogMaxOffset;
    await rejoined.close();
    // A point at the end cuts nothing.
    const again = await open(storage, "/old", end);
    expect(again.stats.recovery.truncated).toBeUndefined();
    await again.close();
    await master.close();
  });

  test("refuses a point where no record starts", async () => {
    const storage = new MemorySegmentStorage();
    const store = await open(storage, "/s");
    await store.putMessage(msg("orders", { body: "one" }));
    await store.putMessage(msg("orders", { body: "two" }));
    await store.close();
    await expect(open(storage, "/s", 7)).rejects.toThrow("Cannot cut the CommitLog back to 7: no record starts there");
  });
});
