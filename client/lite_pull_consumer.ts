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
import { type ConsumeFromWhere, intOption } from "./_consumer_options.ts";
import { GroupMember } from "./_group_member.ts";
import type { TraceOptions } from "./_tracer.ts";
import type { TraceStats } from "./_trace_dispatcher.ts";
import { checkTopic } from "./_prepare_message.ts";
import { QueueOwner } from "./_queue_owner.ts";
import type { MessageSelector } from "./_subscription.ts";
import { type AllocateStrategy, type AllocateStrategyName, sortQueues } from "./allocate.ts";
import type { OffsetStore } from "./offset_store.ts";
import type { ProcessQueue, ProcessQueueStats } from "./process_queue.ts";
import type { MessageModel } from "./rebalance.ts";

/** Options of a `LitePullConsumer`. */
export interface LitePullConsumerOptions extends TraceOptions {
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
  /**
   * Most messages one `poll()` returns, and one background pull asks for (a broker also stops a
   * pull at 4 MiB of records and at its `maxPullBatchSize`). @default 128
   */
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
  readonly #member: GroupMember;
  readonly #owner: QueueOwner;
  readonly #threshold: number;
  readonly #autoCommit: boolean;
  readonly #autoCommitIntervalMs: number;
  #assigned: MessageQueue[] | undefined;
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
    this.#member = new GroupMember(options, "PULL");
    this.#owner = new QueueOwner(this.#member, options);
    this.#threshold = intOption("pullThresholdForQueue", options.pullThresholdForQueue ?? 1000, 1);
    this.#autoCommit = options.autoCommit ?? true;
    this.#autoCommitIntervalMs = intOption("autoCommitIntervalMs", options.autoCommitIntervalMs ?? 5000, 1);
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
    if (this.#assigned !== undefined && this.#member.state === "created") {
      throw new ClientError("A consumer either subscribes or assigns queues, not both");
    }
    this.#member.subscribe(topic, selector);
  }

  /**
   * Reads exactly these queues (no group balancing). May be called again, before or after `start()`.
   *
   * @param queues The queues.
   */
  assign(queues: readonly MessageQueue[]): void {
    if (this.#member.subscriptions.size > 0) throw new ClientError("A consumer either subscribes or assigns queues, not both");
    const state = this.#member.state;
    if (state === "stopping" || state === "stopped") throw new ClientError("Consumer is shut down");
    for (const queue of queues) checkTopic(queue.topic);
    const next = sortQueues(queues);
    const wanted = new Set(next.map(messageQueueKey));
    if (state === "running") {
      for (const queue of this.#assigned ?? []) if (!wanted.has(messageQueueKey(queue))) void this.#owner.release(queue);
      const had = new Set((this.#assigned ?? []).map(messageQueueKey));
      for (const queue of next) if (!had.has(messageQueueKey(queue))) this.#owner.assign(queue);
    }
    this.#assigned = next;
  }

  /** The queues read now. */
  assignment(): MessageQueue[] {
    return this.#assigned ?? (this.#member.connected ? this.#owner.assigned : []);
  }

  /** Per-queue state for monitoring. */
  queueStats(): ProcessQueueStats[] {
    return [...this.#owner.queues.values()].map((pq) => pq.stats());
  }

  /**
   * Starts background pulling (and, when subscribed, joins the group and balances queues).
   *
   * @throws {ClientError} Without subscriptions or assigned queues, or after `shutdown()`.
   */
  start(): Promise<void> {
    const state = this.#member.state;
    if (state === "stopping" || state === "stopped") return Promise.reject(new ClientError("Consumer is shut down"));
    if (this.#member.subscriptions.size === 0 && this.#assigned === undefined) {
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
    const member = this.#member;
    if (!member.running) throw new ClientError(member.state === "created" ? "Consumer is not started" : "Consumer is shut down");
    if (this.#autoCommit) this.#markConsumed();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const taken = this.#take();
      if (taken.length > 0 && member.tracer !== undefined) {
        // Handed to the application: recorded as consumed, as RocketMQ's lite pull consumer does.
        member.tracer.after(member.tracer.before(taken), true);
      }
      if (taken.length > 0 || !member.running) return taken;
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

  /** With `enableTrace`: what the trace dispatcher recorded, dropped (buffer full), sent and failed to send. */
  get traceStats(): TraceStats | undefined {
    return this.#member.traceStats;
  }

  /** Marks every message returned so far as consumed and commits the offsets now. */
  async commitSync(): Promise<void> {
    if (!this.#member.running) throw new ClientError("Consumer is not running");
    this.#markConsumed();
    await this.#owner.offsets.persist(this.#owner.heldQueues());
  }

  /**
   * Moves a queue to an offset: messages fetched but not yet returned are dropped, and the next
   * messages of the queue come from `offset`.
   *
   * @param queue An assigned queue.
   * @param offset The next offset to read.
   */
  async seek(queue: MessageQueue, offset: number): Promise<void> {
    if (!this.#member.running) throw new ClientError("Consumer is not running");
    if (!Number.isSafeInteger(offset) || offset < 0) throw new ClientError(`Offset "${offset}" must be a non-negative integer`);
    await this.#owner.seek(queue, offset);
  }

  /** Stops pulling, commits what earlier polls returned (with `autoCommit`), and closes connections. */
  shutdown(): Promise<void> {
    if (this.#member.state === "created") {
      this.#member.state = "stopped";
      return Promise.resolve();
    }
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #start(): Promise<void> {
    const member = this.#member;
    const owner = this.#owner;
    member.state = "starting";
    const subscribed = member.subscriptions.size > 0;
    const client = await member.connect(() => void owner.rebalance());
    if (client === undefined) return;
    owner.open({
      gate: (pq) => pq.count >= this.#threshold ? pq.room(this.#threshold, Infinity, FLOW_CONTROL_PAUSE_MS) : true,
      commitWithPull: () => -1,
      deliver: (pq, messages) => {
        this.#ready.push({ pq, messages });
        this.#wake?.();
      },
      settle: () => {
        if (this.#autoCommit) this.#markConsumed();
      },
    });
    member.state = "running";
    if (this.#autoCommit) member.every(this.#autoCommitIntervalMs, () => void owner.persist());
    if (!subscribed) {
      for (const queue of this.#assigned ?? []) owner.assign(queue);
      return;
    }
    await member.startHeartbeats();
    await owner.balance();
  }

  /** Takes up to `pullBatchSize` ready messages, in arrival order per queue. */
  #take(): MessageExt[] {
    const out: MessageExt[] = [];
    const max = this.#owner.pullBatchSize;
    while (out.length < max && this.#ready.length > 0) {
      const batch = this.#ready[0]!;
      if (batch.pq.dropped) {
        this.#ready.shift();
        continue;
      }
      const room = max - out.length;
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
      if (!pq.dropped && offset >= 0) this.#owner.offsets.update(pq.queue, offset, true);
    }
  }

  async #shutdown(): Promise<void> {
    await this.#starting?.catch(() => {});
    const member = this.#member;
    member.state = "stopping";
    member.stopTimers();
    this.#wake?.();
    if (!member.connected) {
      member.state = "stopped";
      return;
    }
    await this.#owner.stop(() => {
      if (this.#autoCommit) this.#markConsumed();
    });
    await member.leave(member.subscriptions.size > 0);
    this.#ready = [];
    member.state = "stopped";
  }
}
