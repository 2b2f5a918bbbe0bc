/**
 * A binary min-heap of loaded timers by fire time.
 *
 * @module
 */

import type { TimerKind } from "./timer_log.ts";

/** A timer loaded from its slot, waiting for its time. */
export interface LoadedTimer {
  /** When to act: the due time, or for a carried-forward entry its slot's second. */
  fireAt: number;
  dueMs: number;
  /** The wheel second it was loaded from. */
  slot: number;
  kind: TimerKind;
  logOffset: number;
  size: number;
  timerId: number;
}

/** Loaded timers, earliest first. */
export class FireQueue {
  readonly #items: LoadedTimer[] = [];

  /** How many are queued. */
  get size(): number {
    return this.#items.length;
  }

  /** The earliest, without removing it. */
  peek(): LoadedTimer | undefined {
    return this.#items[0];
  }

  /**
   * Adds a timer.
   *
   * @param item The timer.
   */
  push(item: LoadedTimer): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.fireAt <= item.fireAt) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = item;
  }

  /** Removes and returns the earliest. */
  pop(): LoadedTimer | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && items[right]!.fireAt < items[left]!.fireAt ? right : left;
      if (items[child]!.fireAt >= last.fireAt) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}
