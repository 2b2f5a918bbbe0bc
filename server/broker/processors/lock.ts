/**
 * LOCK_BATCH_MQ and UNLOCK_BATCH_MQ: queue locks of orderly consumers.
 *
 * @module
 */
import { LockBatchHeader } from "../../../core/protocol/headers.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import { accessOf } from "../../acl/access.ts";
import type { BrokerContext } from "../context.ts";
import { foreignClient } from "./client.ts";

/**
 * LOCK_BATCH_MQ: locks what it can; the reply header `{ lockOKMQSet }` lists the queues the
 * client holds now (granted or renewed). A client id another account registered in the group is
 * refused, and a lock is renewed only under the account that took it.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function lockBatchProcessor(ctx: BrokerContext): Processor<LockBatchHeader> {
  return processor(LockBatchHeader, (header, request, connection: Connection) => {
    const access = accessOf(request);
    const refused = foreignClient(ctx, access, header.consumerGroup, header.clientId);
    if (refused !== undefined) return refused;
    const lockRequest = { group: header.consumerGroup, clientId: header.clientId, queues: header.mqs, owner: access.accessKey };
    return { code: ResponseCode.SUCCESS, header: { lockOKMQSet: ctx.locks.tryLockBatch(lockRequest, connection) } };
  });
}

/**
 * UNLOCK_BATCH_MQ: releases the named queues the client holds, when the account asking took them
 * (a client id another account registered in the group is refused).
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function unlockBatchProcessor(ctx: BrokerContext): Processor<LockBatchHeader> {
  return processor(LockBatchHeader, (header, request) => {
    const access = accessOf(request);
    const refused = foreignClient(ctx, access, header.consumerGroup, header.clientId);
    if (refused !== undefined) return refused;
    ctx.locks.unlockBatch({ group: header.consumerGroup, clientId: header.clientId, queues: header.mqs, owner: access.accessKey });
    return { code: ResponseCode.SUCCESS };
  });
}
