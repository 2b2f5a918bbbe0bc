import { describe, expect, test } from "bun:test";
import { consistentPoint, EpochFile } from "../../../server/ha/epoch_file.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";

describe("consistentPoint", () => {
  test("a returning master of epoch 1 agrees with the master of epoch 2 up to where epoch 2 began", () => {
    expect(consistentPoint([{ epoch: 1, startOffset: 0 }], [{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 5000 }], 9000)).toBe(5000);
  });
  test("a slave of the current epoch agrees up to the master's end", () => {
    const epochs = [{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 5000 }];
    expect(consistentPoint(epochs, epochs, 9000)).toBe(9000);
  });
  test("an epoch only the replica knows (it was master, unseen) ends at the last shared epoch's end", () => {
    const local = [{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 100 }, { epoch: 3, startOffset: 500 }];
    const master = [{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 100 }, { epoch: 4, startOffset: 400 }];
    expect(consistentPoint(local, master, 900)).toBe(400);
  });
  test("a replica's own later epoch bounds the shared one", () => {
    const local = [{ epoch: 1, startOffset: 0 }, { epoch: 3, startOffset: 300 }];
    const master = [{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 700 }];
    expect(consistentPoint(local, master, 900)).toBe(300);
  });
  test("no shared epoch: 0 (an epoch with another start is not shared)", () => {
    expect(consistentPoint([{ epoch: 1, startOffset: 10 }], [{ epoch: 1, startOffset: 0 }], 900)).toBe(0);
  });
});

describe("EpochFile", () => {
  test("a master's epoch is saved before it writes, drops copied epochs past its end, and survives a reload", async () => {
    const storage = new MemorySegmentStorage();
    storage.mkdir("/s");
    const file = new EpochFile("/s/epochs.json", storage);
    await file.adopt([{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 800 }]);
    await file.begin(3, 500);
    const reloaded = new EpochFile("/s/epochs.json", storage);
    reloaded.load();
    expect(reloaded.entries).toEqual([{ epoch: 1, startOffset: 0 }, { epoch: 3, startOffset: 500 }]);
    expect(reloaded.lastEpoch).toBe(3);
  });
});
