/**
 * The queues a group member owns (push and lite pull consumers): rebalancing (or queues assigned
 * by hand), the offset store, one `ProcessQueue` and one pull loop per queue with back-off.
 * What happens to pulled messages is the consumer's, through `QueueOwnerHooks`.
 *
 * @module
 */
import type { MessageExt } from "../core/model/message.ts";
import { type MessageQueue, messageQueueKey } from "../core/model/message_queue.ts";
import { RETRY_GROUP_TOPIC_PREFIX } from "../core/model/system_topics.ts";
import type { GroupMember } from "./_group_member.ts";
import { isBrokerBusy } from "./_pull.ts";
import { backoffMs, intOption, sleep } from "./_consumer_options.ts";
import { ClientError } from "../core/errors.ts";
import { ALLOCATE_STRATEGIES, type AllocateStrategy, type AllocateStrategyName } from "./allocate.ts";
import { MemoryOffsetStore, type OffsetStore, RemoteOffsetStore } from "./offset_store.ts";
import { ProcessQueue } from "./process_queue.ts";
import { Rebalancer } from "./rebalance.ts";

/** What a consumer decides about its queues. */
export interface QueueOwnerHooks {
  /**
   * Whether a queue may be pulled now: true, or a promise to wait on before looking again (an
   * orderly lock being taken, flow control).
   */
  gate(pq: ProcessQueue): true | Promise<unknown>;
  /** The offset a pull of the queue commits on the way; -1 for none. */
  commitWithPull(queue: MessageQueue): number;
  /** Takes messages a pull added to `pq` (already filtered and in the queue's cache). */
  deliver(pq: ProcessQueue, messages: MessageExt[]): void;
  /** A released queue (dropped already) settles before its offset is committed: running handlers, polled messages. */
  settle(pq: ProcessQueue): Promise<unknown> | void;
  /** After a released queue's offset was committed (orderly: unlock). */
  released?(pq: ProcessQueue): Promise<void>;
  /** Whether a rebalance round waits for a release to finish. @default true */
  awaitRelease?: boolean;
}

/** Messages a pull asks for unless `pullBatchSize` says otherwise (see docs/CONSUMING.md, "Pull batch size"). */
const DEFAULT_PULL_BATCH_SIZE = 128;

/** Options of a `QueueOwner` (the consumer's, checked here). */
export interface QueueOwnerOptions {
  allocateStrategy?: AllocateStrategyName | AllocateStrategy;
  rebalanceIntervalMs?: number;
  pullBatchSize?: number;
  suspendMs?: number;
  offsetStore?: OffsetStore;
}

/**
 * Owns queues for a member: balances them in the group (`balance()`) or takes those assigned
 * (`assign()`), keeps their offsets, and pulls each in a loop that restarts on errors with
 * back-off (once per spell for a busy broker).
 */
export class QueueOwner {
  /** The queues' caches by `messageQueueKey`. */
  readonly queues: Map<string, ProcessQueue> = new Map();
  readonly pullBatchSize: number;
  /** Long poll of the pulls. */
  readonly suspendMs: number;
  readonly #member: GroupMember;
  readonly #strategy: AllocateStrategy;
  readonly #rebalanceIntervalMs: number;
  readonly #releasing = new Map<string, Promise<void>>();
  #hooks: QueueOwnerHooks | undefined;
  #offsets: OffsetStore | undefined;
  #rebalancer: Rebalancer | undefined;

  /**
   * @param member The member whose queues these are.
   * @param options Strategy, intervals and the offset store.
   * @throws {ClientError} When an option is invalid.
   */
  constructor(member: GroupMember, options: QueueOwnerOptions) {
    this.#member = member;
    const strategy = options.allocateStrategy ?? "AVERAGE";
    if (typeof strategy === "function") this.#strategy = strategy;
    else if (Object.hasOwn(ALLOCATE_STRATEGIES, strategy)) this.#strategy = ALLOCATE_STRATEGIES[strategy];
    else throw new ClientError(`allocateStrategy "${strategy}" must be "AVERAGE", "CONSISTENT_HASH" or a function`);
    this.pullBatchSize = intOption("pullBatchSize", options.pullBatchSize ?? DEFAULT_PULL_BATCH_SIZE, 1, 1024);
    this.suspendMs = intOption("suspendMs", options.suspendMs ?? 15_000, 0, 120_000);
    this.#rebalanceIntervalMs = intOption("rebalanceIntervalMs", options.rebalanceIntervalMs ?? 20_000, 1);
    this.#offsets = options.offsetStore;
  }

  /** The offset store (after `open()`). */
  get offsets(): OffsetStore {
    return this.#offsets!;
  }

  /** The queues held now, sorted (balanced), or those of the cache (assigned). */
  get assigned(): MessageQueue[] {
    return this.#rebalancer?.assigned ?? [...this.queues.values()].map((pq) => pq.queue);
  }

  /** Every held queue, for persisting. */
  heldQueues(): MessageQueue[] {
    return [...this.queues.values()].map((pq) => pq.queue);
  }

  /**
   * Gets ready once the member is connected: the offset store (the broker's for clustering
   * groups, memory for broadcasting, unless one was given) and the hooks.
   *
   * @param hooks The consumer's decisions.
   */
  open(hooks: QueueOwnerHooks): void {
    const member = this.#member;
    const client = member.client;
    this.#hooks = hooks;
    this.#offsets ??= member.messageModel === "CLUSTERING"
      ? new RemoteOffsetStore({
        query: (queue) => client.queryOffset(member.group, queue),
        commit: (queue, offset) => client.commitOffset(member.group, queue, offset),
      })
      : new MemoryOffsetStore();
  }

  /** Balances the subscribed topics' queues in the group, now and every `rebalanceIntervalMs`. */
  async balance(): Promise<void> {
    const member = this.#member;
    this.#rebalancer = new Rebalancer({
      group: member.group,
      clientId: member.clientId,
      messageModel: member.messageModel,
      strategy: this.#strategy,
      client: member.client,
      topics: () => member.topics(),
      assign: (queue) => this.assign(queue),
      release: (queue) => this.release(queue),
      heartbeat: () => member.heartbeat(),
      log: member.log,
    });
    await this.rebalance();
    member.every(this.#rebalanceIntervalMs, () => void this.rebalance());
  }

  /** Runs a rebalance round (or merges into the running one); a failed round is retried soon by the rebalancer. */
  async rebalance(): Promise<void> {
    if (!this.#member.running) return;
    await this.#rebalancer?.trigger();
  }

  /** Commits the held queues' offsets; failures are logged. */
  async persist(): Promise<void> {
    if (!this.#member.running) return;
    try {
      await this.offsets.persist(this.heldQueues());
    } catch (error) {
      this.#member.log(`Committing offsets of group "${this.#member.group}" failed: ${(error as Error).message}`);
    }
  }

  /**
   * Starts owning a queue: a fresh cache, and a pull loop (after a release of the same queue in
   * progress has finished).
   *
   * @param queue The queue.
   * @param offset The offset to pull from; -1 for the group's (or `consumeFromWhere`).
   */
  assign(queue: MessageQueue, offset = -1): void {
    const key = messageQueueKey(queue);
    const pq = new ProcessQueue(queue);
    pq.nextPullOffset = offset;
    this.queues.get(key)?.drop();
    this.queues.set(key, pq);
    const releasing = this.#releasing.get(key);
    if (releasing === undefined) void this.#pullLoop(pq);
    else {
      void (async () => {
        await releasing;
        await this.#pullLoop(pq);
      })();
    }
  }

  /**
   * Stops owning a queue: no more pulls, the consumer's `settle`, its offset committed and
   * forgotten, then `released`.
   *
   * @param queue The queue.
   * @returns When the release is done (at once when `awaitRelease` is false).
   */
  release(queue: MessageQueue): Promise<void> {
    const key = messageQueueKey(queue);
    const pq = this.queues.get(key);
    if (pq === undefined) return Promise.resolve();
    this.queues.delete(key);
    pq.drop();
    const hooks = this.#hooks!;
    const releasing = (async () => {
      await hooks.settle(pq);
      const offsets = this.offsets;
      const commit = pq.commitOffset;
      if (commit >= 0) offsets.update(queue, commit, true);
      try {
        await offsets.persist([queue]);
      } catch (error) {
        this.#member.log(`Committing the offset of released queue ${queue.queueId} of "${queue.topic}" failed: ${(error as Error).message}`);
      }
      offsets.remove(queue);
      await hooks.released?.(pq);
    })().finally(() => {
      if (this.#releasing.get(key) === releasing) this.#releasing.delete(key);
    });
    this.#releasing.set(key, releasing);
    return hooks.awaitRelease === false ? Promise.resolve() : releasing;
  }

  /**
   * Stops balancing and drops every queue, then lets the consumer settle them and commits their
   * offsets once releases in progress are done.
   *
   * @param settle Waits for the dropped queues (running handlers, polled messages).
   * @returns The dropped caches.
   */
  async stop(settle: (pqs: ProcessQueue[]) => Promise<unknown> | void): Promise<ProcessQueue[]> {
    const queues = this.#rebalancer !== undefined ? await this.#rebalancer.stop() : this.heldQueues();
    const pqs = [...this.queues.values()];
    this.queues.clear();
    for (const pq of pqs) pq.drop();
    await settle(pqs);
    const offsets = this.#offsets;
    if (offsets === undefined) return pqs;
    for (const pq of pqs) {
      const commit = pq.commitOffset;
      if (commit >= 0) offsets.update(pq.queue, commit, true);
    }
    await Promise.all(this.#releasing.values());
    try {
      await offsets.persist(queues);
    } catch (error) {
      this.#member.log(`Committing offsets of group "${this.#member.group}" at shutdown failed: ${(error as Error).message}`);
    }
    return pqs;
  }

  /**
   * Moves a held queue to an offset: its cache is dropped and a new one pulls from `offset`.
   *
   * @param queue The queue.
   * @param offset The next offset to read.
   */
  async seek(queue: MessageQueue, offset: number): Promise<void> {
    const pq = this.queues.get(messageQueueKey(queue));
    if (pq === undefined) throw new ClientError(`Queue ${queue.queueId} of "${queue.topic}" is not assigned to this consumer`);
    pq.drop();
    this.offsets.update(pq.queue, offset);
    await this.offsets.persist([pq.queue]);
    this.assign(pq.queue, offset);
  }

  /**
   * Whether a cache is still pulled and its results wanted.
   *
   * @param pq The cache.
   */
  live(pq: ProcessQueue): boolean {
    return !pq.dropped && this.#member.running;
  }

  async #pullLoop(pq: ProcessQueue): Promise<void> {
    const member = this.#member;
    const hooks = this.#hooks!;
    const queue = pq.queue;
    let failures = 0;
    while (this.live(pq)) {
      try {
        const gate = hooks.gate(pq);
        if (gate !== true) {
          await gate;
          continue;
        }
        if (pq.nextPullOffset < 0) {
          pq.nextPullOffset = await this.#startOffset(queue);
          continue;
        }
        const subscription = member.subscriptions.get(queue.topic);
        const result = await member.client.pull(queue, {
          group: member.group,
          offset: pq.nextPullOffset,
          maxNums: this.pullBatchSize,
          expression: subscription?.expression ?? "*",
          expressionType: subscription?.expressionType ?? "TAG",
          suspendMs: this.suspendMs,
          commitOffset: hooks.commitWithPull(queue),
        });
        if (!this.live(pq)) break;
        pq.lastPullTime = Date.now();
        failures = 0;
        if (result.status === "OFFSET_ILLEGAL") {
          member.log(`Offset ${pq.nextPullOffset} of queue ${queue.queueId} of "${queue.topic}" is illegal; continuing at ${result.nextBeginOffset}`);
          pq.nextPullOffset = result.nextBeginOffset;
          if (pq.count === 0) {
            this.offsets.update(queue, result.nextBeginOffset);
            await this.offsets.persist([queue]).catch(() => {});
          }
          continue;
        }
        pq.noteCorrupt(result.corrupt, member.log);
        pq.nextPullOffset = result.nextBeginOffset;
        const messages = member.kept(queue.topic, result.messages);
        pq.add(messages);
        // Messages filtered out count as done: the offset may move past them once nothing before is in process.
        pq.advanceTo(result.nextBeginOffset);
        if (messages.length === 0) {
          if (pq.count === 0) this.offsets.update(queue, pq.commitOffset, true);
          continue;
        }
        hooks.deliver(pq, messages);
      } catch (error) {
        if (!this.live(pq)) break;
        failures++;
        // A busy broker is reported once per spell; every failure backs off, with jitter.
        if (failures === 1 || !isBrokerBusy(error)) {
          member.log(`Pulling queue ${queue.queueId} of "${queue.topic}" failed (attempt ${failures}): ${(error as Error).message}`);
        }
        await sleep(backoffMs(failures));
      }
    }
  }

  /**
   * Where a queue starts: the group's committed offset, else `consumeFromWhere` (a retry topic
   * from its first message), committed at once so a member taking the queue over later continues
   * there rather than working out "last offset" again and skipping what arrived in between.
   */
  async #startOffset(queue: MessageQueue): Promise<number> {
    const offsets = this.offsets;
    const stored = await offsets.read(queue);
    if (stored >= 0) return stored;
    const client = this.#member.client;
    const from = this.#member.consumeFromWhere;
    let offset: number;
    if (queue.topic.startsWith(RETRY_GROUP_TOPIC_PREFIX) || from === "FIRST_OFFSET") offset = await client.queueOffset(queue, "min");
    else if (from === "LAST_OFFSET") offset = await client.queueOffset(queue, "max");
    else offset = await client.queueOffset(queue, from);
    offsets.update(queue, offset, true);
    await offsets.persist([queue]);
    return offsets.get(queue);
  }
}
