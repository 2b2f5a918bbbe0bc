/**
 * Dashboard sign-in sessions of the admin API (ACL on). A session is two random secrets: an id the
 * browser keeps in an HttpOnly, SameSite=Strict cookie, and a CSRF token the page keeps in its
 * tab's sessionStorage and sends in the `X-CSRF-Token` header. A request needs both: the cookie
 * alone is useless (cookies are shared by every port of a host, so another local server could be
 * sent it), and the token alone is useless (script on the page, were there any, could not read the
 * cookie). Sessions live in memory, so a restart signs everyone out.
 *
 * @module
 */
import type { AclAccount, AclRules } from "../acl/acl_rules.ts";
import { sameSecret } from "../acl/acl_rules.ts";

/** How long a session lasts after sign-in, in ms. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** Most sessions held; signing in past it ends the oldest. */
export const MAX_SESSIONS = 10_000;

/** A new session, as the sign-in answer carries it. */
export interface NewSession {
  /** The cookie value. */
  id: string;
  /** The `X-CSRF-Token` header value. */
  csrfToken: string;
  /** When it ends (ms since epoch). */
  expiresAt: number;
}

interface Session {
  accessKey: string;
  /** The secret signed in with: a changed secret ends the session. */
  secretKey: string;
  csrfToken: string;
  expiresAt: number;
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The sessions of one admin app. */
export class SessionStore {
  readonly #sessions = new Map<string, Session>();
  readonly #now: () => number;

  /** @param now The clock, in ms. */
  constructor(now: () => number) {
    this.#now = now;
  }

  /**
   * Starts a session for an account that just proved its secret.
   *
   * @param account The account.
   * @returns The session's secrets and end.
   */
  create(account: AclAccount): NewSession {
    const now = this.#now();
    if (this.#sessions.size >= MAX_SESSIONS) {
      for (const [id, session] of this.#sessions) if (session.expiresAt <= now) this.#sessions.delete(id);
      if (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    }
    const created = { id: randomToken(), csrfToken: randomToken(), expiresAt: now + SESSION_TTL_MS };
    this.#sessions.set(created.id, { accessKey: account.accessKey, secretKey: account.secretKey, csrfToken: created.csrfToken, expiresAt: created.expiresAt });
    return created;
  }

  /**
   * The account of a live session, when the CSRF token matches and the account still exists with
   * the secret it signed in with.
   *
   * @param id The cookie value.
   * @param csrfToken The header value.
   * @param rules The rules in force.
   * @returns The account, or undefined.
   */
  find(id: string, csrfToken: string, rules: AclRules): AclAccount | undefined {
    const session = this.#sessions.get(id);
    if (session === undefined) return undefined;
    if (session.expiresAt <= this.#now()) {
      this.#sessions.delete(id);
      return undefined;
    }
    if (!sameSecret(csrfToken, session.csrfToken)) return undefined;
    
    const account = rules.account(session.accessKey);
    if (account === undefined || account.secretKey !== session.secretKey) {
      this.#sessions.delete(id);
      return undefined;
    }
    return account;
  }

  /**
   * Ends a session.
   *
   * @param id The cookie value.
   */
  delete(id: string): void {
    this.#sessions.delete(id);
  }
}
