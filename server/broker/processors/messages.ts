/**
 * VIEW_MESSAGE_BY_ID, QUERY_MESSAGE and GET_BROKER_RUNTIME_INFO.
 *
 * @module
 */
import { readRecordIndexFields } from "../../../core/model/record.ts";
import { EmptyHeader, QueryMessageHeader, ViewMessageHeader } from "../../../core/protocol/headers.ts";
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

/** What RocketMQ's broker answers a unique-key query at most (`defaultQueryMaxNum`). */
const UNIQUE_KEY_QUERY_MAX_NUM = 32;

/**
 * QUERY_MESSAGE: a topic's messages by key or unique key through the store's key index (the ACL
 * checked SUB on the topic; every record returned is of that topic). The records go back to back
 * in the body, newest first; `complete` says whether they are every match.
 */
export function queryMessageProcessor(ctx: BrokerContext): Processor<QueryMessageHeader> {
  return processor(QueryMessageHeader, (h) => {
    if (!ctx.store.indexEnabled) {
      return { code: ResponseCode.SERVICE_NOT_AVAILABLE, remark: `Key lookups are off on broker "${ctx.brokerName}": messageIndexEnable is false` };
    }
    if (h.beginTimestamp > h.endTimestamp) {
      return { code: ResponseCode.INVALID_HEADER, remark: `Invalid header: beginTimestamp ${h.beginTimestamp} is after endTimestamp ${h.endTimestamp}` };
    }
    const uniqueKey = h._UNIQUE_KEY_QUERY === "true";
    const found = ctx.store.queryMessage(h.topic, h.key, {
      beginTimestamp: h.beginTimestamp,
      endTimestamp: h.endTimestamp,
      maxNum: uniqueKey ? Math.min(h.maxNum, UNIQUE_KEY_QUERY_MAX_NUM) : h.maxNum,
      uniqueKey,
    });
    const header: Record<string, unknown> = {
      indexLastUpdateTimestamp: found.indexLastUpdateTimestamp,
      indexLastUpdatePhyoffset: found.indexLastUpdatePhyoffset,
      complete: found.complete,
    };
    if (found.incomplete !== undefined) header.incomplete = found.incomplete;
    if (found.body === undefined) {
      const what = uniqueKey ? "unique key" : "key";
      return { code: ResponseCode.QUERY_NOT_FOUND, header, remark: `No message of topic "${h.topic}" with ${what} "${h.key}" was stored in the time range` };
    }
    return { code: ResponseCode.SUCCESS, header, body: found.body };
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
