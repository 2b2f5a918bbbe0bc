/**
 * The store's table of topic queues: each queue's ConsumeQueue and next queue offset, plus a
 * buffer that turns many dispatched records into one ConsumeQueue write per queue.
 *
 * @module
 */

import { ConsumeQueue, type ConsumeQueueEntry, CQ_ENTRY_SIZE, encodeEntry } from "./consume_queue.ts";
import { joinPath, type SegmentStorage } from "./segment_storage.ts";

const encoder = new TextEncoder();

/** One topic queue. */
export interface QueueState {
  topic: string;
  /** The topic in UTF-8, as records hold it. */
  topicBytes: Uint8Array;
  queueId: number;
  /** Opened lazily, on the first dispatch, when the queue has no files yet. */
  cq: ConsumeQueue | undefined;
  /** Queue offset the next appended message gets (may run ahead of the ConsumeQueue). */
  next: number;
  /** Set once the topic is deleted; late dispatches for it are dropped. */
  deleted: boolean;
}

/** One record to index. */
export interface DispatchItem {
  state: QueueState;
  queueOffset: number;
  offset: number;
  size: number;
  tagHash: number;
}

/** Consecutive records of one queue (a batch), indexed together: one entry each, from `queueOffset` on. */
export interface DispatchRun {
  state: QueueState;
  /** Queue offset of the first record. */
  queueOffset: number;
  offsets: readonly number[];
  sizes: readonly number[];
  tagHashes: readonly number[];
}

/** Topic → queue id → state, with ConsumeQueue files under `dir`. */
export class QueueTable {
  /** The `consumequeue` directory. */
  readonly dir: string;
  #storage: SegmentStorage;
  #entriesPerFile: number;
  #topics = new Map<string, Map<number, QueueState>>();
  /** Where `dispatch` encodes entries: `ConsumeQueue.write` copies or writes them before it returns. */
  #entryBytes = new Uint8Array(64 * CQ_ENTRY_SIZE);
  /** The entry a run's records are encoded through, one after another. */
  #scratch: ConsumeQueueEntry = { offset: 0, size: 0, tagHash: 0 };

  /**
   * @param dir The `consumequeue` directory.
   * @param options Storage and entries per file.
   */
  constructor(dir: string, options: { storage: SegmentStorage; entriesPerFile: number }) {
    this.dir = dir;
    this.#storage = options.storage;
    this.#entriesPerFile = options.entriesPerFile;
  }

  /** Opens every queue found on disk. */
  load(): void {
    for (const topic of this.#storage.list(this.dir)) {
      for (const name of this.#storage.list(joinPath(this.dir, topic))) {
        if (!/^\d+$/.test(name)) continue;
        const state = this.get(topic, Number(name));
        state.cq = this.#openCq(topic, state.queueId);
        state.next = state.cq.maxOffset;
      }
    }
  }

  #openCq(topic: string, queueId: number): ConsumeQueue {
    return ConsumeQueue.open(joinPath(this.dir, topic, String(queueId)), {
      storage: this.#storage,
      entriesPerFile: this.#entriesPerFile,
    });
  }

  /**
   * The state of a queue, created (empty) when missing.
   *
   * @param topic Topic name.
   * @param queueId Queue id.
   * @returns The state.
   */
  get(topic: string, queueId: number): QueueState {
    let queues = this.#topics.get(topic);
    if (!queues) {
      queues = new Map();
      this.#topics.set(topic, queues);
    }
    let state = queues.get(queueId);
    if (!state) {
      state = { topic, topicBytes: encoder.encode(topic), queueId, cq: undefined, next: 0, deleted: false };
      queues.set(queueId, state);
    }
    return state;
  }

  /**
   * The state of a queue if it exists.
   *
   * @param topic Topic name.
   * @param queueId Queue id.
   * @returns The state, or undefined.
   */
  find(topic: string, queueId: number): QueueState | undefined {
    return this.#topics.get(topic)?.get(queueId);
  }

  /** Every queue state. */
  *states(): IterableIterator<QueueState> {
    for (const queues of this.#topics.values()) yield* queues.values();
  }

  /** Topic names, sorted. */
  topics(): string[] {
    return [...this.#topics.keys()].sort();
  }

  /**
   * Queue ids of a topic, sorted.
   *
   * @param topic Topic name.
   * @returns The ids (empty for an unknown topic).
   */
  queueIds(topic: string): number[] {
    return [...(this.#topics.get(topic)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /**
   * Forgets a topic and removes its ConsumeQueue files.
   *
   * @param topic Topic name.
   */
  async delete(topic: string): Promise<void> {
    const queues = this.#topics.get(topic);
    this.#topics.delete(topic);
    for (const state of queues?.values() ?? []) {
      state.deleted = true;
      state.cq?.close();
    }
    this.#storage.remove(joinPath(this.dir, topic));
    try {
      await this.#storage.syncDir(this.dir);
    } catch (error) {
      // Before the first message of any topic there is no ConsumeQueue directory to sync.
      if ((error as { code?: string }).code !== "ENOENT") throw error;
    }
  }

  /**
   * Removes a queue's ConsumeQueue files so it can be rebuilt from the CommitLog; the queue
   * stays in the table, empty.
   *
   * @param state The queue.
   */
  reset(state: QueueState): void {
    state.cq?.close();
    state.cq = undefined;
    state.next = 0;
    this.#storage.remove(joinPath(this.dir, state.topic, String(state.queueId)));
  }

  /**
   * Writes entries for `items`: one write per queue, entries in order. Items whose queue offset
   * is already indexed are skipped (recovery replays records the queue may hold).
   *
   * @param items Records in CommitLog order.
   * @returns How many entries were written.
   */
  dispatch(items: readonly (DispatchItem | DispatchRun)[]): number {
    if (items.length === 1) return this.#dispatchQueue(items[0]!.state, items);
    const groups = new Map<QueueState, (DispatchItem | DispatchRun)[]>();
    for (const item of items) {
      if (item.state.deleted) continue;
      let group = groups.get(item.state);
      if (!group) {
        group = [];
        groups.set(item.state, group);
      }
      group.push(item);
    }
    let written = 0;
    for (const [state, group] of groups) written += this.#dispatchQueue(state, group);
    return written;
  }

  /** Writes the entries of one queue's items (in queue offset order), one write per contiguous stretch. */
  #dispatchQueue(state: QueueState, group: readonly (DispatchItem | DispatchRun)[]): number {
    if (state.deleted) return 0;
    state.cq ??= this.#openCq(state.topic, state.queueId);
    const cq = state.cq;
    let written = 0;
    // The stretch being gathered: its first queue offset and entries so far.
    let first = -1;
    let count = 0;
    const flush = () => {
      if (count === 0) return;
      cq.write(first, this.#entryBytes.subarray(0, count * CQ_ENTRY_SIZE));
      written += count;
      count = 0;
    };
    const room = (n: number) => {
      if (this.#entryBytes.length < n * CQ_ENTRY_SIZE) {
        const grown = new Uint8Array(Math.max(n, 2 * this.#entryBytes.length / CQ_ENTRY_SIZE) * CQ_ENTRY_SIZE);
        grown.set(this.#entryBytes.subarray(0, count * CQ_ENTRY_SIZE));
        this.#entryBytes = grown;
      }
    };
    for (const item of group) {
      const n = "offsets" in item ? item.offsets.length : 1;
      // Entries the queue already holds are skipped (recovery replays records it may have indexed).
      const end = count > 0 ? first + count : cq.maxOffset;
      const skip = Math.max(0, Math.min(n, end - item.queueOffset));
      if (skip === n) continue;
      const from = item.queueOffset + skip;
      if (count > 0 && from !== first + count) flush();
      if (count === 0) first = from;
      room(count + n - skip);
      if ("offsets" in item) {
        const { offsets, sizes, tagHashes } = item;
        const bytes = this.#entryBytes;
        const entry = this.#scratch;
        for (let k = skip; k < n; k++, count++) {
          entry.offset = offsets[k]!;
          entry.size = sizes[k]!;
          entry.tagHash = tagHashes[k]!;
          encodeEntry(bytes, count * CQ_ENTRY_SIZE, entry);
        }
      } else {
        // The item is the entry (its offset, size and tag hash): no object of its own an entry.
        encodeEntry(this.#entryBytes, count * CQ_ENTRY_SIZE, item);
        count++;
      }
    }
    flush();
    if (state.next < cq.maxOffset) state.next = cq.maxOffset;
    return written;
  }


  /** Fsyncs every ConsumeQueue with unsynced entries. */
  async flush(): Promise<void> {
    const flushes: Promise<void>[] = [];
    for (const state of this.states()) if (state.cq) flushes.push(state.cq.flush());
    await Promise.all(flushes);
  }

  /** Closes every ConsumeQueue. */
  close(): void {
    for (const state of this.states()) state.cq?.close();
  }
}

