/**
 * Queue bounds and consumer offsets: GET_MAX_OFFSET, GET_MIN_OFFSET, SEARCH_OFFSET_BY_TIMESTAMP,
 * QUERY_CONSUMER_OFFSET, UPDATE_CONSUMER_OFFSET.
 *
 * @module
 */
import {
  QueryConsumerOffsetHeader,
  QueueHeader,
  SearchOffsetHeader,
  UpdateConsumerOffsetHeader,
} from "../../../core/protocol/headers.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import type { BrokerContext } from "../context.ts";

/** GET_MAX_OFFSET: the offset the next message of the queue will get. */
export function maxOffsetProcessor(ctx: BrokerContext): Processor<QueueHeader> {
  return processor(QueueHeader, (h) => ({
    code: ResponseCode.SUCCESS,
    header: { offset: ctx.store.getMaxOffset(h.topic, h.queueId) },
  }));
}

/** GET_MIN_OFFSET: the smallest offset still stored. */
export function minOffsetProcessor(ctx: BrokerContext): Processor<QueueHeader> {
  return processor(QueueHeader, (h) => ({
    code: ResponseCode.SUCCESS,
    header: { offset: ctx.store.getMinOffset(h.topic, h.queueId) },
  }));
}

/** SEARCH_OFFSET_BY_TIMESTAMP: the first offset stored at or after a time. */
export function searchOffsetProcessor(ctx: BrokerContext): Processor<SearchOffsetHeader> {
  return processor(SearchOffsetHeader, (h) => ({
    code: ResponseCode.SUCCESS,
    header: { offset: ctx.store.getOffsetByTime(h.topic, h.queueId, h.timestamp) },
  }));
}

/** QUERY_CONSUMER_OFFSET: the group's committed offset, or QUERY_NOT_FOUND. */
export function queryConsumerOffsetProcessor(ctx: BrokerContext): Processor<QueryConsumerOffsetHeader> {
  return processor(QueryConsumerOffsetHeader, (h) => {
    const offset = ctx.offsets.query(h.consumerGroup, h.topic, h.queueId);
    if (offset < 0) {
      return { code: ResponseCode.QUERY_NOT_FOUND, remark: `Group "${h.consumerGroup}" has no offset for "${h.topic}" queue ${h.queueId}` };
    }
    return { code: ResponseCode.SUCCESS, header: { offset } };
  });
}

/** UPDATE_CONSUMER_OFFSET: stores the group's next offset (negative values are ignored). */
export function updateConsumerOffsetProcessor(ctx: BrokerContext): Processor<UpdateConsumerOffsetHeader> {
  return processor(UpdateConsumerOffsetHeader, (h) => {
    ctx.offsets.commit(h.consumerGroup, h.topic, h.queueId, h.commitOffset);
    return { code: ResponseCode.SUCCESS };
  });
}
