/**
 * One fixed-capacity file of a segmented log, named by its start offset.
 *
 * @module
 */

import type { SegmentFile } from "./segment_storage.ts";

/** A log segment: global offsets `[start, start + capacity)` stored in one file. */
export class Segment {
  /** Global offset of the first byte. */
  readonly start: number;
  /** Logical size; the file may be shorter (unwritten tail) but never longer. */
  readonly capacity: number;
  /** The open file. */
  readonly file: SegmentFile;
  /** Bytes written from the start of the file. */
  wrote: number;

  /**
   * @param file The open file; its current size becomes the write position.
   * @param options Start offset and capacity.
   */
  constructor(file: SegmentFile, options: { start: number; capacity: number }) {
    this.file = file;
    this.start = options.start;
    this.capacity = options.capacity;
    this.wrote = Math.min(file.size(), options.capacity);
  }

  /** Global offset one past the last byte written. */
  get end(): number {
    return this.start + this.wrote;
  }

  /** Global offset one past the segment's capacity. */
  get limit(): number {
    return this.start + this.capacity;
  }

  /**
   * Appends bytes at the write position.
   *
   * @param data The bytes.
   */
  append(data: Uint8Array): void {
    if (this.wrote + data.length > this.capacity) {
      throw new RangeError(
        `Cannot append ${data.length} bytes to segment "${this.file.path}": ${this.capacity - this.wrote} left`,
      );
    }
    this.file.write(data, this.wrote);
    this.wrote += data.length;
  }

  /**
   * Reads bytes at a global offset into `target`.
   *
   * @param offset Global offset inside this segment.
   * @param target Receives the bytes.
   * @returns Bytes read (less than `target.length` past the written end).
   */
  read(offset: number, target: Uint8Array): number {
    const local = offset - this.start;
    const n = Math.max(0, Math.min(target.length, this.wrote - local));
    if (n === 0) return 0;
    return this.file.read(n === target.length ? target : target.subarray(0, n), local);
  }

  /**
   * Cuts the segment at a global offset.
   *
   * @param offset New end (global).
   */
  truncate(offset: number): void {
    const local = offset - this.start;
    this.file.truncate(local);
    this.wrote = local;
  }
}
