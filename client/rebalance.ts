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
  /**
   * Tells the brokers this member is alive; sent before a retry round, since a failed round often
   * means a broker has not seen the member yet.
   */
  heartbeat: () => Promise<void>;
  /** Where failures are reported (only those that outlast the first few seconds). */
  log: (line: string) => void;
}

/** First pause before a failed round is tried again; it doubles up to `MAX_RETRY_MS`. */
const FIRST_RETRY_MS = 20;
const MAX_RETRY_MS = 1000;
/**
 * A failure is logged only once it has lasted this long: a topic created by a producer's first
 * send reaches the NameServers moments later, and a member is listed once its heartbeat arrived.
 */
const QUIET_MS = 3000;

/** The failure of a topic's rounds, and since when it lasts. */
interface Failure {
  message: string;
  since: number;
  logged: boolean;
}

/**
 * Runs rebalance rounds one at a time. A round asked for while one runs is merged into one more
 * round after it. A topic whose route or member list cannot be fetched keeps its current queues,
 * and the round is tried again soon (after a heartbeat): 20 ms, doubling to 1 s.
 */
export class Rebalancer {
  readonly #options: RebalancerOptions;
  readonly #assigned = new Map<string, MessageQueue>();
  /** The current failure per topic, so a lasting problem is logged once, not every round. */
  readonly #failures = new Map<string, Failure>();
  #running: Promise<boolean> | undefined;
  #next: Promise<boolean> | undefined;
  #stopped = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryMs = FIRST_RETRY_MS;

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
      this.#running = this.#round().then((ok) => {
        this.#afterRound(ok);
        return ok;
      }).finally(() => (this.#running = undefined));
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
    clearTimeout(this.#retryTimer);
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
        this.#failures.delete(topic);
      } catch (error) {
        ok = false;
        failed.add(topic);
        this.#failed(topic, error as Error, log);
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

  /** Notes a topic's failure; logs it once it has outlasted the quiet start, and again when it changes after that. */
  #failed(topic: string, error: Error, log: (line: string) => void): void {
    const now = Date.now();
    const message = error.message;
    let failure = this.#failures.get(topic);
    if (failure === undefined) {
      failure = { message, since: now, logged: false };
      this.#failures.set(topic, failure);
    } else if (failure.message !== message) {
      failure.message = message;
      failure.logged = false;
    }
    // A retry topic is created by the first heartbeat and routed moments later: never worth a line.
    const expected = topic.startsWith(RETRY_GROUP_TOPIC_PREFIX) && error instanceof BrokerError &&
      error.code === ResponseCode.TOPIC_NOT_EXIST;
    if (expected || failure.logged || now - failure.since < QUIET_MS) return;
    failure.logged = true;
    log(`Rebalance of topic "${topic}" for group "${this.#options.group}" failed: ${message}`);
  }

  /** After a failed round: heartbeat, then another round soon, backing off; after a good one: back to a quick first retry. */
  #afterRound(ok: boolean): void {
    if (ok) {
      this.#retryMs = FIRST_RETRY_MS;
      return;
    }
    if (this.#stopped || this.#retryTimer !== undefined) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(MAX_RETRY_MS, delay * 2);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#options.heartbeat().catch(() => {}).then(() => this.trigger());
    }, delay);
    (this.#retryTimer as { unref?: () => void }).unref?.();
  }
}
