/**
 * The disk port of the store: directories of files read and written at positions. The store
 * never touches `node:fs` directly, so tests and edge demos can run on `MemorySegmentStorage`.
 *
 * @module
 */

/** One open file of a `SegmentStorage`. */
export interface SegmentFile {
  /** Path the file was opened with. */
  readonly path: string;
  /** Current length in bytes. */
  size(): number;
  /** Writes all of `data` at `position`, extending the file as needed. */
  write(data: Uint8Array, position: number): void;
  /** Reads up to `target.length` bytes at `position`; returns how many were read. */
  read(target: Uint8Array, position: number): number;
  /** Cuts (or zero-extends) the file to `size` bytes. */
  truncate(size: number): void;
  /** Makes everything written so far durable (fdatasync). */
  sync(): Promise<void>;
  /** Releases the handle. Further calls fail. */
  close(): void;
}

/** Space on the file system holding a path, as `df` counts it. */
export interface DiskUsage {
  /** Bytes in use (by anyone). */
  usedBytes: number;
  /** Bytes an unprivileged writer may still use. */
  availableBytes: number;
}

/** A tree of files addressed by `/`-separated paths. */
export interface SegmentStorage {
  /** Names directly inside `dir`, sorted; empty when `dir` does not exist. */
  list(dir: string): string[];
  /** Whether a file or directory exists at `path`. */
  exists(path: string): boolean;
  /** Creates `dir` and its parents. */
  mkdir(dir: string): void;
  /** Opens a file for reading and writing, creating it (empty) when `create` is set. */
  open(path: string, options?: { create?: boolean }): SegmentFile;
  /** Removes a file, or a directory with everything under it. Missing paths are ignored. */
  remove(path: string): void;
  /** Atomically replaces `to` with `from`. */
  rename(from: string, to: string): void;
  /** Makes creations, renames and removals inside `dir` durable. */
  syncDir(dir: string): Promise<void>;
  /**
   * Space of the file system holding `path`, for the store's disk marks; absent (or undefined)
   * where there is no such file system (memory storage), which turns the marks off.
   */
  usage?(path: string): DiskUsage | undefined;
}

/**
 * The share of a file system in use, as `df` shows it: used / (used + available).
 *
 * @param usage A reading of `SegmentStorage.usage`.
 * @returns A ratio from 0 to 1 (0 for an empty reading).
 */
export function usedRatio(usage: DiskUsage): number {
  const total = usage.usedBytes + usage.availableBytes;
  return total > 0 ? usage.usedBytes / total : 0;
}

/**
 * Joins path segments with `/`.
 *
 * @param parts Path segments.
 * @returns The joined path.
 */
export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p !== "").join("/").replace(/\/{2,}/g, "/");
}

/**
 * The directory part of a `/`-separated path.
 *
 * @param path A file's path.
 * @returns Its directory (`.` for a bare name, `/` for a file at the root).
 */
export function parentDir(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? (slash === 0 ? "/" : ".") : path.slice(0, slash);
}

/**
 * Names a segment file by its start offset: 20 zero-padded decimal digits.
 *
 * @param offset The start offset.
 * @returns The file name.
 */
export function segmentName(offset: number): string {
  return String(offset).padStart(20, "0");
}

/**
 * Parses a segment file name, or returns undefined when the name is not one.
 *
 * @param name A file name.
 * @returns The start offset, or undefined.
 */
export function parseSegmentName(name: string): number | undefined {
  if (!/^\d{20}$/.test(name)) return undefined;
  const n = Number(name);
  return Number.isSafeInteger(n) ? n : undefined;
}
