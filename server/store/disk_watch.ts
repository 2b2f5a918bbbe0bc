/**
 * The store's view of its disk: the share in use, read with one `statfs` now and then (on the
 * housekeeping timer and after every few hundredths of the disk written, never per put), and
 * the two marks: above the high-water mark the oldest segments are deleted even if young, above
 * the hard limit puts are refused before the disk is actually full.
 *
 * @module
 */

import { type DiskUsage, type SegmentStorage, usedRatio } from "./segment_storage.ts";

/** Share of the disk written between two readings, at most. */
const WRITTEN_FRACTION = 1 / 200;
const MIN_WRITTEN_BYTES = 64 * 1024;
const MAX_WRITTEN_BYTES = 64 * 1024 * 1024;

/** Options of `DiskWatch`. */
export interface DiskWatchOptions {
  storage: SegmentStorage;
  /** A directory on the disk to watch (the store's data directory). */
  path: string;
  /** Percent in use above which the oldest segments are deleted (100: never). */
  highWaterPercent: number;
  /** Percent in use at or above which puts are refused; 100 turns the refusal off (a full disk then fails writes with ENOSPC). */
  hardLimitPercent: number;
}

/** What the store reports about its disk (`StoreStats.disk`). */
export interface DiskStatus {
  /** Bytes in use on the file system, at the last reading. */
  usedBytes: number;
  /** Bytes still available to the broker, at the last reading. */
  availableBytes: number;
  /** Percent in use, at the last reading. */
  usedPercent: number;
  highWaterPercent: number;
  hardLimitPercent: number;
  /** Whether puts are refused because the disk is past the hard limit. */
  refusingWrites: boolean;
  /** Puts refused for that reason since the store opened. */
  refusedPuts: number;
}

/** Disk usage of the store, cached between readings. */
export class DiskWatch {
  readonly #options: DiskWatchOptions;
  #usage: DiskUsage | undefined;
  #refusal: string | undefined;
  #written = 0;
  #threshold = MIN_WRITTEN_BYTES;
  /** Puts refused while past the hard limit. */
  refusedPuts = 0;

  /** @param options Storage, path and marks. */
  constructor(options: DiskWatchOptions) {
    const { highWaterPercent, hardLimitPercent } = options;
    if (!(highWaterPercent > 0 && highWaterPercent <= 100)) throw new RangeError(`Invalid diskHighWaterPercent "${highWaterPercent}": expected more than 0, at most 100`);
    if (!(hardLimitPercent > 0 && hardLimitPercent <= 100)) throw new RangeError(`Invalid diskHardLimitPercent "${hardLimitPercent}": expected more than 0, at most 100`);
    this.#options = options;
  }

  /**
   * Why puts are refused now (the disk is past the hard limit), as of the last reading.
   *
   * @returns The reason, or undefined while puts are taken.
   */
  get refusal(): string | undefined {
    return this.#refusal;
  }

  /** Whether the disk was above the high-water mark at the last reading. */
  get aboveHighWater(): boolean {
    return this.#usage !== undefined && usedRatio(this.#usage) * 100 > this.#options.highWaterPercent;
  }

  /**
   * Counts bytes written; reads the disk again once enough were written since the last reading.
   *
   * @param bytes Bytes just written.
   */
  wrote(bytes: number): void {
    this.#written += bytes;
    if (this.#written >= this.#threshold) this.refresh();
  }

  /** Reads the disk's usage (one `statfs`) and updates the refusal. */
  refresh(): void {
    this.#written = 0;
    const usage = this.#options.storage.usage?.(this.#options.path);
    this.#usage = usage;
    if (usage === undefined) {
      this.#refusal = undefined;
      return;
    }
    const total = usage.usedBytes + usage.availableBytes;
    this.#threshold = Math.min(MAX_WRITTEN_BYTES, Math.max(MIN_WRITTEN_BYTES, Math.floor(total * WRITTEN_FRACTION)));
    const percent = usedRatio(usage) * 100;
    const limit = this.#options.hardLimitPercent;
    this.#refusal = limit < 100 && percent >= limit
      ? `Disk full: "${this.#options.path}" is ${percent.toFixed(1)}% used, at or above the hard limit of ${limit}% (diskHardLimitPercent); ` +
        "the message was not stored, sends resume once space is freed"
      : undefined;
  }

  /**
   * The last reading with the marks.
   *
   * @returns The status, or undefined when the storage has no disk to read.
   */
  status(): DiskStatus | undefined {
    const usage = this.#usage;
    if (usage === undefined) return undefined;
    return {
      usedBytes: usage.usedBytes,
      availableBytes: usage.availableBytes,
      usedPercent: Math.round(usedRatio(usage) * 1000) / 10,
      highWaterPercent: this.#options.highWaterPercent,
      hardLimitPercent: this.#options.hardLimitPercent,
      refusingWrites: this.#refusal !== undefined,
      refusedPuts: this.refusedPuts,
    };
  }
}
