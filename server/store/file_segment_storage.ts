/**
 * `SegmentStorage` on `node:fs`, which Bun and Deno both implement. Reads and writes use the
 * synchronous calls (they hit the page cache and are cheapest that way); `sync()` uses the
 * asynchronous `fdatasync`, which runs off the event loop so appends continue meanwhile.
 *
 * @module
 */

import * as fs from "node:fs";
import type { DiskUsage, SegmentFile, SegmentStorage } from "./segment_storage.ts";

/** Files on the local file system. */
export class FileSegmentStorage implements SegmentStorage {
  /** @inheritdoc */
  list(dir: string): string[] {
    try {
      return fs.readdirSync(dir).sort();
    } catch (error) {
      if (isCode(error, "ENOENT")) return [];
      throw error;
    }
  }

  /** @inheritdoc */
  exists(path: string): boolean {
    return fs.existsSync(path);
  }

  /** @inheritdoc */
  mkdir(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
  }

  /** @inheritdoc */
  open(path: string, options?: { create?: boolean }): SegmentFile {
    const flags = options?.create ? fs.constants.O_RDWR | fs.constants.O_CREAT : fs.constants.O_RDWR;
    return new LocalFile(path, fs.openSync(path, flags, 0o644));
  }

  /** @inheritdoc */
  remove(path: string): void {
    fs.rmSync(path, { recursive: true, force: true });
  }

  /** @inheritdoc */
  rename(from: string, to: string): void {
    fs.renameSync(from, to);
  }

  /** @inheritdoc */
  async syncDir(dir: string): Promise<void> {
    let fd: number;
    try {
      fd = fs.openSync(dir, "r");
    } catch (error) {
      // Some platforms cannot open a directory; their renames are as durable as they get.
      if (isCode(error, "EISDIR") || isCode(error, "EPERM") || isCode(error, "EACCES")) return;
      throw error;
    }
    try {
      await new Promise<void>((resolve, reject) => {
        fs.fsync(fd, (error) => {
          if (error && !isCode(error, "EINVAL") && !isCode(error, "EBADF")) reject(error);
          else resolve();
        });
      });
    } finally {
      fs.closeSync(fd);
    }
  }

  /** @inheritdoc */
  usage(path: string): DiskUsage | undefined {
    try {
      const stats = fs.statfsSync(path);
      const block = Number(stats.bsize);
      return { usedBytes: (Number(stats.blocks) - Number(stats.bfree)) * block, availableBytes: Number(stats.bavail) * block };
    } catch {
      return undefined;
    }
  }
}

class LocalFile implements SegmentFile {
  readonly path: string;
  #fd: number;
  #size: number;

  constructor(path: string, fd: number) {
    this.path = path;
    this.#fd = fd;
    this.#size = fs.fstatSync(fd).size;
  }

  size(): number {
    return this.#size;
  }

  write(data: Uint8Array, position: number): void {
    let done = 0;
    while (done < data.length) {
      done += fs.writeSync(this.#fd, data, done, data.length - done, position + done);
    }
    if (position + data.length > this.#size) this.#size = position + data.length;
  }

  read(target: Uint8Array, position: number): number {
    let done = 0;
    while (done < target.length) {
      const n = fs.readSync(this.#fd, target, done, target.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  truncate(size: number): void {
    fs.ftruncateSync(this.#fd, size);
    this.#size = size;
  }

  sync(): Promise<void> {
    return new Promise((resolve, reject) => {
      fs.fdatasync(this.#fd, (error) => (error ? reject(error) : resolve()));
    });
  }

  close(): void {
    fs.closeSync(this.#fd);
  }
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === "object" && error !== null && (error as { code?: unknown }).code === code;
}
