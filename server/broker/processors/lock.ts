/**
 * LOCK_BATCH_MQ and UNLOCK_BATCH_MQ: queue locks of orderly consumers.
 *
 * @module
 */
import { LockBatchHeader } from "../../../core/protocol/headers.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import type { BrokerContext } from "../context.ts";

/**
 * LOCK_BATCH_MQ: locks what it can; the reply header `{ lockOKMQSet }` lists the queues the
 * client holds now (granted or renewed).
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function lockBatchProcessor(ctx: BrokerContext): Processor<LockBatchHeader> {
  return processor(LockBatchHeader, (header, _request, connection: Connection) => ({
    code: ResponseCode.SUCCESS,
    header: { lockOKMQSet: ctx.locks.tryLockBatch({ group: header.consumerGroup, clientId: header.clientId, queues: header.mqs }, connection) },
  }));
}

/**
 * UNLOCK_BATCH_MQ: releases the named queues the client holds.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function unlockBatchProcessor(ctx: BrokerContext): Processor<LockBatchHeader> {
  return processor(LockBatchHeader, (header) => {
    ctx.locks.unlockBatch({ group: header.consumerGroup, clientId: header.clientId, queues: header.mqs });
    return { code: ResponseCode.SUCCESS };
  });
}
