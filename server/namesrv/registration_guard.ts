/**
 * Who may change the route table: `REGISTER_BROKER` and `UNREGISTER_BROKER` must be signed with the
 * cluster secret (the request signing of `core/auth/signing.ts` under the access key
 * `CLUSTER_ACCESS_KEY`), or — with ACL — by an admin account. A fake broker that cannot sign is
 * answered NO_PERMISSION and the route table is left alone. See docs/SECURITY.md, "Cluster secret".
 *
 * @module
 */
import { SIGNATURE_FIELDS } from "../../core/auth/signing.ts";
import type { Command } from "../../core/protocol/command.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import type { Connection, RequestHandler } from "../../core/remoting/connection.ts";
import { CLUSTER_ACCESS_KEY } from "../_cluster_secret.ts";
import { AclGuard } from "../acl/acl_guard.ts";
import { AclRules } from "../acl/acl_rules.ts";
import { CONTROLLER_WRITE_CODES } from "../controller/controller_processors.ts";
import type { Log } from "../logger.ts";

/** The requests that change which broker serves what. */
const REGISTRATION_CODES: ReadonlySet<number> = new Set([RequestCode.REGISTER_BROKER, RequestCode.UNREGISTER_BROKER, ...CONTROLLER_WRITE_CODES]);

/** Options of `guardRegistration`. */
export interface RegistrationGuardOptions {
  /** The cluster secret; registrations signed with it pass. */
  clusterSecret?: string;
  /** The ACL check, when ACL is on: every other request (and registrations signed by an account) goes through it. */
  acl?: AclGuard;
  /** Where refused registrations are reported (at most one line every 5 s). */
  log?: Log;
  /** Called with the connection of every request that passed ACL or the cluster secret (its peer is known). */
  onAuthenticated?: (connection: Connection) => void;
}

/**
 * Puts the NameServer's processors behind ACL (when on) and registrations behind the cluster secret
 * (when set).
 *
 * @param processors The NameServer's dispatcher.
 * @param options The cluster secret, the ACL check and the log.
 * @returns The handler for every connection.
 */
export function guardRegistration(processors: RequestHandler, options: RegistrationGuardOptions): RequestHandler {
  const authenticated: RequestHandler = options.onAuthenticated === undefined ? processors : (request, connection) => {
    options.onAuthenticated!(connection);
    return processors(request, connection);
  };
  const viaAcl = options.acl?.wrap(authenticated);
  const secret = options.clusterSecret;
  if (secret === undefined) return viaAcl ?? processors;
  const rules = AclRules.parse({ accounts: [{ accessKey: CLUSTER_ACCESS_KEY, secretKey: secret, admin: true }] });
  const secretGuard = new AclGuard({ rules: () => rules });
  const refusals = throttledLog(options.log);
  return (request, connection) => {
    const signedBy = request.header[SIGNATURE_FIELDS.ACCESS_KEY];
    if (!REGISTRATION_CODES.has(request.code) || (viaAcl !== undefined && signedBy !== CLUSTER_ACCESS_KEY)) {
      return (viaAcl ?? processors)(request, connection);
    }
    secretGuard.check(request).then(
      (verdict) => {
        if (!("denial" in verdict)) {
          for (const field of Object.values(SIGNATURE_FIELDS)) delete request.header[field];
          return authenticated(request, connection);
        }
        const denial = verdict.denial;
        const remark = denial.code === ResponseCode.NO_PERMISSION ? refusalRemark(request, denial.remark, viaAcl !== undefined) : denial.remark;
        refusals(`Refused ${request.code === RequestCode.REGISTER_BROKER ? "registration" : request.code === RequestCode.UNREGISTER_BROKER ? "unregistration" : `controller request ${request.code}`} of ${describe(request)} from ${connection.remoteAddress}: ${remark}`);
        connection.respond(request, { code: denial.code, remark });
      },
    ).catch((error) => {
      connection.respond(request, { code: ResponseCode.SYSTEM_ERROR, remark: `Request ${request.code} failed: ${(error as Error).message}` });
    });
  };
}

function refusalRemark(request: Command, remark: string, acl: boolean): string {
  const how = acl ? "the cluster secret or an ACL admin account" : "the cluster secret (cluster.secretFile)";
  const signedBy = request.header[SIGNATURE_FIELDS.ACCESS_KEY];
  if (typeof signedBy !== "string") return `Broker registration must be signed with ${how}`;
  if (signedBy !== CLUSTER_ACCESS_KEY) return `Broker registration must be signed with ${how}, not as account "${signedBy}"`;
  if (remark === "Request signature is invalid") return "Broker registration is signed with another cluster secret than this NameServer's";
  return `Broker registration refused: ${remark}`;
}

function describe(request: Command): string {
  const { brokerName, brokerAddr } = request.header;
  return `broker ${JSON.stringify(String(brokerName ?? "?")).slice(0, 300)} at ${JSON.stringify(String(brokerAddr ?? "?")).slice(0, 100)}`;
}

function throttledLog(log: Log | undefined): (line: string) => void {
  let last = 0;
  let suppressed = 0;
  return (line) => {
    if (log === undefined) return;
    const now = Date.now();
    if (now - last < 5000) {
      suppressed++;
      return;
    }
    last = now;
    log(suppressed === 0 ? line : `${line} (and ${suppressed} more refused since the last such line)`, "warn");
    suppressed = 0;
  };
}
