/**
 * Recovery at open: check the checkpoint against the log, check the ConsumeQueues against the
 * checkpoint and the log, scan the CommitLog (keeping what follows a damaged record), index
 * what the queues lack, and cut only a damaged tail that provably was never fsynced. See
 * docs/STORAGE.md, "Recovery".
 *
 * @module
 */

import type { Checkpoint, CheckpointState } from "./checkpoint.ts";
import type { CommitLog, DamagedRegion } from "./commit_log.ts";
import { SKIPPED_ENTRY_SIZE } from "./consume_queue.ts";
import { entryMatches } from "./queue_repair.ts";
import type { Quarantine } from "./quarantine.ts";
import type { QueueState, QueueTable } from "./queue_table.ts";
import { RecoveryIndexer } from "./recovery_index.ts";
import type { QuarantinedRegion, RecoveryReport } from "./store_types.ts";

/** Largest damaged stretch copied to the quarantine directory, and largest tail ever cut. */
const MAX_COPY_BYTES = 64 * 1024 * 1024;

/** The parts of a freshly opened store that recovery works on. */
export interface RecoveryParts {
  commitLog: CommitLog;
  queues: QueueTable;
  checkpoint: Checkpoint;
  quarantine: Quarantine;
  /** The log was just cut back to this offset on purpose (`truncateTo`): the checkpoint's offsets past it are moved back to it. */
  truncatedAt?: number;
}

/** What recovery hands back to the store. */
export interface Recovered {
  report: RecoveryReport;
  /** Deleted topics still to remember (see `CheckpointState.deletedTopics`). */
  deletedTopics: Map<string, number>;
}

/**
 * Recovers a freshly opened CommitLog and QueueTable in place.
 *
 * @param parts The store's CommitLog, queue table, checkpoint and quarantine directory.
 * @returns What was found and done.
 * @throws {Error} When the checkpoint proves fsynced bytes are missing from the log.
 */
export async function recoverStore(parts: RecoveryParts): Promise<Recovered> {
  const started = performance.now();
  const { commitLog, queues, quarantine } = parts;
  const loaded = loadCheckpoint(parts.checkpoint, commitLog, parts.truncatedAt);
  const checkpoint = loaded.state;
  const min = commitLog.minOffset;
  const opened = commitLog.maxOffset;
  const synced = checkpoint?.physicalOffset;
  const deletedTopics = new Map(Object.entries(checkpoint?.deletedTopics ?? {}));
  const dispatchFrom = checkpoint ? Math.max(min, Math.min(checkpoint.logicsOffset, opened)) : min;

  const rebuild = new Map<QueueState, string>();
  await checkQueues({ commitLog, queues, checkpoint, deletedTopics, rebuild });
  for (const state of rebuild.keys()) queues.reset(state);

  const scanFrom = checkpoint && rebuild.size === 0
    ? Math.max(min, Math.min(checkpoint.physicalOffset, checkpoint.logicsOffset, commitLog.lastSegmentStart))
    : min;
  const indexer = new RecoveryIndexer(queues, {
    dispatchFrom,
    rebuild: new Set(rebuild.keys()),
    deleted: deletedTopics,
    restartable: (state) => rebuild.has(state) || checkpoint?.version !== 2,
  });
  const scan = commitLog.recover(scanFrom, (bytes, pos, offset) => indexer.visit(bytes, pos, offset));
  indexer.finish();

  const warnings: string[] = [];
  const quarantined: QuarantinedRegion[] = [];
  for (const region of scan.damaged) quarantined.push(await keep(region, { commitLog, quarantine, warnings }));
  let cut: QuarantinedRegion | undefined;
  if (scan.tail) {
    const tail = scan.tail;
    if (synced !== undefined && tail.from >= synced && tail.bytes <= MAX_COPY_BYTES) {
      try {
        const copy = await quarantine.save(tail, "cut", commitLog.readRange(tail.from, tail.to));
        commitLog.cutTail(tail.from);
        cut = { ...tail, action: "cut", copy };
      } catch (error) {
        warnings.push(`Could not copy the damaged tail at offset ${tail.from} aside, so it is kept: ${(error as Error).message}`);
      }
    }
    if (cut) quarantined.push(cut);
    else {
      commitLog.keepTail();
      quarantined.push(await keep(tail, { commitLog, quarantine, warnings }));
    }
  }

  let skippedEntries = 0;
  for (const region of quarantined) if (region.action === "kept") skippedEntries += skipEntries(queues, region);
  let trimmedEntries = 0;
  const recorded = new Map((checkpoint?.queues ?? []).map(([topic, queueId, , max]) => [`${topic}/${queueId}`, max]));
  for (const state of queues.states()) {
    if (state.cq) {
      trimmedEntries += state.cq.trimBeyond(commitLog.maxOffset);
      state.cq.dropBelow(commitLog.minOffset);
    }
    // A queue rebuilt short of what consumers were shown continues after it, never reusing offsets.
    state.next = Math.max(state.cq?.maxOffset ?? 0, rebuild.has(state) ? recorded.get(`${state.topic}/${state.queueId}`) ?? 0 : 0);
  }

  const report: RecoveryReport = {
    scanFrom,
    end: commitLog.maxOffset,
    scannedBytes: scan.scannedBytes,
    scannedRecords: scan.scannedRecords,
    checkpoint: loaded.source,
    rebuiltEntries: indexer.written,
    trimmedEntries,
    skippedEntries,
    rebuiltQueues: [...rebuild].map(([state, reason]) => ({ topic: state.topic, queueId: state.queueId, reason })),
    unindexedRecords: indexer.unindexed,
    quarantined,
    notes: [...warnings, ...indexer.samples.map((sample) => `Not indexed: ${sample}`)],
    durationMs: Math.round(performance.now() - started),
  };
  if (cut) {
    report.cutAt = cut.from;
    report.cutReason = cut.reason;
  }
  if (loaded.warning !== undefined) report.checkpointWarning = loaded.warning;
  for (const [topic, at] of deletedTopics) if (at <= commitLog.minOffset) deletedTopics.delete(topic);
  return { report, deletedTopics };
}

async function keep(
  region: DamagedRegion,
  parts: { commitLog: CommitLog; quarantine: Quarantine; warnings: string[] },
): Promise<QuarantinedRegion> {
  const kept: QuarantinedRegion = { ...region, action: "kept" };
  if (region.bytes === 0 || region.bytes > MAX_COPY_BYTES) return kept;
  try {
    kept.copy = await parts.quarantine.save(region, "kept", parts.commitLog.readRange(region.from, region.to));
  } catch (error) {
    parts.warnings.push(`Could not copy the damaged stretch at offset ${region.from} aside (it stays in the log): ${(error as Error).message}`);
  }
  return kept;
}

/** Marks the entries pointing into a damaged stretch skipped, so reads pass over them. */
function skipEntries(queues: QueueTable, region: QuarantinedRegion): number {
  let skipped = 0;
  for (const state of queues.states()) {
    const cq = state.cq;
    if (!cq) continue;
    for (let qo = cq.firstAtOrAfter(region.from); qo < cq.maxOffset; qo++) {
      const entry = cq.entry(qo)!;
      if (entry.offset >= region.to) break;
      if (entry.size === SKIPPED_ENTRY_SIZE) continue;
      cq.overwrite(qo, { offset: entry.offset, size: SKIPPED_ENTRY_SIZE, tagHash: entry.tagHash });
      skipped++;
    }
  }
  return skipped;
}

interface LoadedCheckpoint {
  state?: CheckpointState;
  source: RecoveryReport["checkpoint"];
  warning?: string;
}

/** Loads the checkpoint, refusing a copy whose offsets do not fit the log. */
function loadCheckpoint(file: Checkpoint, log: CommitLog, truncatedAt: number | undefined): LoadedCheckpoint {
  const end = log.maxOffset;
  let parsed = 0;
  let beyond = 0;
  let beyondProblem = "";
  const accept = (state: CheckpointState) => {
    parsed++;
    if (truncatedAt !== undefined) {
      state.physicalOffset = Math.min(state.physicalOffset, truncatedAt);
      state.logicsOffset = Math.min(state.logicsOffset, truncatedAt);
    }
    const problem = checkpointProblem(state, log);
    if (problem === undefined) return;
    if (state.physicalOffset > end) {
      beyond++;
      beyondProblem = problem;
    }
    throw new Error(problem);
  };
  try {
    const loaded = file.load(accept);
    if (loaded === undefined) {
      return end > log.minOffset ? { source: "none", warning: "No checkpoint, scanning the whole log" } : { source: "none" };
    }
    if (loaded.source === "main") return { state: loaded.value, source: "main" };
    return { state: loaded.value, source: "backup", warning: `Checkpoint restored from its backup: ${loaded.mainError?.message}` };
  } catch (error) {
    if (parsed > 0 && beyond === parsed) {
      throw new Error(
        `Cannot recover the store: ${beyondProblem}, so segment files are missing or were truncated. Refusing to start rather than ` +
          `reuse the offsets of acknowledged messages; restore the missing data, or, if the log is complete and the checkpoint is ` +
          `what is wrong, move "checkpoint" and "checkpoint.bak" aside to scan the whole log`,
        { cause: error },
      );
    }
    return { source: "none", warning: `Checkpoint unusable, scanning the whole log: ${reasons(error as Error)}` };
  }
}

/** Why a parsed checkpoint does not fit the log, or undefined when it does. */
function checkpointProblem(state: CheckpointState, log: CommitLog): string | undefined {
  const end = log.maxOffset;
  if (state.physicalOffset > end) {
    return `the checkpoint says CommitLog bytes up to offset ${state.physicalOffset} were fsynced, but the log ends at ${end}`;
  }
  // Records past the fsynced point may be gone after a power loss in async mode: not a problem.
  const named: Array<[string, number]> = [["physicalOffset", state.physicalOffset], ["logicsOffset", state.logicsOffset]];
  for (const [name, value] of named) {
    if (value >= log.minOffset && value <= end && !log.isBoundary(value)) {
      return `the checkpoint's ${name} ${value} is not where a record starts`;
    }
  }
  return undefined;
}

/** The messages of an error and its causes, joined. */
function reasons(error: Error): string {
  const out: string[] = [];
  const walk = (e: unknown) => {
    if (!(e instanceof Error)) return;
    if (e instanceof AggregateError) {
      for (const inner of e.errors) walk(inner);
      return;
    }
    out.push(e.message);
    walk(e.cause);
  };
  walk(error);
  return out.join(": ");
}

/**
 * Picks the ConsumeQueues to rebuild: damaged files, a queue the checkpoint lists but the disk
 * lacks or holds shorter, a first or last entry that points at no record of its queue in the
 * durable part of the log, and the leftovers of a topic deleted just before a crash.
 */
async function checkQueues(parts: {
  commitLog: CommitLog;
  queues: QueueTable;
  checkpoint: CheckpointState | undefined;
  deletedTopics: ReadonlyMap<string, number>;
  rebuild: Map<QueueState, string>;
}): Promise<void> {
  const { commitLog, queues, checkpoint, deletedTopics, rebuild } = parts;
  for (const topic of queues.topics()) {
    const deletedAt = deletedTopics.get(topic);
    if (deletedAt === undefined) continue;
    const stale = queues.queueIds(topic).some((queueId) => {
      const cq = queues.find(topic, queueId)?.cq;
      return cq !== undefined && cq.maxOffset > cq.minOffset && cq.entry(cq.minOffset)!.offset < deletedAt;
    });
    if (stale) await queues.delete(topic);
  }
  for (const state of queues.states()) {
    if (state.cq && state.cq.problems.length > 0) rebuild.set(state, `its files are damaged: ${state.cq.problems.join("; ")}`);
  }
  for (const [topic, queueId, min, max] of checkpoint?.queues ?? []) {
    if (max === min) continue;
    const state = queues.find(topic, queueId);
    const cq = state?.cq;
    if (!cq) rebuild.set(queues.get(topic, queueId), `its ConsumeQueue is missing; the checkpoint recorded queue offsets ${min} to ${max}`);
    else if (rebuild.has(state)) continue;
    else if (cq.maxOffset < max) rebuild.set(state, `its ConsumeQueue ends at queue offset ${cq.maxOffset}, but the checkpoint recorded ${max}`);
    else if (cq.minOffset > min) rebuild.set(state, `its ConsumeQueue starts at queue offset ${cq.minOffset}, but the checkpoint recorded ${min}`);
  }
  const synced = checkpoint?.physicalOffset;
  if (synced === undefined) return;
  for (const state of queues.states()) {
    const cq = state.cq;
    if (!cq || rebuild.has(state) || cq.maxOffset === cq.minOffset) continue;
    for (const qo of new Set([cq.minOffset, cq.maxOffset - 1])) {
      const entry = cq.entry(qo)!;
      if (entry.size === SKIPPED_ENTRY_SIZE || entry.offset < commitLog.minOffset || entry.offset + Math.max(entry.size, 0) > synced) continue;
      if (!entryMatches(commitLog, state, qo, entry)) {
        rebuild.set(state, `entry ${qo} points at CommitLog offset ${entry.offset}, where no record of the queue is`);
        break;
      }
    }
  }
}

/**
 * What a recovery found, as log lines: one summary, then a warning per thing a person should know
 * (a checkpoint refused, a damaged stretch kept or cut, a ConsumeQueue rebuilt, records left out).
 *
 * @param report The store's recovery report.
 * @returns The summary line and the warnings.
 */
export function describeRecovery(report: RecoveryReport): { summary: string; warnings: string[] } {
  const source = report.checkpoint === "main" ? "the checkpoint" : report.checkpoint === "backup" ? "the checkpoint's backup" : "no checkpoint";
  const damaged = report.quarantined.filter((r) => r.action === "kept");
  const parts = [
    `Store recovered in ${report.durationMs} ms: scanned ${report.scannedBytes} bytes (${report.scannedRecords} records) starting at offset ${report.scanFrom} using ${source}; the log ends at ${report.end}`,
    `${report.rebuiltEntries} ConsumeQueue entries written, ${report.trimmedEntries} trimmed`,
  ];
  if (report.rebuiltQueues.length > 0) parts.push(`${report.rebuiltQueues.length} ConsumeQueues rebuilt`);
  if (damaged.length > 0) {
    parts.push(`${damaged.length} damaged stretches (${damaged.reduce((n, r) => n + r.bytes, 0)} bytes) kept and skipped`);
  }
  if (report.cutAt !== undefined) parts.push(`damaged tail cut at ${report.cutAt}`);
  const warnings = report.checkpointWarning === undefined ? [...report.notes] : [report.checkpointWarning, ...report.notes];
  for (const region of report.quarantined) {
    const copy = region.copy === undefined ? "" : `; a copy is in "${region.copy}"`;
    if (region.action === "cut") {
      warnings.push(
        `Damaged CommitLog tail cut at offset ${region.from} (${region.bytes} bytes up to ${region.to}, past the last fsync the checkpoint recorded): ${region.reason}${copy}`,
      );
    } else {
      warnings.push(
        `Damaged CommitLog stretch at offsets ${region.from} to ${region.to} (${region.bytes} bytes, ${region.records} damaged records) kept in place and skipped; the records after it are served: ${region.reason}${copy}`,
      );
    }
  }
  if (report.skippedEntries > 0) warnings.push(`${report.skippedEntries} ConsumeQueue entries point into damaged stretches and are skipped`);
  for (const queue of report.rebuiltQueues) {
    warnings.push(`ConsumeQueue of queue ${queue.queueId} of "${queue.topic}" rebuilt from the CommitLog: ${queue.reason}`);
  }
  if (report.unindexedRecords > 0) {
    warnings.push(`${report.unindexedRecords} records left unindexed because their queue offsets do not fit their queues (damaged headers)`);
  }
  return { summary: parts.join("; "), warnings };
}
