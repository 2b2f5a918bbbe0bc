/**
 * A consumer group's retry policy: how long a message given back (a failed handler, a negative
 * acknowledgement) waits before it is delivered again, by delivery attempt. The broker keeps it
 * with the group's settings and tells POP consumers in each pop's answer.
 *
 * @module
 */
import * as v from "valibot";

const ms = v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(43_200_000));

/**
 * A retry policy: `EXPONENTIAL` waits `initialBackoffMs` after the first failed delivery and
 * `multiplier` times longer after each further one, at most `maxBackoffMs`; `CUSTOMIZED` waits
 * `backoffMs[n - 1]` after the n-th (the last entry repeats). All in ms, 1 ms to 12 hours.
 */
export type RetryPolicy =
  | { type: "EXPONENTIAL"; initialBackoffMs: number; maxBackoffMs: number; multiplier: number }
  | { type: "CUSTOMIZED"; backoffMs: number[] };

/** Schema of a retry policy. */
export const RetryPolicySchema: v.GenericSchema<unknown, RetryPolicy> = v.variant("type", [
  v.object({
    type: v.literal("EXPONENTIAL"),
    /** Wait after the first failed delivery, ms. */
    initialBackoffMs: ms,
    /** Longest wait, ms. */
    maxBackoffMs: ms,
    /** Each further failure multiplies the wait by this. */
    multiplier: v.pipe(v.number(), v.minValue(1), v.maxValue(100)),
  }),
  v.object({
    type: v.literal("CUSTOMIZED"),
    /** The wait after the first, second, … failed delivery, ms; the last repeats. */
    backoffMs: v.pipe(v.array(ms), v.minLength(1), v.maxLength(64)),
  }),
]);
/** The policy of a group that set none: 1 s, doubling, at most 2 hours. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { type: "EXPONENTIAL", initialBackoffMs: 1000, maxBackoffMs: 7_200_000, multiplier: 2 };

/**
 * The wait a retry policy gives after a failed delivery.
 *
 * @param policy The policy.
 * @param attempt The delivery that failed (1 for the first).
 * @returns Milliseconds.
 *
 * @example Exponential back-off
 * ```ts
 * import { retryBackoffMs } from "./retry_policy.ts";
 * retryBackoffMs({ type: "EXPONENTIAL", initialBackoffMs: 1000, maxBackoffMs: 60_000, multiplier: 2 }, 3); // 4000
 * ```
 */
export function retryBackoffMs(policy: RetryPolicy, attempt: number): number {
  const n = Math.max(1, attempt);
  if (policy.type === "CUSTOMIZED") return policy.backoffMs[Math.min(n, policy.backoffMs.length) - 1]!;
  return Math.min(policy.maxBackoffMs, Math.round(policy.initialBackoffMs * policy.multiplier ** (n - 1)));
}
