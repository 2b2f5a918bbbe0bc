/**
 * An in-memory `SegmentStorage` for tests and edge demos. File contents live in fixed-size
 * pages, so growing a file never copies it. It remembers how much of each file was synced (as of
 * the last `sync()` that resolved), so `crash()` can model a power loss that drops everything
 * written since.
 *
 * @module
 */

import type { SegmentFile, SegmentStorage } from "./segment_storage.ts";

const PAGE_SIZE = 1 << 20;

interface Node {
  pages: (Uint8Array | undefined)[];
  length: number;
  syncedLength: number;
}

/** Files kept in memory; directories are implied by paths and explicit `mkdir` calls. */
export class MemorySegmentStorage implements SegmentStorage {
  #files = new Map<string, Node>();
  #dirs = new Set<string>();

  /** @inheritdoc */
  list(dir: string): string[] {
    const prefix = `${trimSlash(dir)}/`;
    const names = new Set<string>();
    for (const path of [...this.#files.keys(), ...this.#dirs]) {
      if (path.startsWith(prefix)) names.add(path.slice(prefix.length).split("/")[0]!);
    }
    return [...names].sort();
  }

  /** @inheritdoc */
  exists(path: string): boolean {
    const p = trimSlash(path);
    return this.#files.has(p) || this.#dirs.has(p) || this.list(p).length > 0;
  }

  /** @inheritdoc */
  mkdir(dir: string): void {
    const parts = trimSlash(dir).split("/");
    for (let i = 1; i <= parts.length; i++) this.#dirs.add(parts.slice(0, i).join("/"));
  }

  /** @inheritdoc */
  open(path: string, options?: { create?: boolean }): SegmentFile {
    const p = trimSlash(path);
    let node = this.#files.get(p);
    if (!node) {
      if (!options?.create) throw new Error(`No such file "${p}"`);
      node = { pages: [], length: 0, syncedLength: 0 };
      this.#files.set(p, node);
    }
    return new MemoryFile(p, node);
  }

  /** @inheritdoc */
  remove(path: string): void {
    const p = trimSlash(path);
    this.#files.delete(p);
    this.#dirs.delete(p);
    for (const key of [...this.#files.keys()]) if (key.startsWith(`${p}/`)) this.#files.delete(key);
    for (const key of [...this.#dirs]) if (key.startsWith(`${p}/`)) this.#dirs.delete(key);
  }

  /** @inheritdoc */
  rename(from: string, to: string): void {
    const node = this.#files.get(trimSlash(from));
    if (!node) throw new Error(`No such file "${from}"`);
    this.#files.delete(trimSlash(from));
    this.#files.set(trimSlash(to), node);
  }

  /** @inheritdoc */
  syncDir(): Promise<void> {
    return Promise.resolve();
  }

  /**
   * Models a power loss: every file loses the bytes written after its last `sync()`.
   * Directory changes are treated as durable at once.
   */
  crash(): void {
    for (const node of this.#files.values()) cut(node, Math.min(node.length, node.syncedLength));
  }
}

function cut(node: Node, size: number): void {
  if (size < node.length) {
    const keep = Math.ceil(size / PAGE_SIZE);
    node.pages.length = Math.min(node.pages.length, keep);
    const tail = node.pages[keep - 1];
    if (tail && size % PAGE_SIZE !== 0) tail.fill(0, size % PAGE_SIZE);
  }
  node.length = size;
  node.syncedLength = Math.min(node.syncedLength, size);
}

class MemoryFile implements SegmentFile {
  readonly path: string;
  #node: Node;
  #closed = false;

  constructor(path: string, node: Node) {
    this.path = path;
    this.#node = node;
  }

  #check(): Node {
    if (this.#closed) throw new Error(`File "${this.path}" is closed`);
    return this.#node;
  }

  size(): number {
    return this.#check().length;
  }

  write(data: Uint8Array, position: number): void {
    const node = this.#check();
    let done = 0;
    while (done < data.length) {
      const at = position + done;
      const index = Math.floor(at / PAGE_SIZE);
      const local = at % PAGE_SIZE;
      const n = Math.min(data.length - done, PAGE_SIZE - local);
      const page = node.pages[index] ??= new Uint8Array(PAGE_SIZE);
      page.set(n === data.length ? data : data.subarray(done, done + n), local);
      done += n;
    }
    node.length = Math.max(node.length, position + data.length);
  }

  read(target: Uint8Array, position: number): number {
    const node = this.#check();
    const total = Math.max(0, Math.min(target.length, node.length - position));
    let done = 0;
    while (done < total) {
      const at = position + done;
      const index = Math.floor(at / PAGE_SIZE);
      const local = at % PAGE_SIZE;
      const n = Math.min(total - done, PAGE_SIZE - local);
      const page = node.pages[index];
      if (page) target.set(page.subarray(local, local + n), done);
      else target.fill(0, done, done + n);
      done += n;
    }
    return total;
  }

  truncate(size: number): void {
    cut(this.#check(), size);
  }

  /**
   * Marks what was written before the call as synced when the returned promise resolves (a task
   * later, as a disk answers later), not when it is called: a `crash()` in between loses it, so a
   * caller that acknowledges before awaiting the sync is caught.
   */
  sync(): Promise<void> {
    const node = this.#check();
    const length = node.length;
    return new Promise((resolve) => {
      setTimeout(() => {
        node.syncedLength = Math.max(node.syncedLength, Math.min(length, node.length));
        resolve();
      }, 0);
    });
  }

  close(): void {
    this.#closed = true;
  }
}

function trimSlash(path: string): string {
  return path.replace(/\/+$/, "");
}
