/**
 * Transactional messages, RocketMQ's way: a half message waits, invisible to consumers, in queue 0
 * of `RMQ_SYS_TRANS_HALF_TOPIC` with its real destination in `REAL_TOPIC`/`REAL_QID`; what became
 * of it is an op record in queue 0 of `RMQ_SYS_TRANS_OP_HALF_TOPIC` whose body is the half's queue
 * offset (tag `d`: resolved, with `TRAN_RESOLUTION`; tag `c`: checked back, with
 * `TRANSACTION_CHECK_TIMES`). A commit writes the message to its real topic and the op record in
 * one write, in that order. Everything is in the CommitLog, so slaves get it by replication and
 * the state here is rebuilt from the log after a crash:
 *
 * - reading resumes from the offsets of the system group `CID_RMQ_SYS_TRANS` on the two topics
 *   (the oldest unresolved half, and the op queue's end when that half was read), saved with the
 *   consumer offsets;
 * - a commit whose op record a crash cut off (the write is cut only at a record boundary, so the
 *   committed message is then the last record of the log and of its queue) is found at start by
 *   reading the last message of each real queue with unresolved halves, and its op record written,
 *   so the message is never committed twice.
 *
 * A master checks unresolved halves back with a live member of their producer group
 * (CHECK_TRANSACTION_STATE) `transactionTimeoutMs` after storing (or the message's
 * `CHECK_IMMUNITY_TIME_IN_SECONDS`), then every `transactionCheckIntervalMs`, each check counted in
 * an op record; after `transactionCheckMax` checks it resolves them by `transactionCheckMaxPolicy`.
 * See docs/MESSAGES.md and docs/STORAGE.md.
 *
 * @module
 */
import { type HostAddress, MessageConst, type MessageExt, SysFlag } from "../../core/model/message.ts";
import { encodeProperties } from "../../core/model/properties.ts";
import { decodeRecords } from "../../core/model/record.ts";
import { TRANSACTION_GROUP, TRANSACTION_HALF_TOPIC, TRANSACTION_OP_TOPIC } from "../../core/model/system_topics.ts";
import type { CheckTransactionStateHeader, EndTransactionHeader } from "../../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { Reply } from "../../core/remoting/dispatcher.ts";
import type { MessageStore } from "../store/message_store.ts";
import type { PutResult, StoreInput } from "../store/store_types.ts";
import type { Access } from "../acl/access.ts";
import type { Log } from "../logger.ts";
import { DueQueue } from "./_due_queue.ts";
import { putReply } from "./processors/send.ts";
import type { ConsumerOffsetManager } from "./consumer_offset_manager.ts";
import type { ProducerManager } from "./producer_manager.ts";
import { PAUSED_RECHECK_MS, type PausedWhile } from "../store/background_pause.ts";

/** What a transaction became. */
export type TransactionOutcome = "COMMIT" | "ROLLBACK";
/** What the broker does with a half message still unresolved after `transactionCheckMax` checks. */
export type TransactionCheckMaxPolicy = "rollback" | "commit";
/** Who resolved a transaction: its producer, a check-back's answer, the policy, or start-up recovery of a commit. */
export type ResolvedBy = "producer" | "check" | "policy" | "recovery";

/** An unresolved half message. */
export interface PendingHalf {
  /** Its queue offset in the half topic. */
  readonly queueOffset: number;
  readonly commitLogOffset: number;
  readonly storeTimestamp: number;
  /** The real topic and queue. */
  readonly topic: string;
  readonly queueId: number;
  readonly producerGroup: string;
  /** The producer's unique key of the message. */
  readonly transactionId: string;
  /** Checks made so far. */
  checkTimes: number;
  /** When the latest check was recorded (ms since epoch), 0 before the first. */
  lastCheckAt: number;
  /** `CHECK_IMMUNITY_TIME_IN_SECONDS` in ms, when the message sets it. */
  readonly immunityMs: number | undefined;
  /** When it is next checked (ms since epoch). */
  dueAt: number;
  /** Op queue offset every op record of this half is at or after (where op reading resumes while it is pending). */
  readonly opMark: number;
}

/** Unresolved half messages of one real topic and producer group. */
export interface PendingSummary {
  topic: string;
  producerGroup: string;
  pending: number;
  /** Store time of the oldest (ms since epoch). */
  oldestStoreTimestamp: number;
  /** Most checks any of them has had. */
  maxCheckTimes: number;
  /** When the next of them is checked (ms since epoch). */
  nextCheckAt: number;
}

/** Counts since the broker started, from the records read (so a slave counts what its master did). */
export interface TransactionCounters {
  /** Half messages stored. */
  halfMessages: number;
  committed: number;
  rolledBack: number;
  /** Checks made (CHECK_TRANSACTION_STATE sent, or attempted with no producer connected). */
  checks: number;
  /** Transactions resolved by `transactionCheckMaxPolicy`. */
  resolvedByPolicy: number;
}

/** The settings in force. */
export interface TransactionSettings {
  transactionTimeoutMs: number;
  transactionCheckMax: number;
  transactionCheckIntervalMs: number;
  transactionCheckMaxPolicy: TransactionCheckMaxPolicy;
}

/** Options of `TransactionService.open`. */
export interface TransactionServiceOptions {
  store: MessageStore;
  producers: ProducerManager;
  /** Where the reading offsets are kept (as the offsets of `CID_RMQ_SYS_TRANS`). */
  offsets: ConsumerOffsetManager;
  brokerName: string;
  /** Born host of the op records the broker writes. */
  storeHost: HostAddress;
  /** A master resolves and checks; a slave only follows the replicated log. */
  master: boolean;
  /** A half message is first checked this long after it was stored. @default 6000 */
  transactionTimeoutMs?: number;
  /** Checks before `transactionCheckMaxPolicy` resolves a half message. @default 15 */
  transactionCheckMax?: number;
  /** Time between two checks of one half message. @default 30000 */
  transactionCheckIntervalMs?: number;
  /** What becomes of a half message after `transactionCheckMax` checks. @default "rollback" */
  transactionCheckMaxPolicy?: TransactionCheckMaxPolicy;
  /** Counts a committed message into the broker's per-topic figures. */
  countCommitted?: (topic: string, bytes: number) => void;
  /** Told of each transaction this broker resolved (for its trace), with the half's properties when they were at hand. */
  resolved?: (half: PendingHalf, outcome: TransactionOutcome, by: ResolvedBy, properties: Readonly<Record<string, string>> | undefined) => void;
  /** SYNC_MASTER: waits for a slave to hold a record (resolves to the reply code). */
  awaitReplica?: (commitLogOffset: number) => Promise<number>;
  /** Where log lines go. @default no logging */
  log?: Log;
  /** Clock (ms since epoch). @default Date.now */
  now?: () => number;
  /** Check-backs and policy resolutions wait while this holds (a fenced master); producers' own ENDs are the processor's to refuse. @default never */
  paused?: PausedWhile;
}

/** What a commit needs of a half message's record. */
interface HalfRecord {
  /** The record as stored (its `properties` text is not used). */
  input: StoreInput;
  /** Its properties, decoded. */
  properties: Readonly<Record<string, string>>;
}

/** A transaction being resolved (its records not yet read back). */
interface Resolving {
  outcome: TransactionOutcome;
  done: Promise<Reply>;
}

/** Records one read of the half or op queue takes. */
const READ_BATCH = 256;
/** Half message records kept for their commits: at most this many bytes of bodies and properties, and this many records. */
const RECORD_CACHE_BYTES = 16 * 1024 * 1024;
const RECORD_CACHE_ENTRIES = 10_000;
/** Outcomes remembered for transactions no longer pending, so a repeated END gets the same answer. */
const RECENT_OUTCOMES = 100_000;
/** A half due while its END is being written is looked at again this much later. */
const RESOLVING_RECHECK_MS = 1000;
/** Checks sent in one run before yielding to other work. */
const CHECKS_PER_RUN = 500;
/** Check-back tag of op records (rocketmq-ts); RocketMQ's `d` marks a resolved half. */
const CHECK_TAG = "c";
const REMOVE_TAG = "d";
const TRANSACTION_TYPE_BITS = SysFlag.TRANSACTION_PREPARED | SysFlag.TRANSACTION_COMMIT;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder();

/** The broker's transactional messages: pending halves, END_TRANSACTION, check-backs and the policy. */
export class TransactionService {
  readonly settings: TransactionSettings;
  readonly counters: TransactionCounters = { halfMessages: 0, committed: 0, rolledBack: 0, checks: 0, resolvedByPolicy: 0 };
  readonly #o: TransactionServiceOptions;
  readonly #now: () => number;
  readonly #log: Log;
  /** Unresolved halves by half queue offset, in the order they were read. */
  readonly #pending = new Map<number, PendingHalf>();
  readonly #recent = new Map<number, TransactionOutcome>();
  readonly #resolving = new Map<number, Resolving>();
  readonly #due = new DueQueue<number>();
  #halfRead = 0;
  #opRead = 0;
  /** Queue offsets of half and op records this broker wrote and applied at once, not read yet: reading skips them. */
  readonly #ownHalves = new Set<number>();
  readonly #ownOps = new Set<number>();
  /** The records of recently stored half messages by half queue offset, so a commit need not read them back. */
  readonly #records = new Map<number, HalfRecord>();
  #recordBytes = 0;
  /** Counters start once the log up to the start is read. */
  #counting = false;
  #catchUpQueued = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;
  #checking = false;
  #closed = false;

  private constructor(options: TransactionServiceOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
    this.#log = options.log ?? (() => {});
    this.settings = {
      transactionTimeoutMs: positive("transactionTimeoutMs", options.transactionTimeoutMs ?? 6000),
      transactionCheckMax: positive("transactionCheckMax", options.transactionCheckMax ?? 15),
      transactionCheckIntervalMs: positive("transactionCheckIntervalMs", options.transactionCheckIntervalMs ?? 30_000),
      transactionCheckMaxPolicy: options.transactionCheckMaxPolicy ?? "rollback",
    };
    if (this.settings.transactionCheckMaxPolicy !== "rollback" && this.settings.transactionCheckMaxPolicy !== "commit") {
      throw new RangeError(`Invalid transactionCheckMaxPolicy "${this.settings.transactionCheckMaxPolicy}": expected "rollback" or "commit"`);
    }
  }

  /**
   * Rebuilds the pending half messages from the log and, on a master, writes the op record of a
   * commit a crash cut off.
   *
   * @param options The store, producers, offsets and settings.
   * @returns The service; call `start()` on a master to begin checking back.
   * @throws {RangeError} When a setting is invalid.
   */
  static async open(options: TransactionServiceOptions): Promise<TransactionService> {
    const service = new TransactionService(options);
    service.#halfRead = Math.max(0, options.offsets.query(TRANSACTION_GROUP, TRANSACTION_HALF_TOPIC, 0));
    service.#opRead = Math.max(0, options.offsets.query(TRANSACTION_GROUP, TRANSACTION_OP_TOPIC, 0));
    service.catchUp();
    service.#counting = true;
    if (options.master) await service.#recoverCutCommits();
    if (service.#pending.size > 0) {
      options.log?.(`Transactions: ${service.#pending.size} half message(s) pending from before the restart`, "info");
    }
    return service;
  }

  /** How many half messages are unresolved. */
  get pendingCount(): number {
    return this.#pending.size;
  }

  /**
   * The unresolved half messages, oldest first.
   *
   * @returns Copies of their state.
   */
  pending(): PendingHalf[] {
    return [...this.#pending.values()].map((h) => ({ ...h }));
  }

  /**
   * The unresolved half messages per real topic and producer group, sorted by topic then group.
   *
   * @returns One row per topic and group.
   */
  summary(): PendingSummary[] {
    const rows = new Map<string, PendingSummary>();
    for (const half of this.#pending.values()) {
      const key = `${half.topic}\u0000${half.producerGroup}`;
      const row = rows.get(key);
      if (row === undefined) {
        rows.set(key, {
          topic: half.topic,
          producerGroup: half.producerGroup,
          pending: 1,
          oldestStoreTimestamp: half.storeTimestamp,
          maxCheckTimes: half.checkTimes,
          nextCheckAt: half.dueAt,
        });
        continue;
      }
      row.pending++;
      row.oldestStoreTimestamp = Math.min(row.oldestStoreTimestamp, half.storeTimestamp);
      row.maxCheckTimes = Math.max(row.maxCheckTimes, half.checkTimes);
      row.nextCheckAt = Math.min(row.nextCheckAt, half.dueAt);
    }
    return [...rows.values()].sort((a, b) =>
      a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.producerGroup < b.producerGroup ? -1 : a.producerGroup > b.producerGroup ? 1 : 0
    );
  }

  /**
   * A record arrived in the half or op topic: read it soon. Soon is after the microtasks, so a
   * record this broker wrote is applied by its writer first and need not be read back.
   */
  wake(): void {
    if (this.#catchUpQueued || this.#closed) return;
    this.#catchUpQueued = true;
    setTimeout(() => {
      this.#catchUpQueued = false;
      this.catchUp();
    }, 0);
  }

  /**
   * A half message this broker just stored: pending at once (not read back from the log), its
   * record kept a while for its commit.
   *
   * @param input What was stored.
   * @param properties Its properties, decoded.
   * @param result Where it was stored.
   */
  halfStored(input: StoreInput, properties: Record<string, string>, result: PutResult): void {
    if (result.queueOffset < this.#halfRead) return; // already read back
    const half = halfFrom(properties, result, this.#opRead, this.settings.transactionTimeoutMs);
    if (half === undefined) return;
    this.#addHalf(half);
    this.#own(this.#ownHalves, result.queueOffset, "half");
    this.#keepRecord(half.queueOffset, { input, properties });
  }

  /**
   * Reads the half and op records visible since the last read: halves first, so every op record
   * read names a half already read.
   */
  catchUp(): void {
    const store = this.#o.store;
    // Nothing new (the common case of a wake-up after this broker's own read): two lookups.
    if (store.getMaxOffset(TRANSACTION_HALF_TOPIC, 0) === this.#halfRead && store.getMaxOffset(TRANSACTION_OP_TOPIC, 0) === this.#opRead) return;
    const opMark = this.#opRead;
    this.#halfRead = this.#readQueue(TRANSACTION_HALF_TOPIC, this.#halfRead, (message) => {
      if (this.#ownHalves.delete(message.queueOffset)) return;
      const half = halfFrom(message.properties, message, opMark, this.settings.transactionTimeoutMs);
      if (half === undefined) {
        this.#log(`Transactions: half message at queue offset ${message.queueOffset} has no valid REAL_TOPIC, REAL_QID, PGROUP or UNIQ_KEY; ignored`, "warn");
        return;
      }
      this.#addHalf(half);
    });
    this.#opRead = this.#readQueue(TRANSACTION_OP_TOPIC, this.#opRead, (op) => {
      if (this.#ownOps.delete(op.queueOffset)) return;
      const text = DECODER.decode(op.body);
      if (/^\d{1,16}$/.test(text)) this.#applyOp(Number(text), op.properties, op.storeTimestamp);
    });
    this.#saveProgress();
  }

  /** Where reading resumes after a restart: the oldest pending half, or the ends read (a master's, copied by its slaves). */
  #saveProgress(): void {
    if (!this.#o.master) return;
    // Nothing to save before the first transaction (no CID_RMQ_SYS_TRANS offsets on brokers without any).
    if (this.#halfRead > 0 || this.#opRead > 0) {
      const oldest = this.#pending.values().next().value as PendingHalf | undefined;
      this.#o.offsets.commit(TRANSACTION_GROUP, TRANSACTION_HALF_TOPIC, 0, oldest?.queueOffset ?? this.#halfRead);
      this.#o.offsets.commit(TRANSACTION_GROUP, TRANSACTION_OP_TOPIC, 0, oldest?.opMark ?? this.#opRead);
    }
    this.#arm();
  }

  /**
   * Notes a record this broker wrote and applied: the read position moves past it when nothing
   * before it is left to read, else reading skips it.
   */
  #own(own: Set<number>, queueOffset: number, kind: "half" | "op"): void {
    let read = kind === "half" ? this.#halfRead : this.#opRead;
    if (queueOffset < read) return;
    own.add(queueOffset);
    while (own.delete(read)) read++;
    if (kind === "half") this.#halfRead = read;
    else this.#opRead = read;
    this.#saveProgress();
  }

  /** Applies an op record this broker just wrote, unless reading got to it first. */
  #ownOp(halfOffset: number, properties: Record<string, string>, written: PutResult): void {
    if (written.queueOffset < this.#opRead) return;
    this.#applyOp(halfOffset, properties, written.storeTimestamp);
    this.#own(this.#ownOps, written.queueOffset, "op");
  }

  /** Keeps a half message's record for its commit, within a byte budget (the oldest go first). */
  #keepRecord(queueOffset: number, record: HalfRecord): void {
    this.#records.set(queueOffset, record);
    this.#recordBytes += record.input.body.length + record.input.properties.length;
    for (const [offset, oldest] of this.#records) {
      if (this.#recordBytes <= RECORD_CACHE_BYTES && this.#records.size <= RECORD_CACHE_ENTRIES) break;
      this.#dropRecord(offset, oldest);
    }
  }

  #dropRecord(queueOffset: number, record: HalfRecord | undefined = this.#records.get(queueOffset)): void {
    if (record === undefined || !this.#records.delete(queueOffset)) return;
    this.#recordBytes -= record.input.body.length + record.input.properties.length;
  }

  /**
   * Starts checking back (a master).
   */
  start(): void {
    if (!this.#o.master || this.#closed) return;
    this.#arm();
  }

  /** Stops checking back. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * END_TRANSACTION: commits or rolls back a half message, once. A repeat of what was already done
   * is answered SUCCESS (header `alreadyResolved`) and changes nothing; the opposite of what was
   * done is refused.
   *
   * @param header The request (validated).
   * @param access The rights of the request's account.
   * @returns The reply.
   */
  async end(header: EndTransactionHeader, access: Access): Promise<Reply> {
    this.catchUp();
    const half = this.#pending.get(header.tranStateTableOffset) ?? this.#storedHalf(header.commitLogOffset, header.tranStateTableOffset);
    const where = `commit log offset ${header.commitLogOffset}, half queue offset ${header.tranStateTableOffset}`;
    if (half === undefined || half.commitLogOffset !== header.commitLogOffset) {
      return { code: ResponseCode.TRANSACTION_NOT_FOUND, remark: `No half message is stored at ${where} on broker "${this.#o.brokerName}"` };
    }
    if (half.transactionId !== header.transactionId) {
      return {
        code: ResponseCode.TRANSACTION_NOT_FOUND,
        remark: `The half message at ${where} is of transaction "${half.transactionId}", not "${header.transactionId}"`,
      };
    }
    if (access.group(half.producerGroup) !== undefined || access.publish(half.topic) !== undefined) {
      return {
        code: ResponseCode.NO_PERMISSION,
        remark: `Account "${access.accessKey}" may not end transaction "${half.transactionId}": it needs PUB on the transaction's topic and the right to its producer group`,
      };
    }
    if (half.producerGroup !== header.producerGroup) {
      return {
        code: ResponseCode.TRANSACTION_STATE_GROUP_WRONG,
        remark: `Transaction "${half.transactionId}" belongs to producer group "${half.producerGroup}", not "${header.producerGroup}"`,
      };
    }
    if (half.topic !== header.topic) {
      return { code: ResponseCode.NO_PERMISSION, remark: `Transaction "${half.transactionId}" is of topic "${half.topic}", not "${header.topic}"` };
    }
    const outcome: TransactionOutcome | undefined = header.commitOrRollback === SysFlag.TRANSACTION_COMMIT
      ? "COMMIT"
      : header.commitOrRollback === SysFlag.TRANSACTION_ROLLBACK
      ? "ROLLBACK"
      : undefined;
    // Unknown: the producer does not know yet; the half stays pending and is checked again.
    if (outcome === undefined) return { code: ResponseCode.SUCCESS };
    const resolving = this.#resolving.get(half.queueOffset);
    if (resolving !== undefined) {
      if (resolving.outcome !== outcome) return this.#contradiction(half, resolving.outcome, outcome);
      const reply = await resolving.done;
      return reply.code === ResponseCode.SUCCESS ? { ...reply, header: { alreadyResolved: true } } : reply;
    }
    if (!this.#pending.has(half.queueOffset)) {
      const done = this.#recent.get(half.queueOffset);
      if (done === outcome) return { code: ResponseCode.SUCCESS, header: { alreadyResolved: true } };
      if (done !== undefined) return this.#contradiction(half, done, outcome);
      return {
        code: ResponseCode.ILLEGAL_OPERATION,
        remark: `Transaction "${half.transactionId}" was resolved long ago (before the broker's latest start); what it became is no longer kept`,
      };
    }
    return this.#resolve(this.#pending.get(half.queueOffset)!, outcome, header.fromTransactionCheck ? "check" : "producer");
  }

  #contradiction(half: PendingHalf, done: TransactionOutcome, asked: TransactionOutcome): Reply {
    return {
      code: ResponseCode.ILLEGAL_OPERATION,
      remark: `Transaction "${half.transactionId}" was already ${done === "COMMIT" ? "committed" : "rolled back"}: it cannot be ${
        asked === "COMMIT" ? "committed" : "rolled back"
      } now`,
    };
  }

  /** The half message stored at a commit log offset, if a half topic record with that queue offset is there. */
  #storedHalf(commitLogOffset: number, queueOffset: number): PendingHalf | undefined {
    const stored = this.#o.store.lookMessageByOffset(commitLogOffset);
    if (stored === undefined || stored.topic !== TRANSACTION_HALF_TOPIC || stored.queueOffset !== queueOffset) return undefined;
    return halfFrom(stored.properties, stored, this.#opRead, 0);
  }

  /** Writes a transaction's outcome (once, however many ask at the same time) and reads it back. */
  #resolve(half: PendingHalf, outcome: TransactionOutcome, by: ResolvedBy): Promise<Reply> {
    const done = this.#write(half, outcome, by).finally(() => {
      this.catchUp();
      this.#resolving.delete(half.queueOffset);
    });
    this.#resolving.set(half.queueOffset, { outcome, done });
    return done;
  }

  async #write(half: PendingHalf, outcome: TransactionOutcome, by: ResolvedBy): Promise<Reply> {
    const opProperties = { [MessageConst.TAGS]: REMOVE_TAG, [MessageConst.TRAN_RESOLUTION]: outcome, [MessageConst.TRAN_RESOLVED_BY]: by };
    const op = this.#opInput(half, opProperties);
    let results: PutResult[];
    let bytes = 0;
    let properties: Readonly<Record<string, string>> | undefined;
    if (outcome === "COMMIT") {
      const record = this.#records.get(half.queueOffset) ?? this.#readRecord(half);
      if (record === undefined) return this.#expired(half);
      properties = record.properties;
      const [committed, ops] = await this.#o.store.putMessageGroups([[committedInput(record, half)], [op]]);
      results = [committed![0]!, ops![0]!];
      bytes = record.input.body.length;
    } else {
      results = [await this.#o.store.putMessage(op)];
    }
    const failed = results.find((r) => r.status !== "PUT_OK");
    if (failed !== undefined) return putReply(failed)!;
    const written = results.at(-1)!;
    this.#ownOp(half.queueOffset, opProperties, written);
    if (outcome === "COMMIT") this.#o.countCommitted?.(half.topic, bytes);
    this.#o.resolved?.(half, outcome, by, properties);
    const last = results.at(-1)!;
    const code = this.#o.awaitReplica === undefined ? ResponseCode.SUCCESS : await this.#o.awaitReplica(last.commitLogOffset);
    return { code };
  }

  /** A half message's record read back from the log (when it is no longer kept), or undefined when retention deleted it. */
  #readRecord(half: PendingHalf): HalfRecord | undefined {
    const stored = this.#o.store.lookMessageByOffset(half.commitLogOffset);
    if (stored === undefined || stored.topic !== TRANSACTION_HALF_TOPIC) return undefined;
    return {
      input: {
        topic: stored.topic,
        queueId: stored.queueId,
        flag: stored.flag,
        sysFlag: stored.sysFlag,
        bornTimestamp: stored.bornTimestamp,
        bornHost: stored.bornHost,
        reconsumeTimes: stored.reconsumeTimes,
        preparedTransactionOffset: stored.preparedTransactionOffset,
        body: stored.body,
        properties: "",
      },
      properties: stored.properties,
    };
  }

  /** A pending half whose record retention deleted: nothing can be done with it any more. */
  #expired(half: PendingHalf): Reply {
    this.#pending.delete(half.queueOffset);
    this.#dropRecord(half.queueOffset);
    const remark = `Half message of transaction "${half.transactionId}" (topic "${half.topic}", producer group "${half.producerGroup}") ` +
      `is no longer stored (past retention) on broker "${this.#o.brokerName}"`;
    this.#log(`Transactions: ${remark}: dropped unresolved`, "warn");
    return { code: ResponseCode.TRANSACTION_NOT_FOUND, remark };
  }

  #opInput(half: Pick<PendingHalf, "queueOffset" | "commitLogOffset">, properties: Record<string, string>): StoreInput {
    return {
      topic: TRANSACTION_OP_TOPIC,
      queueId: 0,
      flag: 0,
      sysFlag: 0,
      bornTimestamp: this.#now(),
      bornHost: this.#o.storeHost,
      reconsumeTimes: 0,
      preparedTransactionOffset: half.commitLogOffset,
      body: ENCODER.encode(String(half.queueOffset)),
      properties: encodeProperties(properties),
    };
  }

  /** Reads a queue of the half or op topic from `from`; returns where the next read starts. */
  #readQueue(topic: string, from: number, handle: (message: MessageExt) => void): number {
    let offset = from;
    for (;;) {
      const result = this.#o.store.getMessage(topic, 0, offset, READ_BATCH);
      switch (result.status) {
        case "FOUND":
          for (const message of decodeRecords(result.body!, { copyBody: false })) handle(message);
          offset = result.nextBeginOffset;
          continue;
        case "OFFSET_TOO_SMALL":
          this.#log(`Transactions: ${topic} offsets ${offset} to ${result.nextBeginOffset - 1} are past retention and were not read`, "warn");
          offset = result.nextBeginOffset;
          continue;
        case "OFFSET_FOUND_NULL":
          if (result.nextBeginOffset <= offset) return offset;
          offset = result.nextBeginOffset;
          continue;
        default:
          // Caught up, or (a slave resuming from its master's offsets) the log is not there yet.
          return offset;
      }
    }
  }

  #addHalf(half: PendingHalf): void {
    this.#pending.set(half.queueOffset, half);
    if (this.#counting) this.counters.halfMessages++;
    if (this.#o.master) this.#due.push(half.dueAt, half.queueOffset);
  }

  /** Applies an op record: a check of the half at `queueOffset`, or its resolution. */
  #applyOp(queueOffset: number, properties: Readonly<Record<string, string>>, storeTimestamp: number): void {
    const half = this.#pending.get(queueOffset);
    const tag = properties[MessageConst.TAGS];
    if (tag === CHECK_TAG) {
      if (half === undefined) return;
      const times = Number(properties[MessageConst.TRANSACTION_CHECK_TIMES]);
      if (Number.isSafeInteger(times) && times > half.checkTimes) half.checkTimes = times;
      half.lastCheckAt = storeTimestamp;
      half.dueAt = storeTimestamp + this.settings.transactionCheckIntervalMs;
      if (this.#counting) this.counters.checks++;
      if (this.#o.master) this.#due.push(half.dueAt, half.queueOffset);
      return;
    }
    if (tag !== REMOVE_TAG) return;
    const outcome: TransactionOutcome = properties[MessageConst.TRAN_RESOLUTION] === "COMMIT" ? "COMMIT" : "ROLLBACK";
    this.#remember(queueOffset, outcome);
    this.#dropRecord(queueOffset);
    if (half === undefined) return;
    this.#pending.delete(queueOffset);
    if (!this.#counting) return;
    if (outcome === "COMMIT") this.counters.committed++;
    else this.counters.rolledBack++;
    if (properties[MessageConst.TRAN_RESOLVED_BY] === "policy") this.counters.resolvedByPolicy++;
  }

  #remember(queueOffset: number, outcome: TransactionOutcome): void {
    this.#recent.delete(queueOffset);
    this.#recent.set(queueOffset, outcome);
    if (this.#recent.size > RECENT_OUTCOMES) this.#recent.delete(this.#recent.keys().next().value!);
  }

  /**
   * A commit whose op record a crash cut off left its message as the last record of the log, so
   * the last of its queue: for each real queue with pending halves, the last message is read and,
   * when it is the committed copy of one of them, the op record is written now.
   */
  async #recoverCutCommits(): Promise<void> {
    const byOffset = new Map<number, PendingHalf>();
    const queues = new Map<string, { topic: string; queueId: number }>();
    for (const half of this.#pending.values()) {
      byOffset.set(half.commitLogOffset, half);
      queues.set(`${half.topic}\u0000${half.queueId}`, { topic: half.topic, queueId: half.queueId });
    }
    for (const { topic, queueId } of queues.values()) {
      const max = this.#o.store.getMaxOffset(topic, queueId);
      if (max === 0) continue;
      const result = this.#o.store.getMessage(topic, queueId, max - 1, 1);
      if (result.status !== "FOUND") continue;
      const [last] = decodeRecords(result.body!, { copyBody: false });
      if (last === undefined || (last.sysFlag & TRANSACTION_TYPE_BITS) !== SysFlag.TRANSACTION_COMMIT) continue;
      const half = byOffset.get(last.preparedTransactionOffset);
      if (half === undefined || half.topic !== topic || last.properties[MessageConst.UNIQ_KEY] !== half.transactionId) continue;
      const op = this.#opInput(half, { [MessageConst.TAGS]: REMOVE_TAG, [MessageConst.TRAN_RESOLUTION]: "COMMIT", [MessageConst.TRAN_RESOLVED_BY]: "recovery" });
      const written = await this.#o.store.putMessage(op);
      if (written.status !== "PUT_OK") {
        throw new Error(`Cannot record the commit of transaction "${half.transactionId}" found at start: ${written.error ?? written.status}`);
      }
      this.#log(
        `Transactions: transaction "${half.transactionId}" was committed (message ${last.msgId} in "${topic}" queue ${queueId}) ` +
          `but a crash cut its op record; it is recorded now, so the message is not committed again`,
        "warn",
      );
    }
    this.catchUp();
  }

  /** Sets the check timer for the earliest due half. */
  #arm(): void {
    if (this.#closed || this.#checking) return;
    // Stale entries (resolved, or checked and due again later) are dropped without waiting for them.
    let head = this.#due.peek();
    while (head !== undefined && this.#pending.get(head.key)?.dueAt !== head.at) {
      this.#due.popDue(Infinity);
      head = this.#due.peek();
    }
    if (head === undefined) return;
    const at = this.#o.paused?.() === true ? Math.max(head.at, this.#now() + PAUSED_RECHECK_MS) : head.at;
    if (at >= this.#timerAt) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      void this.#runChecks();
    }, Math.max(0, at - this.#now()));
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** Checks back (or resolves by policy) every half that is due, a slice at a time. */
  async #runChecks(): Promise<void> {
    if (this.#closed || this.#checking) return;
    this.#checking = true;
    try {
      this.catchUp();
      let done = 0;
      const next = () => this.#o.paused?.() === true ? undefined : this.#due.popDue(this.#now());
      for (let entry = next(); entry !== undefined; entry = next()) {
        const half = this.#pending.get(entry.key);
        if (half === undefined || half.dueAt !== entry.at) continue;
        if (this.#resolving.has(half.queueOffset)) {
          // Its END is being written; should that fail, it is checked a little later.
          half.dueAt = this.#now() + RESOLVING_RECHECK_MS;
          this.#due.push(half.dueAt, half.queueOffset);
          continue;
        }
        if (half.checkTimes >= this.settings.transactionCheckMax) await this.#applyPolicy(half);
        else await this.#check(half);
        if (this.#closed) return;
        if (++done >= CHECKS_PER_RUN) {
          await new Promise((resolve) => setTimeout(resolve, 0));
          done = 0;
        }
      }
    } catch (error) {
      this.#log(`Transactions: check-back run failed: ${(error as Error)?.stack ?? error}`, "error");
    } finally {
      this.#checking = false;
      this.#arm();
    }
  }

  async #applyPolicy(half: PendingHalf): Promise<void> {
    const outcome: TransactionOutcome = this.settings.transactionCheckMaxPolicy === "commit" ? "COMMIT" : "ROLLBACK";
    const reply = await this.#resolve(half, outcome, "policy");
    if (reply.code === ResponseCode.SUCCESS || reply.code === ResponseCode.SLAVE_NOT_AVAILABLE || reply.code === ResponseCode.FLUSH_SLAVE_TIMEOUT) {
      this.#log(
        `Transactions: transaction "${half.transactionId}" (topic "${half.topic}", producer group "${half.producerGroup}") stayed unresolved ` +
          `after ${half.checkTimes} checks: ${outcome === "COMMIT" ? "committed" : "rolled back"} by transactionCheckMaxPolicy "${this.settings.transactionCheckMaxPolicy}"`,
        "warn",
      );
      return;
    }
    this.#retryLater(half, `cannot apply transactionCheckMaxPolicy to transaction "${half.transactionId}": ${reply.remark}`);
  }

  /** Records one more check, then asks a live member of the half's producer group. */
  async #check(half: PendingHalf): Promise<void> {
    const times = half.checkTimes + 1;
    const opProperties = { [MessageConst.TAGS]: CHECK_TAG, [MessageConst.TRANSACTION_CHECK_TIMES]: String(times) };
    const recorded = await this.#o.store.putMessage(this.#opInput(half, opProperties));
    if (recorded.status !== "PUT_OK") {
      this.#retryLater(half, `cannot record a check of transaction "${half.transactionId}": ${recorded.error ?? recorded.status}`);
      return;
    }
    this.#ownOp(half.queueOffset, opProperties, recorded);
    const member = this.#o.producers.pick(half.producerGroup);
    if (member === undefined) {
      this.#log(
        `Transactions: no producer of group "${half.producerGroup}" is connected to ask about transaction "${half.transactionId}" ` +
          `(check ${times} of ${this.settings.transactionCheckMax})`,
        "warn",
      );
      return;
    }
    const record = this.#o.store.lookMessageBytesByOffset(half.commitLogOffset);
    if (record === undefined) {
      this.#expired(half);
      return;
    }
    const header: CheckTransactionStateHeader = {
      topic: half.topic,
      tranStateTableOffset: half.queueOffset,
      commitLogOffset: half.commitLogOffset,
      transactionId: half.transactionId,
      checkTimes: times,
      brokerName: this.#o.brokerName,
    };
    member.connection.oneway(RequestCode.CHECK_TRANSACTION_STATE, header, record);
  }

  #retryLater(half: PendingHalf, why: string): void {
    this.#log(`Transactions: ${why}; trying again in ${this.settings.transactionCheckIntervalMs} ms`, "error");
    half.dueAt = this.#now() + this.settings.transactionCheckIntervalMs;
    this.#due.push(half.dueAt, half.queueOffset);
  }
}

/** A half message's state from its properties and place, or undefined when it lacks what a half message needs. */
function halfFrom(
  p: Readonly<Record<string, string>>,
  at: { queueOffset: number; commitLogOffset: number; storeTimestamp: number },
  opMark: number,
  timeoutMs: number,
): PendingHalf | undefined {
  const topic = p[MessageConst.REAL_TOPIC];
  const queueId = Number(p[MessageConst.REAL_QID]);
  const producerGroup = p[MessageConst.PGROUP];
  const transactionId = p[MessageConst.UNIQ_KEY];
  if (topic === undefined || !Number.isSafeInteger(queueId) || queueId < 0 || !producerGroup || !transactionId) return undefined;
  const immunity = Number(p[MessageConst.CHECK_IMMUNITY_TIME_IN_SECONDS]);
  const immunityMs = Number.isSafeInteger(immunity) && immunity > 0 ? immunity * 1000 : undefined;
  return {
    queueOffset: at.queueOffset,
    commitLogOffset: at.commitLogOffset,
    storeTimestamp: at.storeTimestamp,
    topic,
    queueId,
    producerGroup,
    transactionId,
    checkTimes: 0,
    lastCheckAt: 0,
    immunityMs,
    dueAt: at.storeTimestamp + (immunityMs ?? timeoutMs),
    opMark,
  };
}

/** The committed copy of a half message: its real topic and queue, the original properties, the commit sysflag. */
function committedInput(record: HalfRecord, half: PendingHalf): StoreInput {
  const properties = { ...record.properties };
  delete properties[MessageConst.REAL_TOPIC];
  delete properties[MessageConst.REAL_QID];
  const { input } = record;
  return {
    topic: half.topic,
    queueId: half.queueId,
    flag: input.flag,
    sysFlag: (input.sysFlag & ~SysFlag.TRANSACTION_ROLLBACK) | SysFlag.TRANSACTION_COMMIT,
    bornTimestamp: input.bornTimestamp,
    bornHost: input.bornHost,
    reconsumeTimes: input.reconsumeTimes,
    preparedTransactionOffset: half.commitLogOffset,
    body: input.body,
    properties: encodeProperties(properties),
  };
}

function positive(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`Invalid ${name} "${value}": expected a whole number of at least 1`);
  return value;
}
