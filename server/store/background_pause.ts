/**
 * Background writers of a master (timer delivery, delayed-message delivery, transaction
 * check-backs, POP revive) can be held back while a predicate says so: a master in controller mode
 * that is fenced (its lease is unconfirmed, a newer epoch exists, or a switchover is under way)
 * writes nothing of its own, as it takes no client writes. The predicate is looked at before each
 * write; while it holds, the work waits and is looked at again every `PAUSED_RECHECK_MS`.
 *
 * @module
 */

/** Why background writes must wait now: true while they must. */
export type PausedWhile = () => boolean;

/** How often held-back background work looks again whether it may run. */
export const PAUSED_RECHECK_MS = 100;
