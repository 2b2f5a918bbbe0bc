/**
 * Epoch boundaries of a CommitLog (RocketMQ 5's `EpochFileCache`): for each epoch a broker served
 * in or copied, the CommitLog offset where its records begin, kept in `<store>/epochs.json`. A
 * master appends its epoch at its CommitLog end before it takes a write; a slave keeps its master's
 * list. A returning master compares its list with the new master's to find the point both logs
 * agree up to (`consistentPoint`) and truncates exactly there. See docs/REPLICATION.md.
 *
 * @module
 */
import * as v from "valibot";
import { type EpochEntry, EpochTable } from "../../core/protocol/controller.ts";
import { JsonFile } from "../store/json_file.ts";
import type { SegmentStorage } from "../store/segment_storage.ts";

/** The epochs of one store, on disk. */
export class EpochFile {
  readonly #file: JsonFile<{ epochs: EpochEntry[] }>;
  #entries: EpochEntry[] = [];

  /**
   * @param path The file (`<store>/epochs.json`).
   * @param storage Where it lives.
   */
  constructor(path: string, storage: SegmentStorage) {
    this.#file = new JsonFile(path, {
      storage,
      validate: (value) => {
        const parsed = v.safeParse(EpochTable, value);
        if (!parsed.success) throw new TypeError(v.summarize(parsed.issues));
        return parsed.output;
      },
    });
  }

  /**
   * Loads the file (a missing one is an empty list).
   *
   * @returns A warning when the backup served.
   */
  load(): string | undefined {
    const loaded = this.#file.load();
    if (loaded === undefined) return undefined;
    this.#entries = normalize(loaded.value.epochs);
    return loaded.source === "backup" ? `Epochs restored from their backup: ${loaded.mainError?.message}` : undefined;
  }

  /** The entries, oldest first. */
  get entries(): readonly EpochEntry[] {
    return this.#entries;
  }

  /** The latest epoch (0 for none). */
  get lastEpoch(): number {
    return this.#entries.at(-1)?.epoch ?? 0;
  }

  /**
   * A master starts serving `epoch` with its CommitLog ending at `startOffset`: entries starting
   * past it (copied from a master this broker never caught up with) are dropped, the new one is
   * appended and the file saved before the master takes a write.
   *
   * @param epoch The new epoch (above every entry's).
   * @param startOffset Its first record's CommitLog offset.
   */
  async begin(epoch: number, startOffset: number): Promise<void> {
    const kept = this.#entries.filter((e) => e.startOffset <= startOffset && e.epoch < epoch);
    if (kept.at(-1)?.startOffset === startOffset) kept.pop();
    this.#entries = [...kept, { epoch, startOffset }];
    await this.#file.save({ epochs: this.#entries });
  }

  /**
   * A slave takes its master's list (saved when it changed).
   *
   * @param entries The master's epochs.
   */
  async adopt(entries: readonly EpochEntry[]): Promise<void> {
    const next = normalize(entries);
    if (JSON.stringify(next) === JSON.stringify(this.#entries)) return;
    this.#entries = next;
    await this.#file.save({ epochs: this.#entries });
  }
}

function normalize(entries: readonly EpochEntry[]): EpochEntry[] {
  const out: EpochEntry[] = [];
  for (const entry of [...entries].sort((a, b) => a.epoch - b.epoch)) {
    const last = out.at(-1);
    if (last !== undefined && (last.epoch === entry.epoch || entry.startOffset < last.startOffset)) continue;
    out.push({ epoch: entry.epoch, startOffset: entry.startOffset });
  }
  return out;
}

/**
 * Where a replica's CommitLog stops agreeing with a master's: the end, on the master, of the
 * latest epoch both lists hold with the same start (the next epoch's start there, or the master's
 * end), or 0 when they share none. A replica whose log reaches past it truncates to it: what lies
 * beyond was written in an epoch the master does not continue, and was never acknowledged under
 * the in-sync rules.
 *
 * @param local The replica's epochs.
 * @param master The master's epochs.
 * @param masterEnd The master's CommitLog end.
 * @returns The offset both logs hold the same bytes below (when the replica reaches it).
 */
export function consistentPoint(local: readonly EpochEntry[], master: readonly EpochEntry[], masterEnd: number): number {
  for (let i = local.length - 1; i >= 0; i--) {
    const mine = local[i]!;
    const index = master.findIndex((e) => e.epoch === mine.epoch);
    if (index < 0 || master[index]!.startOffset !== mine.startOffset) continue;
    const end = master[index + 1]?.startOffset ?? masterEnd;
    // The replica's own next epoch (it was master after this one) ends this epoch for it too.
    const localEnd = local[i + 1]?.startOffset ?? Number.MAX_SAFE_INTEGER;
    return Math.min(end, localEnd);
  }
  return 0;
}
