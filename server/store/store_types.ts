/**
 * Options and results of `MessageStore`.
 *
 * @module
 */

import type { HostAddress } from "../../core/model/message.ts";
import type { BatchScan } from "../../core/model/batch_records.ts";
import type { RecordInput } from "../../core/model/record.ts";
import type { DiskStatus } from "./disk_watch.ts";
import type { KeyIndexStats } from "./key_index.ts";
import type { SegmentStorage } from "./segment_storage.ts";
import type { Log } from "../logger.ts";

/** Options of `MessageStore.open`. */
export interface MessageStoreOptions {
  /** Root directory: `commitlog/`, `consumequeue/` and `checkpoint` live under it. */
  dataDir: string;
  /** Disk port. @default new FileSegmentStorage() */
  storage?: SegmentStorage;
  /**
   * `sync`: a put resolves only after an fsync covers its record (group commit), and only
   * fsynced records are visible to consumers. `async`: a put resolves once written to the file
   * (it survives a process crash, not a power loss) and the log is fsynced every
   * `flushIntervalMs`. @default "async"
   */
  flushMode?: "async" | "sync";
  /** Period of the background flush, ConsumeQueue flush and checkpoint. @default 500 */
  flushIntervalMs?: number;
  /** CommitLog segment capacity in bytes. @default 1073741824 (1 GiB) */
  commitLogSegmentSize?: number;
  /** Entries per ConsumeQueue file. @default 300000 */
  consumeQueueEntriesPerFile?: number;
  /** Largest record (header, body, topic and properties) accepted. @default 4194304 (4 MiB) */
  maxMessageSize?: number;
  /**
   * How long messages are kept, unless their topic has a retention of its own
   * (`topicRetentionMs`): older ones are no longer served, and a CommitLog segment is deleted (in
   * the `deleteWhen` hours) once none of its messages is served. @default 259200000 (72 h)
   */
  fileReservedTimeMs?: number;
  /**
   * A topic's own retention in ms (a topic attribute), or undefined for `fileReservedTimeMs`.
   * Asked for every queue on each retention check. @default every topic keeps fileReservedTimeMs
   */
  topicRetentionMs?: (topic: string) => number | undefined;
  /**
   * Hours of the day (local time) in which segments are deleted for age, `;`-separated as
   * RocketMQ's `deleteWhen` (`"04"`, `"01;02;03"`), or `"*"` for any hour. Expired messages stop
   * being served at once either way; deletions for disk space ignore the window. @default "04"
   */
  deleteWhen?: string;
  /** Above this percent of the disk in use, the oldest segments are deleted even if young. @default 75 */
  diskHighWaterPercent?: number;
  /** At or above this percent of the disk in use, puts are refused (SERVICE_NOT_AVAILABLE). @default 90 */
  diskHardLimitPercent?: number;
  /** The broker's address, written into every record and message id. */
  storeHost: HostAddress;
  /** Clock (ms since epoch) for store timestamps and retention. @default Date.now */
  now?: () => number;
  /**
   * Replication (controller mode): a returning master rejoining as a slave cuts its CommitLog
   * back to this offset before recovery, because the epoch boundaries prove that what lies past
   * it was written in an epoch the group's new master does not continue (and so was never
   * acknowledged under the in-sync rules). The cut bytes are copied to `quarantine/` first (up to
   * 64 MiB). Must be a record boundary. @default nothing is cut
   */
  truncateTo?: number;
  /**
   * Index every message's keys and unique key under `<dataDir>/index/` for `queryMessage` (lookups
   * by key at any age). Off, `queryMessage` refuses and nothing is indexed; turned on again, the
   * index catches up from where it stopped (or builds itself from the log) when the store opens.
   * @default true
   */
  messageIndexEnable?: boolean;
  /** Hash slots of each index file (RocketMQ's `maxHashSlotNum`); 4 bytes each, in memory for the file being written. @default 1000000 */
  maxHashSlotNum?: number;
  /** Entries of each index file (RocketMQ's `maxIndexNum`), 20 bytes each; at least 128. @default 4000000 */
  maxIndexNum?: number;
  /** Where the store reports what a person should know of at run time: segments deleted by retention, ConsumeQueue entries mended on a read. @default none */
  log?: Log;
}

/** What a put supplies: a record without the store host, which the store fills in. */
export type StoreInput = Omit<RecordInput, "storeHost">;

/**
 * What `MessageStore.putBatch` takes: records a client encoded for one topic queue, checked by
 * `scanBatchRecords`, and the fields the broker adds to every one of them.
 */
export interface BatchInput {
  topic: string;
  queueId: number;
  bornTimestamp: number;
  bornHost: HostAddress;
  /** The checked records (the store keeps a reference until they are written and indexed). */
  scan: BatchScan;
}

/** Outcome of a `putBatch`: all records or none. Offsets are -1 (and the list empty) unless the status is `PUT_OK`. */
export interface BatchPutResult {
  status: PutStatus;
  /** Queue offset of the first record; the others follow one by one. */
  queueOffset: number;
  /** Each record's CommitLog offset, in order. */
  commitLogOffsets: number[];
  storeTimestamp: number;
  /** Why the put failed, for people. */
  error?: string;
}

/** Outcome of a put. */
export type PutStatus =
  | "PUT_OK"
  | "MESSAGE_ILLEGAL"
  | "PROPERTIES_SIZE_EXCEEDED"
  | "FLUSH_DISK_FAILED"
  | "SERVICE_NOT_AVAILABLE";

/** Result of one put. Offsets are -1 and `msgId` empty unless the status is `PUT_OK`. */
export interface PutResult {
  status: PutStatus;
  queueOffset: number;
  commitLogOffset: number;
  msgId: string;
  storeTimestamp: number;
  /** Why the put failed, for people. */
  error?: string;
}

/** Outcome of a read from a queue (RocketMQ's `GetMessageStatus`). */
export type GetStatus =
  | "FOUND"
  | "NO_MATCHED_MESSAGE"
  | "NO_MESSAGE_IN_QUEUE"
  | "OFFSET_TOO_SMALL"
  | "OFFSET_OVERFLOW_ONE"
  | "OFFSET_OVERFLOW_BADLY"
  | "OFFSET_FOUND_NULL";

/** Result of `getMessage`. */
export interface GetResult {
  status: GetStatus;
  /** Where the next read of this queue should start. */
  nextBeginOffset: number;
  minOffset: number;
  maxOffset: number;
  /** The matched records back to back, bytes exactly as stored (present when `count > 0`). */
  body?: Uint8Array;
  /** Number of records in `body`. */
  count: number;
  /** Tag hash of each returned record, in order (present when `count > 0`). */
  tagHashes?: number[];
}

/** Counters and offsets of a store, for admin and metrics. */
export interface StoreStats {
  /** First CommitLog offset still stored. */
  commitLogMinOffset: number;
  /** CommitLog end (written). */
  commitLogMaxOffset: number;
  /** CommitLog offset up to which everything is fsynced. */
  flushedOffset: number;
  /** CommitLog offset up to which records are visible to consumers. */
  visibleOffset: number;
  /** Number of CommitLog segment files. */
  segmentCount: number;
  /** The error that stopped writes, if any. */
  writeFailure?: string;
  /**
   * Why the last write failed (a full disk, say), while no write has succeeded since. Such a
   * write is cut off and its puts fail; the store keeps taking writes.
   */
  lastWriteError?: string;
  /** Last error of the background ConsumeQueue flush or checkpoint, if any. */
  lastBackgroundError?: string;
  /** ConsumeQueue entries found wrong on the read path and rewritten from the CommitLog. */
  repairedEntries: number;
  /** Records not served because their bytes no longer match their ConsumeQueue entry and none could be found in their place. */
  unreadableRecords: number;
  /** What recovery did when the store was opened. */
  recovery: RecoveryReport;
  /** The data disk and its marks, when the storage is a file system. */
  disk?: DiskStatus;
  /** The retention settings in force. */
  retention: { fileReservedTimeMs: number; deleteWhen: string; diskHighWaterPercent: number; diskHardLimitPercent: number };
  /** CommitLog segments deleted since the store opened: for age, and for disk space. */
  deletedSegments: { time: number; disk: number };
  /** The key index, when `messageIndexEnable` is on. */
  index?: KeyIndexStats;
}

/** Options of `MessageStore.queryMessage`. */
export interface KeyQueryOptions {
  /** Earliest store time (ms since epoch, inclusive). @default 0 */
  beginTimestamp?: number;
  /** Latest store time (ms since epoch, inclusive). @default Number.MAX_SAFE_INTEGER */
  endTimestamp?: number;
  /** Most messages returned (1 to `MAX_QUERY_NUM`). @default 32 */
  maxNum?: number;
  /** Match only the unique key (`UNIQ_KEY`), not the keys (`KEYS`). @default false */
  uniqueKey?: boolean;
  /** Byte budget of the records (at least one record is returned). @default 4194304 */
  maxBytes?: number;
}

/** What `MessageStore.queryMessage` found. */
export interface KeyQueryResult {
  /** The matching visible records back to back, bytes as stored, newest first (present when `count > 0`). */
  body?: Uint8Array;
  /** Number of records in `body`. */
  count: number;
  /**
   * True when `body` holds every stored message of the topic with that key in the time range;
   * false when `maxNum`, `maxBytes` or the index-read budget cut the answer short (`incomplete`
   * says which).
   */
  complete: boolean;
  /** Why the answer is not complete, for people. */
  incomplete?: string;
  /** Index entries read. */
  entriesRead: number;
  /** Store time of the newest index entry (RocketMQ's `indexLastUpdateTimestamp`). */
  indexLastUpdateTimestamp: number;
  /** CommitLog offset of the newest index entry (RocketMQ's `indexLastUpdatePhyoffset`). */
  indexLastUpdatePhyoffset: number;
}

/** What one retention run did (`MessageStore.runRetention`). */
export interface RetentionReport {
  /** Queues whose min offset moved past expired messages. */
  expiredQueues: number;
  /** Segments deleted because none of their messages is served any more. */
  timeSegments: number;
  /** Segments deleted, oldest first, because the disk was above the high-water mark. */
  diskSegments: number;
}

/** A damaged stretch of the CommitLog that recovery found. */
export interface QuarantinedRegion {
  /** CommitLog offset of its first byte. */
  from: number;
  /** Where valid records resume (for the tail: where the data ended). */
  to: number;
  /** Bytes of it present on disk. */
  bytes: number;
  /** Damaged record headers inside it (messages lost to consumers; garbage counts none). */
  records: number;
  /** What was wrong where it starts. */
  reason: string;
  /**
   * `kept`: left in place and skipped (records after it are served). `cut`: the damaged tail,
   * cut from the log after being copied to `copy` (only a tail past the last fsync recorded in
   * the checkpoint is ever cut).
   */
  action: "kept" | "cut";
  /** The file under `<dataDir>/quarantine/` holding a copy of its bytes, when one was written. */
  copy?: string;
}

/** A ConsumeQueue that recovery rebuilt from the CommitLog. */
export interface RebuiltQueue {
  topic: string;
  queueId: number;
  /** Why it was rebuilt. */
  reason: string;
}

/** What recovery found and did when the store was opened. */
export interface RecoveryReport {
  /** Where the CommitLog scan started. */
  scanFrom: number;
  /** The CommitLog end after recovery. */
  end: number;
  /** Bytes and valid records the scan read. */
  scannedBytes: number;
  scannedRecords: number;
  /**
   * The checkpoint the scan started from: `main`, `backup` (the main copy was unusable), or
   * `none` (missing, or no copy fits the log: the whole log was scanned).
   */
  checkpoint: "main" | "backup" | "none";
  /** Set when the checkpoint was unusable, refused, or came from its backup copy. */
  checkpointWarning?: string;
  /** ConsumeQueue entries written from the CommitLog. */
  rebuiltEntries: number;
  /** ConsumeQueue entries dropped because their records were gone. */
  trimmedEntries: number;
  /** ConsumeQueue entries marked skipped because their records lie in a damaged stretch. */
  skippedEntries: number;
  /** ConsumeQueues rebuilt from the CommitLog (missing, shorter than the checkpoint says, damaged). */
  rebuiltQueues: RebuiltQueue[];
  /** Valid records left unindexed because their queue offset does not fit their queue's sequence. */
  unindexedRecords: number;
  /** Damaged stretches, in log order (a cut tail last). */
  quarantined: QuarantinedRegion[];
  /** Where the CommitLog was cut, and why, when a damaged tail was cut. */
  cutAt?: number;
  cutReason?: string;
  /** Controller mode: where the CommitLog was cut back to its new master's (`truncateTo`), and how many bytes went. */
  truncated?: { at: number; bytes: number; copy?: string };
  /** Other things a person should know: a copy that could not be written, the first records left unindexed. */
  notes: string[];
  /** Milliseconds recovery took. */
  durationMs: number;
}
