/**
 * The store's table of topic queues: each queue's ConsumeQueue and next queue offset, plus a
 * buffer that turns many dispatched records into one ConsumeQueue write per queue.
 *
 * @module
 */

import { ConsumeQueue, CQ_ENTRY_SIZE, encodeEntry } from "./consume_queue.ts";
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

/** Topic → queue id → state, with ConsumeQueue files under `dir`. */
export class QueueTable {
  /** The `consumequeue` directory. */
  readonly dir: string;
  #storage: SegmentStorage;
  #entriesPerFile: number;
  #topics = new Map<string, Map<number, QueueState>>();
  /** Where `dispatch` encodes entries: `ConsumeQueue.write` copies or writes them before it returns. */
  #entryBytes = new Uint8Array(64 * CQ_ENTRY_SIZE);

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
  dispatch(items: readonly DispatchItem[]): number {
    const groups = new Map<QueueState, DispatchItem[]>();
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
    for (const [state, group] of groups) {
      state.cq ??= this.#openCq(state.topic, state.queueId);
      const cq = state.cq;
      let i = 0;
      while (i < group.length && group[i]!.queueOffset < cq.maxOffset) i++;
      while (i < group.length) {
        let j = i + 1;
        while (j < group.length && group[j]!.queueOffset === group[j - 1]!.queueOffset + 1) j++;
        if (this.#entryBytes.length < (j - i) * CQ_ENTRY_SIZE) this.#entryBytes = new Uint8Array((j - i) * CQ_ENTRY_SIZE);
        const bytes = this.#entryBytes.subarray(0, (j - i) * CQ_ENTRY_SIZE);
        // The item is the entry (its offset, size and tag hash): no object of its own an entry.
        for (let k = i; k < j; k++) encodeEntry(bytes, (k - i) * CQ_ENTRY_SIZE, group[k]!);
        cq.write(group[i]!.queueOffset, bytes);
        written += j - i;
        i = j;
      }
      if (state.next < cq.maxOffset) state.next = cq.maxOffset;
    }
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
