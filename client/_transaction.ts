/**
 * Transactional sends, the producer's side: the listener a transactional producer is given, the
 * END_TRANSACTION header of a local transaction's outcome, and the answer to a broker's
 * CHECK_TRANSACTION_STATE.
 *
 * @module
 */
import { type Message, MessageConst, type MessageExt, SysFlag } from "../core/model/message.ts";
import { decodeRecord } from "../core/model/record.ts";
import { CheckTransactionStateHeader } from "../core/protocol/headers.ts";
import type { Command } from "../core/protocol/command.ts";
import * as v from "valibot";

/** What became of a local transaction: commit the message, roll it back, or not known yet (ask again later). */
export type LocalTransactionState = "COMMIT" | "ROLLBACK" | "UNKNOWN";

/**
 * The local side of a transactional producer. `executeLocalTransaction` runs after the broker
 * stored the half message; `checkLocalTransaction` answers the broker about a half message whose
 * outcome never arrived (its producer crashed, the answer was lost, or it said `UNKNOWN`), possibly
 * in another member of the producer group: it must tell from the application's own state what
 * became of the transaction (`transactionId` is the message's `uniqueKey`), and say `ROLLBACK`
 * for a transaction it never ran.
 */
export interface TransactionListener {
  /**
   * Runs the local transaction of a stored half message. Throwing counts as `UNKNOWN`.
   *
   * @param message The message as sent.
   * @param arg What `sendMessageInTransaction` was given.
   * @param transactionId The transaction's id (the message's unique key).
   * @returns The outcome.
   */
  executeLocalTransaction(message: Message, arg: unknown, transactionId: string): LocalTransactionState | Promise<LocalTransactionState>;
  /**
   * Tells what became of the local transaction of a half message the broker asks about. Throwing
   * counts as `UNKNOWN`.
   *
   * @param message The half message as stored, under its real topic and queue; `uniqueKey` is its transaction id.
   * @returns The outcome.
   */
  checkLocalTransaction(message: MessageExt): LocalTransactionState | Promise<LocalTransactionState>;
}

/** The half message an END_TRANSACTION resolves. */
export interface HalfMessageRef {
  topic: string;
  producerGroup: string;
  /** Its queue offset in the half topic. */
  tranStateTableOffset: number;
  commitLogOffset: number;
  transactionId: string;
}

const STATE_CODES: Readonly<Record<LocalTransactionState, number>> = {
  COMMIT: SysFlag.TRANSACTION_COMMIT,
  ROLLBACK: SysFlag.TRANSACTION_ROLLBACK,
  UNKNOWN: 0,
};

/**
 * An END_TRANSACTION header.
 *
 * @param half The half message.
 * @param state The outcome.
 * @param fromTransactionCheck Whether it answers a check-back.
 * @returns The header.
 */
export function endTransactionHeader(half: HalfMessageRef, state: LocalTransactionState, fromTransactionCheck: boolean): Record<string, unknown> {
  return { ...half, commitOrRollback: STATE_CODES[state], fromTransactionCheck };
}

/**
 * Calls a listener method, turning a throw or a value that is no state into `UNKNOWN` (logged).
 *
 * @param run The call.
 * @param what What is asked, for the log line.
 * @param log Where to log.
 * @returns The state.
 */
export async function localState(run: () => LocalTransactionState | Promise<LocalTransactionState>, what: string, log: (line: string) => void): Promise<LocalTransactionState> {
  let state: unknown;
  try {
    state = await run();
  } catch (error) {
    log(`${what} threw, counted as UNKNOWN: ${(error as Error)?.message ?? error}`);
    return "UNKNOWN";
  }
  if (state === "COMMIT" || state === "ROLLBACK" || state === "UNKNOWN") return state;
  log(`${what} returned ${JSON.stringify(state)}, counted as UNKNOWN: expected "COMMIT", "ROLLBACK" or "UNKNOWN"`);
  return "UNKNOWN";
}

/**
 * Reads a CHECK_TRANSACTION_STATE: the half message (under its real topic and queue) and what to
 * name in the answer.
 *
 * @param request The broker's request.
 * @param group This producer's group.
 * @returns The message and its reference, or why the request cannot be answered.
 */
export function readCheck(request: Command, group: string): { message: MessageExt; half: HalfMessageRef } | { error: string } {
  const parsed = v.safeParse(CheckTransactionStateHeader, request.header);
  if (!parsed.success) return { error: `malformed header: ${v.summarize(parsed.issues)}` };
  const header = parsed.output;
  let stored: MessageExt;
  try {
    stored = decodeRecord(request.body ?? new Uint8Array(0), 0);
  } catch (error) {
    return { error: `undecodable half message: ${(error as Error).message}` };
  }
  if (stored.commitLogOffset !== header.commitLogOffset || stored.uniqueKey !== header.transactionId) {
    return { error: `the half message sent is not the one named (transaction "${header.transactionId}")` };
  }
  const pgroup = stored.properties[MessageConst.PGROUP];
  if (pgroup !== group) return { error: `transaction "${header.transactionId}" is of producer group "${pgroup}", not this producer's "${group}"` };
  const queueId = Number(stored.properties[MessageConst.REAL_QID]);
  const message: MessageExt = {
    ...stored,
    topic: header.topic,
    queueId: Number.isSafeInteger(queueId) ? queueId : stored.queueId,
    properties: { ...stored.properties, [MessageConst.TRANSACTION_CHECK_TIMES]: String(header.checkTimes) },
  };
  return {
    message,
    half: {
      topic: header.topic,
      producerGroup: group,
      tranStateTableOffset: header.tranStateTableOffset,
      commitLogOffset: header.commitLogOffset,
      transactionId: header.transactionId,
    },
  };
}
