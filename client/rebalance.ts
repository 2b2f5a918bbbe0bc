/**
 * Rebalancing: working out which queues of its topics one member of a consumer group consumes,
 * and telling the consumer which queues it gains and loses.
 *
 * @module
 */
import { BrokerError } from "../core/errors.ts";
import { type MessageQueue, messageQueueKey } from "../core/model/message_queue.ts";
import { RETRY_GROUP_TOPIC_PREFIX } from "../core/model/system_topics.ts";
import { ResponseCode } from "../core/protocol/request_code.ts";
import type { ConsumerClient } from "./_consumer_client.ts";
import { type AllocateStrategy, sortQueues } from "./allocate.ts";

/** How a group shares messages: each to one member (`CLUSTERING`) or each to every member (`BROADCASTING`). */
export type MessageModel = "CLUSTERING" | "BROADCASTING";

/** Options of a `Rebalancer`. */
export interface RebalancerOptions {
  /** The consumer group. */
  group: string;
  /** This member's id, as its heartbeats name it. */
  clientId: string;
  /** Broadcasting members take every queue; clustering members split them. */
  messageModel: MessageModel;
  /** How clustering members split a topic's queues. */
  strategy: AllocateStrategy;
  /** Routes and the member list. */
  client: ConsumerClient;
  /** The topics to balance, asked anew on every round. */
  topics: () => readonly string[];
  /** Starts consuming a queue this member gained. */
  assign: (queue: MessageQueue) => void;
  /** Stops consuming a queue this member lost; a round waits for it. */
  release: (queue: MessageQueue) => Promise<void>;
  /** Where failures are reported. */
  log: (line: string) => void;
}

/**
 * Runs rebalance rounds one at a time. A round asked for while one runs is merged into one more
 * round after it. A topic whose route or member list cannot be fetched keeps its current queues.
 */
export class Rebalancer {
  readonly #options: RebalancerOptions;
  readonly #assigned = new Map<string, MessageQueue>();
  /** The last failure reported per topic, so a lasting problem is logged once, not every round. */
  readonly #lastFailure = new Map<string, string>();
  #running: Promise<boolean> | undefined;
  #next: Promise<boolean> | undefined;
  #stopped = false;

  /** @param options Group, member, strategy and the consumer's hooks. */
  constructor(options: RebalancerOptions) {
    this.#options = options;
  }

  /** The queues this member consumes now, sorted. */
  get assigned(): MessageQueue[] {
    return sortQueues([...this.#assigned.values()]);
  }

  /**
   * Runs a round now, or after the running one.
   *
   * @returns Whether every topic was balanced (false: some kept their old queues and a retry is due).
   */
  trigger(): Promise<boolean> {
    if (this.#stopped) return Promise.resolve(true);
    if (this.#running === undefined) {
      this.#running = this.#round().finally(() => (this.#running = undefined));
      return this.#running;
    }
    this.#next ??= this.#running.then(() => {
      this.#next = undefined;
      return this.trigger();
    });
    return this.#next;
  }

  /**
   * Stops rounds and forgets every queue; waits for a running round.
   *
   * @returns The queues that were assigned, for the consumer to release.
   */
  async stop(): Promise<MessageQueue[]> {
    this.#stopped = true;
    await this.#running?.catch(() => false);
    const queues = this.assigned;
    this.#assigned.clear();
    return queues;
  }

  async #round(): Promise<boolean> {
    const { client, group, clientId, messageModel, strategy, log } = this.#options;
    let ok = true;
    const wanted = new Map<string, MessageQueue>();
    const failed = new Set<string>();
    for (const topic of this.#options.topics()) {
      try {
        const route = await client.routes.get(topic);
        const queues = sortQueues(route.readQueues);
        let mine: MessageQueue[];
        if (messageModel === "BROADCASTING") {
          mine = queues;
        } else {
          const ids = await client.consumerIds(group, topic);
          if (!ids.includes(clientId)) {
            // The broker has not seen our heartbeat yet (or lost it): take nothing rather than guess.
            throw new Error(`Broker does not list member "${clientId}" in group "${group}" yet`);
          }
          mine = strategy(queues, ids, clientId);
        }
        for (const queue of mine) wanted.set(messageQueueKey(queue), queue);
        this.#lastFailure.delete(topic);
      } catch (error) {
        ok = false;
        failed.add(topic);
        const message = (error as Error).message;
        // A retry topic is created by the first heartbeat and routed moments later: not worth a line.
        const expected = topic.startsWith(RETRY_GROUP_TOPIC_PREFIX) && error instanceof BrokerError &&
          error.code === ResponseCode.TOPIC_NOT_EXIST;
        if (!expected && this.#lastFailure.get(topic) !== message) log(`Rebalance of topic "${topic}" for group "${group}" failed: ${message}`);
        this.#lastFailure.set(topic, message);
      }
    }
    if (this.#stopped) return ok;
    const releases: Promise<void>[] = [];
    for (const [key, queue] of this.#assigned) {
      if (wanted.has(key) || failed.has(queue.topic)) continue;
      this.#assigned.delete(key);
      releases.push(this.#options.release(queue).catch((error) => {
        log(`Releasing queue ${queue.queueId} of "${queue.topic}" failed: ${(error as Error).message}`);
      }));
    }
    for (const [key, queue] of wanted) {
      if (this.#assigned.has(key)) continue;
      this.#assigned.set(key, queue);
      this.#options.assign(queue);
    }
    await Promise.all(releases);
    return ok;
  }
}
