import { describe, expect, test } from "bun:test";
import { JsonFile } from "../../../server/store/json_file.ts";
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

    test("save() does not replace a good backup with a corrupt main file", async () => {
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
      expect(file.load()?.value).toBe(1);
      env.cleanup();
    });
  });
}
