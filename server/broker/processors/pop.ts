/**
 * POP_MESSAGE (long-polled through the pull hold service), ACK_MESSAGE, BATCH_ACK_MESSAGE and
 * CHANGE_MESSAGE_INVISIBLETIME over the broker's `PopService`.
 *
 * @module
 */
import { MessageConst } from "../../../core/model/message.ts";
import { propertyValue } from "../../../core/model/properties.ts";
import type { Command } from "../../../core/protocol/command.ts";
import {
  AckMessageHeader,
  BatchAckMessageHeader,
  ChangeInvisibleTimeHeader,
  PopMessageHeader,
  type PopMessageResponseHeader,
} from "../../../core/protocol/headers.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { processor, type Processor, type Reply } from "../../../core/remoting/dispatcher.ts";
import { countOut } from "../broker_stats.ts";
import type { BrokerContext } from "../context.ts";
import { type PopFilter, PopRefusal, type PopResult } from "../pop/pop_service.ts";
import { FIFO_REVIVE_QUEUE_ID } from "../pop/receipt_handle.ts";
import { ANY_QUEUE } from "../pull_hold_service.ts";
import { FilterExpressionError } from "../../../core/errors.ts";
import { compileFilter, type MessageFilter } from "../../../core/model/message_filter.ts";
import { matchesTag } from "../../../core/model/tag_expression.ts";
import { busyReply, unreadable } from "./pull.ts";

/** A pop woken with less than this left of its poll time answers rather than parking again. */
const MIN_REPARK_MS = 20;

/**
 * The filter of a pop's expression, through the one expression home (`compileFilter`): a tag
 * expression filters by tag hash in the store and then by the exact tag text (two tags can share a
 * hash; unlike a pull, a popped message cannot be passed over by the client), a SQL92 one is
 * evaluated by the store on each record.
 *
 * @param ctx The broker (SQL92 needs `enablePropertyFilter`).
 * @param expType The expression type.
 * @param exp The expression.
 * @returns The filter, or an error reply.
 */
export function popFilter(ctx: BrokerContext, expType: string, exp: string): PopFilter | Reply {
  if (expType !== "TAG" && expType !== "SQL92") {
    return { code: ResponseCode.SUBSCRIPTION_PARSE_FAILED, remark: `Expression type "${expType}" must be "TAG" or "SQL92"` };
  }
  let filter: MessageFilter;
  try {
    filter = compileFilter(expType, exp);
  } catch (error) {
    if (!(error instanceof FilterExpressionError)) throw error;
    return { code: ResponseCode.SUBSCRIPTION_PARSE_FAILED, remark: error.message };
  }
  if (filter.sql !== undefined) {
    if (!ctx.enablePropertyFilter) {
      return { code: ResponseCode.SYSTEM_ERROR, remark: `Broker "${ctx.brokerName}" does not filter by SQL92: enablePropertyFilter is off` };
    }
    return { store: filter.sql };
  }
  const tags = filter.tags;
  if (tags === undefined) return {};
  return {
    store: filter.acceptsTagHash!,
    byProperties: (properties) => matchesTag(tags, propertyValue(properties, MessageConst.TAGS)),
  };
}

function refusal(error: unknown): Reply {
  if (error instanceof PopRefusal) return { code: error.code, remark: error.message };
  throw error;
}

/** Why a pop of this topic and queue cannot be served here, or undefined. */
function checkTopic(ctx: BrokerContext, header: PopMessageHeader): Reply | undefined {
  const refused = unreadable(ctx, header.topic, header.queueId);
  if (refused !== undefined) return refused;
  const fifo = ctx.groups.get(header.consumerGroup).consumeMessageOrderly;
  if (header.order && !fifo) {
    return {
      code: ResponseCode.SYSTEM_ERROR,
      remark: `Consumer group "${header.consumerGroup}" is not FIFO: set consumeMessageOrderly (rmq group update --fifo) before popping in order`,
    };
  }
  return undefined;
}

function found(ctx: BrokerContext, header: PopMessageHeader, result: PopResult): Reply {
  countOut(ctx.stats, header.topic, result.handles.length, result.body!.length);
  const replyHeader: PopMessageResponseHeader = {
    popTime: result.popTime,
    invisibleTime: result.invisibleTime,
    reviveQid: ctx.groups.get(header.consumerGroup).consumeMessageOrderly ? FIFO_REVIVE_QUEUE_ID : 0,
    restNum: result.restNum,
    handles: result.handles,
    attempts: result.attempts,
    retryPolicy: ctx.groups.get(header.consumerGroup).retryPolicy,
  };
  return { code: ResponseCode.SUCCESS, header: replyHeader as unknown as Record<string, unknown>, body: result.body! };
}

function nothing(result: PopResult | undefined, polled: boolean): Reply {
  return {
    code: polled ? ResponseCode.POLLING_TIMEOUT : ResponseCode.PULL_NOT_FOUND,
    header: { popTime: result?.popTime ?? Date.now(), invisibleTime: result?.invisibleTime ?? 0, restNum: result?.restNum ?? 0, handles: [], attempts: [] },
    remark: "No message to pop",
  };
}

/**
 * POP_MESSAGE: pops up to `maxMsgNums` messages; with `pollTime`, a pop that finds nothing waits
 * (parked in the pull hold service on the whole topic, within its per-connection share) until a
 * message arrives, one becomes visible again or a FIFO message group is freed, and parks again
 * when others took it first.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function popMessageProcessor(ctx: BrokerContext): Processor<PopMessageHeader> {
  return processor(PopMessageHeader, async (header, request: Command, connection: Connection) => {
    const refused = checkTopic(ctx, header);
    if (refused !== undefined) return refused;
    const filter = popFilter(ctx, header.expType, header.exp);
    if ("code" in filter) return filter;
    const pop = () =>
      ctx.pop.pop({
        group: header.consumerGroup,
        topic: header.topic,
        queueId: header.queueId,
        maxMsgNums: header.maxMsgNums,
        invisibleTime: header.invisibleTime,
        initMode: header.initMode,
        filter,
      });
    let result: PopResult;
    try {
      result = await pop();
    } catch (error) {
      return refusal(error);
    }
    if (result.handles.length > 0) return found(ctx, header, result);
    if (header.pollTime === 0) return nothing(result, false);
    const deadline = Date.now() + header.pollTime;
    const park = (): Reply | undefined => {
      // A tag filter wakes only for its tags; a SQL92 pop looks again at any arrival.
      const accepts = typeof filter.store === "function" ? filter.store : undefined;
      const held = ctx.holds.hold(header.topic, ANY_QUEUE, { request, connection, deadline, accepts, wake: () => void wake() });
      return held === "HELD" ? undefined : busyReply(ctx, held);
    };
    const wake = async (): Promise<void> => {
      let reply: Reply | undefined;
      let last: PopResult | undefined;
      if (!ctx.holds.stopped && !connection.closed) {
        try {
          last = await pop();
          if (last.handles.length > 0) reply = found(ctx, header, last);
        } catch (error) {
          reply = error instanceof PopRefusal
            ? refusal(error)
            : { code: ResponseCode.SYSTEM_ERROR, remark: `Pop of topic "${header.topic}" failed: ${(error as Error).message}` };
        }
      }
      if (reply === undefined) {
        if (!ctx.holds.stopped && !connection.closed && deadline - Date.now() > MIN_REPARK_MS) {
          const again = park();
          if (again === undefined) return;
        }
        reply = nothing(last, true);
      }
      if (!connection.closed) connection.respond(request, reply);
    };
    return park();
  });
}

/** Why the handle's queue and offset differ from those the header names, or undefined. */
function mismatch(header: { queueId?: number; offset?: number; extraInfo: string }): Reply | undefined {
  const parts = header.extraInfo.split(" ");
  const queueId = Number(parts[parts.length - 3]);
  const offset = Number(parts[parts.length - 2]);
  if ((header.queueId !== undefined && header.queueId !== queueId) || (header.offset !== undefined && header.offset !== offset)) {
    return {
      code: ResponseCode.INVALID_RECEIPT_HANDLE,
      remark: `Receipt handle names queue ${queueId} offset ${offset}, not the queue ${header.queueId} offset ${header.offset} of the request`,
    };
  }
  return undefined;
}

/**
 * ACK_MESSAGE: settles one popped message. A handle the broker did not issue for this group and
 * topic is refused (INVALID_RECEIPT_HANDLE), one whose delivery is over too (RECEIPT_HANDLE_EXPIRED).
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function ackMessageProcessor(ctx: BrokerContext): Processor<AckMessageHeader> {
  return processor(AckMessageHeader, async (header) => {
    const wrong = mismatch(header);
    if (wrong !== undefined) return wrong;
    const [outcome] = await ctx.pop.ack(header.consumerGroup, header.topic, [header.extraInfo]);
    return outcome!.ok ? { code: ResponseCode.SUCCESS } : { code: outcome!.code, remark: outcome!.remark };
  });
}

/**
 * BATCH_ACK_MESSAGE: settles popped messages of one topic in one ack record per queue. The reply
 * is SUCCESS with `failed`: the refused handles by index, with code and remark.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function batchAckMessageProcessor(ctx: BrokerContext): Processor<BatchAckMessageHeader> {
  return processor(BatchAckMessageHeader, async (header) => {
    const outcomes = await ctx.pop.ack(header.consumerGroup, header.topic, header.extraInfos);
    const failed = outcomes.flatMap((outcome, index) => outcome.ok ? [] : [{ index, code: outcome.code, remark: outcome.remark }]);
    return { code: ResponseCode.SUCCESS, header: { failed } };
  });
}

/**
 * CHANGE_MESSAGE_INVISIBLETIME: the message stays invisible for `invisibleTime` from now; the reply
 * carries its new handle (the old one is stale from now on).
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function changeInvisibleTimeProcessor(ctx: BrokerContext): Processor<ChangeInvisibleTimeHeader> {
  return processor(ChangeInvisibleTimeHeader, async (header) => {
    const wrong = mismatch(header);
    if (wrong !== undefined) return wrong;
    try {
      const changed = await ctx.pop.changeInvisibleTime(header.consumerGroup, header.topic, header.extraInfo, header.invisibleTime);
      return {
        code: ResponseCode.SUCCESS,
        header: {
          extraInfo: changed.handle,
          popTime: changed.popTime,
          invisibleTime: changed.invisibleTime,
          reviveQid: ctx.groups.get(header.consumerGroup).consumeMessageOrderly ? FIFO_REVIVE_QUEUE_ID : 0,
        },
      };
    } catch (error) {
      return refusal(error);
    }
  });
}
