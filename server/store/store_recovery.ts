/**
 * Recovery at open: verify the CommitLog from the checkpoint, cut it at the first invalid
 * record, index records the ConsumeQueues lack and drop entries whose records are gone.
 *
 * @module
 */

import { readRecordIndexFields } from "../../core/model/record.ts";
import { tagHash } from "../../core/model/tag_hash.ts";
import type { Checkpoint, CheckpointState } from "./checkpoint.ts";
import type { CommitLog } from "./commit_log.ts";
import type { DispatchItem, QueueTable } from "./queue_table.ts";
import type { RecoveryReport } from "./store_types.ts";

const DISPATCH_CHUNK = 4096;

/**
 * Recovers a freshly opened CommitLog and QueueTable in place.
 *
 * The scan starts at the lowest of the checkpoint's offsets and the last segment's start (so the
 * newest segment is always verified), or at the log's start without a usable checkpoint.
 * Records from the checkpoint's `logicsOffset` on are indexed unless their queue already holds
 * their queue offset.
 *
 * @param parts The store's CommitLog, queue table and checkpoint.
 * @returns What was found and done.
 */
export function recoverStore(
  parts: { commitLog: CommitLog; queues: QueueTable; checkpoint: Checkpoint },
): RecoveryReport {
  const { commitLog, queues } = parts;
  let checkpoint: CheckpointState | undefined;
  let checkpointWarning: string | undefined;
  try {
    const loaded = parts.checkpoint.load();
    checkpoint = loaded?.value;
    if (loaded?.source === "backup") {
      checkpointWarning = `Checkpoint restored from its backup: ${loaded.mainError?.message}`;
    }
  } catch (error) {
    checkpointWarning = `Checkpoint unusable, scanning the whole log: ${(error as Error).message}`;
  }
  const min = commitLog.minOffset;
  const scanFrom = checkpoint
    ? Math.max(min, Math.min(checkpoint.physicalOffset, checkpoint.logicsOffset, commitLog.lastSegmentStart))
    : min;
  const dispatchFrom = checkpoint ? Math.max(min, checkpoint.logicsOffset) : min;
  const pending: DispatchItem[] = [];
  let rebuiltEntries = 0;
  const result = commitLog.recover(scanFrom, (bytes, pos, offset) => {
    if (offset < dispatchFrom) return;
    const fields = readRecordIndexFields(bytes, pos);
    pending.push({
      state: queues.get(fields.topic, fields.queueId),
      queueOffset: fields.queueOffset,
      offset,
      size: fields.size,
      tagHash: tagHash(fields.tags),
    });
    if (pending.length >= DISPATCH_CHUNK) {
      rebuiltEntries += queues.dispatch(pending);
      pending.length = 0;
    }
  });
  rebuiltEntries += queues.dispatch(pending);
  let trimmedEntries = 0;
  for (const state of queues.states()) {
    if (!state.cq) continue;
    trimmedEntries += state.cq.trimBeyond(result.end);
    state.cq.dropBelow(commitLog.minOffset);
    state.next = state.cq.maxOffset;
  }
  const report: RecoveryReport = { scanFrom, end: result.end, rebuiltEntries, trimmedEntries };
  if (result.cutAt !== undefined) {
    report.cutAt = result.cutAt;
    report.cutReason = result.reason!;
  }
  if (checkpointWarning) report.checkpointWarning = checkpointWarning;
  return report;
}
