import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { HostAddress } from "../../../core/model/message.ts";
import { encodeProperties } from "../../../core/model/properties.ts";
import { FileSegmentStorage } from "../../../server/store/file_segment_storage.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import type { SegmentFile, SegmentStorage } from "../../../server/store/segment_storage.ts";
import type { StoreInput } from "../../../server/store/store_types.ts";

export const HOST: HostAddress = { address: "127.0.0.1", port: 10911 };
export const BORN: HostAddress = { address: "10.0.0.7", port: 50000 };

/** A storage backend under test plus a data dir inside it and a cleanup hook. */
export interface Backend {
  name: string;
  make(): { storage: SegmentStorage; dataDir: string; cleanup(): void };
}

export const BACKENDS: Backend[] = [
  {
    name: "MemorySegmentStorage",
    make: () => ({ storage: new MemorySegmentStorage(), dataDir: "/data", cleanup() {} }),
  },
  {
    name: "FileSegmentStorage",
    make() {
      // Made on first use: suites make the next backend after each test, and the one made after
      // the last test is never used, so it must not leave a directory behind.
      let dir: string | undefined;
      return {
        storage: new FileSegmentStorage(),
        get dataDir() {
          return (dir ??= fs.mkdtempSync(path.join(os.tmpdir(), "rmq-store-")));
        },
        cleanup: () => {
          if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

const encoder = new TextEncoder();

/** A put input with sensible defaults. */
export function msg(
  topic: string,
  options: { queueId?: number; body?: string | Uint8Array; tags?: string; keys?: string } = {},
): StoreInput {
  const properties: Record<string, string> = {};
  if (options.tags) properties.TAGS = options.tags;
  if (options.keys) properties.KEYS = options.keys;
  const body = options.body ?? "body";
  return {
    topic,
    queueId: options.queueId ?? 0,
    flag: 0,
    sysFlag: 0,
    bornTimestamp: 1_700_000_000_000,
    bornHost: BORN,
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    body: typeof body === "string" ? encoder.encode(body) : body,
    properties: encodeProperties(properties),
  };
}

/** Wraps a storage: counts syncs and CommitLog reads, can delay them and inject write or sync failures. */
export class FaultyStorage implements SegmentStorage {
  syncs = 0;
  /** Syncs of CommitLog segments only. */
  logSyncs = 0;
  /** Reads of CommitLog segments. */
  logReads = 0;
  syncDelayMs = 0;
  failSync = false;
  failWrite = false;
  #inner: SegmentStorage;

  constructor(inner: SegmentStorage) {
    this.#inner = inner;
  }

  list(dir: string): string[] {
    return this.#inner.list(dir);
  }
  exists(p: string): boolean {
    return this.#inner.exists(p);
  }
  mkdir(dir: string): void {
    this.#inner.mkdir(dir);
  }
  remove(p: string): void {
    this.#inner.remove(p);
  }
  rename(from: string, to: string): void {
    this.#inner.rename(from, to);
  }
  syncDir(dir: string): Promise<void> {
    return this.#inner.syncDir(dir);
  }
  open(p: string, options?: { create?: boolean }): SegmentFile {
    const file = this.#inner.open(p, options);
    const outer = this;
    return {
      path: file.path,
      size: () => file.size(),
      read(t, pos) {
        if (file.path.includes("/commitlog/")) outer.logReads++;
        return file.read(t, pos);
      },
      truncate: (n) => file.truncate(n),
      close: () => file.close(),
      write(data, pos) {
        if (outer.failWrite) throw new Error("Injected write failure");
        file.write(data, pos);
      },
      async sync() {
        outer.syncs++;
        if (file.path.includes("/commitlog/")) outer.logSyncs++;
        if (outer.syncDelayMs) await new Promise((r) => setTimeout(r, outer.syncDelayMs));
        if (outer.failSync) throw new Error("Injected fsync failure");
        await file.sync();
      },
    };
  }
}
