/**
 * The ACL check in front of a broker's or NameServer's dispatcher: every request must carry a valid
 * signature of a known account (see `core/auth/signing.ts`), a timestamp within the window, a
 * signature not seen before, and the rights its request code needs. Refusals are answered with
 * NO_PERMISSION and a remark saying why.
 *
 * Signatures are verified concurrently, but requests of one connection reach the dispatcher in the
 * order they arrived, so ordered sends keep their order.
 *
 * @module
 */
import { SIGNATURE_FIELDS, verifySignature } from "../../core/auth/signing.ts";
import { ACL_V1_FIELDS, importHmacSha1Key, verifyAclV1 } from "../../core/auth/acl_v1.ts";
import { parseRocketmq5Authorization, parseRocketmq5DateTime, signRocketmq5 } from "../../core/auth/rocketmq5_signature.ts";
import type { RemotingCommand } from "../../core/codec/remoting_frame.ts";
import { remotingOrigin } from "../../core/remoting/remoting_wire.ts";
import type { Command, Header } from "../../core/protocol/command.ts";
import { ResponseCode } from "../../core/protocol/request_code.ts";
import type { Connection, RequestHandler } from "../../core/remoting/connection.ts";
import { type AclAccount, type AclRules, sameSecret } from "./acl_rules.ts";
import { type Access, accountAccess, attachAccess } from "./access.ts";
import { ReplayCache } from "./replay_cache.ts";
import { checkRights } from "./request_rights.ts";

/** Options of `AclGuard`. */
export interface AclGuardOptions {
  /** The rules in force, read for each request (so reloads apply at once). */
  rules: () => AclRules;
  /** Largest allowed |now − timestamp|, in ms. @default 60000 */
  windowMs?: number;
  /** Most remembered signatures. @default 1_000_000 */
  maxReplayEntries?: number;
  /** The clock, in ms. @default Date.now */
  now?: () => number;
}

/** A refused request: the response code and remark. */
export interface Denial {
  code: number;
  remark: string;
}

/** Most RocketMQ 5 signatures remembered as verified. */
const MAX_VERIFIED = 10_000;

const NOT_SIGNED = 'Request is not signed: header fields "accessKey", "timestamp" and "signature" are required';
const NOT_SIGNED_V1 = 'Request is not signed: RocketMQ ACL fields "AccessKey" and "Signature" are required (set the client\'s access key and secret key)';

/** Checks requests against an ACL. One guard serves every connection of a server. */
export class AclGuard {
  readonly #rules: () => AclRules;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #replays: ReplayCache;
  /** One `Access` per account object (a reload makes new account objects, so new entries). */
  readonly #access = new WeakMap<AclAccount, Access>();
  /** RocketMQ 5 signatures already verified (date-time and authorization → account): a client signs each second once. */
  readonly #verified = new Map<string, AclAccount>();
  /** Each account's HMAC-SHA1 key, for RocketMQ 4.x clients' ACL 1.0 signatures. */
  readonly #v1Keys = new WeakMap<AclAccount, Promise<CryptoKey>>();

  /** @param options The rules, window and clock. */
  constructor(options: AclGuardOptions) {
    this.#rules = options.rules;
    this.#windowMs = options.windowMs ?? 60_000;
    this.#now = options.now ?? Date.now;
    this.#replays = new ReplayCache({ maxEntries: options.maxReplayEntries });
  }

  /**
   * Checks one request.
   *
   * @param request The request as received.
   * @returns Why it is refused, or the access of its account when it may proceed.
   */
  async check(request: Command): Promise<{ denial: Denial } | { access: Access }> {
    const origin = remotingOrigin(request);
    if (origin !== undefined) return await this.#checkV1(request, origin.command);
    const header = request.header;
    const accessKey = header[SIGNATURE_FIELDS.ACCESS_KEY];
    const timestamp = header[SIGNATURE_FIELDS.TIMESTAMP];
    const signature = header[SIGNATURE_FIELDS.SIGNATURE];
    if (typeof accessKey !== "string" || typeof timestamp !== "number" || typeof signature !== "string") {
      return refuse(NOT_SIGNED);
    }
    const rules = this.#rules();
    const account = rules.account(accessKey);
    if (account === undefined) return refuse(`Access key "${accessKey}" is unknown`);
    const now = this.#now();
    if (!Number.isFinite(timestamp) || Math.abs(now - timestamp) > this.#windowMs) {
      return refuse(`Request timestamp is outside the ${Math.round(this.#windowMs / 1000)} s window`);
    }
    // Only the canonical base64 spelling verifies, so the text remembered below is the one text
    // this MAC has: dropping padding or adding whitespace cannot make a replay look new.
    if (!(await verifySignature(await account.key, request.code, header, request.body))) {
      return refuse("Request signature is invalid");
    }
    const admission = this.#replays.admit(signature, timestamp + this.#windowMs, this.#now());
    if (admission === "replayed") return refuse("Request was replayed");
    if (admission === "full") return { denial: { code: ResponseCode.SYSTEM_BUSY, remark: "Too many signed requests in the replay window: retry later" } };
    return this.#authorise(rules, account, request.code, request.header);
  }

  /** The rights the request's code needs, and its access. */
  #authorise(rules: AclRules, account: AclAccount, code: number, header: Header): { denial: Denial } | { access: Access } {
    const denied = checkRights(rules, account, code, header);
    if (denied !== undefined) return refuse(denied);
    let access = this.#access.get(account);
    if (access === undefined) this.#access.set(account, (access = accountAccess(this.#rules, account)));
    return { access };
  }

  /**
   * Authenticates a RocketMQ 5 (gRPC) call: its `authorization` and `x-mq-date-time` headers name a
   * known account and sign a time within the window. RocketMQ 5's scheme signs only that time, so
   * no replay check can tell one call from the next: the signature proves the account, TLS keeps
   * it from being seen.
   *
   * @param auth The call's `authorization` and `x-mq-date-time` headers, as received.
   * @returns The account, or why the call is refused.
   */
  async authenticateRocketmq5(auth: { authorization: string | undefined; dateTime: string | undefined }): Promise<{ denial: Denial } | { account: AclAccount }> {
    if (auth.authorization === undefined || auth.dateTime === undefined) {
      return refuse('Call is not signed: headers "authorization" and "x-mq-date-time" are required (give the client an access key and secret key)');
    }
    const parsed = parseRocketmq5Authorization(auth.authorization);
    if (parsed === undefined) return refuse('Header "authorization" is not of the form "MQv2-HMAC-SHA1 Credential=…, SignedHeaders=x-mq-date-time, Signature=…"');
    const account = this.#rules().account(parsed.accessKey);
    if (account === undefined) return refuse(`Access key "${parsed.accessKey}" is unknown`);
    const at = parseRocketmq5DateTime(auth.dateTime);
    // The header has whole seconds: allow one more.
    if (!Number.isFinite(at) || Math.abs(this.#now() - at) > this.#windowMs + 1000) {
      return refuse(`Header "x-mq-date-time" ("${auth.dateTime.slice(0, 32)}") is outside the ${Math.round(this.#windowMs / 1000)} s window`);
    }
    const cacheKey = `${auth.dateTime} ${auth.authorization}`;
    if (this.#verified.get(cacheKey) !== account) {
      if (!sameSecret(parsed.signature, await signRocketmq5(account.secretKey, auth.dateTime))) return refuse("Call signature is invalid");
      if (this.#verified.size >= MAX_VERIFIED) this.#verified.clear();
      this.#verified.set(cacheKey, account);
    }
    return { account };
  }

  /**
   * Checks what an authenticated account asks for (a RocketMQ 5 call mapped to a request code).
   *
   * @param account The account.
   * @param code The request code the call maps to.
   * @param header That request's header (the fields its rights are checked on).
   * @returns Why it is refused, or the account's access.
   */
  authorize(account: AclAccount, code: number, header: Header): { denial: Denial } | { access: Access } {
    return this.#authorise(this.#rules(), account, code, header);
  }

  /**
   * A request of a RocketMQ 4.x client: its ACL 1.0 signature is checked over the fields and body
   * as they came on the wire, its rights on the request it was mapped to. ACL 1.0 carries no
   * timestamp or nonce, so there is no window or replay check (docs/SECURITY.md).
   */
  async #checkV1(request: Command, remoting: RemotingCommand): Promise<{ denial: Denial } | { access: Access }> {
    const accessKey = remoting.extFields[ACL_V1_FIELDS.ACCESS_KEY];
    if (accessKey === undefined || remoting.extFields[ACL_V1_FIELDS.SIGNATURE] === undefined) return refuse(NOT_SIGNED_V1);
    const rules = this.#rules();
    const account = rules.account(accessKey);
    if (account === undefined) return refuse(`Access key "${accessKey.slice(0, 128)}" is unknown`);
    let key = this.#v1Keys.get(account);
    if (key === undefined) this.#v1Keys.set(account, (key = importHmacSha1Key(account.secretKey)));
    if (!(await verifyAclV1(await key, remoting.extFields, remoting.body))) return refuse("Request signature is invalid");
    return this.#authorise(rules, account, request.code, request.header);
  }

  /**
   * Wraps a request handler: requests that pass reach it (without the signing fields), in arrival
   * order per connection; others are answered with the denial.
   *
   * @param handler The dispatcher.
   * @returns The guarded handler.
   */
  wrap(handler: RequestHandler): RequestHandler {
    const tails = new WeakMap<Connection, Promise<void>>();
    return (request, connection) => {
      const verdict = this.check(request);
      const previous = tails.get(connection);
      const turn = previous === undefined ? verdict : previous.then(() => verdict);
      const tail = turn.then(
        (verdict) => {
          if (tails.get(connection) === tail) tails.delete(connection);
          if ("denial" in verdict) {
            connection.respond(request, verdict.denial);
            return;
          }
          attachAccess(request, verdict.access);
          const header = request.header;
          delete header[SIGNATURE_FIELDS.ACCESS_KEY];
          delete header[SIGNATURE_FIELDS.TIMESTAMP];
          delete header[SIGNATURE_FIELDS.NONCE];
          delete header[SIGNATURE_FIELDS.SIGNATURE];
          try {
            const result = handler(request, connection);
            if (result !== undefined) result.catch((error) => fail(connection, request, error));
          } catch (error) {
            fail(connection, request, error);
          }
        },
        (error) => {
          if (tails.get(connection) === tail) tails.delete(connection);
          fail(connection, request, error);
        },
      );
      tails.set(connection, tail);
    };
  }
}

function refuse(remark: string): { denial: Denial } {
  return { denial: { code: ResponseCode.NO_PERMISSION, remark } };
}

function fail(connection: Connection, request: Command, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  connection.respond(request, { code: ResponseCode.SYSTEM_ERROR, remark: `Request ${request.code} failed: ${message}` });
}
