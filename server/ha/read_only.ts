/**
 * A slave takes no writes of its own: every byte of its CommitLog comes from its master, at the
 * master's offsets. Its write processors (sends, batches, send-backs) answer with this refusal.
 *
 * @module
 */
import { ResponseCode } from "../../core/protocol/request_code.ts";
import type { Processor } from "../../core/remoting/dispatcher.ts";

/**
 * Wraps a write processor so it refuses every request (after the usual header check).
 *
 * @param original The processor a master would run.
 * @param broker The slave's group name and id, for the remark.
 * @returns A processor answering `SERVICE_NOT_AVAILABLE` ("… is read-only; send to the master").
 */
export function readOnlyProcessor<H>(original: Processor<H>, broker: { brokerName: string; brokerId: number }): Processor<H> {
  const remark = `Broker "${broker.brokerName}" slave ${broker.brokerId} is read-only; send to the master (brokerId 0)`;
  return {
    schema: original.schema,
    handle: () => ({ code: ResponseCode.SERVICE_NOT_AVAILABLE, remark }),
  };
}
