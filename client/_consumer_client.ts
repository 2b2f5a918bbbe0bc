/**
 * What consumers of a group say to brokers: pulls, offsets, heartbeats, the member list,
 * send-back and queue locks, over one connection pool that also takes the broker's notifications.
 *
 * @module
 */
import { BrokerError, ClientError, ConnectionClosedError, ProtocolError, RequestTimeoutError } from "../core/errors.ts";
import { type MessageExt, MessageConst } from "../core/model/message.ts";
import type { MessageQueue } from "../core/model/message_queue.ts";
import type { Command } from "../core/protocol/command.ts";
import type { ConsumerData } from "../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../core/protocol/request_code.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import { type InvokeRequest, RemotingClient } from "./remoting_client.ts";
import { RouteCache } from "./route_cache.ts";
import { BrokerChoice } from "./_broker_choice.ts";
import type { PullResult } from "./pull_consumer.ts";
import { PULL_CODES, pullHeader, type PullSpec, readPullResponse } from "./_pull.ts";
import { type PopAnswer, popHeader, type PopSpec, POP_CODES, readPopResponse, type ReceiptHandle } from "./_pop.ts";

/** Options of a `ConsumerClient`. */
export interface ConsumerClientOptions {
  nameServers: readonly string[];
  dial: Dialer;
  requestTimeoutMs: number;
  pollNameServerIntervalMs: number;
  /** Called when a broker says a group's members changed. */
  onConsumerIdsChanged?: (group: string) => void;
}

/** One pull as a consumer makes it. */
export type ConsumerPull = PullSpec;

/** A pull's answer with the records decoded (not yet filtered by tag text). */
export type ConsumerPullResult = PullResult;

/** The runtime name and version, for heartbeats. */
export function runtimeName(): string {
  const g = globalThis as {
    Bun?: { version?: string };
    Deno?: { version?: { deno?: string } };
    process?: { versions?: { node?: string } };
  };
  if (g.Bun !== undefined) return `bun ${g.Bun.version ?? ""}`.trim();
  if (g.Deno !== undefined) return `deno ${g.Deno.version?.deno ?? ""}`.trim();
  const node = g.process?.versions?.node;
  return node !== undefined ? `node ${node}` : "unknown";
}

/** A client id unique to this consumer instance: a random part plus the process id when there is one. */
export function newClientId(): string {
  const pid = (globalThis as { process?: { pid?: number } }).process?.pid;
  const random = crypto.randomUUID().slice(0, 8);
  return pid !== undefined ? `${pid}@${random}` : random;
}

/** Connections, routes and the broker requests of one consumer. */
export class ConsumerClient {
  readonly client: RemotingClient;
  readonly routes: RouteCache;
  readonly #requestTimeoutMs: number;
  readonly #choice: BrokerChoice;

  /** @param options NameServers, dialer, timeouts and the notification hook. */
  constructor(options: ConsumerClientOptions) {
    this.#requestTimeoutMs = options.requestTimeoutMs;
    this.client = new RemotingClient({
      dial: options.dial,
      requestTimeoutMs: options.requestTimeoutMs,
      onRequest: (request, connection) => {
        if (request.code === RequestCode.NOTIFY_CONSUMER_IDS_CHANGED) {
          const group = request.header.consumerGroup;
          if (typeof group === "string") options.onConsumerIdsChanged?.(group);
          connection.respond(request, { code: ResponseCode.SUCCESS });
          return;
        }
        connection.respond(request, {
          code: ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
          remark: `Request code ${request.code} is not supported by consumers`,
        });
      },
    });
    this.routes = new RouteCache(this.client, {
      nameServers: options.nameServers,
      pollIntervalMs: options.pollNameServerIntervalMs,
      requestTimeoutMs: options.requestTimeoutMs,
    });
    this.routes.start();
    this.#choice = new BrokerChoice(this.routes);
  }

  /** Stops route polling and closes every connection. */
  async shutdown(): Promise<void> {
    this.routes.stop();
    await this.client.shutdown();
  }

  /**
   * The address of a broker group: its master, else (the master missing from the route or failing
   * moments ago) its lowest-id slave that did not fail.
   *
   * @param brokerName The broker group.
   * @param topic A topic it serves, to fetch routes for when none names the group yet.
   * @param masterOnly Only the master will do.
   */
  async brokerAddress(brokerName: string, topic: string, masterOnly = false): Promise<string> {
    const pick = () => masterOnly ? this.routes.brokerAddress(brokerName, true) : this.#choice.readAddress(brokerName);
    let address = pick();
    if (address !== undefined) return address;
    await this.routes.refresh(topic);
    address = pick();
    if (address === undefined) throw new ClientError(`Cannot reach broker "${brokerName}" for topic "${topic}": no route names broker "${brokerName}"`);
    return address;
  }

  /** Sends a request to the broker of a queue, refreshing the route when the broker seems gone. */
  async invoke(queue: MessageQueue, request: InvokeRequest, masterOnly = false): Promise<Command> {
    const address = await this.brokerAddress(queue.brokerName, queue.topic, masterOnly);
    try {
      const response = await this.client.invoke(address, request);
      this.#choice.observe(address);
      return response;
    } catch (error) {
      this.#choice.observe(address, error);
      const stale = error instanceof ConnectionClosedError || error instanceof RequestTimeoutError ||
        (error instanceof BrokerError && error.code === ResponseCode.TOPIC_NOT_EXIST);
      if (stale) this.routes.refresh(queue.topic).catch(() => {});
      throw error;
    }
  }

  /** PULL_MESSAGE with long polling, committing `commitOffset` on the way. */
  async pull(queue: MessageQueue, pull: ConsumerPull): Promise<ConsumerPullResult> {
    const response = await this.invoke(queue, {
      code: RequestCode.PULL_MESSAGE,
      // A commit offset of 0 carries nothing worth storing (RocketMQ sends the flag only above 0).
      header: pullHeader(queue, { ...pull, commitOffset: pull.commitOffset > 0 ? pull.commitOffset : -1 }),
      timeoutMs: pull.suspendMs + this.#requestTimeoutMs,
      accept: PULL_CODES,
    });
    return readPullResponse(response, queue);
  }

  /** QUERY_CONSUMER_OFFSET: -1 when the group has none. */
  async queryOffset(group: string, queue: MessageQueue): Promise<number> {
    const response = await this.invoke(queue, {
      code: RequestCode.QUERY_CONSUMER_OFFSET,
      header: { consumerGroup: group, topic: queue.topic, queueId: queue.queueId },
      accept: [ResponseCode.SUCCESS, ResponseCode.QUERY_NOT_FOUND],
    });
    return response.code === ResponseCode.QUERY_NOT_FOUND ? -1 : readOffset(response, queue);
  }

  /** UPDATE_CONSUMER_OFFSET, to the master or, while it is unreachable, a slave (which keeps it until its next copy from the master). */
  async commitOffset(group: string, queue: MessageQueue, offset: number): Promise<void> {
    await this.invoke(queue, {
      code: RequestCode.UPDATE_CONSUMER_OFFSET,
      header: { consumerGroup: group, topic: queue.topic, queueId: queue.queueId, commitOffset: offset },
    });
  }

  /** GET_MIN_OFFSET, GET_MAX_OFFSET or SEARCH_OFFSET_BY_TIMESTAMP. */
  async queueOffset(queue: MessageQueue, which: "min" | "max" | { timestamp: number }): Promise<number> {
    const code = which === "min"
      ? RequestCode.GET_MIN_OFFSET
      : which === "max"
      ? RequestCode.GET_MAX_OFFSET
      : RequestCode.SEARCH_OFFSET_BY_TIMESTAMP;
    const extra = typeof which === "object" ? { timestamp: which.timestamp } : {};
    const response = await this.invoke(queue, { code, header: { topic: queue.topic, queueId: queue.queueId, ...extra } });
    return readOffset(response, queue);
  }

  /**
   * HEART_BEAT to every broker (masters and slaves) serving the topics, so a slave knows the
   * group's members when consumers read from it; failures are returned, not thrown.
   *
   * @returns The errors of brokers that did not take it.
   */
  async heartbeat(topics: readonly string[], clientId: string, consumer: ConsumerData): Promise<unknown[]> {
    const addresses = await this.memberAddresses(topics);
    const header = { clientId, runtime: runtimeName(), producerGroups: [], consumers: [consumer] };
    const results = await Promise.allSettled(
      addresses.map((address) => this.client.invoke(address, { code: RequestCode.HEART_BEAT, header })),
    );
    return results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason);
  }

  /** UNREGISTER_CLIENT on every broker serving the topics; best effort. */
  async unregister(topics: readonly string[], clientId: string, group: string): Promise<void> {
    const addresses = await this.memberAddresses(topics);
    await Promise.allSettled(addresses.map((address) =>
      this.client.invoke(address, {
        code: RequestCode.UNREGISTER_CLIENT,
        header: { clientId, consumerGroup: group },
      })
    ));
  }

  /** Every member (master and slaves) of the brokers in the routes of some topics (topics without a route are skipped). */
  async memberAddresses(topics: readonly string[]): Promise<string[]> {
    const addresses = new Set<string>();
    for (const topic of topics) {
      try {
        const route = await this.routes.get(topic);
        for (const broker of route.data.brokerDatas) {
          for (const address of Object.values(broker.brokerAddrs)) addresses.add(address);
        }
      } catch {
        // Not routed yet (a retry topic before its first heartbeat): the next round tries again.
      }
    }
    return [...addresses].sort();
  }

  /** GET_CONSUMER_LIST_BY_GROUP, asked of a broker serving the topic (a slave when its master failed moments ago). */
  async consumerIds(group: string, topic: string): Promise<string[]> {
    const route = await this.routes.get(topic);
    const brokers = route.data.brokerDatas.map((b) => this.#choice.readAddress(b.brokerName)).filter(
      (a): a is string => a !== undefined,
    ).sort();
    let lastError: unknown = new ClientError(`No broker serves topic "${topic}"`);
    for (const address of brokers) {
      try {
        const response = await this.client.invoke(address, {
          code: RequestCode.GET_CONSUMER_LIST_BY_GROUP,
          header: { consumerGroup: group },
        });
        const ids = response.header.clientIds;
        if (!Array.isArray(ids) || ids.some((id) => typeof id !== "string")) {
          throw new ProtocolError(`Broker ${address} sent a malformed consumer list for group "${group}"`);
        }
        this.#choice.observe(address);
        return [...(ids as string[])].sort();
      } catch (error) {
        this.#choice.observe(address, error);
        lastError = error;
      }
    }
    throw lastError;
  }

  /** CONSUMER_SEND_MSG_BACK to the broker that stores the message. */
  async sendBack(group: string, queue: MessageQueue, message: MessageExt, delayLevel: number, maxReconsumeTimes: number): Promise<void> {
    await this.invoke(queue, {
      code: RequestCode.CONSUMER_SEND_MSG_BACK,
      header: {
        consumerGroup: group,
        offset: message.commitLogOffset,
        delayLevel,
        originMsgId: message.properties[MessageConst.ORIGIN_MESSAGE_ID] ?? message.msgId,
        originTopic: message.properties[MessageConst.RETRY_TOPIC] ?? message.topic,
        maxReconsumeTimes,
      },
    }, true);
  }

  /**
   * POP_MESSAGE to a broker's master (POP changes state, so only masters serve it), long-polling.
   *
   * @param brokerName The broker group.
   * @param spec What to pop.
   * @param onCorrupt Told of each message whose body does not inflate (left out, it comes back later).
   * @returns The messages with their handles.
   */
  async pop(brokerName: string, spec: PopSpec, onCorrupt: (message: MessageExt, reason: string) => void): Promise<PopAnswer> {
    const response = await this.invoke({ topic: spec.topic, brokerName, queueId: 0 }, {
      code: RequestCode.POP_MESSAGE,
      header: popHeader(spec),
      timeoutMs: spec.pollTimeMs + this.#requestTimeoutMs,
      accept: POP_CODES,
    }, true);
    return await readPopResponse(response, spec.topic, brokerName, onCorrupt);
  }

  /** ACK_MESSAGE for one handle. */
  async ack(group: string, handle: ReceiptHandle): Promise<void> {
    await this.invoke({ topic: handle.topic, brokerName: handle.brokerName, queueId: 0 }, {
      code: RequestCode.ACK_MESSAGE,
      header: { consumerGroup: group, topic: handle.topic, extraInfo: handle.value },
    }, true);
  }

  /**
   * BATCH_ACK_MESSAGE for handles of one broker and topic.
   *
   * @returns The refused handles' errors by index (empty when all were settled).
   */
  async batchAck(group: string, handles: readonly ReceiptHandle[]): Promise<Map<number, BrokerError>> {
    const first = handles[0]!;
    const response = await this.invoke({ topic: first.topic, brokerName: first.brokerName, queueId: 0 }, {
      code: RequestCode.BATCH_ACK_MESSAGE,
      header: { consumerGroup: group, topic: first.topic, extraInfos: handles.map((h) => h.value) },
    }, true);
    const failed = response.header.failed;
    const out = new Map<number, BrokerError>();
    if (!Array.isArray(failed)) throw new ProtocolError(`Broker "${first.brokerName}" sent a malformed batch ack answer`);
    for (const f of failed as { index?: unknown; code?: unknown; remark?: unknown }[]) {
      if (typeof f?.index !== "number" || typeof f.code !== "number") throw new ProtocolError(`Broker "${first.brokerName}" sent a malformed batch ack answer`);
      out.set(f.index, new BrokerError(f.code, typeof f.remark === "string" ? f.remark : `Ack refused with code ${f.code}`));
    }
    return out;
  }

  /**
   * CHANGE_MESSAGE_INVISIBLETIME: the message stays invisible for `invisibleTimeMs` from now.
   *
   * @returns The new handle (the old one no longer works) and when the message becomes visible.
   */
  async changeInvisibleTime(group: string, handle: ReceiptHandle, invisibleTimeMs: number): Promise<{ handle: ReceiptHandle; invisibleUntil: number }> {
    const response = await this.invoke({ topic: handle.topic, brokerName: handle.brokerName, queueId: 0 }, {
      code: RequestCode.CHANGE_MESSAGE_INVISIBLETIME,
      header: { consumerGroup: group, topic: handle.topic, extraInfo: handle.value, invisibleTime: invisibleTimeMs },
    }, true);
    const { extraInfo, popTime, invisibleTime } = response.header;
    if (typeof extraInfo !== "string" || typeof popTime !== "number" || typeof invisibleTime !== "number") {
      throw new ProtocolError(`Broker "${handle.brokerName}" sent a malformed answer to a change of invisible time`);
    }
    return { handle: { topic: handle.topic, brokerName: handle.brokerName, value: extraInfo }, invisibleUntil: popTime + invisibleTime };
  }

  /**
   * LOCK_BATCH_MQ on each broker of the queues.
   *
   * @returns The queues now locked by this client (keys from `messageQueueKey`).
   */
  async lock(group: string, clientId: string, queues: readonly MessageQueue[]): Promise<Set<string>> {
    const locked = new Set<string>();
    await Promise.all([...byBroker(queues)].map(async ([brokerName, mqs]) => {
      try {
        const response = await this.invoke(mqs[0]!, {
          code: RequestCode.LOCK_BATCH_MQ,
          header: { consumerGroup: group, clientId, mqs: mqs.map(plainQueue) },
        }, true);
        const ok = response.header.lockOKMQSet;
        if (!Array.isArray(ok)) throw new ProtocolError(`Broker "${brokerName}" sent a malformed lock answer`);
        for (const q of ok as MessageQueue[]) locked.add(`${q.topic}@${q.brokerName}@${q.queueId}`);
      } catch {
        // Unreachable broker: its queues stay unlocked and are tried again.
      }
    }));
    return locked;
  }

  /** UNLOCK_BATCH_MQ on each broker of the queues; best effort (locks expire anyway). */
  async unlock(group: string, clientId: string, queues: readonly MessageQueue[]): Promise<void> {
    await Promise.allSettled([...byBroker(queues)].map(([, mqs]) =>
      this.invoke(mqs[0]!, {
        code: RequestCode.UNLOCK_BATCH_MQ,
        header: { consumerGroup: group, clientId, mqs: mqs.map(plainQueue) },
      }, true)
    ));
  }
}

function plainQueue(queue: MessageQueue): MessageQueue {
  return { topic: queue.topic, brokerName: queue.brokerName, queueId: queue.queueId };
}

function byBroker(queues: readonly MessageQueue[]): Map<string, MessageQueue[]> {
  const out = new Map<string, MessageQueue[]>();
  for (const queue of queues) {
    const list = out.get(queue.brokerName);
    if (list === undefined) out.set(queue.brokerName, [queue]);
    else list.push(queue);
  }
  return out;
}

function readOffset(response: Command, queue: MessageQueue): number {
  const offset = response.header.offset;
  if (typeof offset !== "number" || !Number.isSafeInteger(offset)) {
    throw new ProtocolError(`Broker answered without an offset for queue ${queue.queueId} of "${queue.topic}"`);
  }
  return offset;
}
