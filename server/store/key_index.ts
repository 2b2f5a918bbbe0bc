/**
 * The key index (RocketMQ's `IndexService`): every stored message's keys (`KEYS`, split on
 * spaces) and unique key (`UNIQ_KEY`) under `topic#key`, in a run of `IndexFile`s named by the
 * CommitLog offset of their first entry, with a checkpoint of its own. Records are handed over
 * as they become visible and indexed in batches after the put is answered; a lookup indexes what
 * is still waiting first, so it sees every visible message. See docs/STORAGE.md, "Key index".
 *
 * @module
 */

import { setImmediate } from "node:timers";
import { MessageConst, SysFlag } from "../../core/model/message.ts";
import { PROPERTY_SEPARATOR, propertyValueStart } from "../../core/model/properties.ts";
import type { BatchScan } from "../../core/model/batch_records.ts";
import { readRecordIndexFields, readStoreTimestamp, recordPropertiesStart, SYSFLAG_POS } from "../../core/model/record.ts";
import { tagHash } from "../../core/model/tag_hash.ts";
import type { CommitLog } from "./commit_log.ts";
import { IndexFile } from "./index_file.ts";
import { JsonFile } from "./json_file.ts";
import { joinPath, parseSegmentName, type SegmentStorage, segmentName } from "./segment_storage.ts";

/** Most keys of one message indexed (its unique key and its first 63 other keys). */
export const MAX_KEYS_PER_MESSAGE = 64;
/** Fewest entries a file may hold: more than two messages' worth, so a file always starts at a new record. */
export const MIN_ENTRIES_PER_FILE = 2 * MAX_KEYS_PER_MESSAGE;
/** Records waiting before they are indexed at once rather than after the current task. */
const PENDING_LIMIT = 4096;
const ROLLBACK = SysFlag.TRANSACTION_ROLLBACK;

/** The index's checkpoint file: how far its entries are durable. */
export interface KeyIndexCheckpoint {
  version: 1;
  /** CommitLog offset below which every record's entries were fsynced. */
  indexedOffset: number;
  /** Name of the file being written then (20 digits), empty when there was none. */
  file: string;
  /** Entries that file held then. */
  entries: number;
  /** When it was taken (ms since epoch). */
  timestamp: number;
}

/** Options of a `KeyIndex`. */
export interface KeyIndexOptions {
  storage: SegmentStorage;
  /** Hash slots of each new file. */
  hashSlots: number;
  /** Entries of each new file (at least `MIN_ENTRIES_PER_FILE`). */
  entriesPerFile: number;
}

/** What the index did when the store opened. */
export interface KeyIndexRecovery {
  /** CommitLog offset re-indexing started at (the index's durable point, or where its files ended or were damaged). */
  from: number;
  /** Records indexed again. */
  records: number;
  /** Milliseconds it took. */
  durationMs: number;
  /** What a person should know: a checkpoint or file that could not be used, and what was rebuilt. */
  notes: string[];
}

/** Figures of the key index. */
export interface KeyIndexStats {
  /** Index files. */
  files: number;
  /** Entries in them. */
  entries: number;
  /** CommitLog offset below which every visible record is indexed. */
  indexedOffset: number;
  /** CommitLog offset below which every record's entries are fsynced (the index checkpoint). */
  durableOffset: number;
  /** Bytes the files take when full (they grow as entries are written). */
  bytes: number;
  /** What the open did. */
  recovery: KeyIndexRecovery;
  /** Why indexing stopped until the next start (a failed write), if it did. */
  failure?: string;
}

/** Time bounds and budget of a lookup. */
export interface KeyLookup {
  /** Earliest store time (ms, inclusive). */
  begin: number;
  /** Latest store time (ms, inclusive). */
  end: number;
  /** Most index entries read. */
  budget: number;
}

interface Pending {
  topic: string;
  properties: string;
  sysFlag: number;
  offset: number;
  size: number;
  storeTimestamp: number;
}

/** The records of a batch waiting to be indexed, read from the bytes the client sent. */
interface PendingBatch {
  topic: string;
  scan: BatchScan;
  offsets: readonly number[];
  storeTimestamp: number;
}

function validate(value: unknown): KeyIndexCheckpoint {
  const v = value as Partial<KeyIndexCheckpoint> | null;
  const offset = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (
    !v || v.version !== 1 || !offset(v.indexedOffset) || typeof v.file !== "string" || !(v.file === "" || parseSegmentName(v.file) !== undefined) ||
    !Number.isInteger(v.entries) || v.entries! < 0 || typeof v.timestamp !== "number"
  ) {
    throw new TypeError(`Invalid key index checkpoint ${JSON.stringify(value).slice(0, 200)}`);
  }
  return v as KeyIndexCheckpoint;
}

/** The key index of a store, under `<dataDir>/index/`. */
export class KeyIndex {
  /** The index directory. */
  readonly dir: string;
  readonly #storage: SegmentStorage;
  readonly #hashSlots: number;
  readonly #entriesPerFile: number;
  readonly #checkpoint: JsonFile<KeyIndexCheckpoint>;
  #files: IndexFile[] = [];
  #pending: (Pending | PendingBatch)[] = [];
  #scheduled = false;
  #indexedOffset = 0;
  #durableOffset = 0;
  #failure: Error | undefined;
  #saved = "";
  #dirDirty = false;
  #flushChain: Promise<void> = Promise.resolve();
  #flushing = false;
  /** Files retention dropped while a flush was under way: removed once it ends. */
  #doomed: IndexFile[] = [];
  #recovery: KeyIndexRecovery = { from: 0, records: 0, durationMs: 0, notes: [] };
  #keys = new KeyScan();

  /**
   * @param dir The index directory.
   * @param options Storage and the shape of new files.
   */
  constructor(dir: string, options: KeyIndexOptions) {
    this.dir = dir;
    this.#storage = options.storage;
    this.#hashSlots = options.hashSlots;
    this.#entriesPerFile = options.entriesPerFile;
    this.#checkpoint = new JsonFile(joinPath(dir, "checkpoint"), { storage: options.storage, validate });
  }

  /**
   * Opens the files and brings them back to the index's durable point: files created after the
   * checkpoint are removed, the file being written is cut to the entries the checkpoint counted,
   * entries pointing past the recovered CommitLog end are dropped, and files wholly below its
   * start are deleted. A damaged file ends the usable run: it and the files after it are removed.
   * Without a checkpoint every file is removed. The caller then hands over every record from the
   * returned offset (`addRecord`), which re-indexes what was lost.
   *
   * @param log The recovered CommitLog's first offset and end.
   * @returns The CommitLog offset to re-index from.
   */
  open(log: { min: number; end: number }): number {
    const notes = this.#recovery.notes;
    let checkpoint: KeyIndexCheckpoint | undefined;
    try {
      const loaded = this.#checkpoint.load();
      checkpoint = loaded?.value;
      if (loaded?.source === "backup") notes.push(`Key index checkpoint restored from its backup: ${loaded.mainError?.message}`);
    } catch (error) {
      notes.push(`Key index checkpoint unusable (${(error as Error).message}): rebuilding the key index`);
    }
    const starts = this.#storage.list(this.dir).map(parseSegmentName).filter((n): n is number => n !== undefined);
    let from = checkpoint?.indexedOffset ?? log.min;
    if (checkpoint === undefined) {
      if (starts.length > 0 && notes.length === 0) notes.push("No key index checkpoint: rebuilding the key index from the start of the log");
      for (const start of starts) this.#storage.remove(this.#path(start));
    } else {
      const named = checkpoint.file === "" ? -1 : Number(checkpoint.file);
      for (const start of starts) {
        if (start > named) {
          // Created after the checkpoint: its entries are re-indexed.
          this.#storage.remove(this.#path(start));
          continue;
        }
        try {
          this.#files.push(IndexFile.open(this.#path(start), { storage: this.#storage, firstOffset: start }));
        } catch (error) {
          notes.push(`${(error as Error).message}: rebuilding the key index from CommitLog offset ${start}`);
          this.#storage.remove(this.#path(start));
          from = Math.min(from, start);
          // Later files are removed too: entries are only ever appended to the newest file.
          starts.splice(starts.indexOf(start) + 1).forEach((later) => this.#storage.remove(this.#path(later)));
          break;
        }
      }
      if (named >= 0) {
        const last = this.#files.at(-1);
        if (last === undefined || last.firstOffset !== named) {
          if (from > named) notes.push(`Key index file "${this.#path(named)}" is missing: rebuilding the key index from CommitLog offset ${named}`);
          from = Math.min(from, named);
        } else if (last.count < checkpoint.entries) {
          notes.push(`Key index file "${this.#path(named)}" holds ${last.count} entries, fewer than the ${checkpoint.entries} its checkpoint counted: rebuilding it`);
          this.#files.pop()!.remove();
          from = Math.min(from, named);
        } else if (last.count > checkpoint.entries || !last.sealed) {
          last.activate(checkpoint.entries);
        }
      }
    }
    for (const file of this.#files.slice(0, -1)) {
      if (file.sealed) continue;
      // Rolled over just before a crash: its table never reached the disk.
      file.activate();
      file.writeSlots();
    }
    const last = this.#files.at(-1);
    if (last !== undefined && !last.sealed && !last.active) last.activate();
    from = Math.max(Math.min(from, this.#trimBeyond(log.end), log.end), log.min);
    this.dropBelow(log.min);
    this.#indexedOffset = from;
    this.#durableOffset = Math.min(checkpoint?.indexedOffset ?? from, from);
    this.#recovery.from = from;
    return from;
  }

  /** Drops entries pointing at or past `end` (records a crash took); returns where indexing must resume. */
  #trimBeyond(end: number): number {
    let resume = Number.MAX_SAFE_INTEGER;
    while (this.#files.length > 0 && this.#files.at(-1)!.firstOffset >= end) {
      this.#files.pop()!.remove();
      resume = end;
    }
    const last = this.#files.at(-1);
    if (last !== undefined && last.lastOffset >= end) {
      last.activate(last.firstAtOrAfter(end) - 1);
      resume = end;
    }
    return resume;
  }

  /** Records re-indexed at open (the caller counts them through `addRecord`). */
  noteRecovered(records: number, durationMs: number): void {
    this.#recovery.records = records;
    this.#recovery.durationMs = durationMs;
  }

  /**
   * Hands over a record that just became visible; it is indexed after the current task, or at once
   * when many are waiting.
   *
   * @param record Its topic, encoded properties and sysflag.
   * @param offset Its CommitLog offset.
   * @param size Its size in bytes.
   * @param storeTimestamp Its store time (ms).
   */
  add(record: { topic: string; properties: string; sysFlag: number }, offset: number, size: number, storeTimestamp: number): void {
    this.#pending.push({ topic: record.topic, properties: record.properties, sysFlag: record.sysFlag, offset, size, storeTimestamp });
    this.#schedule();
  }

  /**
   * Hands over the records of a batch that just became visible, as `add` does each record. Their
   * keys are read from the batch's bytes, which must stay as they are until indexed.
   *
   * @param topic Their topic.
   * @param scan The batch (sysflag 0: none is a transaction's).
   * @param offsets Each record's CommitLog offset.
   * @param storeTimestamp Their store time (ms).
   */
  addBatch(topic: string, scan: BatchScan, offsets: readonly number[], storeTimestamp: number): void {
    this.#pending.push({ topic, scan, offsets, storeTimestamp });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#pending.length >= PENDING_LIMIT) this.drain();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.drain();
      });
    }
  }

  /**
   * Hands over a stored record by its bytes (recovery, replication).
   *
   * @param bytes A buffer holding a verified record.
   * @param pos Where it starts.
   * @param offset Its CommitLog offset.
   */
  addRecord(bytes: Uint8Array, pos: number, offset: number): void {
    const fields = readRecordIndexFields(bytes, pos);
    const sysFlag = new DataView(bytes.buffer, bytes.byteOffset).getInt32(pos + SYSFLAG_POS);
    this.add({ topic: fields.topic, properties: fields.properties, sysFlag }, offset, fields.size, readStoreTimestamp(bytes, pos));
  }

  /**
   * Indexes every record handed over so far. A write that fails (a full disk) stops the index where
   * it was, without failing the put that handed the records over: lookups then answer as incomplete,
   * the checkpoint stays at the last durable point, and the next start indexes again from there.
   */
  drain(): void {
    const pending = this.#pending;
    if (pending.length === 0) return;
    this.#pending = [];
    if (this.#failure !== undefined) return;
    const from = this.#indexedOffset;
    try {
      this.#index(pending);
    } catch (error) {
      // The failed write may have held entries of earlier drains too (they were buffered).
      this.#failure = error as Error;
      this.#indexedOffset = Math.min(from, this.#durableOffset);
    }
  }

  /** Why indexing stopped (until the next start), if it did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  #index(pending: (Pending | PendingBatch)[]): void {
    const keys = this.#keys;
    let topic = "";
    let topicHash = 0;
    for (const record of pending) {
      if (record.topic !== topic) {
        topic = record.topic;
        topicHash = hashOn(tagHash(topic), "#");
      }
      if ("scan" in record) {
        this.#indexBatch(record, topicHash);
        continue;
      }
      this.#indexedOffset = record.offset + record.size;
      // As in RocketMQ, a rolled-back transaction's record is not indexed.
      if ((record.sysFlag & ROLLBACK) === ROLLBACK || record.properties === "") continue;
      const count = keys.read(record.properties, topicHash);
      for (let i = 0; i < count; i++) this.#put(record.offset, record.storeTimestamp, keys.hashes[i]!);
    }
    // The entries stay buffered in the file (written 4096 at a time, before a lookup and at flush),
    // not written every drain: at low concurrency a drain follows every store write.
  }

  #indexBatch(batch: PendingBatch, topicHash: number): void {
    const keys = this.#keys;
    const { scan, offsets, storeTimestamp } = batch;
    const { bytes, starts, sizes } = scan;
    for (let i = 0; i < starts.length; i++) {
      const end = starts[i]! + sizes[i]!;
      this.#indexedOffset = offsets[i]! + sizes[i]!;
      const start = recordPropertiesStart(bytes, starts[i]!, sizes[i]!);
      if (start < 0 || start === end) continue;
      const count = scan.ascii ? keys.readBytes(bytes, start, end, topicHash) : keys.read(textDecoder.decode(bytes.subarray(start, end)), topicHash);
      for (let k = 0; k < count; k++) this.#put(offsets[i]!, storeTimestamp, keys.hashes[k]!);
    }
  }


  #put(offset: number, storeTimestamp: number, hash: number): void {
    let file = this.#files.at(-1);
    if (file === undefined || !file.active || file.full) {
      file?.writeSlots();
      file = IndexFile.create(this.dir, {
        storage: this.#storage,
        slots: this.#hashSlots,
        capacity: this.#entriesPerFile,
        firstOffset: offset,
        baseTimestamp: storeTimestamp,
      });
      this.#files.push(file);
      this.#dirDirty = true;
    }
    file.add(hash, offset, storeTimestamp);
  }

  /**
   * Walks the entries of `topic#key`, newest file first, skipping files outside the time range,
   * and calls `visit` with each candidate record's CommitLog offset (newest first; the same
   * offset may come twice). Candidates share the key's 32-bit hash: the caller checks the record.
   *
   * @param topic The topic.
   * @param key A key or unique key.
   * @param range Time bounds and the most entries to read.
   * @param visit Returns false to stop.
   * @returns Entries read, and whether the budget ran out first.
   */
  lookup(topic: string, key: string, range: KeyLookup, visit: (offset: number) => boolean): { read: number; exhausted: boolean } {
    this.drain();
    const hash = keyHash(topic, key);
    let read = 0;
    let stopped = false;
    const onCandidate = (offset: number) => {
      if (visit(offset)) return true;
      stopped = true;
      return false;
    };
    for (let i = this.#files.length - 1; i >= 0 && !stopped; i--) {
      const file = this.#files[i]!;
      if (file.count === 0 || file.maxTimestamp < range.begin || file.minTimestamp > range.end) continue;
      let walk: { read: number; exhausted: boolean };
      try {
        walk = file.lookup(hash, { begin: range.begin, end: range.end, budget: range.budget - read }, onCandidate);
      } catch (error) {
        // Its buffered entries could not be written first (a full disk): indexing stops here.
        this.#failure ??= error as Error;
        this.#indexedOffset = Math.min(this.#indexedOffset, this.#durableOffset);
        continue;
      }
      read += walk.read;
      if (walk.exhausted) return { read, exhausted: true };
    }
    return { read, exhausted: false };
  }

  /** CommitLog offset below which every record handed over is indexed. */
  get indexedOffset(): number {
    this.drain();
    return this.#indexedOffset;
  }

  /** The newest entry's store time and CommitLog offset (RocketMQ's `indexLastUpdateTimestamp` / `indexLastUpdatePhyoffset`), 0 when empty. */
  get lastUpdate(): { timestamp: number; offset: number } {
    this.drain();
    const last = this.#files.findLast((f) => f.count > 0);
    return last === undefined ? { timestamp: 0, offset: 0 } : { timestamp: last.maxTimestamp, offset: last.lastOffset };
  }

  /**
   * Deletes files every entry of which points below `commitLogMin` (retention deleted their
   * records); the newest file stays.
   *
   * @param commitLogMin The CommitLog's first stored offset.
   * @returns How many files were deleted.
   */
  dropBelow(commitLogMin: number): number {
    let removed = 0;
    while (this.#files.length > 1 && this.#files[0]!.lastOffset < commitLogMin) {
      const file = this.#files.shift()!;
      // A flush under way may be syncing it: it goes once that is done.
      if (this.#flushing) this.#doomed.push(file);
      else file.remove();
      this.#dirDirty = true;
      removed++;
    }
    return removed;
  }

  /**
   * Indexes what is waiting, fsyncs the files (completing the seal of a rolled-over one) and
   * saves the checkpoint: a snapshot taken before the fsyncs, so it never counts an entry that
   * is not durable.
   */
  flush(): Promise<void> {
    const next = this.#flushChain.then(() => this.#flushOnce());
    this.#flushChain = next.catch(() => {});
    return next;
  }

  async #flushOnce(): Promise<void> {
    this.#flushing = true;
    try {
      await this.#flushFiles();
    } finally {
      this.#flushing = false;
      for (const file of this.#doomed.splice(0)) file.remove();
    }
  }

  async #flushFiles(): Promise<void> {
    this.drain();
    if (this.#failure !== undefined) return;
    const active = this.#files.at(-1);
    const state = {
      version: 1 as const,
      indexedOffset: this.#indexedOffset,
      file: active === undefined ? "" : segmentName(active.firstOffset),
      entries: active?.count ?? 0,
    };
    const files = [...this.#files];
    await Promise.all(files.map((file) => file.flush()));
    for (const file of files) await file.completeSeal();
    if (this.#dirDirty) {
      this.#dirDirty = false;
      try {
        await this.#storage.syncDir(this.dir);
      } catch (error) {
        // No file was ever created: there is no directory to sync.
        if ((error as { code?: string }).code !== "ENOENT") {
          this.#dirDirty = true;
          throw error;
        }
      }
    }
    const key = JSON.stringify(state);
    if (key !== this.#saved) {
      await this.#checkpoint.save({ ...state, timestamp: Date.now() });
      this.#saved = key;
    }
    this.#durableOffset = state.indexedOffset;
  }

  /** Figures for stats. */
  get stats(): KeyIndexStats {
    this.drain();
    let entries = 0;
    let bytes = 0;
    for (const file of this.#files) {
      entries += file.count;
      bytes += file.byteSize;
    }
    return {
      files: this.#files.length,
      entries,
      indexedOffset: this.#indexedOffset,
      durableOffset: this.#durableOffset,
      bytes,
      recovery: { ...this.#recovery, notes: [...this.#recovery.notes] },
      ...(this.#failure === undefined ? {} : { failure: `Key index stopped at CommitLog offset ${this.#indexedOffset}: ${this.#failure.message}; it indexes again from ${this.#durableOffset} at the next start` }),
    };
  }

  /** Flushes and closes the files. */
  async close(): Promise<void> {
    try {
      await this.flush();
      // A clean close stores the slot table of the file being written: the next open need not read its entries.
      await this.#files.at(-1)?.saveSlots();
    } finally {
      for (const file of this.#files) file.close();
      this.#files = [];
    }
  }

  #path(start: number): string {
    return joinPath(this.dir, segmentName(start));
  }
}

/**
 * The hash of an index key: Java's `String.hashCode()` of `topic#key`, as RocketMQ builds index
 * keys ('#' never occurs in a topic name).
 *
 * @param topic The topic.
 * @param key The key.
 * @returns A signed 32-bit integer.
 */
export function keyHash(topic: string, key: string): number {
  return hashOn(hashOn(tagHash(topic), "#"), key);
}

/** Java's `String.hashCode()` of a text that starts with one whose hash is `h` and goes on with `more`. */
function hashOn(h: number, more: string): number {
  for (let i = 0; i < more.length; i++) h = (Math.imul(h, 31) + more.charCodeAt(i)) | 0;
  return h;
}

/**
 * Finds a message's unique key and keys in its property text and hashes each as `topic#key`
 * without cutting the text into strings (the put path runs it for every message): at most
 * `MAX_KEYS_PER_MESSAGE`, a key repeated (or equal to the unique key) only once.
 */
class KeyScan {
  readonly hashes = new Int32Array(MAX_KEYS_PER_MESSAGE);
  readonly #starts = new Int32Array(MAX_KEYS_PER_MESSAGE);
  readonly #ends = new Int32Array(MAX_KEYS_PER_MESSAGE);
  #count = 0;

  /** Fills `hashes`; returns how many keys were found. */
  read(text: string, topicHash: number): number {
    this.#count = 0;
    const unique = propertyValueStart(text, MessageConst.UNIQ_KEY);
    if (unique >= 0) this.#take(text, topicHash, unique, valueEnd(text, unique));
    const keys = propertyValueStart(text, MessageConst.KEYS);
    if (keys < 0) return this.#count;
    const end = valueEnd(text, keys);
    for (let from = keys; from < end && this.#count < MAX_KEYS_PER_MESSAGE;) {
      let to = text.indexOf(MessageConst.KEY_SEPARATOR, from);
      if (to < 0 || to > end) to = end;
      this.#take(text, topicHash, from, to);
      from = to + 1;
    }
    return this.#count;
  }

  /** As `read`, over ASCII property text in `bytes[start, end)`. */
  readBytes(bytes: Uint8Array, start: number, end: number, topicHash: number): number {
    this.#count = 0;
    let unique = -1;
    let uniqueEnd = -1;
    let keys = -1;
    let keysEnd = -1;
    for (let name = start; name < end;) {
      let value = name;
      while (value < end && bytes[value] !== 1) value++;
      let next = value + 1;
      while (next < end && bytes[next] !== 2) next++;
      if (unique < 0 && isName(bytes, name, value, UNIQ_KEY_BYTES)) {
        unique = value + 1;
        uniqueEnd = next;
      } else if (keys < 0 && isName(bytes, name, value, KEYS_BYTES)) {
        keys = value + 1;
        keysEnd = next;
      }
      name = next + 1;
    }
    if (unique >= 0) this.#takeBytes(bytes, topicHash, unique, uniqueEnd);
    if (keys < 0) return this.#count;
    for (let from = keys; from < keysEnd && this.#count < MAX_KEYS_PER_MESSAGE;) {
      let to = from;
      while (to < keysEnd && bytes[to] !== SPACE) to++;
      this.#takeBytes(bytes, topicHash, from, to);
      from = to + 1;
    }
    return this.#count;
  }

  #takeBytes(bytes: Uint8Array, topicHash: number, start: number, end: number): void {
    if (end <= start) return;
    let h = topicHash;
    for (let i = start; i < end; i++) h = (Math.imul(h, 31) + bytes[i]!) | 0;
    for (let k = 0; k < this.#count; k++) {
      if (this.hashes[k] === h && sameBytes(bytes, start, end, this.#starts[k]!, this.#ends[k]!)) return;
    }
    const n = this.#count++;
    this.hashes[n] = h;
    this.#starts[n] = start;
    this.#ends[n] = end;
  }

  #take(text: string, topicHash: number, start: number, end: number): void {
    if (end <= start) return;
    let h = topicHash;
    for (let i = start; i < end; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
    for (let k = 0; k < this.#count; k++) {
      if (this.hashes[k] === h && same(text, start, end, this.#starts[k]!, this.#ends[k]!)) return;
    }
    const n = this.#count++;
    this.hashes[n] = h;
    this.#starts[n] = start;
    this.#ends[n] = end;
  }
}

function valueEnd(text: string, start: number): number {
  const end = text.indexOf(PROPERTY_SEPARATOR, start);
  return end < 0 ? text.length : end;
}

const UNIQ_KEY_BYTES = new TextEncoder().encode(MessageConst.UNIQ_KEY);
const KEYS_BYTES = new TextEncoder().encode(MessageConst.KEYS);
const SPACE = MessageConst.KEY_SEPARATOR.charCodeAt(0);
const textDecoder = new TextDecoder();

function isName(bytes: Uint8Array, start: number, end: number, name: Uint8Array): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (bytes[start + i] !== name[i]) return false;
  return true;
}

function sameBytes(bytes: Uint8Array, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (let i = 0; i < aEnd - a; i++) if (bytes[a + i] !== bytes[b + i]) return false;
  return true;
}

function same(text: string, a: number, aEnd: number, b: number, bEnd: number): boolean {
  if (aEnd - a !== bEnd - b) return false;
  for (let i = 0; i < aEnd - a; i++) if (text.charCodeAt(a + i) !== text.charCodeAt(b + i)) return false;
  return true;
}

/**
 * Opens the key index of a recovered CommitLog and re-indexes every valid record past its
 * durable point (passing over damaged stretches as recovery does), then fsyncs it.
 *
 * @param dir The index directory.
 * @param options Storage, file shape and the recovered CommitLog.
 * @returns The index, caught up with the log.
 */
export async function openKeyIndex(dir: string, options: KeyIndexOptions & { commitLog: CommitLog }): Promise<KeyIndex> {
  const started = performance.now();
  const { commitLog, ...rest } = options;
  const index = new KeyIndex(dir, rest);
  const from = index.open({ min: commitLog.minOffset, end: commitLog.maxOffset });
  let records = 0;
  commitLog.forEachRecord(from, commitLog.maxOffset, (bytes, pos, offset) => {
    index.addRecord(bytes, pos, offset);
    records++;
    return true;
  });
  index.drain();
  index.noteRecovered(records, Math.round(performance.now() - started));
  try {
    await index.flush();
  } catch (error) {
    await index.close().catch(() => {});
    throw error;
  }
  return index;
}

/**
 * The key index's recovery as log lines: a summary when records were indexed again, then a
 * warning per note.
 *
 * @param recovery What the open did.
 * @returns The lines (none after a clean shutdown).
 */
export function describeKeyIndexRecovery(recovery: KeyIndexRecovery): { summary?: string; warnings: string[] } {
  const summary = recovery.records > 0
    ? `Key index caught up in ${recovery.durationMs} ms: ${recovery.records} records indexed again, starting at CommitLog offset ${recovery.from}`
    : undefined;
  return { ...(summary === undefined ? {} : { summary }), warnings: [...recovery.notes] };
}
