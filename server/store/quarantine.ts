/**
 * `<dataDir>/quarantine/`: copies of the CommitLog stretches recovery found damaged, named by
 * their offsets, so nothing recovery sets aside is ever only deleted. A copy of a stretch left in
 * the log is for inspection (the log keeps the bytes until retention deletes the segment); the
 * copy of a cut tail is the only one left.
 *
 * @module
 */

import { joinPath, type SegmentStorage, segmentName } from "./segment_storage.ts";

/** One file of the quarantine directory. */
export interface QuarantineFile {
  /** File name: `<from>-<to>.<kind>` (offsets 20 digits). */
  name: string;
  /** CommitLog offsets of the stretch. */
  from: number;
  to: number;
  /** `kept`: the stretch is still in the log; `cut`: it was cut from it. */
  kind: "kept" | "cut";
  /** Bytes in the file. */
  bytes: number;
}

const NAME = /^(\d{20})-(\d{20})\.(kept|cut)$/;

/** The quarantine directory of a store. */
export class Quarantine {
  /** The directory. */
  readonly dir: string;
  #storage: SegmentStorage;

  /**
   * @param dir The directory (created on the first copy).
   * @param options Storage it lives in.
   */
  constructor(dir: string, options: { storage: SegmentStorage }) {
    this.dir = dir;
    this.#storage = options.storage;
  }

  /**
   * Writes a copy of a stretch and makes it durable; an existing copy of the same stretch and
   * kind (found again at a later start) is kept as it is.
   *
   * @param region Offsets of the stretch.
   * @param kind Whether the stretch stays in the log or is about to be cut.
   * @param bytes Its bytes.
   * @returns The file's path.
   */
  async save(region: { from: number; to: number }, kind: "kept" | "cut", bytes: Uint8Array): Promise<string> {
    const path = joinPath(this.dir, `${segmentName(region.from)}-${segmentName(region.to)}.${kind}`);
    if (this.#storage.exists(path)) return path;
    this.#storage.mkdir(this.dir);
    const tmp = `${path}.tmp`;
    const file = this.#storage.open(tmp, { create: true });
    try {
      file.truncate(0);
      file.write(bytes, 0);
      await file.sync();
    } finally {
      file.close();
    }
    this.#storage.rename(tmp, path);
    await this.#storage.syncDir(this.dir);
    return path;
  }

  /**
   * The copies present, in offset order.
   *
   * @returns One entry per copy.
   */
  list(): QuarantineFile[] {
    const out: QuarantineFile[] = [];
    for (const name of this.#storage.list(this.dir)) {
      const match = NAME.exec(name);
      if (!match) continue;
      const file = this.#storage.open(joinPath(this.dir, name));
      const bytes = file.size();
      file.close();
      out.push({ name, from: Number(match[1]), to: Number(match[2]), kind: match[3] as "kept" | "cut", bytes });
    }
    return out;
  }
}
