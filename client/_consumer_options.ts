/**
 * Option checks shared by the consumers.
 *
 * @module
 */
import { ClientError } from "../core/errors.ts";
import { GroupName } from "../core/protocol/headers.ts";
import * as v from "valibot";

/** Where a member starts on a queue its group has no offset for. */
export type ConsumeFromWhere = "LAST_OFFSET" | "FIRST_OFFSET" | { timestamp: number };

/** Checks a group name. */
export function checkGroup(group: string): string {
  const parsed = v.safeParse(GroupName, group);
  if (!parsed.success) throw new ClientError(`Consumer group "${group}" is invalid: ${parsed.issues[0].message}`);
  return group;
}

/** NameServer option to a non-empty list. */
export function nameServerList(nameServer: string | readonly string[]): string[] {
  const list = typeof nameServer === "string" ? [nameServer] : [...nameServer];
  if (list.length === 0) throw new ClientError("At least one NameServer address is needed");
  return list;
}

/** An integer option within bounds. */
export function intOption(name: string, value: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ClientError(`${name} "${value}" must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** Checks `consumeFromWhere`. */
export function checkConsumeFromWhere(value: ConsumeFromWhere): ConsumeFromWhere {
  if (value === "LAST_OFFSET" || value === "FIRST_OFFSET") return value;
  if (typeof value === "object" && value !== null && Number.isSafeInteger(value.timestamp) && value.timestamp >= 0) return value;
  throw new ClientError(`consumeFromWhere "${JSON.stringify(value)}" must be "LAST_OFFSET", "FIRST_OFFSET" or { timestamp }`);
}

/** The wire name of a `consumeFromWhere`. */
export function consumeFromWhereName(value: ConsumeFromWhere): "LAST_OFFSET" | "FIRST_OFFSET" | "TIMESTAMP" {
  return typeof value === "string" ? value : "TIMESTAMP";
}

/** Resolves after `ms`, without keeping the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    (timer as { unref?: () => void }).unref?.();
  });
}

/** Starts a repeating timer that does not keep the process alive. */
export function every(ms: number, fn: () => void): ReturnType<typeof setInterval> {
  const timer = setInterval(fn, ms);
  (timer as { unref?: () => void }).unref?.();
  return timer;
}

/** Backoff after `failures` consecutive failures: 100 ms doubling to 3 s, with jitter. */
export function backoffMs(failures: number): number {
  const base = Math.min(3000, 100 * 2 ** Math.min(failures - 1, 5));
  return Math.round(base * (0.75 + Math.random() * 0.5));
}
