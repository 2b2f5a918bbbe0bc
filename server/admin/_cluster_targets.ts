/**
 * Changes that target a whole cluster (`mqadmin updateTopic -c`): the cluster's masters, found
 * through the NameServer (this process's own, or the broker's NameServers), each sent the same
 * broker request: in process to the local broker, over the wire to the others, signed as the
 * caller's account when the admin API was called with `Authorization: Basic` (ACL on).
 *
 * @module
 */
import * as v from "valibot";
import { type Credentials, RequestSigner } from "../../core/auth/signing.ts";
import type { Command, Header } from "../../core/protocol/command.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import type { Processor, Reply } from "../../core/remoting/dispatcher.ts";
import { httpError } from "./_http.ts";
import { type AdminState, localRequest } from "./_state.ts";

/** A cluster's (or broker group's) name as the admin API takes it. */
export const ClusterName: v.GenericSchema<string> = v.pipe(v.string(), v.minLength(1, "must not be empty"), v.maxLength(255));

/** `?cluster=`: a change on every master of the cluster. */
export const ClusterQuery = v.object({ cluster: v.optional(ClusterName) });

/** How long one broker or NameServer may take to answer. */
const REQUEST_TIMEOUT_MS = 5000;

/** A master of the cluster. */
export interface ClusterMaster {
  brokerName: string;
  address: string;
}

/** What one master answered. */
export interface MasterOutcome extends ClusterMaster {
  ok: boolean;
  /** The broker's refusal or why it could not be reached. */
  error?: string;
}

interface BrokerData {
  cluster?: unknown;
  brokerName?: unknown;
  brokerAddrs?: Record<string, unknown>;
}

/**
 * The masters of a cluster by the NameServer's cluster table.
 *
 * @param state The admin state.
 * @param cluster The cluster's name.
 * @returns The masters, by broker name.
 * @throws {HTTPException} 404 for a cluster no NameServer knows or one without a live master,
 *   503 when there is no NameServer to ask.
 */
export async function clusterMasters(state: AdminState, cluster: string): Promise<ClusterMaster[]> {
  const info = await clusterInfo(state);
  const names = Object.hasOwn(info.clusterAddrTable, cluster) ? info.clusterAddrTable[cluster] : undefined;
  if (!Array.isArray(names) || names.length === 0) throw httpError(404, "NOT_FOUND", `No NameServer knows cluster "${cluster}"`);
  const masters: ClusterMaster[] = [];
  for (const name of names) {
    const data = Object.hasOwn(info.brokerAddrTable, String(name)) ? info.brokerAddrTable[String(name)] : undefined;
    const address = data?.brokerAddrs?.["0"];
    if (typeof address === "string") masters.push({ brokerName: String(name), address });
  }
  if (masters.length === 0) throw httpError(404, "NOT_FOUND", `Cluster "${cluster}" has no live master`);
  return masters.sort((a, b) => a.brokerName.localeCompare(b.brokerName));
}

async function clusterInfo(state: AdminState): Promise<{ clusterAddrTable: Record<string, unknown>; brokerAddrTable: Record<string, BrokerData | undefined> }> {
  const { nameServer, nameServerAddresses = [], dial } = state.options;
  if (nameServer !== undefined) return nameServer.routeTable.getClusterInfo();
  if (dial === undefined || nameServerAddresses.length === 0) {
    throw httpError(503, "NOT_AVAILABLE", "This process knows no NameServer to find the cluster's masters through");
  }
  let lastError = "";
  for (const address of nameServerAddresses) {
    try {
      const response = await remoteRequest(state, address, RequestCode.GET_BROKER_CLUSTER_INFO, {}, undefined);
      const { clusterAddrTable, brokerAddrTable } = response.header;
      if (response.code === ResponseCode.SUCCESS && isRecord(clusterAddrTable) && isRecord(brokerAddrTable)) {
        return { clusterAddrTable, brokerAddrTable: brokerAddrTable as Record<string, BrokerData> };
      }
      lastError = `NameServer ${address} answered code ${response.code}${response.remark === undefined ? "" : `: ${response.remark}`}`;
    } catch (error) {
      lastError = `NameServer ${address}: ${(error as Error).message}`;
    }
  }
  throw httpError(503, "NOT_AVAILABLE", `Cannot read the cluster table: ${lastError}`);
}

/**
 * One broker request to a master: in process when it is this process's broker, else over the wire.
 *
 * @param state The admin state.
 * @param master The master.
 * @param local The local broker's processor of `code`, if this process runs a broker.
 * @param code The request code.
 * @param header The request header.
 * @param caller The caller's account (ACL on), signing remote requests.
 * @returns The reply.
 */
export async function masterRequest(
  state: AdminState,
  master: ClusterMaster,
  local: Processor<unknown> | undefined,
  code: number,
  header: Header,
  caller: Credentials | undefined,
): Promise<Reply> {
  if (local !== undefined && master.address === state.options.broker?.context.advertisedAddress) return await localRequest(local, code, header);
  const response = await remoteRequest(state, master.address, code, header, caller);
  return { code: response.code, header: response.header, ...(response.remark === undefined ? {} : { remark: response.remark }) };
}

/**
 * Runs `each` on every master at once and collects the outcomes; refuses with the failures when
 * any master failed (the others keep the change: run it again once the failed one is back).
 *
 * @param masters The masters.
 * @param what The change, for the message (`Topic "orders" was created`).
 * @param each The change on one master: undefined when done, else why not.
 * @returns The outcomes, all successful.
 * @throws {HTTPException} 502 naming the masters that failed and those that took the change.
 */
export async function onEveryMaster(
  masters: readonly ClusterMaster[],
  what: string,
  each: (master: ClusterMaster) => Promise<string | undefined>,
): Promise<MasterOutcome[]> {
  const outcomes = await Promise.all(masters.map(async (master): Promise<MasterOutcome> => {
    try {
      const error = await each(master);
      return error === undefined ? { ...master, ok: true } : { ...master, ok: false, error };
    } catch (error) {
      return { ...master, ok: false, error: (error as Error).message };
    }
  }));
  const failed = outcomes.filter((o) => !o.ok);
  if (failed.length > 0) {
    const done = outcomes.filter((o) => o.ok).map((o) => `"${o.brokerName}"`);
    const reasons = failed.map((o) => `"${o.brokerName}" (${o.address}): ${o.error}`).join("; ");
    throw httpError(502, "BAD_GATEWAY", `${what} on ${done.length === 0 ? "no broker" : `brokers ${done.join(", ")}`} but failed on ${reasons}`);
  }
  return outcomes;
}

async function remoteRequest(state: AdminState, address: string, code: number, header: Header, caller: Credentials | undefined): Promise<Command> {
  const dial = state.options.dial;
  if (dial === undefined) throw new Error("this admin API has no dialer for other brokers");
  const connection = await connect(dial, address, { connectTimeoutMs: REQUEST_TIMEOUT_MS });
  try {
    const signed = caller === undefined ? header : await new RequestSigner(caller).sign(code, header);
    return await connection.request(code, signed, undefined, REQUEST_TIMEOUT_MS);
  } finally {
    connection.close();
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
