/**
 * The store checkpoint: how far the CommitLog is known durable, how far its records are durably
 * indexed in ConsumeQueues, each queue's extent at that moment and the topics deleted. Recovery
 * starts from it and checks the ConsumeQueues against it.
 *
 * @module
 */

import { JsonFile, type JsonFileLoad } from "./json_file.ts";
import type { SegmentStorage } from "./segment_storage.ts";

/** One queue's extent when the checkpoint was taken: topic, queue id, min and max queue offset. */
export type CheckpointQueue = [topic: string, queueId: number, minOffset: number, maxOffset: number];

/** What the checkpoint file holds. */
export interface CheckpointState {
  /** Format version: 1 holds only the offsets, 2 adds `queues` and `deletedTopics`. */
  version: 1 | 2;
  /** CommitLog offset up to which every byte was fsynced. */
  physicalOffset: number;
  /** CommitLog offset below which every record's ConsumeQueue entry was fsynced. */
  logicsOffset: number;
  /** When the checkpoint was taken (ms since epoch). */
  timestamp: number;
  /** Every queue's extent, its entries fsynced (version 2). */
  queues?: CheckpointQueue[];
  /**
   * Deleted topics with the CommitLog end at their deletion (version 2): their records below it
   * are never indexed again.
   */
  deletedTopics?: Record<string, number>;
}

const TOPIC = /^[%|a-zA-Z0-9_-]{1,127}$/;

function offset(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

function validate(value: unknown): CheckpointState {
  const v = value as Partial<CheckpointState> | null;
  const fail = () => new TypeError(`Invalid checkpoint ${JSON.stringify(value).slice(0, 200)}`);
  if (
    !v || (v.version !== 1 && v.version !== 2) || !offset(v.physicalOffset) || !offset(v.logicsOffset) ||
    typeof v.timestamp !== "number"
  ) {
    throw fail();
  }
  if (v.version === 2) {
    if (!Array.isArray(v.queues) || typeof v.deletedTopics !== "object" || v.deletedTopics === null || Array.isArray(v.deletedTopics)) {
      throw fail();
    }
    for (const q of v.queues) {
      if (
        !Array.isArray(q) || q.length !== 4 || typeof q[0] !== "string" || !TOPIC.test(q[0]) ||
        !Number.isInteger(q[1]) || q[1] < 0 || q[1] > 0x7fffffff || !offset(q[2]) || !offset(q[3]) || q[2] > q[3]
      ) {
        throw fail();
      }
    }
    for (const [topic, at] of Object.entries(v.deletedTopics)) if (!TOPIC.test(topic) || !offset(at)) throw fail();
  }
  return v as CheckpointState;
}

/** The checkpoint file (`<dataDir>/checkpoint`, atomic with a `.bak` copy). */
export class Checkpoint {
  #file: JsonFile<CheckpointState>;
  #lastKey: string | undefined;
  #accept: ((state: CheckpointState) => void) | undefined;

  /**
   * @param path The checkpoint file path.
   * @param options Storage to keep it in.
   */
  constructor(path: string, options: { storage: SegmentStorage }) {
    this.#file = new JsonFile(path, {
      storage: options.storage,
      validate: (value) => {
        const state = validate(value);
        this.#accept?.(state);
        return state;
      },
    });
  }

  /**
   * Reads the checkpoint, falling back to the backup copy when the main one is missing, corrupt
   * or refused by `accept`.
   *
   * @param accept Throws to refuse a copy that parsed (one whose offsets do not fit the log).
   * @returns What was stored and where it came from, or undefined when there is none.
   * @throws {Error} When a copy exists but none is usable.
   */
  load(accept?: (state: CheckpointState) => void): JsonFileLoad<CheckpointState> | undefined {
    this.#accept = accept;
    try {
      const loaded = this.#file.load();
      this.#lastKey = loaded && keyOf(loaded.value);
      return loaded;
    } finally {
      this.#accept = undefined;
    }
  }

  /**
   * Stores a new checkpoint unless it says what the last one stored said.
   *
   * @param state The offsets and queue table (the timestamp is only written along with a change).
   */
  async save(state: CheckpointState): Promise<void> {
    const key = keyOf(state);
    if (key === this.#lastKey) return;
    await this.#file.save(state);
    this.#lastKey = key;
  }
}

function keyOf(state: CheckpointState): string {
  return JSON.stringify([state.physicalOffset, state.logicsOffset, state.queues, state.deletedTopics]);
}
