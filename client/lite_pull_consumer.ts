/**
 * The lite pull consumer: the application calls `poll()` for the next messages, while queues are
 * pulled in the background, either balanced within a group (`subscribe`) or chosen (`assign`).
 *
 * @module
 */
import { ClientError } from "../core/errors.ts";
import type { MessageExt } from "../core/model/message.ts";
import { type MessageQueue, messageQueueKey } from "../core/model/message_queue.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import { ConsumerClient, newClientId, restoreRetryTopic } from "./_consumer_client.ts";
import { isBrokerBusy } from "./_pull.ts";
import {
  backoffMs,
  checkConsumeFromWhere,
  checkGroup,
  type ConsumeFromWhere,
  consumeFromWhereName,
  every,
  intOption,
  nameServerList,
  sleep,
} from "./_consumer_options.ts";
import { checkTopic } from "./_prepare_message.ts";
import { keptMessages, type MessageSelector, type Subscription, subscriptionOf } from "./_subscription.ts";
import { ALLOCATE_STRATEGIES, type AllocateStrategy, type AllocateStrategyName, sortQueues } from "./allocate.ts";
import { defaultDialer } from "./default_dialer.ts";
import { MemoryOffsetStore, type OffsetStore, RemoteOffsetStore } from "./offset_store.ts";
import { ProcessQueue, type ProcessQueueStats } from "./process_queue.ts";
import { type MessageModel, Rebalancer } from "./rebalance.ts";

/** Options of a `LitePullConsumer`. */
export interface LitePullConsumerOptions {
  /** NameServer addresses (`host:port`). */
  nameServer: string | readonly string[];
  /** The consumer group; offsets are kept per group. */
  group: string;
  /** Opens sockets. @default the runtime's dialer */
  dial?: Dialer;
  /** With `subscribe`: split queues among members, or read all of them. @default "CLUSTERING" */
  messageModel?: MessageModel;
  /** Where to start on a queue the group has no offset for. @default "LAST_OFFSET" */
  consumeFromWhere?: ConsumeFromWhere;
  /** How members split queues. @default "AVERAGE" */
  allocateStrategy?: AllocateStrategyName | AllocateStrategy;
  /** Most messages one `poll()` returns, and one background pull asks for. @default 32 */
  pullBatchSize?: number;
  /** Background pulling of a queue pauses while this many of its messages wait or are uncommitted. @default 1000 */
  pullThresholdForQueue?: number;
  /** Commit what earlier polls returned at each `poll()` and every `autoCommitIntervalMs`. @default true */
  autoCommit?: boolean;
  /** How often offsets are committed with `autoCommit`. @default 5000 */
  autoCommitIntervalMs?: number;
  /** Long poll of the background pulls. @default 15000 */
  suspendMs?: number;
  /** How often the member tells brokers it is alive (subscribe mode). @default 30000 */
  heartbeatIntervalMs?: number;
  /** How often queues are rebalanced besides on membership changes (subscribe mode). @default 20000 */
  rebalanceIntervalMs?: number;
  /** This member's id in the group. @default a random id */
  clientId?: string;
  /** Where offsets are kept. @default the broker, or memory for broadcasting */
  offsetStore?: OffsetStore;
  /** Timeout of requests other than the long poll. @default 3000 */
  requestTimeoutMs?: number;
  /** How often routes are fetched again. @default 30000 */
  pollNameServerIntervalMs?: number;
  /** Where problems are reported. @default console.warn */
  log?: (line: string) => void;
}

type State = "created" | "starting" | "running" | "stopping" | "stopped";

interface Batch {
  pq: ProcessQueue;
  messages: MessageExt[];
}

const FLOW_CONTROL_PAUSE_MS = 50;

/**
 * Pulls queues in the background and returns messages from `poll()`. Offsets advance past the
 * messages earlier polls returned: automatically at the next `poll()` (`autoCommit`), or at
 * `commitSync()`. Delivery is at least once.
 *
 * @example Poll a topic in a group
 * ```ts ignore
 * import { LitePullConsumer } from "./lite_pull_consumer.ts";
 * const consumer = new LitePullConsumer({ nameServer: "127.0.0.1:9876", group: "etl" });
 * consumer.subscribe("orders", "*");
 * await consumer.start();
 * for (let i = 0; i < 10; i++) {
 *   for (const message of await consumer.poll(1000)) console.log(message.queueOffset);
 * }
 * await consumer.shutdown();
 * ```
 */
export class LitePullConsumer {
  readonly #nameServers: string[];
  readonly #group: string;
  readonly #dial: Dialer | undefined;
  readonly #messageModel: MessageModel;
  readonly #consumeFromWhere: ConsumeFromWhere;
  readonly #strategy: AllocateStrategy;
  readonly #pullBatchSize: number;
  readonly #threshold: number;
  readonly #autoCommit: boolean;
  readonly #autoCommitIntervalMs: number;
  readonly #suspendMs: number;
  readonly #heartbeatIntervalMs: number;
  readonly #rebalanceIntervalMs: number;
  readonly #clientId: string;
  readonly #requestTimeoutMs: number;
  readonly #pollIntervalMs: number;
  readonly #log: (line: string) => void;
  readonly #subscriptions = new Map<string, Subscription & { version: number }>();
  readonly #queues = new Map<string, ProcessQueue>();
  readonly #timers: ReturnType<typeof setInterval>[] = [];
  #assigned: MessageQueue[] | undefined;
  #offsets: OffsetStore | undefined;
  #client: ConsumerClient | undefined;
  #rebalancer: Rebalancer | undefined;
  #state: State = "created";
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  #ready: Batch[] = [];
  #delivered: Batch[] = [];
  #wake: (() => void) | undefined;

  /**
   * Creates a consumer; `subscribe` or `assign`, then `start()`.
   *
   * @param options NameServers, group and tuning.
   * @throws {ClientError} When an option is invalid.
   */
  constructor(options: LitePullConsumerOptions) {
    this.#nameServers = nameServerList(options.nameServer);
    this.#group = checkGroup(options.group);
    this.#dial = options.dial;
    this.#messageModel = options.messageModel ?? "CLUSTERING";
    if (this.#messageModel !== "CLUSTERING" && this.#messageModel !== "BROADCASTING") {
      throw new ClientError(`messageModel "${this.#messageModel}" must be "CLUSTERING" or "BROADCASTING"`);
    }
    this.#consumeFromWhere = checkConsumeFromWhere(options.consumeFromWhere ?? "LAST_OFFSET");
    const strategy = options.allocateStrategy ?? "AVERAGE";
    if (typeof strategy === "function") this.#strategy = strategy;
    else if (Object.hasOwn(ALLOCATE_STRATEGIES, strategy)) this.#strategy = ALLOCATE_STRATEGIES[strategy];
    else throw new ClientError(`allocateStrategy "${strategy}" must be "AVERAGE", "CONSISTENT_HASH" or a function`);
    this.#pullBatchSize = intOption("pullBatchSize", options.pullBatchSize ?? 32, 1, 1024);
    this.#threshold = intOption("pullThresholdForQueue", options.pullThresholdForQueue ?? 1000, 1);
    this.#autoCommit = options.autoCommit ?? true;
    this.#autoCommitIntervalMs = intOption("autoCommitIntervalMs", options.autoCommitIntervalMs ?? 5000, 1);
    this.#suspendMs = intOption("suspendMs", options.suspendMs ?? 15_000, 0, 120_000);
    this.#heartbeatIntervalMs = intOption("heartbeatIntervalMs", options.heartbeatIntervalMs ?? 30_000, 1);
    this.#rebalanceIntervalMs = intOption("rebalanceIntervalMs", options.rebalanceIntervalMs ?? 20_000, 1);
    this.#clientId = options.clientId ?? newClientId();
    this.#requestTimeoutMs = intOption("requestTimeoutMs", options.requestTimeoutMs ?? 3000, 1);
    this.#pollIntervalMs = intOption("pollNameServerIntervalMs", options.pollNameServerIntervalMs ?? 30_000, 1);
    this.#offsets = options.offsetStore;
    this.#log = options.log ?? ((line) => console.warn(line));
  }

  /**
   * Subscribes to a topic, balanced within the group. Call before `start()`; not with `assign`.
   *
   * @param topic The topic.
   * @param selector `*`, a tag, or tags joined by `||`; or `{ sql }`, a SQL92 filter the broker
   *   evaluates on each message's properties (`{ sql: "region = 'eu' AND amount > 100" }`).
   * @throws {ClientError} When the topic or selector is invalid, or after `start()` or `assign()`.
   * @throws {FilterExpressionError} When the SQL expression is invalid (the message names the column).
   */
  subscribe(topic: string, selector: MessageSelector = "*"): void {
    if (this.#state !== "created") throw new ClientError("Subscribe before start()");
    if (this.#assigned !== undefined) throw new ClientError("A consumer either subscribes or assigns queues, not both");
    checkTopic(topic);
    this.#subscriptions.set(topic, { ...subscriptionOf(selector), version: Date.now() });
  }

  /**
   * Reads exactly these queues (no group balancing). May be called again, before or after `start()`.
   *
   * @param queues The queues.
   */
  assign(queues: readonly MessageQueue[]): void {
    if (this.#subscriptions.size > 0) throw new ClientError("A consumer either subscribes or assigns queues, not both");
    if (this.#state === "stopping" || this.#state === "stopped") throw new ClientError("Consumer is shut down");
    for (const queue of queues) checkTopic(queue.topic);
    const next = sortQueues(queues);
    const wanted = new Set(next.map(messageQueueKey));
    if (this.#state === "running") {
      for (const queue of this.#assigned ?? []) if (!wanted.has(messageQueueKey(queue))) void this.#release(queue);
      const had = new Set((this.#assigned ?? []).map(messageQueueKey));
      for (const queue of next) if (!had.has(messageQueueKey(queue))) this.#add(queue, -1);
    }
    this.#assigned = next;
  }

  /** The queues read now. */
  assignment(): MessageQueue[] {
    return this.#assigned ?? this.#rebalancer?.assigned ?? [];
  }

  /** Per-queue state for monitoring. */
  queueStats(): ProcessQueueStats[] {
    return [...this.#queues.values()].map((pq) => pq.stats());
  }

  /**
   * Starts background pulling (and, when subscribed, joins the group and balances queues).
   *
   * @throws {ClientError} Without subscriptions or assigned queues, or after `shutdown()`.
   */
  start(): Promise<void> {
    if (this.#state === "stopping" || this.#state === "stopped") return Promise.reject(new ClientError("Consumer is shut down"));
    if (this.#subscriptions.size === 0 && this.#assigned === undefined) {
      return Promise.reject(new ClientError("Subscribe to a topic or assign queues before start()"));
    }
    this.#starting ??= this.#start();
    return this.#starting;
  }

  /**
   * The next messages, waiting up to `timeoutMs` for some. With `autoCommit`, first marks what
   * earlier polls returned as consumed.
   *
   * @param timeoutMs The longest wait. @default 5000
   * @returns Up to `pullBatchSize` messages (possibly of several queues), empty after the timeout.
   */
  async poll(timeoutMs = 5000): Promise<MessageExt[]> {
    if (this.#state !== "running") throw new ClientError(this.#state === "created" ? "Consumer is not started" : "Consumer is shut down");
    if (this.#autoCommit) this.#markConsumed();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const taken = this.#take();
      if (taken.length > 0 || this.#state !== "running") return taken;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return [];
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#wake = undefined;
          resolve();
        }, remaining);
        this.#wake = () => {
          clearTimeout(timer);
          this.#wake = undefined;
          resolve();
        };
      });
    }
  }

  /** Marks every message returned so far as consumed and commits the offsets now. */
  async commitSync(): Promise<void> {
    if (this.#state !== "running") throw new ClientError("Consumer is not running");
    this.#markConsumed();
    await this.#offsets!.persist([...this.#queues.values()].map((pq) => pq.queue));
  }

  /**
   * Moves a queue to an offset: messages fetched but not yet returned are dropped, and the next
   * messages of the queue come from `offset`.
   *
   * @param queue An assigned queue.
   * @param offset The next offset to read.
   */
  async seek(queue: MessageQueue, offset: number): Promise<void> {
    if (this.#state !== "running") throw new ClientError("Consumer is not running");
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ClientError(`Offset "${offset}" must be a non-negative integer`);
    const key = messageQueueKey(queue);
    const pq = this.#queues.get(key);
    if (pq === undefined) throw new ClientError(`Queue ${queue.queueId} of "${queue.topic}" is not assigned to this consumer`);
    pq.drop();
    this.#offsets!.update(pq.queue, offset);
    await this.#offsets!.persist([pq.queue]);
    this.#add(pq.queue, offset);
  }

  /** Stops pulling, commits what earlier polls returned (with `autoCommit`), and closes connections. */
  shutdown(): Promise<void> {
    if (this.#state === "created") {
      this.#state = "stopped";
      return Promise.resolve();
    }
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #start(): Promise<void> {
    this.#state = "starting";
    const dial = this.#dial ?? await defaultDialer();
    const subscribed = this.#subscriptions.size > 0;
    const client = new ConsumerClient({
      nameServers: this.#nameServers,
      dial,
      requestTimeoutMs: this.#requestTimeoutMs,
      pollNameServerIntervalMs: this.#pollIntervalMs,
      onConsumerIdsChanged: (group) => {
        if (group === this.#group && this.#state === "running") void this.#rebalancer?.trigger();
      },
    });
    this.#client = client;
    this.#offsets ??= this.#messageModel === "CLUSTERING"
      ? new RemoteOffsetStore({
        query: (queue) => client.queryOffset(this.#group, queue),
        commit: (queue, offset) => client.commitOffset(this.#group, queue, offset),
      })
      : new MemoryOffsetStore();
    this.#state = "running";
    if (this.#autoCommit) this.#timers.push(every(this.#autoCommitIntervalMs, () => void this.#persist()));
    if (!subscribed) {
      for (const queue of this.#assigned ?? []) this.#add(queue, -1);
      return;
    }
    this.#rebalancer = new Rebalancer({
      group: this.#group,
      clientId: this.#clientId,
      messageModel: this.#messageModel,
      strategy: this.#strategy,
      client,
      topics: () => [...this.#subscriptions.keys()],
      assign: (queue) => this.#add(queue, -1),
      release: (queue) => this.#release(queue),
      heartbeat: () => this.#heartbeat(),
      log: this.#log,
    });
    await this.#heartbeat();
    await this.#rebalancer.trigger();
    this.#timers.push(
      every(this.#heartbeatIntervalMs, () => void this.#heartbeat()),
      every(this.#rebalanceIntervalMs, () => void this.#heartbeat().then(() => this.#rebalancer!.trigger())),
    );
  }

  async #heartbeat(): Promise<void> {
    if (this.#state !== "running") return;
    const errors = await this.#client!.heartbeat([...this.#subscriptions.keys()], this.#clientId, {
      group: this.#group,
      consumeType: "PULL",
      messageModel: this.#messageModel,
      consumeFromWhere: consumeFromWhereName(this.#consumeFromWhere),
      subscriptions: [...this.#subscriptions].map(([topic, s]) => ({ topic, expression: s.expression, expressionType: s.expressionType, version: s.version })),
    });
    for (const error of errors) this.#log(`Heartbeat of group "${this.#group}" failed: ${(error as Error).message}`);
  }

  async #persist(): Promise<void> {
    if (this.#state !== "running") return;
    try {
      await this.#offsets!.persist([...this.#queues.values()].map((pq) => pq.queue));
    } catch (error) {
      this.#log(`Committing offsets of group "${this.#group}" failed: ${(error as Error).message}`);
    }
  }

  #add(queue: MessageQueue, offset: number): void {
    const key = messageQueueKey(queue);
    this.#queues.get(key)?.drop();
    const pq = new ProcessQueue(queue);
    pq.nextPullOffset = offset;
    this.#queues.set(key, pq);
    void this.#pullLoop(pq);
  }

  async #release(queue: MessageQueue): Promise<void> {
    const key = messageQueueKey(queue);
    const pq = this.#queues.get(key);
    if (pq === undefined) return;
    this.#queues.delete(key);
    pq.drop();
    if (this.#autoCommit) this.#markConsumed();
    const commit = pq.commitOffset;
    if (commit >= 0) this.#offsets!.update(queue, commit, true);
    try {
      await this.#offsets!.persist([queue]);
    } catch (error) {
      this.#log(`Committing the offset of released queue ${queue.queueId} of "${queue.topic}" failed: ${(error as Error).message}`);
    }
    this.#offsets!.remove(queue);
  }

  #live(pq: ProcessQueue): boolean {
    return !pq.dropped && this.#state === "running";
  }

  async #pullLoop(pq: ProcessQueue): Promise<void> {
    const queue = pq.queue;
    let failures = 0;
    while (this.#live(pq)) {
      try {
        if (pq.nextPullOffset < 0) {
          pq.nextPullOffset = await this.#startOffset(queue);
          continue;
        }
        if (pq.count >= this.#threshold) {
          await sleep(FLOW_CONTROL_PAUSE_MS);
          continue;
        }
        const subscription = this.#subscriptions.get(queue.topic);
        const result = await this.#client!.pull(queue, {
          group: this.#group,
          offset: pq.nextPullOffset,
          maxNums: this.#pullBatchSize,
          expression: subscription?.expression ?? "*",
          expressionType: subscription?.expressionType ?? "TAG",
          suspendMs: this.#suspendMs,
          commitOffset: -1,
        });
        if (!this.#live(pq)) break;
        pq.lastPullTime = Date.now();
        failures = 0;
        if (result.status === "OFFSET_ILLEGAL") {
          this.#log(`Offset ${pq.nextPullOffset} of queue ${queue.queueId} of "${queue.topic}" is illegal; continuing at ${result.nextBeginOffset}`);
          if (pq.count === 0) this.#offsets!.update(queue, result.nextBeginOffset);
        }
        pq.noteCorrupt(result.corrupt, this.#log);
        pq.nextPullOffset = result.nextBeginOffset;
        const messages = keptMessages(subscription, result.messages).map(restoreRetryTopic);
        pq.add(messages);
        pq.advanceTo(result.nextBeginOffset);
        if (messages.length === 0) {
          if (pq.count === 0) this.#offsets!.update(queue, pq.commitOffset, true);
          continue;
        }
        this.#ready.push({ pq, messages });
        this.#wake?.();
      } catch (error) {
        if (!this.#live(pq)) break;
        failures++;
        // A busy broker is reported once per spell; every failure backs off, with jitter.
        if (failures === 1 || !isBrokerBusy(error)) {
          this.#log(`Pulling queue ${queue.queueId} of "${queue.topic}" failed (attempt ${failures}): ${(error as Error).message}`);
        }
        await sleep(backoffMs(failures));
      }
    }
  }

  async #startOffset(queue: MessageQueue): Promise<number> {
    const offsets = this.#offsets!;
    const stored = await offsets.read(queue);
    if (stored >= 0) return stored;
    const from = this.#consumeFromWhere;
    const client = this.#client!;
    const offset = from === "FIRST_OFFSET"
      ? await client.queueOffset(queue, "min")
      : from === "LAST_OFFSET"
      ? await client.queueOffset(queue, "max")
      : await client.queueOffset(queue, from);
    offsets.update(queue, offset, true);
    await offsets.persist([queue]);
    return offsets.get(queue);
  }

  /** Takes up to `pullBatchSize` ready messages, in arrival order per queue. */
  #take(): MessageExt[] {
    const out: MessageExt[] = [];
    while (out.length < this.#pullBatchSize && this.#ready.length > 0) {
      const batch = this.#ready[0]!;
      if (batch.pq.dropped) {
        this.#ready.shift();
        continue;
      }
      const room = this.#pullBatchSize - out.length;
      const taken = batch.messages.length <= room ? batch.messages : batch.messages.slice(0, room);
      if (taken === batch.messages) this.#ready.shift();
      else batch.messages = batch.messages.slice(room);
      out.push(...taken);
      this.#delivered.push({ pq: batch.pq, messages: taken });
    }
    return out;
  }

  /** Messages returned by earlier polls are done: their queues' offsets move past them. */
  #markConsumed(): void {
    const delivered = this.#delivered;
    this.#delivered = [];
    for (const { pq, messages } of delivered) {
      const offset = pq.remove(messages);
      if (!pq.dropped && offset >= 0) this.#offsets!.update(pq.queue, offset, true);
    }
  }

  async #shutdown(): Promise<void> {
    await this.#starting?.catch(() => {});
    this.#state = "stopping";
    for (const timer of this.#timers) clearInterval(timer);
    this.#wake?.();
    const client = this.#client;
    if (client === undefined) {
      this.#state = "stopped";
      return;
    }
    const queues = this.#rebalancer !== undefined ? await this.#rebalancer.stop() : [...this.#queues.values()].map((pq) => pq.queue);
    if (this.#autoCommit) this.#markConsumed();
    const pqs = [...this.#queues.values()];
    this.#queues.clear();
    for (const pq of pqs) {
      pq.drop();
      const commit = pq.commitOffset;
      if (commit >= 0) this.#offsets!.update(pq.queue, commit, true);
    }
    try {
      await this.#offsets!.persist(queues);
    } catch (error) {
      this.#log(`Committing offsets of group "${this.#group}" at shutdown failed: ${(error as Error).message}`);
    }
    if (this.#rebalancer !== undefined) await client.unregister([...this.#subscriptions.keys()], this.#clientId, this.#group);
    await client.shutdown();
    this.#ready = [];
    this.#state = "stopped";
  }
}
