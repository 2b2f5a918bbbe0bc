/**
 * The store checkpoint: how far the CommitLog is known durable and how far its records are
 * durably indexed in ConsumeQueues. Recovery starts from it.
 *
 * @module
 */

import { JsonFile, type JsonFileLoad } from "./json_file.ts";
import type { SegmentStorage } from "./segment_storage.ts";

/** What the checkpoint file holds. */
export interface CheckpointState {
  /** Format version. */
  version: 1;
  /** CommitLog offset up to which every byte was fsynced. */
  physicalOffset: number;
  /** CommitLog offset below which every record's ConsumeQueue entry was fsynced. */
  logicsOffset: number;
  /** When the checkpoint was taken (ms since epoch). */
  timestamp: number;
}

function validate(value: unknown): CheckpointState {
  const v = value as Partial<CheckpointState> | null;
  if (
    !v || v.version !== 1 || !Number.isSafeInteger(v.physicalOffset) ||
    !Number.isSafeInteger(v.logicsOffset) || typeof v.timestamp !== "number" ||
    v.physicalOffset! < 0 || v.logicsOffset! < 0
  ) {
    throw new TypeError(`Invalid checkpoint ${JSON.stringify(value)}`);
  }
  return v as CheckpointState;
}

/** The checkpoint file (`<dataDir>/checkpoint`, atomic with a `.bak` copy). */
export class Checkpoint {
  #file: JsonFile<CheckpointState>;
  #last: CheckpointState | undefined;

  /**
   * @param path The checkpoint file path.
   * @param options Storage to keep it in.
   */
  constructor(path: string, options: { storage: SegmentStorage }) {
    this.#file = new JsonFile(path, { storage: options.storage, validate });
  }

  /**
   * Reads the checkpoint.
   *
   * @returns What was stored and where it came from, or undefined when there is none.
   */
  load(): JsonFileLoad<CheckpointState> | undefined {
    const loaded = this.#file.load();
    this.#last = loaded?.value;
    return loaded;
  }

  /**
   * Stores a new checkpoint unless it equals the last one stored.
   *
   * @param state The offsets (the timestamp is only written along with a change).
   */
  async save(state: CheckpointState): Promise<void> {
    const last = this.#last;
    if (last && last.physicalOffset === state.physicalOffset && last.logicsOffset === state.logicsOffset) return;
    await this.#file.save(state);
    this.#last = state;
  }
}
