/**
 * What every admin route works with: the broker and NameServer views handed to `createAdminApp`,
 * and in-process requests to the broker's own processors (so an admin send or topic change takes
 * exactly the path a client's does: validation, counters, long-poll wake-ups).
 *
 * @module
 */
import type { Command } from "../../core/protocol/command.ts";
import type { ControllerAccess } from "../../core/protocol/controller.ts";
import type { Dialer } from "../../core/remoting/transport.ts";
import { ResponseCode } from "../../core/protocol/request_code.ts";
import * as v from "valibot";
import { Connection } from "../../core/remoting/connection.ts";
import type { Processor, Reply } from "../../core/remoting/dispatcher.ts";
import type { BrokerContext } from "../broker/context.ts";
import type { NameServer } from "../namesrv/name_server.ts";
import { httpError } from "./_http.ts";
import type { AclRules } from "../acl/acl_rules.ts";
import type { Log } from "../logger.ts";
import type { GatewayStreamOptions } from "./gateway/stream.ts";

/** The parts of a running broker the admin app reads. `startBroker`'s `Broker` fits. */
export interface AdminBrokerView {
  /** `host:port` advertised to clients. */
  readonly address: string;
  readonly context: BrokerContext;
  /** Live client connections. */
  readonly connections: ReadonlySet<unknown>;
}

/** Options of `createAdminApp`. */
export interface AdminAppOptions {
  /** The broker this process runs, if any. */
  broker?: AdminBrokerView;
  /** The broker's data directory, for the free disk figure. */
  dataDir?: string;
  /** The NameServer this process runs, if any (its route table gives the cluster view). */
  nameServer?: Pick<NameServer, "routeTable" | "port" | "connectionGuard">;
  /**
   * A controller to ask (controller mode): the NameServer's own, or a controlled broker's link to
   * its controllers. Gives `/api/cluster` each group's master, epoch, in-sync set and lags, and
   * `POST /api/cluster/switch-master`. @default none
   */
  controller?: ControllerAccess;
  /**
   * Opens connections to other brokers, for changes that target a whole cluster (`cluster` in
   * `POST /api/topics`, `DELETE /api/topics/:topic?cluster=`). @default none: those are refused
   */
  dial?: Dialer;
  /** NameServers to ask for a cluster's masters when this process runs none. @default none */
  nameServerAddresses?: readonly string[];
  /** When set (and ACL is off), mutating requests need `Authorization: Bearer <token>`. */
  token?: string;
  /**
   * The ACL in force (see `server/acl/`): every request but `/healthz` and the dashboard page then
   * needs an account, signed in on the dashboard (session cookie and CSRF token) or sent as
   * `Authorization: Basic base64(accessKey:secretKey)`; each route authorises like the wire request
   * it matches (see `_auth.ts`). Supersedes `token`.
   */
  acl?: () => AclRules;
  /**
   * Origins besides the server's own address whose pages may use the API, e.g. a reverse proxy's
   * `https://mq.example.com` or `http://broker-a:8080`. Requests are answered only for a Host that
   * is an IP address, `localhost`, the `hostname` or one of these origins' hosts (DNS rebinding),
   * and changes only from pages of the same origin or one of these (cross-site forgery).
   * @default []
   */
  allowedOrigins?: readonly string[];
  /** The address the server listens on; a host name there is answered too. @default none */
  hostname?: string;
  /** The rocketmq-ts version, reported by `/api/cluster` and `/metrics`. */
  version: string;
  /** Clock in ms. @default Date.now */
  now?: () => number;
  /** When the process started serving, for the uptime of a NameServer-only process. @default now() when the app is made */
  startedAt?: number;
  /** Where unexpected failures are reported. @default a logger naming "admin" */
  log?: Log;
  /**
   * The HTTP gateway at `/api/gateway` (and its `/api/openapi.json`): its event stream limits (see
   * `gateway/stream.ts`), or `false` to serve no gateway. @default served, with their defaults
   */
  gateway?: GatewayStreamOptions | false;
  /** Free bytes of the file system holding a path. @default statfs of node:fs */
  freeDisk?: (path: string) => number | undefined;
}

/** Shared state of one admin app. */
export interface AdminState {
  readonly options: AdminAppOptions;
  readonly now: () => number;
  /** Process start, for the uptime of a NameServer-only process. */
  readonly startedAt: number;
}

/**
 * Creates the shared state.
 *
 * @param options The app's options.
 * @returns The state.
 */
export function createAdminState(options: AdminAppOptions): AdminState {
  const now = options.now ?? Date.now;
  return { options, now, startedAt: options.startedAt ?? now() };
}

/**
 * The broker context, or a 503 when this process runs none.
 *
 * @param state The admin state.
 * @returns The context.
 */
export function requireBroker(state: AdminState): BrokerContext {
  const broker = state.options.broker;
  if (broker === undefined) throw httpError(503, "NOT_AVAILABLE", "This process runs no broker: ask a broker's admin endpoint");
  return broker.context;
}

/**
 * One of the broker's processors, for in-process requests, built for the broker's context of the
 * moment: a controlled broker that changes role restarts with a new context, and a processor built
 * once at start would go on acting on the closed broker's store and tables.
 *
 * @param state The admin state.
 * @param make Builds the processor for a context.
 * @returns The processor of the current context (built again when it changed), or undefined when
 * this process runs no broker.
 */
export function brokerProcessor<H>(state: AdminState, make: (ctx: BrokerContext) => Processor<H>): (() => Processor<H>) | undefined {
  const broker = state.options.broker;
  if (broker === undefined) return undefined;
  let built: { ctx: BrokerContext; proc: Processor<H> } | undefined;
  return () => {
    const ctx = broker.context;
    if (built?.ctx !== ctx) built = { ctx, proc: make(ctx) };
    return built.proc;
  };
}

/** The peer of in-process requests: not attached, so its address reads as "". */
const LOCAL_PEER = new Connection();
let nextLocalId = 1;

/**
 * Runs one broker processor in process, the way the dispatcher would for a client request.
 *
 * @param proc The processor.
 * @param code The request code (for the request's record).
 * @param header The request header (validated with the processor's schema).
 * @param body The request body.
 * @returns The processor's reply.
 * @throws {HTTPException} 400 when the header does not match the processor's schema.
 */
export async function localRequest(proc: Processor<unknown>, code: number, header: Record<string, unknown>, body?: Uint8Array): Promise<Reply> {
  const parsed = v.safeParse(proc.schema, header);
  if (!parsed.success) throw httpError(400, "BAD_REQUEST", v.summarize(parsed.issues));
  const request: Command = { code, id: nextLocalId++, flags: 0, header, body };
  const reply = await proc.handle(parsed.output, request, LOCAL_PEER);
  if (reply === undefined) throw httpError(500, "INTERNAL", `Request ${code} gave no reply`);
  return reply;
}

/**
 * Turns a broker error reply into the HTTP error a client of the admin API can act on.
 *
 * @param reply A reply whose code is not SUCCESS.
 * @returns The exception to throw.
 */
export function replyError(reply: Reply): Error {
  const message = reply.remark ?? `Broker answered code ${reply.code}`;
  switch (reply.code) {
    case ResponseCode.TOPIC_NOT_EXIST:
      return httpError(404, "NOT_FOUND", message);
    case ResponseCode.NO_PERMISSION:
      return httpError(403, "FORBIDDEN", message);
    case ResponseCode.MESSAGE_ILLEGAL:
    case ResponseCode.INVALID_HEADER:
      return httpError(400, "BAD_REQUEST", message);
    case ResponseCode.SERVICE_NOT_AVAILABLE:
    case ResponseCode.FLUSH_DISK_FAILED:
      return httpError(503, "NOT_AVAILABLE", message);
    default:
      return httpError(500, "INTERNAL", message);
  }
}
