import { describe, expect, test } from "bun:test";
import { JsonFile } from "../../../server/store/json_file.ts";
import type { SegmentStorage } from "../../../server/store/segment_storage.ts";
import { BACKENDS } from "./_store_helpers.ts";

const encoder = new TextEncoder();

for (const backend of BACKENDS) {
  describe(`JsonFile on ${backend.name}`, () => {
    test("save() then load() returns the value from the main file", async () => {
      const env = backend.make();
      const file = new JsonFile<{ n: number }>(`${env.dataDir}/config/state.json`, { storage: env.storage });
      expect(file.load()).toBeUndefined();
      await file.save({ n: 1 });
      await file.save({ n: 2 });
      expect(file.load()).toEqual({ value: { n: 2 }, source: "main" });
      expect(env.storage.exists(`${env.dataDir}/config/state.json.bak`)).toBe(true);
      expect(env.storage.exists(`${env.dataDir}/config/state.json.tmp`)).toBe(false);
      env.cleanup();
    });

    test("concurrent save() calls run one at a time and the last one wins", async () => {
      const env = backend.make();
      const file = new JsonFile<{ n: number }>(`${env.dataDir}/config/state.json`, { storage: env.storage });
      await Promise.all(Array.from({ length: 20 }, (_, n) => file.save({ n })));
      expect(file.load()).toEqual({ value: { n: 19 }, source: "main" });
      expect(env.storage.exists(`${env.dataDir}/config/state.json.tmp`)).toBe(false);
      env.cleanup();
    });

    test("load() finds a flipped bit that still parses (a topic name, a digit) and serves the .bak copy", async () => {
      const env = backend.make();
      const path = `${env.dataDir}/topics.json`;
      const file = new JsonFile<{ topics: Record<string, { queues: number }> }>(path, { storage: env.storage });
      await file.save({ topics: { flip: { queues: 4 } } });
      await file.save({ topics: { flip: { queues: 8 } } });
      // The save after the first damage finds no good main file to keep, so .bak gets the new content.
      for (const [from, to, queues] of [["flip", "flhp", 4], ['"queues": 8', '"queues": 9', 8]] as const) {
        const text = new TextDecoder().decode(readAll(env.storage, path));
        expect(text).toContain(from);
        writeAll(env.storage, path, encoder.encode(text.replace(from, to)));
        const loaded = file.load()!;
        expect(loaded.source).toBe("backup");
        expect(loaded.value).toEqual({ topics: { flip: { queues } } });
        expect(loaded.mainError?.message).toContain("checksum");
        await file.save({ topics: { flip: { queues: 8 } } });
      }
      env.cleanup();
    });

    test("a file saved once has its .bak copy too: a flipped bit in either still loads", async () => {
      const env = backend.make();
      const path = `${env.dataDir}/config/topics.json`;
      const file = new JsonFile<{ topics: Record<string, { queues: number }> }>(path, { storage: env.storage });
      await file.save({ topics: { flip: { queues: 4 } } });
      const saved = readAll(env.storage, path);
      expect(readAll(env.storage, `${path}.bak`)).toEqual(saved);
      expect(env.storage.exists(`${path}.bak.tmp`)).toBe(false);
      for (const [damaged, source] of [[path, "backup"], [`${path}.bak`, "main"]] as const) {
        const flipped = saved.slice();
        flipped[saved.indexOf(0x34)]! ^= 0x01; // "4" becomes "5": still JSON, caught by the checksum
        writeAll(env.storage, damaged, flipped);
        const loaded = file.load()!;
        expect(loaded.value).toEqual({ topics: { flip: { queues: 4 } } });
        expect(loaded.source).toBe(source);
        writeAll(env.storage, damaged, saved);
      }
      env.cleanup();
    });

    test("load() takes a file without a checksum (written by hand) as it is", async () => {
      const env = backend.make();
      const path = `${env.dataDir}/state.json`;
      writeAll(env.storage, path, encoder.encode('{ "n": 7 }\n'));
      expect(new JsonFile<{ n: number }>(path, { storage: env.storage }).load()).toEqual({ value: { n: 7 }, source: "main" });
      env.cleanup();
    });

    test("load() falls back to the .bak copy when the main file is corrupt or missing", async () => {
      const env = backend.make();
      const path = `${env.dataDir}/state.json`;
      const validate = (v: unknown) => {
        if (typeof (v as { n?: unknown }).n !== "number") throw new TypeError("Field \"n\" is missing");
        return v as { n: number };
      };
      const file = new JsonFile(path, { storage: env.storage, validate });
      await file.save({ n: 1 });
      await file.save({ n: 2 });
      const main = env.storage.open(path);
      main.truncate(0);
      main.write(encoder.encode("{\"n\": 2"), 0);
      main.close();
      const loaded = file.load()!;
      expect(loaded.value).toEqual({ n: 1 });
      expect(loaded.source).toBe("backup");
      expect(loaded.mainError?.message).toContain("is corrupt");
      env.storage.remove(path);
      expect(file.load()?.source).toBe("backup");
      const bak = env.storage.open(`${path}.bak`);
      bak.truncate(0);
      bak.write(encoder.encode("{\"x\": 1}"), 0);
      bak.close();
      expect(() => file.load()).toThrow("Cannot load");
      env.cleanup();
    });

    test("save() never moves a corrupt main file into .bak: the new content goes to both", async () => {
      const env = backend.make();
      const path = `${env.dataDir}/s.json`;
      const file = new JsonFile<number>(path, { storage: env.storage });
      await file.save(1);
      await file.save(2);
      const main = env.storage.open(path);
      main.truncate(0);
      main.write(encoder.encode("garbage"), 0);
      main.close();
      await file.save(3);
      expect(file.load()?.value).toBe(3);
      env.storage.remove(path);
      expect(file.load()?.value).toBe(3);
      env.cleanup();
    });
  });
}

function readAll(storage: SegmentStorage, path: string): Uint8Array {
  const handle = storage.open(path);
  try {
    const bytes = new Uint8Array(handle.size());
    handle.read(bytes, 0);
    return bytes;
  } finally {
    handle.close();
  }
}

function writeAll(storage: SegmentStorage, path: string, bytes: Uint8Array): void {
  storage.remove(path);
  const handle = storage.open(path, { create: true });
  try {
    handle.write(bytes, 0);
  } finally {
    handle.close();
  }
}
