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

/**
 * Wraps a write processor of a master in controller mode so it refuses requests while the master
 * is fenced: its lease lapsed, a newer epoch exists, or a switchover is under way.
 *
 * @param original The master's processor.
 * @param fenced Why writes are refused now, or undefined when they are taken.
 * @returns A processor answering `SERVICE_NOT_AVAILABLE` with that reason while fenced.
 */
export function fencedProcessor<H>(original: Processor<H>, fenced: () => string | undefined): Processor<H> {
  return {
    schema: original.schema,
    ...(original.fast === undefined ? {} : { fast: original.fast }),
    handle(header, request, connection) {
      const reason = fenced();
      if (reason !== undefined) return { code: ResponseCode.SERVICE_NOT_AVAILABLE, remark: reason };
      return original.handle(header, request, connection);
    },
  };
}
