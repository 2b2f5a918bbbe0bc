/**
 * The controller's request processors, served on the NameServer's port when the NameServer runs a
 * controller (`controller.etcdEndpoints`). Heartbeats and in-sync set changes come from brokers and
 * must be signed with the cluster secret (like registrations); switchovers need the same (or an ACL
 * admin account); the state is readable like the route table.
 *
 * @module
 */
import { AlterSyncStateSetHeader, ControllerHeartbeatHeader, ElectMasterHeader } from "../../core/protocol/controller.ts";
import { EmptyHeader } from "../../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type Processor, processor } from "../../core/remoting/dispatcher.ts";
import type { Controller } from "./controller.ts";
import { EtcdError } from "./etcd.ts";

/** The controller's requests that change state: signed with the cluster secret or by an ACL admin account. */
export const CONTROLLER_WRITE_CODES: readonly number[] = [
  RequestCode.CONTROLLER_BROKER_HEARTBEAT,
  RequestCode.CONTROLLER_ALTER_SYNC_STATE_SET,
  RequestCode.CONTROLLER_ELECT_MASTER,
];

const unavailable = (error: unknown) => {
  if (!(error instanceof EtcdError)) throw error;
  return { code: ResponseCode.SERVICE_NOT_AVAILABLE, remark: `The controller cannot reach etcd: ${error.message}` };
};

/**
 * Builds the controller's processors.
 *
 * @param controller The controller.
 * @returns Processors keyed by request code.
 */
// deno-lint-ignore no-explicit-any -- each processor has its own header type, as createDispatcher takes them
export function createControllerProcessors(controller: Controller): Record<number, Processor<any>> {
  return {
    [RequestCode.CONTROLLER_BROKER_HEARTBEAT]: processor(ControllerHeartbeatHeader, async (header) => ({
      code: ResponseCode.SUCCESS,
      header: { ...await controller.heartbeat(header) },
    })),
    [RequestCode.CONTROLLER_ALTER_SYNC_STATE_SET]: processor(AlterSyncStateSetHeader, async (header) => {
      try {
        const result = await controller.alterSyncStateSet(header);
        if ("refused" in result) return { code: ResponseCode.ILLEGAL_OPERATION, remark: result.refused };
        return { code: ResponseCode.SUCCESS, header: { state: result.state, version: result.version } };
      } catch (error) {
        return unavailable(error);
      }
    }),
    [RequestCode.CONTROLLER_ELECT_MASTER]: processor(ElectMasterHeader, async (header) => {
      try {
        const result = await controller.electMaster(header);
        if ("refused" in result) return { code: ResponseCode.ILLEGAL_OPERATION, remark: result.refused };
        return { code: ResponseCode.SUCCESS, header: { state: result.state } };
      } catch (error) {
        return unavailable(error);
      }
    }),
    [RequestCode.CONTROLLER_GET_SYNC_STATE_DATA]: processor(EmptyHeader, async () => {
      try {
        return { code: ResponseCode.SUCCESS, header: { ...await controller.syncStateData() } };
      } catch (error) {
        return unavailable(error);
      }
    }),
  };
}
