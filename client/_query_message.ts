/**
 * QUERY_MESSAGE from the client side: asks every broker group of a topic's route, merges their
 * answers newest first, and says whether the result is every match.
 *
 * @module
 */
import { ClientError, CorruptMessageError, ProtocolError } from "../core/errors.ts";
import type { MessageExt } from "../core/model/message.ts";
import type { MessageQueue } from "../core/model/message_queue.ts";
import { type CorruptRecord, decodeRecords } from "../core/model/record.ts";
import type { Command } from "../core/protocol/command.ts";
import { QUERY_MESSAGE_MAX_NUM } from "../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../core/protocol/request_code.ts";
import { intOption } from "./_consumer_options.ts";
import { checkTopic } from "./_prepare_message.ts";
import { inflateMessages } from "./_pull.ts";
import type { InvokeRequest } from "./remoting_client.ts";
import type { RouteCache } from "./route_cache.ts";

/** Options of `Admin.queryMessage`. */
export interface QueryMessageOptions {
  /** Earliest store time, ms since the epoch (inclusive). @default 0 */
  begin?: number;
  /** Latest store time, ms since the epoch (inclusive). @default now and later: no bound */
  end?: number;
  /** Most messages returned (1 to 1024). @default 32 */
  max?: number;
}

/** What `Admin.queryMessage` found. */
export interface QueryMessageResult {
  /** The matching messages of every broker, newest (store time) first, at most `max`. */
  messages: MessageExt[];
  /**
   * True when `messages` holds every stored message of the topic with that key in the time range;
   * false when there were more than `max`, a broker cut its answer short or did not answer
   * (`incomplete` says which).
   */
  complete: boolean;
  /** Why the result is not complete, one line per cause. */
  incomplete: string[];
  /** Records whose bytes failed their check on the way: left out of `messages`. Usually empty. */
  corrupt: CorruptMessageError[];
}

/** The parts of a client that a query needs. */
export interface QueryParts {
  routes: RouteCache;
  /** Sends a request to the broker holding `queue` (its master, or a slave while the master is away). */
  invoke(queue: MessageQueue, request: InvokeRequest): Promise<Command>;
}

const ANSWERS: readonly number[] = [ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND];

/**
 * Queries every broker group of `topic` for messages with `key`.
 *
 * @param parts Routes and the request path.
 * @param topic The topic.
 * @param key The key, or the unique key when `uniqueKey` is set.
 * @param options Time range, most messages, and whether `key` is a unique key.
 * @returns The merged result.
 * @throws {ClientError} When an option is invalid.
 * @throws {BrokerError} When every broker refuses (no permission, key lookups off) or the topic has no route.
 */
export async function queryMessages(
  parts: QueryParts,
  topic: string,
  key: string,
  options: QueryMessageOptions & { uniqueKey?: boolean },
): Promise<QueryMessageResult> {
  checkTopic(topic);
  if (typeof key !== "string" || key === "") throw new ClientError("The key to look up must not be empty");
  const begin = intOption("begin", options.begin ?? 0, 0);
  const end = intOption("end", options.end ?? Number.MAX_SAFE_INTEGER, 0);
  if (begin > end) throw new ClientError(`The time range is empty: begin ${begin} is after end ${end}`);
  const max = intOption("max", options.max ?? 32, 1, QUERY_MESSAGE_MAX_NUM);
  const route = await parts.routes.get(topic);
  const byBroker = new Map<string, MessageQueue>();
  for (const queue of route.readQueues) if (!byBroker.has(queue.brokerName)) byBroker.set(queue.brokerName, queue);
  const header: Record<string, unknown> = { topic, key, maxNum: max, beginTimestamp: begin, endTimestamp: end };
  if (options.uniqueKey) header._UNIQUE_KEY_QUERY = "true";
  const answers = await Promise.allSettled([...byBroker.values()].map((queue) => parts.invoke(queue, { code: RequestCode.QUERY_MESSAGE, header, accept: ANSWERS })));
  const messages: MessageExt[] = [];
  const incomplete: string[] = [];
  const corrupt: CorruptMessageError[] = [];
  let failure: unknown;
  const queues = [...byBroker.values()];
  const found: { queue: MessageQueue; decoded: MessageExt[] }[] = [];
  answers.forEach((answer, i) => {
    const queue = queues[i]!;
    if (answer.status === "rejected") {
      failure ??= answer.reason;
      incomplete.push(`Broker "${queue.brokerName}" did not answer: ${(answer.reason as Error).message}`);
      return;
    }
    const response = answer.value;
    if (response.header.complete === false) {
      incomplete.push(`Broker "${queue.brokerName}" answered in part: ${String(response.header.incomplete ?? "its answer was cut short")}`);
    }
    if (response.code !== ResponseCode.SUCCESS) return;
    const onCorrupt = (record: CorruptRecord) => corrupt.push(new CorruptMessageError({ ...queue, ...record }));
    try {
      found.push({ queue, decoded: decodeRecords(response.body ?? new Uint8Array(0), { onCorrupt }) });
    } catch (cause) {
      throw new ProtocolError(`Broker "${queue.brokerName}" sent undecodable records for key "${key}" of topic "${topic}": ${(cause as Error).message}`, { cause });
    }
  });
  if (failure !== undefined && incomplete.length === answers.length) throw failure;
  // RocketMQ 4.x producers compress bodies of 4 KiB and more.
  for (const { queue, decoded } of found) {
    messages.push(...await inflateMessages(decoded, (message, reason) =>
      corrupt.push(new CorruptMessageError({ ...queue, queueId: message.queueId, queueOffset: message.queueOffset, commitLogOffset: message.commitLogOffset, reason }))));
  }
  messages.sort((a, b) => b.storeTimestamp - a.storeTimestamp || b.commitLogOffset - a.commitLogOffset);
  if (messages.length > max) {
    incomplete.push(`More than ${max} messages match`);
    messages.length = max;
  }
  if (corrupt.length > 0) incomplete.push(`${corrupt.length} matching records were corrupt`);
  return { messages, complete: incomplete.length === 0, incomplete, corrupt };
}
