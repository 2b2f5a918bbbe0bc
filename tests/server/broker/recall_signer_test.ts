import { describe, expect, test } from "bun:test";
import { RecallSigner } from "../../../server/broker/recall_signer.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";

describe("RecallSigner", () => {
  test("a handle checks with the key that issued it; a damaged key file is replaced with a warning and old handles are refused", async () => {
    const storage = new MemorySegmentStorage();
    storage.mkdir("/c");
    const signer = await RecallSigner.load("/c/recall_key.json", storage);
    const handle = signer.issue({ brokerName: "b", topic: "t", dueMs: 1000, timerId: 7 });
    expect(signer.check(handle, { topic: "t", brokerName: "b" })).toMatchObject({ timerId: 7, dueMs: 1000 });
    expect((await RecallSigner.load("/c/recall_key.json", storage)).check(handle, { topic: "t", brokerName: "b" })).toMatchObject({ timerId: 7 });
    for (const name of ["/c/recall_key.json", "/c/recall_key.json.bak"]) {
      if (storage.exists(name)) storage.open(name).write(new TextEncoder().encode("{garbage"), 0);
    }
    const warnings: string[] = [];
    const fresh = await RecallSigner.load("/c/recall_key.json", storage, (line) => warnings.push(line));
    expect(warnings[0]).toContain("recall key unusable, making a new one");
    expect(fresh.check(handle, { topic: "t", brokerName: "b" })).toContain("not issued by this broker");
  });
});
