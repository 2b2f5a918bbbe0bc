/**
 * The broker's message store: CommitLog + ConsumeQueues + checkpoint, with batched writes,
 * group-committed sync flush, crash recovery and segment retention. See docs/STORAGE.md.
 *
 * @module
 */

import { setInterval } from "node:timers";
import { createOffsetMessageId, messageIdPrefix, offsetMessageId } from "../../core/model/message_id.ts";
import { MessageConst } from "../../core/model/message.ts";
import { propertyValue } from "../../core/model/properties.ts";
import { decodeRecord, PreparedRecord, readRecordIndexFields, readStoreTimestamp } from "../../core/model/record.ts";
import { tagHash } from "../../core/model/tag_hash.ts";
import type { MessageExt } from "../../core/model/message.ts";
import { Checkpoint, type CheckpointQueue, type CheckpointState } from "./checkpoint.ts";
import { CommitLog, type EncodedBatch } from "./commit_log.ts";
import { batchMessages } from "../../core/model/batch_records.ts";
import { parseIp } from "../../core/model/_ip.ts";
import { FileSegmentStorage } from "./file_segment_storage.ts";
import { type BodyBuffer, DEFAULT_MAX_BYTES, findOffsetByTime, type ReadRequest, readQueue, type RecordFilter } from "./queue_reader.ts";
import { Quarantine, type QuarantineFile } from "./quarantine.ts";
import { repairEntries } from "./queue_repair.ts";
import { type DispatchItem, type DispatchRun, type QueueState, QueueTable } from "./queue_table.ts";
import { joinPath } from "./segment_storage.ts";
import { installNativeCrc32 } from "./native_crc32.ts";
import { recoverStore } from "./store_recovery.ts";
import { checkReplicaChunk, readReplicaChunk, type ReplicaChunk } from "./replica.ts";
import { DiskWatch } from "./disk_watch.ts";
import { describeKeyIndexRecovery, type KeyIndex, MIN_ENTRIES_PER_FILE, openKeyIndex } from "./key_index.ts";
import { expireQueue, inDeleteWindow, lowestServedOffset, parseDeleteWhen } from "./retention.ts";
import type {
  BatchInput,
  BatchPutResult,
  GetResult,
  KeyQueryOptions,
  KeyQueryResult,
  MessageStoreOptions,
  PutResult,
  PutStatus,
  RecoveryReport,
  RetentionReport,
  StoreInput,
  StoreStats,
} from "./store_types.ts";
import type { Log } from "../logger.ts";

const GIB = 1024 * 1024 * 1024;
const RETENTION_CHECK_MS = 60_000;
/** Most segments one retention run deletes (each deletion is a synchronous unlink). */
const MAX_DELETES_PER_RUN = 10;
const TOPIC_PATTERN = /^[%|a-zA-Z0-9_-]+$/;

/** Why a topic cannot be stored, or undefined. */
function badTopic(topic: string): string | undefined {
  return TOPIC_PATTERN.test(topic) && topic.length <= 127 ? undefined : `Invalid topic "${topic}"`;
}

/** Why a queue id cannot be stored, or undefined. */
function badQueueId(queueId: number): string | undefined {
  return Number.isInteger(queueId) && queueId >= 0 && queueId <= 0x7fffffff ? undefined : `Invalid queue id "${queueId}"`;
}
/** Most messages one key lookup returns. */
export const MAX_QUERY_NUM = 1024;
/** Most index entries one key lookup reads (a key whose slot is flooded by other keys answers "incomplete" past it). */
const MAX_INDEX_READS = 50_000;

/** Puts waiting for the writer: one group is one `putMessage`, `putMessages` or `putBatch` call. */
interface PutGroup {
  /** Its records (none for a `putBatch`). */
  records: PreparedRecord[];
  /** A `putBatch`'s records, copied and patched as the client encoded them. */
  batch?: EncodedBatch & { input: BatchInput };
  /** Takes the group's one result when `one` (a `putMessage`) or a `putBatch`'s, else all of them. */
  resolve: (results: PutResult | PutResult[] | BatchPutResult) => void;
  one: boolean;
  /** Its results once written: the one result when `one`, else one a record (no array a `putMessage`). */
  written?: PutResult | PutResult[] | BatchPutResult;
}

/** The result of a written group's `i`th record. */
function writtenResult(group: PutGroup, i: number): PutResult {
  return group.one ? group.written as PutResult : (group.written as PutResult[])[i]!;
}

/** Fails every put of a group. */
function settleFailed(group: PutGroup, status: PutStatus, error: string): void {
  if (group.batch !== undefined) group.resolve(failedBatch(status, error));
  else group.resolve(group.one ? failed(status, error) : group.records.map(() => failed(status, error)));
}

/** A written batch waiting to become visible (sync mode: waiting for its fsync). */
interface WrittenBatch {
  start: number;
  end: number;
  items: (DispatchItem | DispatchRun)[];
  groups: PutGroup[];
}

/** Callback fired when a message becomes visible to consumers. */
export type ArriveListener = (topic: string, queueId: number, queueOffset: number, tagHash: number) => void;

/** Resolved options of a store. */
export type ResolvedOptions = Required<Omit<MessageStoreOptions, "storage" | "topicRetentionMs" | "log" | "truncateTo">>;

/** The message store of one broker. Open it with `MessageStore.open`. */
export class MessageStore {
  /** Called once per message when it becomes visible to consumers (for long polling). */
  onArrive: ArriveListener | undefined;
  /**
   * The lowest CommitLog offset a service still needs (the timer store's pending timers):
   * retention never deletes a segment holding it or anything after it.
   */
  retentionFloor: (() => number) | undefined;
  #commitLog: CommitLog;
  #queues: QueueTable;
  #checkpoint: Checkpoint;
  #options: ResolvedOptions;
  #topicRetentionMs: ((topic: string) => number | undefined) | undefined;
  #log: Log | undefined;
  /** Hours of the day in which segments are deleted for age. */
  #deleteHours: number[];
  #disk: DiskWatch;
  #deletedSegments = { time: 0, disk: 0 };
  /** Message id prefix of the store host. */
  #idPrefix: string;
  #recovery: RecoveryReport;
  #pending: PutGroup[] = [];
  #writeScheduled = false;
  #awaitingFlush: WrittenBatch[] = [];
  #flushing: Promise<void> | undefined;
  #visibleOffset: number;
  #failure: Error | undefined;
  #lastWriteError: string | undefined;
  #backgroundError: Error | undefined;
  #closed = false;
  #closing = false;
  #checkpointChain: Promise<void> = Promise.resolve();
  /** What the last checkpoint saved recorded, its time left out. */
  #savedCheckpoint: string | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #housekeeping: Promise<void> | undefined;
  #lastRetentionCheck = 0;
  #quarantine: Quarantine;
  /** Deleted topics and the CommitLog end at deletion (kept in the checkpoint). */
  #deletedTopics: Map<string, number>;
  #repairedEntries = 0;
  #unreadableRecords = 0;
  /** The key index, unless `messageIndexEnable` is off. */
  #index: KeyIndex | undefined;

  private constructor(
    parts: { commitLog: CommitLog; queues: QueueTable; checkpoint: Checkpoint; disk: DiskWatch; quarantine: Quarantine; index: KeyIndex | undefined },
    options: ResolvedOptions & Pick<MessageStoreOptions, "topicRetentionMs" | "log">,
    recovered: { report: RecoveryReport; deletedTopics: Map<string, number> },
  ) {
    this.#commitLog = parts.commitLog;
    this.#queues = parts.queues;
    this.#checkpoint = parts.checkpoint;
    this.#disk = parts.disk;
    const { topicRetentionMs, log, ...resolved } = options;
    this.#options = resolved;
    this.#topicRetentionMs = topicRetentionMs;
    this.#log = log;
    this.#deleteHours = parseDeleteWhen(resolved.deleteWhen);
    this.#quarantine = parts.quarantine;
    this.#index = parts.index;
    this.#idPrefix = messageIdPrefix(options.storeHost);
    this.#recovery = recovered.report;
    this.#deletedTopics = recovered.deletedTopics;
    this.#visibleOffset = parts.commitLog.maxOffset;
  }

  /** The options in force, defaults filled in. */
  get options(): Readonly<ResolvedOptions> {
    return this.#options;
  }

  /**
   * Opens the store under `options.dataDir`, recovering from a crash if needed: the checkpoint
   * is checked against the log, the CommitLog verified from it (at least its last segment),
   * damaged records set aside (the records after them kept), a damaged tail cut only when it
   * lies past the last recorded fsync, ConsumeQueues checked and rebuilt when damaged, entries
   * pointing past the log's end dropped and missing ones written. `stats.recovery` says what
   * was done (see docs/STORAGE.md, "Recovery").
   *
   * @param options Where and how to store.
   * @returns The open store, with everything recovered fsynced and a fresh checkpoint.
   * @throws {Error} When a CommitLog segment is missing between others, or the checkpoint proves
   * fsynced bytes missing: the store refuses to open rather than lose or reuse them.
   */
  static async open(options: MessageStoreOptions): Promise<MessageStore> {
    await installNativeCrc32();
    const storage = options.storage ?? new FileSegmentStorage();
    const resolved = {
      dataDir: options.dataDir,
      flushMode: options.flushMode ?? "async",
      flushIntervalMs: options.flushIntervalMs ?? 500,
      commitLogSegmentSize: options.commitLogSegmentSize ?? GIB,
      consumeQueueEntriesPerFile: options.consumeQueueEntriesPerFile ?? 300_000,
      maxMessageSize: options.maxMessageSize ?? 4 * 1024 * 1024,
      fileReservedTimeMs: options.fileReservedTimeMs ?? 72 * 3600 * 1000,
      deleteWhen: options.deleteWhen ?? "04",
      diskHighWaterPercent: options.diskHighWaterPercent ?? 75,
      diskHardLimitPercent: options.diskHardLimitPercent ?? 90,
      messageIndexEnable: options.messageIndexEnable ?? true,
      maxHashSlotNum: options.maxHashSlotNum ?? 1_000_000,
      maxIndexNum: options.maxIndexNum ?? 4_000_000,
      storeHost: options.storeHost,
      now: options.now ?? Date.now,
    } satisfies ResolvedOptions;
    if (!Number.isSafeInteger(resolved.commitLogSegmentSize) || resolved.commitLogSegmentSize < 4096) {
      throw new RangeError(`Invalid commitLogSegmentSize "${resolved.commitLogSegmentSize}": expected at least 4096`);
    }
    if (!Number.isSafeInteger(resolved.consumeQueueEntriesPerFile) || resolved.consumeQueueEntriesPerFile < 1) {
      throw new RangeError(`Invalid consumeQueueEntriesPerFile "${resolved.consumeQueueEntriesPerFile}"`);
    }
    if (!Number.isSafeInteger(resolved.maxHashSlotNum) || resolved.maxHashSlotNum < 1 || resolved.maxHashSlotNum > 100_000_000) {
      throw new RangeError(`Invalid maxHashSlotNum "${resolved.maxHashSlotNum}": expected 1 to 100000000`);
    }
    if (!Number.isSafeInteger(resolved.maxIndexNum) || resolved.maxIndexNum < MIN_ENTRIES_PER_FILE || resolved.maxIndexNum > 100_000_000) {
      throw new RangeError(`Invalid maxIndexNum "${resolved.maxIndexNum}": expected ${MIN_ENTRIES_PER_FILE} to 100000000`);
    }
    if (!(resolved.fileReservedTimeMs > 0)) throw new RangeError(`Invalid fileReservedTimeMs "${resolved.fileReservedTimeMs}": expected more than 0`);
    parseDeleteWhen(resolved.deleteWhen); // throws early on a bad window
    createOffsetMessageId(resolved.storeHost, 0); // throws early on an unparsable store host
    const disk = new DiskWatch({
      storage,
      path: resolved.dataDir,
      highWaterPercent: resolved.diskHighWaterPercent,
      hardLimitPercent: resolved.diskHardLimitPercent,
    });
    storage.mkdir(resolved.dataDir);
    const commitLog = CommitLog.open(joinPath(resolved.dataDir, "commitlog"), {
      storage,
      segmentSize: resolved.commitLogSegmentSize,
    });
    const queues = new QueueTable(joinPath(resolved.dataDir, "consumequeue"), {
      storage,
      entriesPerFile: resolved.consumeQueueEntriesPerFile,
    });
    const checkpoint = new Checkpoint(joinPath(resolved.dataDir, "checkpoint"), { storage });
    const quarantine = new Quarantine(joinPath(resolved.dataDir, "quarantine"), { storage });
    let recovered: Awaited<ReturnType<typeof recoverStore>>;
    let index: KeyIndex | undefined;
    try {
      queues.load();
      const truncated = options.truncateTo === undefined ? undefined : await truncateLog(commitLog, quarantine, options.truncateTo);
      recovered = await recoverStore({ commitLog, queues, checkpoint, quarantine, ...(truncated === undefined ? {} : { truncatedAt: truncated.at }) });
      if (truncated !== undefined) {
        recovered.report.truncated = truncated;
        options.log?.(
          `CommitLog cut back to ${truncated.at} to rejoin the group's master: ${truncated.bytes} bytes of an epoch it does not continue ` +
            `removed${truncated.copy === undefined ? "" : ` (copied to ${truncated.copy})`}`,
          "warn",
        );
      }
      await commitLog.flush();
      await queues.flush();
      await checkpoint.save(checkpointState({
        physicalOffset: commitLog.flushedOffset,
        logicsOffset: commitLog.maxOffset,
        timestamp: resolved.now(),
        queues: queueTable(queues),
        deletedTopics: recovered.deletedTopics,
      }));
      if (resolved.messageIndexEnable) {
        index = await openKeyIndex(joinPath(resolved.dataDir, "index"), {
          storage,
          hashSlots: resolved.maxHashSlotNum,
          entriesPerFile: resolved.maxIndexNum,
          commitLog,
        });
        const described = describeKeyIndexRecovery(index.stats.recovery);
        if (described.summary !== undefined) options.log?.(described.summary, "info");
        for (const warning of described.warnings) options.log?.(`Warning: ${warning}`, "warn");
      }
    } catch (error) {
      commitLog.close();
      queues.close();
      throw error;
    }
    const store = new MessageStore(
      { commitLog, queues, checkpoint, disk, quarantine, index },
      { ...resolved, topicRetentionMs: options.topicRetentionMs, log: options.log },
      recovered,
    );
    // Messages past their retention are not served even for a moment after a restart.
    store.#expireMessages();
    disk.refresh();
    store.#timer = setInterval(() => void store.#housekeep(), resolved.flushIntervalMs);
    store.#timer.unref?.();
    return store;
  }

  /** The store host as an offset message id's prefix: a record's id is this and its offset (`offsetMessageId`). */
  get messageIdPrefix(): string {
    return this.#idPrefix;
  }

  /**
   * Appends one message. Writes made in the same tick share one file write; in sync mode the
   * promise resolves after the fsync that covers the record.
   *
   * @param input The record without store host.
   * @returns The outcome; never rejects.
   */
  putMessage(input: StoreInput): Promise<PutResult> {
    // Its own group, answered with its one result: no `.then` (a promise and a closure) a message.
    const refused = this.#refuse(1);
    if (refused !== undefined) return Promise.resolve(refused);
    const checked = this.#prepare(input, input);
    if (!(checked instanceof PreparedRecord)) return Promise.resolve(checked);
    return this.#enqueue([checked], true) as Promise<PutResult>;
  }

  /**
   * Appends messages of one topic queue with consecutive queue offsets, in one write. If any is
   * invalid, none is stored.
   *
   * @param inputs Records of the same topic and queue id.
   * @returns One outcome per input; never rejects.
   */
  putMessages(inputs: readonly StoreInput[]): Promise<PutResult[]> {
    const refused = this.#refuse(inputs.length);
    if (refused !== undefined) return Promise.resolve(inputs.map(() => refused));
    if (inputs.length === 0) return Promise.resolve([]);
    const records: PreparedRecord[] = [];
    for (const input of inputs) {
      const checked = this.#prepare(input, inputs[0]!);
      if (!(checked instanceof PreparedRecord)) return Promise.resolve(inputs.map(() => checked));
      records.push(checked);
    }
    return this.#enqueue(records, false) as Promise<PutResult[]>;
  }

  /**
   * Appends a batch as its client encoded it (see `scanBatchRecords`): the records are copied into
   * the CommitLog and the store's fields written into the copy, with consecutive queue offsets,
   * one ConsumeQueue write and one key index pass. All or none is stored. A host that is not IPv4
   * (the encoded layout holds IPv4 hosts) takes the per-message path instead.
   *
   * @param input The checked records, their topic queue, born time and host.
   * @returns The outcome; never rejects.
   */
  putBatch(input: BatchInput): Promise<BatchPutResult> {
    const { scan } = input;
    const count = scan.starts.length;
    const refused = this.#refuse(count);
    if (refused !== undefined) return Promise.resolve(failedBatch(refused.status, refused.error!));
    const badTarget = badTopic(input.topic) ?? badQueueId(input.queueId);
    if (badTarget !== undefined) return Promise.resolve(failedBatch("MESSAGE_ILLEGAL", badTarget));
    if (count === 0) return Promise.resolve({ status: "PUT_OK", queueOffset: -1, commitLogOffsets: [], storeTimestamp: 0 });
    const limit = this.#recordLimit();
    for (const size of scan.sizes) {
      if (size > limit) return Promise.resolve(failedBatch("MESSAGE_ILLEGAL", `Message of ${size} bytes exceeds the limit of ${limit} bytes`));
    }
    let bornIp: Uint8Array;
    let storeIp: Uint8Array;
    try {
      bornIp = parseIp(input.bornHost.address);
      storeIp = parseIp(this.#options.storeHost.address);
    } catch (error) {
      return Promise.resolve(failedBatch("MESSAGE_ILLEGAL", (error as Error).message));
    }
    if (bornIp.length !== 4 || storeIp.length !== 4) return this.#putBatchApart(input);
    const batch = {
      input,
      scan,
      offsets: new Array<number>(count),
      patch: {
        queueId: input.queueId,
        queueOffset: 0,
        physicalOffset: 0,
        bodyCrc: 0,
        bornTimestamp: input.bornTimestamp,
        bornIp,
        bornPort: input.bornHost.port,
        storeTimestamp: 0,
        storeIp,
        storePort: this.#options.storeHost.port,
      },
    };
    return new Promise((resolve) => {
      this.#pending.push({ records: [], batch, resolve: resolve as PutGroup["resolve"], one: false });
      this.#scheduleWrite();
    });
  }

  /** A batch stored message by message, as `putMessages` stores them (a host the encoded layout cannot hold). */
  async #putBatchApart(input: BatchInput): Promise<BatchPutResult> {
    const results = await this.putMessages(batchMessages(input.scan).map((m) => ({
      topic: input.topic,
      queueId: input.queueId,
      flag: m.flag,
      sysFlag: 0,
      bornTimestamp: input.bornTimestamp,
      bornHost: input.bornHost,
      reconsumeTimes: 0,
      preparedTransactionOffset: 0,
      body: m.body,
      properties: m.properties,
    })));
    const first = results[0]!;
    if (first.status !== "PUT_OK") return failedBatch(first.status, first.error ?? "");
    return { status: "PUT_OK", queueOffset: first.queueOffset, commitLogOffsets: results.map((r) => r.commitLogOffset), storeTimestamp: first.storeTimestamp };
  }

  /** The failure of a put of `count` records while the store cannot take writes (counted when the disk refuses), or undefined. */
  #refuse(count: number): PutResult | undefined {
    const unavailable = this.#unavailable() ?? this.#disk.refusal;
    if (!unavailable) return undefined;
    if (unavailable === this.#disk.refusal) this.#disk.refusedPuts += count;
    return failed("SERVICE_NOT_AVAILABLE", unavailable);
  }

  /** Queues prepared records as one group for this tick's write, answered with the first result alone when `one`. */
  #enqueue(records: PreparedRecord[], one: boolean): Promise<PutResult | PutResult[]> {
    return new Promise((resolve) => {
      this.#pending.push({ records, resolve: resolve as PutGroup["resolve"], one });
      this.#scheduleWrite();
    });
  }

  /**
   * Appends several groups of messages (each group one topic queue, as `putMessages` takes) in one
   * write, all or none at validation, back to back in the order given: a crash can cut the write
   * only at a record boundary, so what survives is always the groups' first records in order.
   * Transactions use it to write a committed message and the op record that resolves its half
   * message together (see docs/STORAGE.md).
   *
   * @param groups Records of one topic queue per group.
   * @returns Each group's outcomes; never rejects.
   */
  putMessageGroups(groups: readonly (readonly StoreInput[])[]): Promise<PutResult[][]> {
    const unavailable = this.#unavailable() ?? this.#disk.refusal;
    if (unavailable) {
      if (unavailable === this.#disk.refusal) this.#disk.refusedPuts += groups.reduce((n, g) => n + g.length, 0);
      return Promise.resolve(groups.map((g) => g.map(() => failed("SERVICE_NOT_AVAILABLE", unavailable))));
    }
    const prepared: PreparedRecord[][] = [];
    for (const inputs of groups) {
      const records: PreparedRecord[] = [];
      for (const input of inputs) {
        const checked = this.#prepare(input, inputs[0]!);
        if (!(checked instanceof PreparedRecord)) return Promise.resolve(groups.map((g) => g.map(() => checked)));
        records.push(checked);
      }
      prepared.push(records);
    }
    const done = Promise.all(prepared.map((records) =>
      records.length === 0 ? Promise.resolve([]) : new Promise<PutResult[]>((resolve) => this.#pending.push({ records, resolve: resolve as PutGroup["resolve"], one: false }))
    ));
    this.#scheduleWrite();
    return done;
  }

  /** Writes the pending puts at the end of this tick (once, however many were added). */
  #scheduleWrite(): void {
    if (this.#writeScheduled) return;
    this.#writeScheduled = true;
    queueMicrotask(() => this.#writePending());
  }

  #unavailable(): string | undefined {
    if (this.#closed || this.#closing) return "Store is closed";
    if (this.#failure) return `Store stopped accepting writes after a disk error: ${this.#failure.message}`;
    return undefined;
  }

  /** The largest record stored: the configured limit, and what one segment holds. */
  #recordLimit(): number {
    return Math.min(this.#options.maxMessageSize, this.#commitLog.segmentSize - 8);
  }

  #prepare(input: StoreInput, first: StoreInput): PreparedRecord | PutResult {
    // Later inputs must name the first one's topic, which is checked once.
    const badTarget = (input === first || input.topic !== first.topic ? badTopic(input.topic) : undefined) ?? badQueueId(input.queueId);
    if (badTarget !== undefined) return failed("MESSAGE_ILLEGAL", badTarget);
    if (input.topic !== first.topic || input.queueId !== first.queueId) {
      return failed("MESSAGE_ILLEGAL", "A batch must target one topic queue");
    }
    let record: PreparedRecord;
    try {
      record = new PreparedRecord(input, this.#options.storeHost);
    } catch (error) {
      // The topic was checked above, so a RangeError here means the properties are too long.
      const status = error instanceof RangeError ? "PROPERTIES_SIZE_EXCEEDED" : "MESSAGE_ILLEGAL";
      return failed(status, (error as Error).message);
    }
    const limit = this.#recordLimit();
    if (record.size > limit) {
      return failed("MESSAGE_ILLEGAL", `Message of ${record.size} bytes exceeds the limit of ${limit} bytes`);
    }
    return record;
  }

  #writePending(): void {
    this.#writeScheduled = false;
    const groups = this.#pending;
    if (groups.length === 0) return;
    this.#pending = [];
    if (this.#failure) {
      const reason = this.#unavailable()!;
      for (const g of groups) settleFailed(g, "SERVICE_NOT_AVAILABLE", reason);
      return;
    }
    const records: (PreparedRecord | EncodedBatch)[] = [];
    const queueOffsets: number[] = [];
    const items: (DispatchItem | DispatchRun)[] = [];
    for (const group of groups) {
      const batch = group.batch;
      if (batch !== undefined) {
        const state = this.#queues.get(batch.input.topic, batch.input.queueId);
        records.push(batch);
        queueOffsets.push(state.next);
        const { scan } = batch;
        items.push({ state, queueOffset: state.next, offsets: batch.offsets, sizes: scan.sizes, tagHashes: scan.tagHashes });
        state.next += scan.starts.length;
        continue;
      }
      const first = group.records[0]!.input;
      const state = this.#queues.get(first.topic, first.queueId);
      for (const record of group.records) {
        records.push(record);
        queueOffsets.push(state.next);
        items.push({
          state,
          queueOffset: state.next++,
          offset: 0,
          size: record.size,
          tagHash: tagHash(propertyValue(record.input.properties, MessageConst.TAGS)),
        });
      }
    }
    const storeTimestamp = this.#options.now();
    const start = this.#commitLog.maxOffset;
    let offsets: number[];
    try {
      offsets = this.#commitLog.append(records, { queueOffsets, storeTimestamp });
    } catch (error) {
      // Nothing of this batch was acknowledged or shown: cut it off and keep taking writes.
      this.#abandon({ start, end: start, items, groups }, error as Error);
      return;
    }
    this.#lastWriteError = undefined;
    this.#disk.wrote(this.#commitLog.maxOffset - start);
    const batch: WrittenBatch = { start, end: this.#commitLog.maxOffset, items, groups };
    let k = 0;
    for (const group of groups) {
      if (group.batch !== undefined) {
        group.written = { status: "PUT_OK", queueOffset: queueOffsets[k]!, commitLogOffsets: group.batch.offsets, storeTimestamp };
        k++;
        continue;
      }
      if (group.one) {
        (items[k] as DispatchItem).offset = offsets[k]!;
        group.written = new StoredPut(queueOffsets[k]!, offsets[k]!, storeTimestamp, this.#idPrefix);
        k++;
        continue;
      }
      const results: PutResult[] = [];
      for (let i = 0; i < group.records.length; i++, k++) {
        (items[k] as DispatchItem).offset = offsets[k]!;
        results.push(new StoredPut(queueOffsets[k]!, offsets[k]!, storeTimestamp, this.#idPrefix));
      }
      group.written = results;
    }
    if (this.#options.flushMode === "sync") {
      this.#awaitingFlush.push(batch);
      void this.#requestFlush();
    } else {
      this.#publish(batch);
    }
  }


  /**
   * Makes a written batch visible: ConsumeQueue entries, onArrive, then the put results. When
   * the entries cannot be written (a full disk), the batch and every batch written after it are
   * abandoned instead.
   */
  #publish(batch: WrittenBatch): void {
    try {
      this.#queues.dispatch(batch.items);
    } catch (error) {
      const later = this.#awaitingFlush.splice(0);
      this.#abandon({ ...batch, end: later.at(-1)?.end ?? batch.end, items: [...batch.items, ...later.flatMap((b) => b.items)], groups: [...batch.groups, ...later.flatMap((b) => b.groups)] }, error as Error);
      return;
    }
    this.#visibleOffset = batch.end;
    const index = this.#index;
    if (index) {
      for (const group of batch.groups) {
        if (group.batch !== undefined) {
          const written = group.written as BatchPutResult;
          index.addBatch(group.batch.input.topic, group.batch.scan, written.commitLogOffsets, written.storeTimestamp);
          continue;
        }
        for (let i = 0; i < group.records.length; i++) {
          const result = writtenResult(group, i);
          index.add(group.records[i]!.input, result.commitLogOffset, group.records[i]!.size, result.storeTimestamp);
        }
      }
    }
    const listener = this.onArrive;
    if (listener) {
      for (const item of batch.items) {
        if (item.state.deleted) continue;
        try {
          if ("offsets" in item) {
            for (let i = 0; i < item.offsets.length; i++) listener(item.state.topic, item.state.queueId, item.queueOffset + i, item.tagHashes[i]!);
          } else {
            listener(item.state.topic, item.state.queueId, item.queueOffset, item.tagHash);
          }
        } catch {
          // A listener's failure must not break the store.
        }
      }
    }
    for (const group of batch.groups) group.resolve(group.written!);
  }

  /**
   * Undoes written batches nobody was shown (a failed write or ConsumeQueue dispatch): the
   * CommitLog is cut back to `batch.start`, the queues' ConsumeQueue ends and next offsets go back
   * to the batch's first entries, and every put fails. The store keeps taking writes, so a full
   * disk stops sends only until space returns. Only when the cut itself fails does it stop.
   */
  #abandon(batch: WrittenBatch, error: Error): void {
    const first = new Map<DispatchItem["state"], number>();
    for (const item of batch.items) {
      const seen = first.get(item.state);
      if (seen === undefined || item.queueOffset < seen) first.set(item.state, item.queueOffset);
    }
    try {
      for (const [state, offset] of first) {
        state.next = offset;
        if (state.cq && state.cq.maxOffset > offset) state.cq.truncateTo(offset);
      }
      this.#commitLog.truncateTo(batch.start);
    } catch (cutError) {
      this.#failure ??= new Error(`${writeErrorText(error)}, and cutting the log back failed: ${(cutError as Error).message}`, { cause: cutError });
    }
    const full = isDiskFull(error);
    const status: PutStatus = full && !this.#failure ? "SERVICE_NOT_AVAILABLE" : "FLUSH_DISK_FAILED";
    const message = full && !this.#failure
      ? `${writeErrorText(error)}; the message was not stored, sends resume once space is freed`
      : this.#failure?.message ?? writeErrorText(error);
    this.#lastWriteError = message;
    for (const group of batch.groups) settleFailed(group, status, message);
  }

  #requestFlush(): Promise<void> {
    this.#flushing ??= this.#flushLoop().finally(() => {
      this.#flushing = undefined;
      // A put made while the loop was ending (from an onArrive listener, say) was written after
      // its last check and found the loop still running: flush it now rather than leave it waiting.
      if (this.#awaitingFlush.length > 0 && !this.#failure) void this.#requestFlush();
    });
    return this.#flushing;
  }

  async #flushLoop(): Promise<void> {
    do {
      let flushed: number;
      try {
        flushed = await this.#commitLog.flush();
      } catch (error) {
        this.#failure = error as Error;
        break;
      }
      while (this.#awaitingFlush.length && this.#awaitingFlush[0]!.end <= flushed) {
        this.#publish(this.#awaitingFlush.shift()!);
      }
    } while (!this.#failure && this.#awaitingFlush.length > 0);
    if (this.#failure) {
      const message = `Flush failed: ${this.#failure.message}`;
      for (const batch of this.#awaitingFlush.splice(0)) {
        for (const group of batch.groups) settleFailed(group, "FLUSH_DISK_FAILED", message);
      }
    }
  }

  /**
   * Reads up to `maxMsgNums` visible messages of a queue from queue offset `offset`.
   *
   * @param topic Topic name.
   * @param queueId Queue id.
   * @param offset First queue offset to read.
   * @param maxMsgNums Most messages to return.
   * @param filter Keeps a message when it returns true for its tag hash (a function), or for its
   *   stored record (a `RecordFilter`, such as a compiled SQL92 filter).
   * @param maxBytes Byte budget of the body (at least one message is returned). @default 262144
   * @param into Lends the body from this buffer's memory (give it back with `into.release`).
   *   @default new memory, the caller's to keep
   * @returns Status, next offset and the stored records as they are on disk.
   */
  getMessage(
    topic: string,
    queueId: number,
    offset: number,
    maxMsgNums: number,
    filter?: ((tagHash: number) => boolean) | RecordFilter,
    maxBytes: number = DEFAULT_MAX_BYTES,
    into?: BodyBuffer,
  ): GetResult {
    // One shape for every read, so the read path's code sees one kind of object.
    const request: ReadRequest = {
      offset,
      maxMsgNums,
      filter: typeof filter === "function" ? filter : undefined,
      recordFilter: typeof filter === "object" ? filter : undefined,
      maxBytes,
      into,
    };
    const state = this.#queues.find(topic, queueId);
    if (state === undefined) return readQueue(this.#emptySource(topic, queueId), request);
    return readQueue({
      cq: state.cq,
      commitLog: this.#commitLog,
      state,
      repair: (queueOffsets) => this.#repair(state, queueOffsets),
      unreadable: (count) => {
        this.#unreadableRecords += count;
      },
    }, request);
  }

  #emptySource(topic: string, queueId: number): Parameters<typeof readQueue>[0] {
    const state: QueueState = { topic, topicBytes: new Uint8Array(0), queueId, cq: undefined, next: 0, deleted: false };
    return { cq: undefined, commitLog: this.#commitLog, state, repair: () => false, unreadable: () => {} };
  }

  /** Mends the entries of runs of `queueOffsets` from the CommitLog; true when any changed. */
  #repair(state: QueueState, queueOffsets: number[]): boolean {
    let changed = false;
    for (let i = 0; i < queueOffsets.length;) {
      let j = i + 1;
      while (j < queueOffsets.length && queueOffsets[j] === queueOffsets[j - 1]! + 1) j++;
      const outcome = repairEntries(this.#commitLog, state, { from: queueOffsets[i]!, to: queueOffsets[j - 1]! + 1 }, this.#visibleOffset);
      this.#log?.(`Warning: ${outcome.description}`, "warn");
      this.#repairedEntries += outcome.repaired;
      if (outcome.repaired + outcome.skipped > 0) changed = true;
      i = j;
    }
    return changed;
  }

  /**
   * First queue offset still readable.
   *
   * @param topic Topic name.
   * @param queueId Queue id.
   * @returns The logical min offset (0 for an unknown queue).
   */
  getMinOffset(topic: string, queueId: number): number {
    return this.#queues.find(topic, queueId)?.cq?.minOffset ?? 0;
  }

  /**
   * Queue offset the next visible message will have.
   *
   * @param topic Topic name.
   * @param queueId Queue id.
   * @returns The logical max offset (0 for an unknown queue).
   */
  getMaxOffset(topic: string, queueId: number): number {
    return this.#queues.find(topic, queueId)?.cq?.maxOffset ?? 0;
  }

  /**
   * The first queue offset whose message was stored at or after `timestampMs`.
   *
   * @param topic Topic name.
   * @param queueId Queue id.
   * @param timestampMs Time in ms since epoch.
   * @returns That offset, or the max offset when every message is older.
   */
  getOffsetByTime(topic: string, queueId: number, timestampMs: number): number {
    const cq = this.#queues.find(topic, queueId)?.cq;
    return cq ? findOffsetByTime({ cq, commitLog: this.#commitLog }, timestampMs) : 0;
  }

  /**
   * The visible record stored at a CommitLog offset, bytes as stored, unless its queue no longer
   * serves it (retention moved the queue's min offset past it).
   *
   * @param commitLogOffset A record's physical offset (from a message id or ConsumeQueue).
   * @returns The record bytes, or undefined when no served record starts there.
   */
  lookMessageBytesByOffset(commitLogOffset: number): Uint8Array | undefined {
    if (commitLogOffset < this.#commitLog.minOffset || commitLogOffset >= this.#visibleOffset) return undefined;
    const size = this.#commitLog.sizeAt(commitLogOffset);
    if (size <= 0 || commitLogOffset + size > this.#visibleOffset) return undefined;
    const bytes = new Uint8Array(size);
    if (this.#commitLog.read(commitLogOffset, bytes) !== size) return undefined;
    let fields;
    try {
      fields = readRecordIndexFields(bytes, 0);
    } catch {
      return undefined;
    }
    const cq = this.#queues.find(fields.topic, fields.queueId)?.cq;
    return cq !== undefined && fields.queueOffset < cq.minOffset ? undefined : bytes;
  }

  /**
   * The visible message stored at a CommitLog offset.
   *
   * @param commitLogOffset A record's physical offset.
   * @returns The decoded message, or undefined.
   */
  lookMessageByOffset(commitLogOffset: number): MessageExt | undefined {
    const bytes = this.lookMessageBytesByOffset(commitLogOffset);
    if (!bytes) return undefined;
    try {
      return decodeRecord(bytes, 0);
    } catch {
      return undefined;
    }
  }

  /** Whether the key index is on (`messageIndexEnable`): `queryMessage` works only then. */
  get indexEnabled(): boolean {
    return this.#index !== undefined;
  }

  /**
   * The visible messages of a topic with a key (in `KEYS`) or unique key (`UNIQ_KEY`), stored in
   * a time range, newest first, found through the key index. Every candidate the index names is
   * checked against its record (topic, key, store time), so a hash collision never shows a wrong
   * message; messages past retention or of a deleted topic are left out.
   *
   * @param topic The topic.
   * @param key The key or unique key.
   * @param options Time range, most messages, unique key only, byte budget.
   * @returns The records back to back and whether they are every match.
   * @throws {Error} When the key index is off.
   */
  queryMessage(topic: string, key: string, options: KeyQueryOptions = {}): KeyQueryResult {
    const index = this.#index;
    if (index === undefined) throw new Error("Key lookups are off on this store: messageIndexEnable is false");
    const begin = options.beginTimestamp ?? 0;
    const end = options.endTimestamp ?? Number.MAX_SAFE_INTEGER;
    const maxNum = Math.max(1, Math.min(MAX_QUERY_NUM, options.maxNum ?? 32));
    const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
    const uniqueOnly = options.uniqueKey === true;
    const deletedAt = this.#deletedTopics.get(topic);
    const seen = new Set<number>();
    const records: Uint8Array[] = [];
    let bytes = 0;
    let incomplete: string | undefined;
    const walk = index.lookup(topic, key, { begin, end, budget: MAX_INDEX_READS }, (offset) => {
      if (seen.has(offset) || (deletedAt !== undefined && offset < deletedAt)) return true;
      seen.add(offset);
      const record = this.lookMessageBytesByOffset(offset);
      if (record === undefined || !recordHasKey(record, { topic, key, begin, end, uniqueOnly })) return true;
      if (records.length >= maxNum) {
        incomplete = `more than ${maxNum} messages match`;
        return false;
      }
      if (records.length > 0 && bytes + record.length > maxBytes) {
        incomplete = `the matches exceed ${maxBytes} bytes`;
        return false;
      }
      records.push(record);
      bytes += record.length;
      return true;
    });
    if (walk.exhausted) incomplete ??= `the lookup stopped after reading ${walk.read} index entries (keys of other messages share this key's hash slot)`;
    if (index.failure !== undefined) incomplete ??= `the key index stopped at CommitLog offset ${index.indexedOffset} (${index.failure.message}): later messages are not indexed until the broker restarts`;
    const last = index.lastUpdate;
    const result: KeyQueryResult = {
      count: records.length,
      complete: incomplete === undefined,
      entriesRead: walk.read,
      indexLastUpdateTimestamp: last.timestamp,
      indexLastUpdatePhyoffset: last.offset,
    };
    if (incomplete !== undefined) result.incomplete = incomplete;
    if (records.length > 0) {
      const body = new Uint8Array(bytes);
      let pos = 0;
      for (const record of records) {
        body.set(record, pos);
        pos += record.length;
      }
      result.body = body;
    }
    return result;
  }

  /** Topics with at least one queue, sorted. */
  topics(): string[] {
    return this.#queues.topics();
  }

  /**
   * Queue ids of a topic that hold or held messages, sorted.
   *
   * @param topic Topic name.
   * @returns The ids.
   */
  queueIds(topic: string): number[] {
    return this.#queues.queueIds(topic);
  }

  /**
   * Removes a topic's ConsumeQueues (its records stay in the CommitLog until retention deletes
   * them). The checkpoint records the deletion first, so recovery never indexes those records
   * again, not even after a crash in the middle of this.
   *
   * @param topic Topic name.
   */
  async deleteTopic(topic: string): Promise<void> {
    await this.flush();
    this.#deletedTopics.set(topic, this.#commitLog.maxOffset);
    await this.#saveCheckpoint(topic);
    await this.#queues.delete(topic);
    await this.#saveCheckpoint();
  }

  /** Writes and fsyncs everything put so far, then the ConsumeQueues and the checkpoint. */
  async flush(): Promise<void> {
    this.#writePending();
    await this.#requestFlush();
    if (this.#commitLog.flushedOffset < this.#commitLog.maxOffset && !this.#failure) await this.#requestFlush();
    if (this.#failure) throw new Error(`Flush failed: ${this.#failure.message}`, { cause: this.#failure });
    await this.#queues.flush();
    await this.#saveCheckpoint();
    await this.#index?.flush();
  }

  /** Saves the checkpoint; the queue table it records leaves out `deleting` (a topic being deleted). */
  #saveCheckpoint(deleting?: string): Promise<void> {
    const run = async () => {
      const logicsOffset = this.#visibleOffset;
      // Taken with the visible offset, before the flush that makes these entries durable.
      const queues = queueTable(this.#queues, deleting);
      await this.#queues.flush();
      for (const [topic, at] of this.#deletedTopics) if (at <= this.#commitLog.minOffset) this.#deletedTopics.delete(topic);
      const state = checkpointState({
        physicalOffset: this.#commitLog.flushedOffset,
        logicsOffset,
        timestamp: 0,
        queues,
        deletedTopics: this.#deletedTopics,
      });
      // An idle broker housekeeps every flush interval: the same state is not written (and fsynced) again.
      const key = JSON.stringify(state);
      if (key === this.#savedCheckpoint) return;
      await this.#checkpoint.save({ ...state, timestamp: this.#options.now() });
      this.#savedCheckpoint = key;
    };
    const next = this.#checkpointChain.then(run, run);
    this.#checkpointChain = next.catch(() => {});
    return next;
  }

  #housekeep(): Promise<void> {
    this.#housekeeping ??= this.#housekeepOnce().finally(() => {
      this.#housekeeping = undefined;
    });
    return this.#housekeeping;
  }

  async #housekeepOnce(): Promise<void> {
    if (this.#closed) return;
    if (this.#options.flushMode === "async") await this.#requestFlush();
    try {
      this.#disk.refresh();
      const now = this.#options.now();
      const ageCheck = now - this.#lastRetentionCheck >= RETENTION_CHECK_MS;
      if (ageCheck) this.#lastRetentionCheck = now;
      if (ageCheck || this.#disk.aboveHighWater) this.#retention(ageCheck);
      await this.#saveCheckpoint();
      await this.#index?.flush();
      this.#backgroundError = undefined;
    } catch (error) {
      this.#backgroundError = error as Error;
    }
  }

  /**
   * One retention run, as the background task makes it every minute: queues stop serving
   * messages older than their topic's retention; in the `deleteWhen` hours, segments none of
   * whose messages is served any more are deleted; and while the disk is above the high-water
   * mark, the oldest segments are deleted even if young. At most 10 segments go per kind and run.
   *
   * @returns What was done.
   */
  runRetention(): RetentionReport {
    return this.#retention(true);
  }

  #retention(byAge: boolean): RetentionReport {
    const report: RetentionReport = { expiredQueues: 0, timeSegments: 0, diskSegments: 0 };
    if (byAge) {
      report.expiredQueues = this.#expireMessages();
      if (inDeleteWindow(this.#deleteHours, this.#options.now())) report.timeSegments = this.#deleteUnserved();
    }
    report.diskSegments = this.#deleteForSpace();
    return report;
  }

  /**
   * Deletes CommitLog segments (never the last) none of whose messages any queue still serves:
   * messages past their topic's retention (`fileReservedTimeMs` or the topic's own), or of
   * deleted topics. Unlike the background task, it ignores the `deleteWhen` hours.
   *
   * @returns How many segments were deleted.
   */
  deleteExpiredSegments(): number {
    this.#expireMessages();
    return this.#deleteUnserved();
  }

  /** Moves each queue's min offset past its messages older than its topic's retention. */
  #expireMessages(): number {
    const now = this.#options.now();
    let moved = 0;
    for (const state of this.#queues.states()) {
      const retention = this.#topicRetentionMs?.(state.topic) ?? this.#options.fileReservedTimeMs;
      if (expireQueue(state, this.#commitLog, now - retention)) moved++;
    }
    return moved;
  }

  #deleteUnserved(): number {
    const floor = this.retentionFloor?.() ?? Infinity;
    const lowest = Math.min(lowestServedOffset(this.#queues.states(), this.#visibleOffset), this.#visibleOffset, floor);
    let n = 0;
    const deleted = this.#commitLog.deleteSegments((_start, limit) => limit <= lowest && n++ < MAX_DELETES_PER_RUN);
    if (deleted > 0) {
      this.#deletedSegments.time += deleted;
      this.#afterDeletion();
      this.#log?.(`Deleted ${deleted} CommitLog segment(s) whose messages are all past retention; the log now starts at ${this.#commitLog.minOffset}`, "info");
    }
    return deleted;
  }

  /** While the disk is above the high-water mark: deletes the oldest segments, reading the disk again after each. */
  #deleteForSpace(): number {
    if (!this.#disk.aboveHighWater) return 0;
    const before = this.#disk.status()!.usedPercent;
    let n = 0;
    const deleted = this.#commitLog.deleteSegments((_start, limit) => {
      if (n > 0) this.#disk.refresh();
      return limit <= this.#visibleOffset && this.#disk.aboveHighWater && n++ < MAX_DELETES_PER_RUN;
    });
    if (deleted > 0) {
      this.#deletedSegments.disk += deleted;
      this.#afterDeletion();
      const status = this.#disk.status()!;
      this.#log?.(
        `Disk ${before}% full, above the high-water mark of ${status.highWaterPercent}% (diskHighWaterPercent): deleted the ` +
          `${deleted} oldest CommitLog segment(s), messages within retention included; now ${status.usedPercent}%, the log starts at ${this.#commitLog.minOffset}`,
        "warn",
      );
    }
    return deleted;
  }

  #afterDeletion(): void {
    for (const state of this.#queues.states()) state.cq?.dropBelow(this.#commitLog.minOffset);
    this.#index?.dropBelow(this.#commitLog.minOffset);
    this.#disk.refresh();
  }

  /** CommitLog segment size in bytes (a master and its slaves must agree on it). */
  get commitLogSegmentSize(): number {
    return this.#commitLog.segmentSize;
  }

  /**
   * Replication (master): raw CommitLog bytes from `offset`, whole records only and never past
   * what consumers may see (so a slave never holds what the flush mode could take back).
   *
   * @param offset A record boundary or segment start.
   * @param maxBytes Byte budget (one larger record is still returned whole).
   * @returns The bytes and where the next chunk starts.
   * @throws {RangeError} When no record starts at `offset`.
   */
  readReplica(offset: number, maxBytes: number): ReplicaChunk {
    return readReplicaChunk(this.#commitLog, offset, this.#visibleOffset, maxBytes);
  }

  /**
   * Replication (slave): verifies records received from the master, writes them at the same
   * CommitLog offsets, fsyncs them under sync flush, then indexes them and makes them visible
   * (firing `onArrive`). Only for a store that takes no puts of its own.
   *
   * @param offset Where the bytes start: the CommitLog end (any segment start when empty).
   * @param bytes Whole records from the master's log.
   * @returns The CommitLog end afterwards: what the slave may acknowledge.
   * @throws {RangeError} When a record is invalid or `offset` is not the end.
   * @throws {Error} When the store is closed or the write or fsync fails.
   */
  async appendReplica(offset: number, bytes: Uint8Array): Promise<number> {
    const unavailable = this.#unavailable();
    if (unavailable) throw new Error(unavailable);
    const chunk = checkReplicaChunk(offset, bytes, this.#commitLog.segmentSize, this.#queues);
    this.#commitLog.appendAt(offset, bytes, chunk.end);
    if (this.#options.flushMode === "sync") {
      while (this.#commitLog.flushedOffset < chunk.end && !this.#failure) await this.#requestFlush();
      if (this.#failure) throw new Error(`Flush failed: ${this.#failure.message}`, { cause: this.#failure });
    }
    this.#queues.dispatch(chunk.items);
    for (const item of chunk.items) this.#index?.addRecord(bytes, item.offset - offset, item.offset);
    this.#visibleOffset = chunk.end;
    const listener = this.onArrive;
    if (listener) {
      for (const item of chunk.items) {
        try {
          listener(item.state.topic, item.state.queueId, item.queueOffset, item.tagHash);
        } catch {
          // A listener's failure must not break the store.
        }
      }
    }
    return chunk.end;
  }

  /** Offsets and health of the store. */
  get stats(): StoreStats {
    const stats: StoreStats = {
      commitLogMinOffset: this.#commitLog.minOffset,
      commitLogMaxOffset: this.#commitLog.maxOffset,
      flushedOffset: this.#commitLog.flushedOffset,
      visibleOffset: this.#visibleOffset,
      segmentCount: this.#commitLog.segmentCount,
      recovery: this.#recovery,
      retention: {
        fileReservedTimeMs: this.#options.fileReservedTimeMs,
        deleteWhen: this.#options.deleteWhen,
        diskHighWaterPercent: this.#options.diskHighWaterPercent,
        diskHardLimitPercent: this.#options.diskHardLimitPercent,
      },
      deletedSegments: { ...this.#deletedSegments },
      repairedEntries: this.#repairedEntries,
      unreadableRecords: this.#unreadableRecords,
    };
    const disk = this.#disk.status();
    if (disk !== undefined) stats.disk = disk;
    if (this.#failure) stats.writeFailure = this.#failure.message;
    if (this.#lastWriteError) stats.lastWriteError = this.#lastWriteError;
    if (this.#backgroundError) stats.lastBackgroundError = this.#backgroundError.message;
    if (this.#index) stats.index = this.#index.stats;
    return stats;
  }

  /**
   * The copies of damaged CommitLog stretches under `<dataDir>/quarantine/`.
   *
   * @returns One entry per copy, in offset order.
   */
  quarantineFiles(): QuarantineFile[] {
    return this.#quarantine.list();
  }

  /** Stops background work, flushes everything, writes the checkpoint and closes the files. */
  async close(): Promise<void> {
    if (this.#closed || this.#closing) return;
    this.#writePending();
    this.#closing = true;
    clearInterval(this.#timer);
    let error: unknown;
    try {
      await this.flush();
    } catch (e) {
      error = e;
    }
    await this.#housekeeping?.catch(() => {});
    this.#closed = true;
    await this.#index?.close().catch((e) => {
      error ??= e;
    });
    this.#commitLog.close();
    this.#queues.close();
    if (error) throw error;
  }
}

/** A successful put; its message id text is put together only when asked for. */
class StoredPut implements PutResult {
  readonly status = "PUT_OK";
  readonly #idPrefix: string;

  constructor(readonly queueOffset: number, readonly commitLogOffset: number, readonly storeTimestamp: number, idPrefix: string) {
    this.#idPrefix = idPrefix;
  }

  get msgId(): string {
    return offsetMessageId(this.#idPrefix, this.commitLogOffset);
  }
}

function failed(status: PutStatus, error: string): PutResult {
  return { status, queueOffset: -1, commitLogOffset: -1, msgId: "", storeTimestamp: 0, error };
}

function failedBatch(status: PutStatus, error: string): BatchPutResult {
  return { status, queueOffset: -1, commitLogOffsets: [], storeTimestamp: 0, error };
}

/** Whether a write failed for want of space (ENOSPC) or quota (EDQUOT). */
function isDiskFull(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return code === "ENOSPC" || code === "EDQUOT";
}

/** Says what a failed write means, naming a full disk plainly. */
function writeErrorText(error: Error): string {
  return isDiskFull(error) ? `Disk full: ${error.message}` : `Write failed: ${error.message}`;
}

/** Every queue's extent, for the checkpoint; `except` leaves out a topic being deleted. */
function queueTable(queues: QueueTable, except?: string): CheckpointQueue[] {
  const out: CheckpointQueue[] = [];
  for (const state of queues.states()) {
    if (state.cq && state.topic !== except && !state.deleted) out.push([state.topic, state.queueId, state.cq.minOffset, state.cq.maxOffset]);
  }
  return out;
}

function checkpointState(parts: {
  physicalOffset: number;
  logicsOffset: number;
  timestamp: number;
  queues: CheckpointQueue[];
  deletedTopics: Map<string, number>;
}): CheckpointState {
  return {
    version: 2,
    physicalOffset: parts.physicalOffset,
    logicsOffset: parts.logicsOffset,
    timestamp: parts.timestamp,
    queues: parts.queues,
    deletedTopics: Object.fromEntries(parts.deletedTopics),
  };
}

/** Whether a stored record is of `topic`, carries `key` (as a key, or as its unique key) and was stored in `[begin, end]`. */
function recordHasKey(record: Uint8Array, want: { topic: string; key: string; begin: number; end: number; uniqueOnly: boolean }): boolean {
  let fields;
  try {
    fields = readRecordIndexFields(record, 0);
  } catch {
    return false;
  }
  if (fields.topic !== want.topic) return false;
  const stored = readStoreTimestamp(record, 0);
  if (stored < want.begin || stored > want.end) return false;
  if (propertyValue(fields.properties, MessageConst.UNIQ_KEY) === want.key) return true;
  if (want.uniqueOnly) return false;
  const keys = propertyValue(fields.properties, MessageConst.KEYS);
  return keys !== undefined && keys.split(MessageConst.KEY_SEPARATOR).includes(want.key);
}

/** Cuts the CommitLog back to `offset` (controller mode's truncation), copying what goes aside. */
async function truncateLog(
  commitLog: CommitLog,
  quarantine: Quarantine,
  offset: number,
): Promise<{ at: number; bytes: number; copy?: string } | undefined> {
  const end = commitLog.maxOffset;
  if (offset >= end) return undefined;
  if (offset < commitLog.minOffset || !commitLog.isBoundary(offset)) {
    throw new Error(`Cannot cut the CommitLog back to ${offset}: no record starts there (the log holds ${commitLog.minOffset} to ${end})`);
  }
  const bytes = end - offset;
  let copy: string | undefined;
  if (bytes <= 64 * 1024 * 1024) {
    copy = await quarantine.save({ from: offset, to: end }, "cut", commitLog.readRange(offset, end));
  }
  commitLog.truncateTo(offset);
  await commitLog.flush();
  return { at: offset, bytes, ...(copy === undefined ? {} : { copy }) };
}
