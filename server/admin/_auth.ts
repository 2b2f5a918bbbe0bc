/**
 * Who is asking the admin API, and what they may do: the same `Access` the broker gives a signed
 * request (`server/acl/access.ts`), so a read or a write over HTTP is authorised as its wire
 * request would be.
 *
 * - ACL on: the dashboard signs in with `POST /api/session` (a session cookie plus a CSRF token
 *   header, see `_session.ts`); API clients send `Authorization: Basic base64(accessKey:secretKey)`.
 *   The API never answers with a Basic challenge, so browsers never prompt for and cache
 *   credentials they would then attach to other sites' requests. Any account may read the cluster,
 *   topic list, routes and metrics; message contents, queue status and group details need the
 *   topic's or group's right (checked by the routes); changes need the admin right, except sends
 *   (PUB on the topic), dead-letter re-sends (the group, and PUB on the topic written to),
 *   re-sends to a group (the group, SUB on the message's topic and PUB on the group's retry
 *   topic), offset resets (the group and SUB on the topic), and the HTTP gateway's produce (PUB)
 *   and consume (the group and SUB).
 * - ACL off: everything is allowed, except that a configured `token` is required
 *   (`Authorization: Bearer <token>`) for changes.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import * as v from "valibot";
import type { Credentials } from "../../core/auth/signing.ts";
import { type Access, accountAccess, OPEN_ACCESS } from "../acl/access.ts";
import { type AclAccount, type AclRules, sameSecret } from "../acl/acl_rules.ts";
import { httpError, jsonBody } from "./_http.ts";
import { SessionStore } from "./_session.ts";

/** The access of each request the middleware let through. */
const ACCESS = new WeakMap<Request, Access>();

/** The `WWW-Authenticate` challenge of 401 answers with ACL on: not one browsers prompt for (Basic is). */
export const SESSION_CHALLENGE = 'Session realm="rocketmq-ts admin"';
/** The `WWW-Authenticate` challenge of 401 answers with ACL off (the `token` of changes). */
export const BEARER_CHALLENGE = 'Bearer realm="rocketmq-ts admin"';

/** The header the dashboard sends its session's CSRF token in. */
export const CSRF_HEADER = "x-csrf-token";

const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Changes an account without the admin right may ask for; each route checks the rights it needs. */
const SELF_AUTHORISED_CHANGES: readonly RegExp[] = [
  /^\/api\/session$/,
  /^\/api\/topics\/[^/]+\/messages$/,
  /^\/api\/dlq\/[^/]+\/resend$/,
  /^\/api\/groups\/[^/]+\/reset-offset$/,
  /^\/api\/groups\/[^/]+\/resend$/,
  // The HTTP gateway: produce needs PUB on the topic, consume the group and SUB (`gateway/`).
  /^\/api\/gateway\//,
];

/** Paths answered without credentials: liveness, the dashboard page (it signs in itself), sign-in. */
function isOpen(method: string, path: string): boolean {
  return path === "/healthz" || (path === "/" && READ_METHODS.has(method)) || (path === "/api/session" && method === "POST");
}

const SignIn = v.object({
  accessKey: v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(128)),
  secretKey: v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(1024)),
});

/** Options of `adminAuth`. */
export interface AdminAuthOptions {
  /** The ACL in force; ACL is off without it. */
  acl?: () => AclRules;
  /** ACL off: the bearer token changes need. */
  token?: string;
  /** The clock, in ms. */
  now: () => number;
}

/** The session cookie's name: per port, since cookies are shared by every port of a host. */
function cookieName(c: Context): string {
  const url = new URL(c.req.url);
  return `rmq_session_${url.port || (url.protocol === "https:" ? "443" : "80")}`;
}

/**
 * The key pair of an `Authorization: Basic` header.
 *
 * @param header The header's value.
 * @returns The access and secret key, or undefined when the header is not a well-formed Basic one.
 */
export function basicCredentials(header: string): Credentials | undefined {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (match === null) return undefined;
  let pair: string;
  try {
    pair = new TextDecoder().decode(Uint8Array.from(atob(match[1]!), (ch) => ch.charCodeAt(0)));
  } catch {
    return undefined;
  }
  const colon = pair.indexOf(":");
  return colon < 0 ? undefined : { accessKey: pair.slice(0, colon), secretKey: pair.slice(colon + 1) };
}

function basicAccount(rules: AclRules, header: string): AclAccount | undefined {
  const pair = basicCredentials(header);
  return pair === undefined ? undefined : rules.authenticate(pair.accessKey, pair.secretKey);
}

/**
 * The authentication middleware and the session routes (`/api/session`), mounted together.
 *
 * @param options The ACL or token, and the clock.
 * @returns The middleware (run it on every path) and the routes (mount them at `/api/session`).
 */
export function adminAuth(options: AdminAuthOptions): { middleware: MiddlewareHandler; routes: Hono } {
  const { acl, token } = options;
  const sessions = new SessionStore(options.now);
  const accessOfAccount = new WeakMap<AclAccount, Access>();
  const accessFor = (account: AclAccount): Access => {
    let access = accessOfAccount.get(account);
    if (access === undefined) accessOfAccount.set(account, (access = accountAccess(acl!, account)));
    return access;
  };

  const middleware: MiddlewareHandler = async (c, next) => {
    const method = c.req.method;
    if (acl === undefined) {
      if (token !== undefined && !READ_METHODS.has(method)) {
        const match = /^Bearer\s+(.+)$/i.exec(c.req.header("authorization") ?? "");
        if (match === null || !sameSecret(match[1]!.trim(), token)) {
          throw httpError(401, "UNAUTHORIZED", match === null ? "This change needs an Authorization: Bearer <token> header" : "The bearer token is wrong");
        }
      }
      ACCESS.set(c.req.raw, OPEN_ACCESS);
      return await next();
    }
    if (isOpen(method, c.req.path)) return await next();
    const rules = acl();
    const authorization = c.req.header("authorization");
    let account: AclAccount | undefined;
    if (authorization !== undefined) {
      account = basicAccount(rules, authorization);
      if (account === undefined) {
        throw httpError(401, "UNAUTHORIZED", /^Basic\s/i.test(authorization)
          ? "The access key or secret key is wrong"
          : "ACL is on: send Authorization: Basic base64(accessKey:secretKey), or sign in on the dashboard");
      }
    } else {
      const id = getCookie(c, cookieName(c));
      const csrf = c.req.header(CSRF_HEADER);
      account = id === undefined || csrf === undefined ? undefined : sessions.find(id, csrf, rules);
      if (account === undefined) {
        throw httpError(401, "UNAUTHORIZED", id === undefined
          ? "ACL is on: sign in on the dashboard, or send Authorization: Basic base64(accessKey:secretKey)"
          : "The session has ended or lacks its X-CSRF-Token header: sign in again");
      }
    }
    if (!READ_METHODS.has(method) && !account.admin && !SELF_AUTHORISED_CHANGES.some((path) => path.test(c.req.path))) {
      throw httpError(403, "FORBIDDEN", `Account "${account.accessKey}" may not make this change: it needs the admin right`);
    }
    ACCESS.set(c.req.raw, accessFor(account));
    await next();
  };

  const routes = new Hono();
  routes.post("/", async (c) => {
    if (acl === undefined) throw httpError(404, "NOT_FOUND", "ACL is off: the admin API has no accounts to sign in with");
    const { accessKey, secretKey } = await jsonBody(c, SignIn);
    const account = acl().authenticate(accessKey, secretKey);
    if (account === undefined) throw httpError(401, "UNAUTHORIZED", "The access key or secret key is wrong");
    const session = sessions.create(account);
    setCookie(c, cookieName(c), session.id, {
      path: "/",
      httpOnly: true,
      sameSite: "Strict",
      secure: new URL(c.req.url).protocol === "https:",
      maxAge: Math.floor((session.expiresAt - options.now()) / 1000),
    });
    c.header("Cache-Control", "no-store");
    return c.json({ accessKey: account.accessKey, admin: account.admin, expiresAt: session.expiresAt, csrfToken: session.csrfToken }, 201);
  });
  routes.get("/", (c) => {
    const access = accessOfRequest(c);
    return c.json({ acl: acl !== undefined, accessKey: access.accessKey ?? null, admin: access.admin });
  });
  routes.delete("/", (c) => {
    const id = getCookie(c, cookieName(c));
    if (id !== undefined) sessions.delete(id);
    setCookie(c, cookieName(c), "", { path: "/", httpOnly: true, sameSite: "Strict", maxAge: 0 });
    return c.json({ signedOut: true });
  });
  return { middleware, routes };
}

/**
 * The access of the request being answered.
 *
 * @param c The request context.
 * @returns Its access.
 * @throws {HTTPException} 500 for a request the middleware did not authenticate (a route that
 *   should have been open or guarded): never a silent grant.
 */
export function accessOfRequest(c: Context): Access {
  const access = ACCESS.get(c.req.raw);
  if (access === undefined) throw httpError(500, "INTERNAL", `No credentials were checked for ${c.req.method} ${c.req.path}`);
  return access;
}

/**
 * Throws the 403 of a refused right.
 *
 * @param denial Why the right is refused, or undefined when it is granted.
 * @throws {HTTPException} 403 with the reason.
 */
export function authorize(denial: string | undefined): void {
  if (denial !== undefined) throw httpError(403, "FORBIDDEN", denial);
}

/**
 * The caller's key pair, for requests the admin API sends on to other brokers in its name (changes
 * on a whole cluster): none with ACL off, the `Authorization: Basic` account with ACL on.
 *
 * @param c The request context.
 * @returns The key pair, or undefined with ACL off.
 * @throws {HTTPException} 400 with ACL on when the caller signed in with a session, whose keys the
 *   admin API does not hold.
 */
export function callerCredentials(c: Context): Credentials | undefined {
  if (accessOfRequest(c) === OPEN_ACCESS) return undefined;
  const pair = basicCredentials(c.req.header("authorization") ?? "");
  if (pair === undefined) {
    throw httpError(400, "BAD_REQUEST", "With ACL on, a change on a whole cluster needs the account's keys (Authorization: Basic): each broker checks the request signed with them");
  }
  return pair;
}
