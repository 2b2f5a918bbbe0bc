/**
 * Indexing during recovery: the records the CommitLog scan finds get ConsumeQueue entries, but a
 * record's queue offset is taken only when it fits its queue's sequence. The body CRC does not
 * cover a record's header, so a damaged queue offset passes the scan; believed, it would leave
 * the records after it unindexed (their offsets look indexed already) or open a gap of billions
 * of entries. Each record is judged with the next record of its queue in view.
 *
 * @module
 */

import { readRecordIndexFields } from "../../core/model/record.ts";
import { tagHash } from "../../core/model/tag_hash.ts";
import type { DispatchItem, QueueState, QueueTable } from "./queue_table.ts";

const DISPATCH_CHUNK = 4096;
/** Most unindexed records described one by one in the report. */
const MAX_SAMPLES = 20;

/** What the scan indexes. */
export interface IndexPlan {
  /** Records at or past this offset are indexed in every queue (the checkpoint's `logicsOffset`). */
  dispatchFrom: number;
  /** Queues rebuilt from scratch: their records are indexed wherever they are. */
  rebuild: ReadonlySet<QueueState>;
  /** Deleted topics and the CommitLog end at deletion: their records below it are not indexed. */
  deleted: ReadonlyMap<string, number>;
  /**
   * Whether a queue whose offsets start again at 0 (a topic deleted and re-created, when the
   * deletion was not recorded) drops its entries and is indexed anew.
   */
  restartable: (state: QueueState) => boolean;
}

interface Candidate {
  item: DispatchItem;
  offset: number;
}

interface Track {
  /** Queue offset the next indexed record gets; undefined while the queue has no entry. */
  expected: number | undefined;
  pending: Candidate | undefined;
}

/** Indexes scanned records (see the module). */
export class RecoveryIndexer {
  /** Entries written. */
  written = 0;
  /** Records left unindexed. */
  unindexed = 0;
  /** Descriptions of the first unindexed records. */
  readonly samples: string[] = [];
  #queues: QueueTable;
  #plan: IndexPlan;
  #tracks = new Map<QueueState, Track>();
  #batch: DispatchItem[] = [];

  /**
   * @param queues The queue table.
   * @param plan Which records to index.
   */
  constructor(queues: QueueTable, plan: IndexPlan) {
    this.#queues = queues;
    this.#plan = plan;
  }

  /**
   * Takes one valid record of the scan, in CommitLog order.
   *
   * @param bytes Buffer holding it.
   * @param pos Where it starts.
   * @param offset Its CommitLog offset.
   */
  visit(bytes: Uint8Array, pos: number, offset: number): void {
    const plan = this.#plan;
    if (offset < plan.dispatchFrom && plan.rebuild.size === 0) return;
    const fields = readRecordIndexFields(bytes, pos);
    const deletedAt = plan.deleted.get(fields.topic);
    if (deletedAt !== undefined && offset < deletedAt) return;
    let state: QueueState | undefined;
    if (offset >= plan.dispatchFrom) state = this.#queues.get(fields.topic, fields.queueId);
    else {
      state = this.#queues.find(fields.topic, fields.queueId);
      if (state === undefined || !plan.rebuild.has(state)) return;
    }
    const candidate: Candidate = {
      offset,
      item: { state, queueOffset: fields.queueOffset, offset, size: fields.size, tagHash: tagHash(fields.tags) },
    };
    let track = this.#tracks.get(state);
    if (!track) {
      const cq = state.cq;
      track = { expected: cq && cq.maxOffset > cq.minOffset ? cq.maxOffset : undefined, pending: undefined };
      this.#tracks.set(state, track);
    }
    if (track.pending) this.#judge(track, track.pending, candidate);
    track.pending = candidate;
  }

  /** Judges every queue's last record and writes what is left. */
  finish(): void {
    for (const track of this.#tracks.values()) {
      if (track.pending) this.#judge(track, track.pending, undefined);
      track.pending = undefined;
    }
    this.#flush();
  }

  /** Indexes `p` or leaves it out, given the record of its queue after it (`next`). */
  #judge(track: Track, p: Candidate, next: Candidate | undefined): void {
    const qo = p.item.queueOffset;
    const nextQo = next?.item.queueOffset;
    const expected = track.expected;
    if (expected === undefined) {
      if (nextQo === undefined || nextQo > qo) this.#index(track, p);
      else this.#leaveOut(p, `is followed by queue offset ${nextQo}`);
      return;
    }
    if (qo < expected) {
      // Already indexed, unless the queue starts again at 0 (a topic deleted and re-created).
      if (qo === 0 && nextQo === 1 && this.#plan.restartable(p.item.state)) {
        this.#flush();
        this.#queues.reset(p.item.state);
        this.#index(track, p);
      }
      return;
    }
    if (qo === expected) {
      this.#index(track, p);
      return;
    }
    // A gap: records lost in between, or this record's queue offset is damaged.
    if (nextQo === expected + 1 || nextQo === expected) {
      this.#leaveOut(p, `does not fit: the queue goes on at ${expected} and the next record has ${nextQo}`);
    } else if (nextQo === qo + 1) {
      this.#index(track, p);
    } else {
      this.#leaveOut(p, nextQo === undefined ? `is the queue's last record and leaves a gap after ${expected - 1}` : `is followed by queue offset ${nextQo}`);
    }
  }

  #index(track: Track, p: Candidate): void {
    track.expected = p.item.queueOffset + 1;
    this.#batch.push(p.item);
    if (this.#batch.length >= DISPATCH_CHUNK) this.#flush();
  }

  #leaveOut(p: Candidate, why: string): void {
    this.unindexed++;
    if (this.samples.length < MAX_SAMPLES) {
      const { state, queueOffset } = p.item;
      this.samples.push(`record at offset ${p.offset} claims queue offset ${queueOffset} of queue ${state.queueId} of "${state.topic}" and ${why}`);
    }
  }

  #flush(): void {
    if (this.#batch.length === 0) return;
    this.written += this.#queues.dispatch(this.#batch);
    this.#batch = [];
  }
}
