/**
 * The broker the gateway produces to and consumes from.
 *
 * @module
 */
import type { BrokerContext } from "../../broker/context.ts";
import { httpError } from "../_http.ts";
import { type AdminState, requireBroker } from "../_state.ts";

/**
 * The broker context, when this process runs a master.
 *
 * @param state The admin state.
 * @returns The context.
 * @throws {HTTPException} 503 when the process runs no broker, or a slave (read-only: no sends, no POP).
 */
export function requireMaster(state: AdminState): BrokerContext {
  const ctx = requireBroker(state);
  if (ctx.brokerId !== 0) {
    throw httpError(503, "NOT_AVAILABLE", `Broker "${ctx.brokerName}" slave ${ctx.brokerId} is read-only: produce and consume through the master's gateway (brokerId 0)`);
  }
  return ctx;
}
