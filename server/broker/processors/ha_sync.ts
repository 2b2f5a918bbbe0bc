/**
 * What a slave copies from its master over the client port besides topics (GET_ALL_TOPIC_CONFIG):
 * GET_ALL_CONSUMER_OFFSET and GET_ALL_DELAY_OFFSET, as in RocketMQ's `SlaveSynchronize`.
 *
 * @module
 */
import { EmptyHeader } from "../../../core/protocol/headers.ts";
import type { EpochEntry } from "../../../core/protocol/controller.ts";
import { ResponseCode } from "../../../core/protocol/request_code.ts";
import { processor, type Processor } from "../../../core/remoting/dispatcher.ts";
import type { BrokerContext } from "../context.ts";

/**
 * GET_ALL_CONSUMER_OFFSET: every committed offset, `{ offsets: { "topic@group": { queueId: offset } } }`.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function allConsumerOffsetProcessor(ctx: BrokerContext): Processor<Record<string, never>> {
  return processor(EmptyHeader, () => {
    const offsets: Record<string, Record<string, number>> = {};
    for (const [topic, group, queueId, offset] of ctx.offsets.entries()) {
      (offsets[`${topic}@${group}`] ??= {})[String(queueId)] = offset;
    }
    return { code: ResponseCode.SUCCESS, header: { offsets } };
  });
}

/**
 * GET_ALL_DELAY_OFFSET: the next queue offset to deliver per delay level, `{ offsets: { level: offset } }`.
 *
 * @param ctx The broker.
 * @returns The processor.
 */
export function allDelayOffsetProcessor(ctx: BrokerContext): Processor<Record<string, never>> {
  return processor(EmptyHeader, () => ({
    code: ResponseCode.SUCCESS,
    header: { offsets: Object.fromEntries(ctx.schedule.progress().map((p) => [String(p.level), p.offset])) },
  }));
}

/**
 * GET_BROKER_EPOCH_CACHE (controller mode): this broker's epochs and where each began, and its
 * CommitLog end, `{ epochs: [{ epoch, startOffset }], maxOffset }` — what a slave keeps a copy of
 * and what a returning master truncates by.
 *
 * @param ctx The broker.
 * @param epochs Its epochs (none outside controller mode).
 * @returns The processor.
 */
export function epochCacheProcessor(ctx: BrokerContext, epochs: () => readonly EpochEntry[]): Processor<Record<string, never>> {
  return processor(EmptyHeader, () => ({
    code: ResponseCode.SUCCESS,
    header: { epochs: [...epochs()], maxOffset: ctx.store.stats.visibleOffset },
  }));
}
