/**
 * What the account behind a request may do, for the checks that can only be made after a lookup:
 * the topic of a stored message a request names by offset, the groups a client id is in, which
 * account registered a client id. The ACL guard attaches an `Access` to every request it lets
 * through (`accessOf`); without ACL every request has `OPEN_ACCESS`, whose checks all pass.
 *
 * The admin HTTP API builds the same `Access` for the account that signed in (`accountAccess`), so
 * both authorise a read or a write the same way.
 *
 * @module
 */
import type { Command } from "../../core/protocol/command.ts";
import type { AclAccount, AclRules } from "./acl_rules.ts";
import { group, publish, subscribe } from "./request_rights.ts";

/** The rights of one request's account. Each check returns why it is refused, or undefined. */
export interface Access {
  /** The account's access key; undefined without ACL. Client ids and queue locks are owned by it. */
  readonly accessKey: string | undefined;
  /** Whether the account has every right (always true without ACL). */
  readonly admin: boolean;
  /** May it publish to the topic? */
  publish(topic: string): string | undefined;
  /** May it read the topic? */
  subscribe(topic: string): string | undefined;
  /** May it act as the consumer group? */
  group(name: string): string | undefined;
}

/** The access of every request when ACL is off. */
export const OPEN_ACCESS: Access = Object.freeze({
  accessKey: undefined,
  admin: true,
  publish: () => undefined,
  subscribe: () => undefined,
  group: () => undefined,
});

/**
 * The access of an account under some rules.
 *
 * @param rules The rules in force (read at each check, so a reload applies to later checks).
 * @param account The account.
 * @returns Its access.
 */
export function accountAccess(rules: () => AclRules, account: AclAccount): Access {
  return {
    accessKey: account.accessKey,
    admin: account.admin,
    publish: (topic) => publish(rules(), account, topic),
    subscribe: (topic) => subscribe(rules(), account, topic),
    group: (name) => group(rules(), account, name),
  };
}

const ATTACHED = new WeakMap<Command, Access>();

/**
 * Records the access of a request that passed the ACL guard.
 *
 * @param request The request.
 * @param access Its account's access.
 */
export function attachAccess(request: Command, access: Access): void {
  ATTACHED.set(request, access);
}

/**
 * The access of a request: its account's under ACL, `OPEN_ACCESS` without.
 *
 * @param request A request the dispatcher handed a processor.
 * @returns Its access.
 */
export function accessOf(request: Command): Access {
  return ATTACHED.get(request) ?? OPEN_ACCESS;
}

/**
 * Whether an account may act for something another account registered (a consumer group member,
 * a queue lock): only the same account, or an admin. Without ACL there are no owners.
 *
 * @param access The acting request's access.
 * @param owner The access key that registered it, if any.
 * @returns Whether it may.
 */
export function mayActFor(access: Access, owner: string | undefined): boolean {
  return owner === undefined || owner === access.accessKey || access.admin;
}
