/**
 * VIEW_MESSAGE_BY_ID and GET_BROKER_RUNTIME_INFO.
 *
 * @module
 */
import { readRecordIndexFields } from "../../../core/model/record.ts";
import { EmptyHeader, ViewMessageHeader } from "../../../core/protocol/headers.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import { accessOf } from "../../acl/access.ts";
import type { BrokerContext } from "../context.ts";

/**
 * VIEW_MESSAGE_BY_ID: the stored record at a commit log offset, for an account that may subscribe
 * to the topic it is stored in.
 */
export function viewMessageProcessor(ctx: BrokerContext): Processor<ViewMessageHeader> {
  return processor(ViewMessageHeader, (h, request) => {
    const record = ctx.store.lookMessageBytesByOffset(h.offset);
    if (record === undefined) {
      return { code: ResponseCode.SYSTEM_ERROR, remark: `No message at commit log offset ${h.offset}` };
    }
    const access = accessOf(request);
    if (access.subscribe(readRecordIndexFields(record, 0).topic) !== undefined) {
      return {
        code: ResponseCode.NO_PERMISSION,
        remark: `Account "${access.accessKey}" may not subscribe to the topic of the message at commit log offset ${h.offset}`,
      };
    }
    return { code: ResponseCode.SUCCESS, body: record };
  });
}

/**
 * GET_BROKER_RUNTIME_INFO: identity, counters and store figures, as plain CBOR-encodable data (the
 * per-topic table as a map of topic to counters, the latency histogram as its fields).
 */
export function runtimeInfoProcessor(ctx: BrokerContext): Processor<Record<string, never>> {
  return processor(EmptyHeader, () => {
    const { byTopic, sendLatency, deadLetters, timerLateness, ...counters } = ctx.stats;
    return {
      code: ResponseCode.SUCCESS,
      header: {
        clusterName: ctx.clusterName,
        brokerName: ctx.brokerName,
        brokerId: ctx.brokerId,
        address: ctx.advertisedAddress,
        uptimeMs: Date.now() - ctx.startedAt,
        ...counters,
        byTopic: Object.fromEntries([...byTopic].map(([topic, c]) => [topic, { ...c }])),
        sendLatency: { bounds: [...sendLatency.bounds], counts: [...sendLatency.counts], count: sendLatency.count, sum: sendLatency.sum },
        deadLetters: Object.fromEntries([...deadLetters].map(([group, topics]) => [group, Object.fromEntries(topics)])),
        pendingLongPolls: ctx.holds.size,
        timerLateness: { bounds: [...timerLateness.bounds], counts: [...timerLateness.counts], count: timerLateness.count, sum: timerLateness.sum },
        ...(ctx.timers === undefined ? {} : { timers: ctx.timers.stats }),
        dedup: { ids: ctx.dedup.size, duplicates: ctx.dedup.duplicates, evicted: ctx.dedup.evicted },
        ...ctx.store.stats,
      },
    };
  });
}
