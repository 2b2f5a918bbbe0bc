/**
 * The timer wheel: one slot per second of a window of `slots` seconds, each holding the second
 * it is for and the timer log position of that second's newest entry (the head of its chain).
 * Slot `s % slots` serves second `s`; a slot whose stored second differs is empty for `s`. Kept in
 * memory (16 bytes a slot) and written to `wheel` (changed slots only) before each checkpoint.
 *
 * File layout: `slots` records of 16 bytes (big-endian): second uint32, CRC-32 uint32 of the
 * second and head, head int64 (-1 for none). A slot never written is all zeros.
 *
 * @module
 */

import { crc32 } from "../../../core/model/crc32.ts";
import type { SegmentFile, SegmentStorage } from "../segment_storage.ts";

const SLOT_SIZE = 16;

/** CRC-32 of a slot record's second and head (bytes 0-3 and 8-15). */
function slotCrc(bytes: Uint8Array, at: number): number {
  const covered = new Uint8Array(12);
  covered.set(bytes.subarray(at, at + 4), 0);
  covered.set(bytes.subarray(at + 8, at + 16), 4);
  return crc32(covered);
}

/** Slot heads per second, in memory, with their file. */
export class TimerWheel {
  /** Seconds the wheel spans. */
  readonly slots: number;
  readonly #seconds: Uint32Array;
  readonly #heads: Float64Array;
  readonly #dirty = new Set<number>();
  readonly #file: SegmentFile;
  /** Slots whose record failed its CRC when the file was read (the wheel must be rebuilt). */
  readonly damaged: number = 0;

  /**
   * Opens (creating) the wheel file and reads it.
   *
   * @param path The wheel file.
   * @param options Storage and the number of slots.
   * @throws {RangeError} When the file was written with another number of slots.
   */
  constructor(path: string, options: { storage: SegmentStorage; slots: number }) {
    this.slots = options.slots;
    this.#seconds = new Uint32Array(this.slots);
    this.#heads = new Float64Array(this.slots).fill(-1);
    this.#file = options.storage.open(path, { create: true });
    const size = this.#file.size();
    if (size !== 0 && size !== this.slots * SLOT_SIZE) {
      this.#file.close();
      throw new RangeError(`Timer wheel "${path}" has ${size / SLOT_SIZE} slots, expected ${this.slots}: the wheel size cannot change for an existing timer store`);
    }
    if (size === 0) return;
    const bytes = new Uint8Array(size);
    this.#file.read(bytes, 0);
    const view = new DataView(bytes.buffer);
    let damaged = 0;
    for (let i = 0; i < this.slots; i++) {
      const at = i * SLOT_SIZE;
      const second = view.getUint32(at);
      const head = view.getInt32(at + 8) * 0x1_0000_0000 + view.getUint32(at + 12);
      if (second === 0 && head === 0 && view.getUint32(at + 4) === 0) continue;
      if (view.getUint32(at + 4) !== slotCrc(bytes, at)) {
        damaged++;
        continue;
      }
      this.#seconds[i] = second;
      this.#heads[i] = head;
    }
    this.damaged = damaged;
  }

  /**
   * The head of a second's chain.
   *
   * @param second Seconds since epoch.
   * @returns The timer log position of its newest entry, or -1.
   */
  head(second: number): number {
    const i = second % this.slots;
    return this.#seconds[i] === second ? this.#heads[i]! : -1;
  }

  /**
   * The second a slot currently serves.
   *
   * @param second Any second mapping to the slot.
   * @returns The stored second (0 for a slot never used).
   */
  secondOf(second: number): number {
    return this.#seconds[second % this.slots]!;
  }

  /**
   * Makes `position` the head of a second's chain.
   *
   * @param second Seconds since epoch.
   * @param position The timer log position of the newest entry.
   */
  setHead(second: number, position: number): void {
    const i = second % this.slots;
    this.#seconds[i] = second;
    this.#heads[i] = position;
    this.#dirty.add(i);
  }

  /** Writes the slots changed since the last call and fsyncs the file. */
  async flush(): Promise<void> {
    if (this.#dirty.size === 0) return;
    const indices = [...this.#dirty].sort((a, b) => a - b);
    this.#dirty.clear();
    const record = new Uint8Array(SLOT_SIZE);
    const view = new DataView(record.buffer);
    // Runs of neighbouring slots go out in one write.
    let i = 0;
    while (i < indices.length) {
      let j = i + 1;
      while (j < indices.length && indices[j] === indices[j - 1]! + 1) j++;
      const run = new Uint8Array((j - i) * SLOT_SIZE);
      for (let k = i; k < j; k++) {
        const slot = indices[k]!;
        const head = this.#heads[slot]!;
        view.setUint32(0, this.#seconds[slot]!);
        view.setInt32(8, Math.floor(head / 0x1_0000_0000));
        view.setUint32(12, head >>> 0);
        view.setUint32(4, slotCrc(record, 0));
        run.set(record, (k - i) * SLOT_SIZE);
      }
      this.#file.write(run, indices[i]! * SLOT_SIZE);
      i = j;
    }
    if (this.#file.size() < this.slots * SLOT_SIZE) this.#file.truncate(this.slots * SLOT_SIZE);
    await this.#file.sync();
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}
