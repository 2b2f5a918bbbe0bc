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
import type { RemotingCommand } from "../../core/codec/remoting_frame.ts";
import { remotingOrigin } from "../../core/remoting/remoting_wire.ts";
import type { Command } from "../../core/protocol/command.ts";
import { ResponseCode } from "../../core/protocol/request_code.ts";
import type { Connection, RequestHandler } from "../../core/remoting/connection.ts";
import type { AclAccount, AclRules } from "./acl_rules.ts";
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
    return this.#authorise(rules, account, request);
  }

  /** The rights the request's code needs, and its access. */
  #authorise(rules: AclRules, account: AclAccount, request: Command): { denial: Denial } | { access: Access } {
    const denied = checkRights(rules, account, request.code, request.header);
    if (denied !== undefined) return refuse(denied);
    let access = this.#access.get(account);
    if (access === undefined) this.#access.set(account, (access = accountAccess(this.#rules, account)));
    return { access };
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
    return this.#authorise(rules, account, request);
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
