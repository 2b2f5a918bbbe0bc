/**
 * The accounts and permissions of an ACL file (Apache RocketMQ's plain ACL model): per account a
 * secret, an `admin` right, default topic and group permissions and per-name overrides.
 *
 * @module
 */
import * as v from "valibot";
import { importHmacKey } from "../../core/auth/signing.ts";

/** A permission on a topic or group. `ANY` is written `PUB|SUB`. */
export type Perm = "DENY" | "PUB" | "SUB" | "ANY";

const PERM_TEXT = v.pipe(
  v.string(),
  v.trim(),
  v.transform((text) => text.toUpperCase().replace(/\s+/g, "")),
  v.picklist(["DENY", "PUB", "SUB", "PUB|SUB", "SUB|PUB"], 'expected DENY, PUB, SUB or "PUB|SUB"'),
  v.transform((text): Perm => (text.includes("|") ? "ANY" : text as Perm)),
);

/** `name=PERM` entries (RocketMQ's `topicPerms`/`groupPerms` lines). */
const PermEntry = v.pipe(
  v.string(),
  v.regex(/^[^=\s]+\s*=\s*\S+$/, 'expected "name=PERM"'),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const at = dataset.value.indexOf("=");
    const name = dataset.value.slice(0, at).trim();
    const perm = v.safeParse(PERM_TEXT, dataset.value.slice(at + 1));
    if (!perm.success) {
      addIssue({ message: `"${dataset.value}": ${perm.issues[0].message}` });
      return NEVER;
    }
    return [name, perm.output] as const;
  }),
);

const Account = v.strictObject({
  accessKey: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.@-]{3,128}$/, "must be 3 to 128 letters, digits or _.@-")),
  secretKey: v.pipe(v.string(), v.minLength(8, "must have at least 8 characters")),
  admin: v.optional(v.boolean(), false),
  defaultTopicPerm: v.optional(PERM_TEXT, "DENY"),
  defaultGroupPerm: v.optional(PERM_TEXT, "DENY"),
  topicPerms: v.optional(v.array(PermEntry), []),
  groupPerms: v.optional(v.array(PermEntry), []),
});

/** The ACL file's schema. */
export const AclFileSchema = v.strictObject({
  accounts: v.pipe(v.array(Account), v.minLength(1, "must list at least one account")),
});

/** One account with its rules. */
export interface AclAccount {
  readonly accessKey: string;
  readonly secretKey: string;
  readonly admin: boolean;
  readonly defaultTopicPerm: Perm;
  readonly defaultGroupPerm: Perm;
  readonly topicPerms: ReadonlyMap<string, Perm>;
  readonly groupPerms: ReadonlyMap<string, Perm>;
  /** The imported HMAC key, made once per load. */
  readonly key: Promise<CryptoKey>;
}

/** What a request needs on a topic or group. */
export type Need = "PUB" | "SUB";

function allows(perm: Perm, need: Need): boolean {
  return perm === "ANY" || perm === need;
}

/** The accounts of one version of the ACL file. */
export class AclRules {
  readonly #accounts: ReadonlyMap<string, AclAccount>;

  /** @param accounts The accounts by access key. */
  constructor(accounts: ReadonlyMap<string, AclAccount>) {
    this.#accounts = accounts;
  }

  /**
   * Validates the parsed YAML of an ACL file.
   *
   * @param raw The parsed document.
   * @returns The rules.
   * @throws {TypeError} When the document is invalid (the message names the key).
   */
  static parse(raw: unknown): AclRules {
    const result = v.safeParse(AclFileSchema, raw);
    if (!result.success) {
      const issue = result.issues[0];
      const path = v.getDotPath(issue);
      throw new TypeError(`${path ? `"${path}": ` : ""}${issue.message}`);
    }
    const accounts = new Map<string, AclAccount>();
    for (const account of result.output.accounts) {
      if (accounts.has(account.accessKey)) throw new TypeError(`Access key "${account.accessKey}" is listed twice`);
      const key = importHmacKey(account.secretKey);
      key.catch(() => {});
      accounts.set(account.accessKey, {
        accessKey: account.accessKey,
        secretKey: account.secretKey,
        admin: account.admin,
        defaultTopicPerm: account.defaultTopicPerm,
        defaultGroupPerm: account.defaultGroupPerm,
        topicPerms: new Map(account.topicPerms),
        groupPerms: new Map(account.groupPerms),
        key,
      });
    }
    return new AclRules(accounts);
  }

  /** Number of accounts. */
  get size(): number {
    return this.#accounts.size;
  }

  /**
   * Looks up an account.
   *
   * @param accessKey The access key.
   * @returns The account, or undefined.
   */
  account(accessKey: string): AclAccount | undefined {
    return this.#accounts.get(accessKey);
  }

  /** The first account with the admin right (what a broker signs its registrations with by default). */
  firstAdmin(): AclAccount | undefined {
    for (const account of this.#accounts.values()) if (account.admin) return account;
    return undefined;
  }

  /**
   * Finds the account of a key pair (for HTTP basic auth), comparing secrets in constant time.
   *
   * @param accessKey The access key.
   * @param secretKey The secret given.
   * @returns The account when the pair matches.
   */
  authenticate(accessKey: string, secretKey: string): AclAccount | undefined {
    const account = this.#accounts.get(accessKey);
    if (account === undefined) return undefined;
    return sameSecret(secretKey, account.secretKey) ? account : undefined;
  }

  /**
   * Whether an account may use a topic. Retry and dead-letter topics (`%RETRY%g`, `%DLQ%g`) follow
   * the group's rule; admins may do anything.
   *
   * @param account The account.
   * @param topic The topic.
   * @param need PUB or SUB.
   * @returns Whether it is allowed.
   */
  topicAllowed(account: AclAccount, topic: string, need: Need): boolean {
    if (account.admin) return true;
    for (const prefix of ["%RETRY%", "%DLQ%"]) {
      if (topic.startsWith(prefix)) return this.groupAllowed(account, topic.slice(prefix.length));
    }
    return allows(account.topicPerms.get(topic) ?? account.defaultTopicPerm, need);
  }

  /**
   * Whether an account may consume (or otherwise act) as a group.
   *
   * @param account The account.
   * @param group The group.
   * @returns Whether it is allowed.
   */
  groupAllowed(account: AclAccount, group: string): boolean {
    if (account.admin) return true;
    return allows(account.groupPerms.get(group) ?? account.defaultGroupPerm, "SUB");
  }
}

const ENCODER = new TextEncoder();

/**
 * Compares two secrets in time that depends only on their lengths.
 *
 * @param given The secret given.
 * @param expected The secret on file.
 * @returns Whether they are equal.
 */
export function sameSecret(given: string, expected: string): boolean {
  const a = ENCODER.encode(given);
  const b = ENCODER.encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i % Math.max(1, a.length)] ?? 0) ^ b[i]!;
  return diff === 0;
}
