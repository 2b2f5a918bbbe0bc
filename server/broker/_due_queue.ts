/**
 * A binary min-heap of keys by due time, for work that comes due at different times (the
 * transaction check-backs). Entries are never removed early: a caller skips popped entries whose
 * key no longer wants that time.
 *
 * @module
 */

interface Entry<K> {
  at: number;
  key: K;
}

/** Keys ordered by the time they are due, earliest first. */
export class DueQueue<K> {
  readonly #items: Entry<K>[] = [];

  /** How many entries are queued (stale ones included). */
  get size(): number {
    return this.#items.length;
  }

  /** The earliest entry, left in place; undefined when empty. */
  peek(): Readonly<Entry<K>> | undefined {
    return this.#items[0];
  }

  /**
   * Queues a key.
   *
   * @param at When it is due (ms since epoch).
   * @param key What is due.
   */
  push(at: number, key: K): void {
    const items = this.#items;
    items.push({ at, key });
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.at <= at) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = { at, key };
  }

  /**
   * Removes the earliest entry if it is due.
   *
   * @param now The time now.
   * @returns The entry, or undefined when none is due by `now`.
   */
  popDue(now: number): Entry<K> | undefined {
    const items = this.#items;
    const top = items[0];
    if (top === undefined || top.at > now) return undefined;
    const last = items.pop()!;
    if (items.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= items.length) break;
        const right = left + 1;
        const child = right < items.length && items[right]!.at < items[left]!.at ? right : left;
        if (items[child]!.at >= last.at) break;
        items[i] = items[child]!;
        i = child;
      }
      items[i] = last;
    }
    return top;
  }

  /** Drops every entry. */
  clear(): void {
    this.#items.length = 0;
  }
}
