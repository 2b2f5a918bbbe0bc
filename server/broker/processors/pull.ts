/**
 * PULL_MESSAGE with long polling.
 *
 * @module
 */
import { FilterExpressionError } from "../../../core/errors.ts";
import { compileFilter, type MessageFilter } from "../../../core/model/message_filter.ts";
import type { SqlFilter } from "../../../core/model/sql_filter.ts";
import type { Command } from "../../../core/protocol/command.ts";
import { PullMessageHeader } from "../../../core/protocol/headers.ts";
import { fastPullHeader } from "../../../core/protocol/fast_headers.ts";
import { Perm, PullSysFlag, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { processor, type Processor, type Reply } from "../../../core/remoting/dispatcher.ts";
import { countOut } from "../broker_stats.ts";
import type { HoldResult } from "../pull_hold_service.ts";
import type { BrokerContext } from "../context.ts";
import { BodyBuffer } from "../../store/queue_reader.ts";

/** Most bytes of stored records one pull returns. */
const MAX_PULL_BYTES = 4 * 1024 * 1024;

/**
 * Why a topic's queue cannot be read here: the topic does not exist, is not readable, or has no
 * such read queue.
 *
 * @param ctx The broker.
 * @param topic The topic.
 * @param queueId The queue (-1: any, only the topic is checked).
 * @returns The error reply, or undefined when it can be read.
 */
export function unreadable(ctx: BrokerContext, topic: string, queueId: number): Reply | undefined {
  const config = ctx.topics.get(topic);
  if (config === undefined) {
    return { code: ResponseCode.TOPIC_NOT_EXIST, remark: `Topic "${topic}" does not exist on broker "${ctx.brokerName}"` };
  }
  if ((config.perm & Perm.READ) === 0) {
    return { code: ResponseCode.NO_PERMISSION, remark: `Topic "${topic}" is not readable on broker "${ctx.brokerName}"` };
  }
  if (queueId >= config.readQueueNums) {
    return {
      code: ResponseCode.SYSTEM_ERROR,
      remark: `Queue ${queueId} of topic "${topic}" does not exist (it has ${config.readQueueNums} read queues)`,
    };
  }
  return undefined;
}

/**
 * Evaluates a pull against the store, keeping messages by tag hash or by a SQL92 filter. The body
 * is lent from `bodies` and given back by the reply's `written`.
 */
function evaluate(
  ctx: BrokerContext,
  header: PullMessageHeader,
  accepts: ((h: number) => boolean) | SqlFilter | undefined,
  bodies: BodyBuffer,
): Reply {
  const refused = unreadable(ctx, header.topic, header.queueId);
  if (refused !== undefined) return refused;
  const batch = Math.min(header.maxMsgNums, ctx.maxPullBatchSize);
  const result = ctx.store.getMessage(header.topic, header.queueId, header.queueOffset, batch, accepts, MAX_PULL_BYTES, bodies);
  let code: number;
  switch (result.status) {
    case "FOUND":
      code = ResponseCode.SUCCESS;
      break;
    case "NO_MATCHED_MESSAGE":
    case "OFFSET_FOUND_NULL":
      code = ResponseCode.PULL_RETRY_IMMEDIATELY;
      break;
    case "OFFSET_OVERFLOW_ONE":
      code = ResponseCode.PULL_NOT_FOUND;
      break;
    case "NO_MESSAGE_IN_QUEUE":
      code = header.queueOffset === 0 ? ResponseCode.PULL_NOT_FOUND : ResponseCode.PULL_OFFSET_MOVED;
      break;
    default: // OFFSET_TOO_SMALL, OFFSET_OVERFLOW_BADLY
      code = ResponseCode.PULL_OFFSET_MOVED;
  }
  const reply: Reply = {
    code,
    header: {
      nextBeginOffset: result.nextBeginOffset,
      minOffset: result.minOffset,
      maxOffset: result.maxOffset,
      suggestWhichBrokerId: 0,
    },
    remark: result.status,
  };
  const body = result.body;
  if (body !== undefined) reply.written = () => bodies.release(body);
  if (code === ResponseCode.SUCCESS && body !== undefined) {
    reply.body = body;
    countOut(ctx.stats, header.topic, result.count, body.length);
    ctx.offsets.delivered(header.consumerGroup, header.topic, header.queueId, result.nextBeginOffset);
  }
  return reply;
}

/**
 * Parks a SQL92 pull that found nothing to match up to the end of its queue. Each message that
 * arrives on the queue meanwhile is evaluated for it (from where the last one left off), so only
 * a matching message wakes it, and it is answered from past the ones that did not match.
 */
function holdSqlPull(
  ctx: BrokerContext,
  header: PullMessageHeader,
  request: Command,
  connection: Connection,
  sql: SqlFilter,
  reply: Reply,
  bodies: BodyBuffer,
): Reply | undefined {
  const { nextBeginOffset, maxOffset } = reply.header as { nextBeginOffset: number; maxOffset: number };
  const atEnd = reply.code === ResponseCode.PULL_NOT_FOUND || (reply.code === ResponseCode.PULL_RETRY_IMMEDIATELY && nextBeginOffset === maxOffset);
  if (!atEnd) return reply;
  let from = nextBeginOffset;
  const held = ctx.holds.hold(header.topic, header.queueId, {
    request,
    connection,
    deadline: Date.now() + header.suspendTimeoutMillis,
    accepts: () => {
      const found = ctx.store.getMessage(header.topic, header.queueId, from, 1, sql);
      if (found.status !== "NO_MATCHED_MESSAGE" && found.status !== "OFFSET_OVERFLOW_ONE") return true;
      from = found.nextBeginOffset;
      return false;
    },
    wake: () => answer(connection, request, evaluate(ctx, from === header.queueOffset ? header : { ...header, queueOffset: from }, sql, bodies)),
  });
  return held === "HELD" ? undefined : busyReply(ctx, held);
}

/** Answers a held pull when it wakes, then gives back its body's memory. */
function answer(connection: Connection, request: Command, reply: Reply): void {
  connection.respond(request, reply);
  reply.written?.();
}

/** The compiled filter of a pull, or the reply refusing it (a SQL92 expression that does not compile, or SQL92 turned off). */
function pullFilter(ctx: BrokerContext, header: PullMessageHeader): { reply: Reply; filter?: undefined } | { filter: MessageFilter; reply?: undefined } {
  let filter: MessageFilter;
  try {
    filter = compileFilter(header.expressionType, header.subscription);
  } catch (error) {
    if (!(error instanceof FilterExpressionError)) throw error;
    return { reply: { code: ResponseCode.SUBSCRIPTION_PARSE_FAILED, remark: error.message } };
  }
  if (filter.sql !== undefined && !ctx.enablePropertyFilter) {
    return {
      reply: { code: ResponseCode.SYSTEM_ERROR, remark: `Broker "${ctx.brokerName}" does not filter by SQL92: enablePropertyFilter is off` },
    };
  }
  return { filter };
}

/**
 * PULL_MESSAGE: reads from the ConsumeQueue, filters by tag hash or by a SQL92 expression on each
 * record's properties, parks the request when nothing is there and the client allows suspending.
 * A pull returns at most `ctx.maxPullBatchSize` messages (RocketMQ's cap: the client simply pulls
 * again from `nextBeginOffset`). When the hold service has no slot for it (all taken, or all its
 * connection may take), a pull that found nothing and asked to wait is answered SYSTEM_BUSY at
 * once, a retryable answer on which consumers back off; answering "nothing yet" instead would have
 * them pull again at once, in a loop. A SQL92 expression that does not compile is answered
 * SUBSCRIPTION_PARSE_FAILED with the column of the error; compiled ones are cached.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function pullMessageProcessor(ctx: BrokerContext): Processor<PullMessageHeader> {
  // One buffer for the broker's pull bodies: each reply is written, and gives it back, before the next pull.
  const bodies = new BodyBuffer(MAX_PULL_BYTES);
  return processor(PullMessageHeader, (header, request: Command, connection: Connection) => {
    const { filter, reply: refused } = pullFilter(ctx, header);
    if (refused !== undefined) return refused;
    if ((header.sysFlag & PullSysFlag.COMMIT_OFFSET) !== 0 && header.commitOffset >= 0) {
      ctx.offsets.commit(header.consumerGroup, header.topic, header.queueId, header.commitOffset);
    }
    const sql = filter.sql;
    const accepts = filter.acceptsTagHash;
    const reply = evaluate(ctx, header, sql ?? accepts, bodies);
    const suspend = (header.sysFlag & PullSysFlag.SUSPEND) !== 0 && header.suspendTimeoutMillis > 0;
    if (!suspend) return reply;
    if (sql !== undefined) return holdSqlPull(ctx, header, request, connection, sql, reply, bodies);
    if (reply.code !== ResponseCode.PULL_NOT_FOUND) return reply;
    const held = ctx.holds.hold(header.topic, header.queueId, {
      request,
      connection,
      deadline: Date.now() + header.suspendTimeoutMillis,
      accepts,
      wake: () => answer(connection, request, evaluate(ctx, header, accepts, bodies)),
    });
    return held === "HELD" ? undefined : busyReply(ctx, held);
  }, fastPullHeader);
}

/**
 * The answer to a pull or pop the hold service had no slot for: SYSTEM_BUSY, retryable.
 *
 * @param ctx The broker.
 * @param why What `hold` said.
 * @returns The reply.
 */
export function busyReply(ctx: BrokerContext, why: Exclude<HoldResult, "HELD">): Reply {
  const holds = ctx.holds;
  const remark = why === "STOPPED"
    ? `Broker "${ctx.brokerName}" is shutting down: pull again later`
    : why === "DROPPED"
    ? "The client gave up on this request"
    : why === "CONNECTION_FULL"
    ? `This connection already has ${holds.maxHeldPerConnection} pulls waiting for messages on broker "${ctx.brokerName}" ` +
      "(limit maxHeldPullsPerConnection): pull again later"
    : holds.maxHeld === 0
    ? `Long polling is off on broker "${ctx.brokerName}" (maxHeldPulls 0): pull again later`
    : `Broker "${ctx.brokerName}" already holds ${holds.maxHeld} pulls waiting for messages (limit maxHeldPulls): pull again later`;
  return { code: ResponseCode.SYSTEM_BUSY, remark };
}
