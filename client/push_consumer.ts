/**
 * The push consumer: a member of a consumer group that pulls its share of the queues with long
 * polling and hands messages to a handler.
 *
 * @module
 */
import { ClientError } from "../core/errors.ts";
import type { MessageExt } from "../core/model/message.ts";
import { type MessageQueue, messageQueueKey } from "../core/model/message_queue.ts";
import { retryTopic } from "../core/model/system_topics.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import type { ConsumerClient } from "./_consumer_client.ts";
import { backoffMs, type ConsumeFromWhere, intOption, sleep } from "./_consumer_options.ts";
import { GroupMember } from "./_group_member.ts";
import type { ConsumeTracer, TraceOptions } from "./_tracer.ts";
import type { TraceStats } from "./_trace_dispatcher.ts";
import type { ReceivedMessage } from "./_pop.ts";
import { checkInvisibleTime, MAX_RECEIVE, PopReceiver } from "./_pop_receiver.ts";
import { isBrokerBusy } from "./_pull.ts";
import { QueueOwner } from "./_queue_owner.ts";
import type { MessageSelector } from "./_subscription.ts";
import type { AllocateStrategy, AllocateStrategyName } from "./allocate.ts";
import type { OffsetStore } from "./offset_store.ts";
import { ProcessQueue, type ProcessQueueStats } from "./process_queue.ts";
import { DEFAULT_RETRY_POLICY, retryBackoffMs, type RetryPolicy } from "../core/model/retry_policy.ts";
import type { MessageModel } from "./rebalance.ts";

/** What a handler says about messages: done, or deliver them again later. */
export type ConsumeStatus = "SUCCESS" | "RECONSUME_LATER";

/**
 * What a handler returns or resolves to: a `ConsumeStatus`. Other strings are accepted by the
 * type (so `async` handlers returning a literal type-check) and count as `"RECONSUME_LATER"`, with a
 * log line.
 */
export type ConsumeResult = ConsumeStatus | (string & {});

/**
 * Handles one message (when `consumeBatchMaxSize` is 1). A thrown error, a rejected promise or any
 * answer other than `"SUCCESS"` means `"RECONSUME_LATER"`.
 */
export type MessageHandler = (message: MessageExt) => ConsumeResult | Promise<ConsumeResult>;

/** Handles up to `consumeBatchMaxSize` messages of one queue at once (when that is above 1); the answer covers them all. */
export type BatchMessageHandler = (messages: MessageExt[]) => ConsumeResult | Promise<ConsumeResult>;

/** Options of a `PushConsumer`. */
export interface PushConsumerOptions extends TraceOptions {
  /** NameServer addresses (`host:port`). */
  nameServer: string | readonly string[];
  /** The consumer group. */
  group: string;
  /** Opens sockets. @default the runtime's dialer */
  dial?: Dialer;
  /** `CLUSTERING`: each message to one member; `BROADCASTING`: to every member. @default "CLUSTERING" */
  messageModel?: MessageModel;
  /** Where to start on a queue the group has no offset for. @default "LAST_OFFSET" */
  consumeFromWhere?: ConsumeFromWhere;
  /** How members split queues: a built-in name or a function. @default "AVERAGE" */
  allocateStrategy?: AllocateStrategyName | AllocateStrategy;
  /** Handlers running at once. @default 20 */
  consumeThreads?: number;
  /** Messages per handler call; above 1 the handler gets arrays. @default 1 */
  consumeBatchMaxSize?: number;
  /**
   * Messages asked for per pull (a broker also stops a pull at 4 MiB of records and at its
   * `maxPullBatchSize`). Above RocketMQ's 32: each pull is a request, a response and a wake-up on
   * both sides, and 128 of 1 KiB messages fit one ~140 KB frame. @default 128
   */
  pullBatchSize?: number;
  /** Pulling of a queue pauses while this many of its messages are cached. @default 1000 */
  pullThresholdForQueue?: number;
  /** Pulling of a queue pauses while its cached bodies take this many bytes. @default 100 MiB */
  pullThresholdSizeForQueue?: number;
  /** Redeliveries of a failing message before it goes to the group's dead-letter topic. @default 16 */
  maxReconsumeTimes?: number;
  /** Long poll: how long a broker may hold a pull that finds nothing. @default 15000 */
  suspendMs?: number;
  /** How often offsets are committed. @default 5000 */
  persistOffsetIntervalMs?: number;
  /** How often the member tells brokers it is alive. @default 30000 */
  heartbeatIntervalMs?: number;
  /** How often queues are rebalanced besides on membership changes. @default 20000 */
  rebalanceIntervalMs?: number;
  /** Orderly mode: queues are locked, and each queue's messages are handled one at a time in order. @default false */
  orderly?: boolean;
  /** Orderly mode: pause of a queue after a failed message before it is retried. @default 1000 */
  suspendCurrentQueueTimeMillis?: number;
  /** This member's id in the group; unique per consumer instance. @default a random id */
  clientId?: string;
  /** Where offsets are kept. @default the broker for clustering, memory for broadcasting */
  offsetStore?: OffsetStore;
  /** How long `shutdown()` waits for running handlers. @default 30000 */
  awaitTerminationMs?: number;
  /** Timeout of requests other than the long poll itself. @default 3000 */
  requestTimeoutMs?: number;
  /** How often routes are fetched again. @default 30000 */
  pollNameServerIntervalMs?: number;
  /** Where problems are reported. @default console.warn */
  log?: (line: string) => void;
  /**
   * Consume through POP instead of owning queues: members pop messages from any queue, so a group
   * may have more members than queues and a hung member holds only the messages it has. A failed
   * message is given back with the group's retry policy (`rmq group update --retry-policy`) and
   * goes to the dead-letter topic past the group's `retryMaxTimes` (not `maxReconsumeTimes`);
   * order comes from the group's FIFO setting (`--fifo`), not `orderly`. Clustering only.
   * @default false
   */
  pop?: boolean;
  /** POP: how long a message stays invisible to the group's other members while its handler runs. @default 60000 */
  popInvisibleTimeMs?: number;
}

interface ConsumeTask {
  pq: ProcessQueue;
  /** Concurrent mode: the messages; orderly mode: undefined (the task takes the next messages of `pq`). */
  messages: MessageExt[] | undefined;
  /** Concurrent mode: the first message not yet handed to a handler. */
  next: number;
}

/** Pause of a message whose send-back failed before it is handled again here. */
const LOCAL_RETRY_DELAY_MS = 5000;
/** Orderly mode: how often held locks are renewed (the broker lets them expire after about 60 s). */
const LOCK_RENEW_INTERVAL_MS = 20_000;
/** Orderly mode: a lock older than this without renewal is not trusted. */
const LOCK_TRUST_MS = 30_000;
/** Orderly mode: pause between attempts to lock an unlocked queue. */
const LOCK_RETRY_MS = 500;
/** Flow control: longest wait of a throttled queue for room before it is looked at again. */
const FLOW_CONTROL_PAUSE_MS = 50;

/**
 * Runs `fn` after the current task and every microtask queued by it (`setImmediate` where the
 * runtime has it: Bun, Deno, Node; otherwise a zero timeout).
 */
const afterThisTask: (fn: () => void) => void = typeof (globalThis as { setImmediate?: unknown }).setImmediate === "function"
  ? (fn) => (globalThis as unknown as { setImmediate: (fn: () => void) => void }).setImmediate(fn)
  : (fn) => void setTimeout(fn, 0);
/** Concurrent mode: how long releasing a queue waits for its running handlers before committing. */
const RELEASE_WAIT_MS = 1000;
/** Orderly mode: how long releasing a queue waits for its running handler before unlocking. */
const ORDERLY_RELEASE_WAIT_MS = 60_000;

/**
 * A consumer group member that is handed messages. Members of a clustering group split the queues
 * of the subscribed topics (and of the group's retry topic) and move them when members come and go;
 * broadcasting members each read every queue. Delivery is at least once: a handler can see a
 * message again after a crash or a rebalance, so handlers should be idempotent.
 *
 * @example Consume a topic in a group
 * ```ts ignore
 * import { PushConsumer } from "./push_consumer.ts";
 * const consumer = new PushConsumer({ nameServer: "127.0.0.1:9876", group: "billing" });
 * consumer.subscribe("orders", "created || paid");
 * consumer.onMessage((message) => {
 *   console.log(message.tags, new TextDecoder().decode(message.body));
 *   return "SUCCESS";
 * });
 * await consumer.start();
 * // later
 * await consumer.shutdown();
 * ```
 */
export class PushConsumer {
  readonly #member: GroupMember;
  readonly #owner: QueueOwner;
  readonly #consumeThreads: number;
  readonly #batchSize: number;
  readonly #thresholdCount: number;
  readonly #thresholdBytes: number;
  readonly #maxReconsumeTimes: number;
  readonly #persistIntervalMs: number;
  readonly #orderly: boolean;
  readonly #suspendQueueMs: number;
  readonly #awaitTerminationMs: number;
  readonly #log: (line: string) => void;
  readonly #retryTimers = new Set<ReturnType<typeof setTimeout>>();
  #handler: MessageHandler | BatchMessageHandler | undefined;
  #client: ConsumerClient | undefined;
  /** POP mode: how long popped messages stay invisible; undefined when the consumer owns queues. */
  readonly #popInvisibleMs: number | undefined;
  #popReceiver: PopReceiver | undefined;
  /** POP mode: counts the handlers running on popped messages (it never holds messages). */
  #popQueue: ProcessQueue | undefined;
  #popInFlight = 0;
  #retryPolicy: RetryPolicy = DEFAULT_RETRY_POLICY;
  /** POP mode: acks and changes of invisible time not answered yet. */
  readonly #settling = new Set<Promise<unknown>>();
  #offsets: OffsetStore | undefined;
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;
  /** Consume tasks waiting for a free handler slot, FIFO from `#taskHead`. */
  #tasks: ConsumeTask[] = [];
  #taskHead = 0;
  #running = 0;
  #pumpScheduled = false;
  /** The range of its task's messages `#take` last handed out. */
  #takenFrom = 0;
  #takenTo = 0;
  /** Queues with messages finished whose offset is not yet in the offset store. */
  #finished = new Set<ProcessQueue>();

  /**
   * Creates a consumer; subscribe, set a handler, then `start()`.
   *
   * @param options NameServers, group and tuning; see `PushConsumerOptions`.
   * @throws {ClientError} When an option is invalid.
   */
  constructor(options: PushConsumerOptions) {
    this.#member = new GroupMember(options, options.pop === true ? "POP" : "PUSH");
    this.#owner = new QueueOwner(this.#member, options);
    this.#consumeThreads = intOption("consumeThreads", options.consumeThreads ?? 20, 1, 1000);
    this.#batchSize = intOption("consumeBatchMaxSize", options.consumeBatchMaxSize ?? 1, 1, 1024);
    this.#thresholdCount = intOption("pullThresholdForQueue", options.pullThresholdForQueue ?? 1000, 1);
    this.#thresholdBytes = intOption("pullThresholdSizeForQueue", options.pullThresholdSizeForQueue ?? 100 * 1024 * 1024, 1);
    this.#maxReconsumeTimes = intOption("maxReconsumeTimes", options.maxReconsumeTimes ?? 16, 0, 64);
    this.#persistIntervalMs = intOption("persistOffsetIntervalMs", options.persistOffsetIntervalMs ?? 5000, 1);
    this.#orderly = options.orderly ?? false;
    this.#suspendQueueMs = intOption("suspendCurrentQueueTimeMillis", options.suspendCurrentQueueTimeMillis ?? 1000, 0);
    this.#awaitTerminationMs = intOption("awaitTerminationMs", options.awaitTerminationMs ?? 30_000, 0);
    this.#log = this.#member.log;
    if (options.pop === true) {
      if (this.#member.messageModel !== "CLUSTERING") throw new ClientError("A POP consumer is a clustering consumer: leave messageModel out");
      if (this.#orderly) throw new ClientError("A POP consumer gets order from its group's FIFO setting (rmq group update --fifo), not from orderly");
      if (typeof this.#member.consumeFromWhere !== "string") throw new ClientError("A POP consumer starts at FIRST_OFFSET or LAST_OFFSET, not at a timestamp");
      this.#popInvisibleMs = checkInvisibleTime("popInvisibleTimeMs", options.popInvisibleTimeMs ?? 60_000);
    }
  }

  /** The consumer group. */
  get group(): string {
    return this.#member.group;
  }

  /** This member's client id. */
  get clientId(): string {
    return this.#member.clientId;
  }

  /**
   * Subscribes to a topic. Call before `start()`; a second call for a topic replaces its selector.
   *
   * @param topic The topic.
   * @param selector `*`, a tag, or tags joined by `||`; or `{ sql }`, a SQL92 filter the broker
   *   evaluates on each message's properties (`{ sql: "region = 'eu' AND amount > 100" }`).
   * @throws {ClientError} When the topic or selector is invalid or the consumer has started.
   * @throws {FilterExpressionError} When the SQL expression is invalid (the message names the column).
   */
  subscribe(topic: string, selector: MessageSelector = "*"): void {
    this.#member.subscribe(topic, selector);
  }

  /**
   * Sets the handler of single messages (`consumeBatchMaxSize` 1). It answers `"SUCCESS"` or
   * `"RECONSUME_LATER"`.
   *
   * @param handler The handler.
   */
  onMessage(handler: MessageHandler): void;
  /**
   * Sets the handler of message batches (`consumeBatchMaxSize` above 1). It answers `"SUCCESS"` or
   * `"RECONSUME_LATER"` for the whole batch.
   *
   * @param handler The handler.
   */
  onMessage(handler: BatchMessageHandler): void;
  onMessage(handler: MessageHandler | BatchMessageHandler): void {
    if (typeof handler !== "function") throw new ClientError("Message handler must be a function");
    this.#handler = handler;
  }

  /**
   * Answers a request message (one sent with `Producer.request`): the reply goes to the broker that
   * stored the request, which pushes it to the waiting requester.
   *
   * @param request The request, as the handler was given it.
   * @param body The reply's body.
   * @param properties The reply's user properties.
   * @returns The stored reply's offset message id.
   * @throws {ClientError} When the message is not a request, the reply is invalid, or the consumer is not running.
   * @throws {BrokerError} REPLY_NOT_DELIVERED when the requester is gone or no longer waits (it timed out).
   *
   * @example Reply from the handler
   * ```ts ignore
   * consumer.onMessage(async (message) => {
   *   await consumer.reply(message, `price of ${new TextDecoder().decode(message.body)}: 42`);
   *   return "SUCCESS";
   * });
   * ```
   */
  reply(request: MessageExt, body: Uint8Array | string, properties?: Record<string, string>): Promise<string> {
    return this.#member.reply(request, body, properties);
  }

  /**
   * Joins the group: heartbeats to the brokers of the subscribed topics, takes its share of the
   * queues and starts pulling. Topics that do not exist yet are picked up by later rebalances.
   *
   * @throws {ClientError} Without subscriptions or handler, or after `shutdown()`.
   */
  start(): Promise<void> {
    const state = this.#member.state;
    if (state === "stopped" || state === "stopping") return Promise.reject(new ClientError("Consumer is shut down"));
    if (this.#member.subscriptions.size === 0) return Promise.reject(new ClientError("Subscribe to at least one topic before start()"));
    if (this.#handler === undefined) return Promise.reject(new ClientError("Set a handler with onMessage() before start()"));
    this.#starting ??= this.#start();
    return this.#starting;
  }

  /** With `enableTrace`: what the trace dispatcher recorded, dropped (buffer full), sent and failed to send. */
  get traceStats(): TraceStats | undefined {
    return this.#member.traceStats;
  }

  /** Per-queue state (cached messages, offsets, last pull and consume time) for monitoring. */
  queueStats(): ProcessQueueStats[] {
    return [...this.#owner.queues.values()].map((pq) => pq.stats());
  }

  /** The queues this member consumes now. */
  assignedQueues(): MessageQueue[] {
    return this.#member.connected ? this.#owner.assigned : [];
  }

  /**
   * Leaves the group: stops pulling, waits for running handlers (up to `awaitTerminationMs`),
   * commits offsets, unlocks queues (orderly), unregisters and closes connections. Messages pulled
   * but not handled are delivered again later, to this group.
   */
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
    member.state = "starting";
    const client = await member.connect(() => void this.#owner.rebalance());
    if (client === undefined) return;
    this.#client = client;
    if (this.#popInvisibleMs !== undefined) {
      await this.#startPop(member);
      return;
    }
    if (member.messageModel === "CLUSTERING") member.subscribeAll(retryTopic(member.group));
    const owner = this.#owner;
    owner.open({
      gate: (pq) => this.#gate(pq),
      commitWithPull: member.messageModel === "CLUSTERING" ? (queue) => this.#offsets!.get(queue) : () => -1,
      deliver: (pq, messages) => this.#dispatch(pq, messages),
      settle: (pq) => pq.idle(this.#orderly ? ORDERLY_RELEASE_WAIT_MS : RELEASE_WAIT_MS),
      released: async (pq) => {
        if (this.#orderly && pq.locked) await client.unlock(member.group, member.clientId, [pq.queue]);
      },
      // Orderly releases wait for a running handler before unlocking; rebalancing need not wait too.
      awaitRelease: !this.#orderly,
    });
    this.#offsets = owner.offsets;
    member.state = "running";
    await member.startHeartbeats();
    await owner.balance();
    member.every(this.#persistIntervalMs, () => void owner.persist());
    if (this.#orderly) member.every(LOCK_RENEW_INTERVAL_MS, () => void this.#renewLocks());
  }

  /** POP mode: heartbeats, and one receive loop per subscribed topic (at least two). */
  async #startPop(member: GroupMember): Promise<void> {
    this.#popReceiver = new PopReceiver(member, member.consumeFromWhere as "FIRST_OFFSET" | "LAST_OFFSET");
    this.#popQueue = new ProcessQueue({ topic: "", brokerName: "", queueId: -1 });
    member.state = "running";
    await member.startHeartbeats();
    const loops = Math.max(2, member.subscriptions.size);
    for (let i = 0; i < loops; i++) void this.#popLoop();
  }

  /** POP mode: receives while fewer than `pullThresholdForQueue` popped messages are in process, backing off on errors. */
  async #popLoop(): Promise<void> {
    const member = this.#member;
    const receiver = this.#popReceiver!;
    let failures = 0;
    while (member.running) {
      const room = this.#thresholdCount - this.#popInFlight;
      if (room <= 0) {
        await sleep(FLOW_CONTROL_PAUSE_MS);
        continue;
      }
      try {
        const max = Math.min(room, this.#owner.pullBatchSize, MAX_RECEIVE);
        const answer = await receiver.receive(max, this.#popInvisibleMs!, this.#owner.suspendMs);
        failures = 0;
        // Received after shutdown began: left to come back after their invisible time.
        if (!member.running) break;
        if (answer.retryPolicy !== undefined) this.#retryPolicy = answer.retryPolicy;
        if (answer.messages.length === 0) continue;
        this.#popInFlight += answer.messages.length;
        this.#submit({ pq: this.#popQueue!, messages: answer.messages, next: 0 });
      } catch (error) {
        if (!member.running) break;
        failures++;
        if (failures === 1 || !isBrokerBusy(error)) this.#log(`Receiving for group "${member.group}" failed (attempt ${failures}): ${(error as Error).message}`);
        await sleep(backoffMs(failures));
      }
    }
  }

  /** POP mode: acks what a handler finished, gives back (with the group's back-off) what it did not. */
  #settlePopped(messages: ReceivedMessage[], from: number, to: number, status: ConsumeStatus): void {
    const receiver = this.#popReceiver!;
    this.#popInFlight -= to - from;
    for (let i = from; i < to; i++) {
      const message = messages[i]!;
      const settled = status === "SUCCESS"
        ? receiver.ack(message.receiptHandle)
        : receiver.changeInvisibleTime(message.receiptHandle, retryBackoffMs(this.#retryPolicy, message.deliveryAttempt));
      this.#settling.add(settled);
      settled.catch((error) => {
        this.#log(`${status === "SUCCESS" ? "Acking" : "Giving back"} message ${message.msgId} of group "${this.#member.group}" failed: ${(error as Error).message}`);
      }).finally(() => this.#settling.delete(settled));
    }
  }

  /** Whether a queue may be pulled now (orderly: once locked; every mode: below the flow-control thresholds). */
  #gate(pq: ProcessQueue): true | Promise<unknown> {
    // Orderly: lock before reading the offset, so the previous owner has committed and let go.
    if (this.#orderly && !this.#lockTrusted(pq)) {
      return this.#lockQueue(pq).then(() => this.#lockTrusted(pq) ? undefined : sleep(LOCK_RETRY_MS));
    }
    if (pq.count >= this.#thresholdCount || pq.bytes >= this.#thresholdBytes) return pq.room(this.#thresholdCount, this.#thresholdBytes, FLOW_CONTROL_PAUSE_MS);
    return true;
  }

  #live(pq: ProcessQueue): boolean {
    return this.#owner.live(pq);
  }

  #dispatch(pq: ProcessQueue, messages: MessageExt[]): void {
    if (this.#orderly) {
      this.#scheduleOrderly(pq);
      return;
    }
    this.#submit({ pq, messages, next: 0 });
  }

  #scheduleOrderly(pq: ProcessQueue): void {
    if (pq.consuming || pq.dropped) return;
    pq.consuming = true;
    this.#submit({ pq, messages: undefined, next: 0 });
  }

  /**
   * Queues a task. Handlers start after this task, so the pull request that follows a pulled
   * batch leaves first and the broker reads the next batch while the handlers run.
   */
  #submit(task: ConsumeTask): void {
    this.#tasks.push(task);
    if (this.#pumpScheduled || this.#running >= this.#consumeThreads) return;
    this.#pumpScheduled = true;
    afterThisTask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /**
   * Starts handler workers, up to `consumeThreads`, while tasks wait. A worker runs handlers one
   * after another; a handler that answers synchronously lets it go straight on to the next message,
   * one that returns a promise parks it, and the loop here starts another worker for the next one.
   */
  #pump(): void {
    while (this.#running < this.#consumeThreads && this.#taskHead < this.#tasks.length) {
      this.#running++;
      this.#worker().catch((error) => this.#log(`Consume task failed: ${(error as Error).message}`)).finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }

  /**
   * The task of the next piece of work, or undefined: an orderly task, or a concurrent task whose
   * messages `#takenFrom` to `#takenTo` are now this caller's (read them before anything else runs;
   * fields rather than a result object, which would be allocated once a message).
   */
  #take(): ConsumeTask | undefined {
    while (this.#taskHead < this.#tasks.length) {
      const task = this.#tasks[this.#taskHead]!;
      const messages = task.messages;
      if (messages === undefined || task.pq.dropped) {
        this.#advanceTasks();
        if (task.pq.dropped) {
          task.pq.consuming = false;
          continue;
        }
      } else {
        const from = task.next;
        const to = Math.min(from + this.#batchSize, messages.length);
        task.next = to;
        if (to >= messages.length) this.#advanceTasks();
        this.#takenFrom = from;
        this.#takenTo = to;
      }
      return task;
    }
    return undefined;
  }

  #advanceTasks(): void {
    this.#taskHead++;
    if (this.#taskHead === this.#tasks.length) {
      this.#tasks = [];
      this.#taskHead = 0;
    } else if (this.#taskHead > 1024 && this.#taskHead * 2 > this.#tasks.length) {
      this.#tasks = this.#tasks.slice(this.#taskHead);
      this.#taskHead = 0;
    }
  }

  async #worker(): Promise<void> {
    // The queue whose handlers this worker is running: counted in flight from its first message
    // until the worker moves to another queue or stops (one count for a run of messages).
    let current: ProcessQueue | undefined;
    try {
      for (let work = this.#take(); work !== undefined; work = this.#take()) {
        const from = this.#takenFrom;
        const to = this.#takenTo;
        const pq = work.pq;
        if (pq !== current) {
          current?.end();
          current = pq;
          pq.begin();
        }
        try {
          if (work.messages === undefined) {
            this.#commitFinished();
            await this.#consumeOrderly(pq);
          } else {
            const pending = this.#consumeConcurrently(pq, work.messages, from, to);
            if (pending !== undefined) await pending;
          }
        } catch (error) {
          this.#log(`Consume task failed: ${(error as Error).message}`);
        }
      }
    } finally {
      this.#commitFinished();
      current?.end();
    }
  }

  /**
   * Runs the handler. Returns the status, or a promise of it when the handler returned one (so a
   * synchronous handler costs no promise).
   */
  #handle(arg: MessageExt | MessageExt[]): ConsumeStatus | Promise<ConsumeStatus> {
    let result: unknown;
    try {
      result = (this.#handler as (arg: MessageExt | MessageExt[]) => unknown)(arg);
    } catch {
      return "RECONSUME_LATER";
    }
    if (result === "SUCCESS") return "SUCCESS";
    if (result !== null && typeof result === "object" && typeof (result as PromiseLike<unknown>).then === "function") {
      this.#commitFinished();
      return Promise.resolve(result).then((status) => this.#status(status), () => "RECONSUME_LATER" as const);
    }
    return this.#status(result);
  }

  #status(status: unknown): ConsumeStatus {
    if (status === "SUCCESS") return "SUCCESS";
    if (status !== "RECONSUME_LATER") this.#log(`Handler of group "${this.#member.group}" answered ${String(status)}; taken as RECONSUME_LATER`);
    return "RECONSUME_LATER";
  }

  /** Marks messages done; the queue's offset moves up to the lowest message still in process. */
  #finish(pq: ProcessQueue, messages: readonly MessageExt[]): void {
    const offset = pq.remove(messages);
    if (!pq.dropped && offset >= 0) this.#offsets!.update(pq.queue, offset, true);
  }

  /** Moves the offsets of queues with finished messages into the offset store. */
  #commitFinished(): void {
    if (this.#finished.size === 0) return;
    for (const pq of this.#finished) {
      const offset = pq.commitOffset;
      if (!pq.dropped && offset >= 0) this.#offsets!.update(pq.queue, offset, true);
    }
    this.#finished.clear();
  }

  /** Handles messages `from` to `to` of `all`; returns a promise only when there is something to wait for. */
  #consumeConcurrently(pq: ProcessQueue, all: MessageExt[], from: number, to: number): Promise<void> | undefined {
    const tracer = this.#member.tracer;
    if (tracer !== undefined) return this.#consumeTraced(tracer, pq, all, from, to);
    const result = this.#handle(this.#batchSize > 1 ? all.slice(from, to) : all[from]!);
    if (typeof result !== "string") return result.then((status) => this.#afterConsume(pq, all, from, to, status));
    return this.#afterConsume(pq, all, from, to, result);
  }

  /** `#consumeConcurrently` with `enableTrace`: the delivery and its outcome are recorded. */
  #consumeTraced(tracer: ConsumeTracer, pq: ProcessQueue, all: MessageExt[], from: number, to: number): Promise<void> | undefined {
    const batch = all.slice(from, to);
    const trace = tracer.before(batch);
    const result = this.#handle(this.#batchSize > 1 ? batch : batch[0]!);
    const done = (status: ConsumeStatus) => {
      tracer.after(trace, status === "SUCCESS");
      return this.#afterConsume(pq, all, from, to, status);
    };
    return typeof result === "string" ? done(result) : result.then(done);
  }

  #afterConsume(pq: ProcessQueue, all: MessageExt[], from: number, to: number, status: ConsumeStatus): Promise<void> | undefined {
    if (pq === this.#popQueue) {
      this.#settlePopped(all as ReceivedMessage[], from, to, status);
      return undefined;
    }
    if (status === "SUCCESS") {
      pq.removeRange(all, from, to);
      this.#finished.add(pq);
      return undefined;
    }
    return this.#consumeFailed(pq, all.slice(from, to));
  }

  async #consumeFailed(pq: ProcessQueue, messages: MessageExt[]): Promise<void> {
    if (this.#member.messageModel === "BROADCASTING") {
      // Broadcasting groups have no retry topic: a failed message is dropped, as in RocketMQ.
      this.#log(`Broadcast message ${messages.map((m) => m.msgId).join(", ")} failed and is dropped`);
      this.#finish(pq, messages);
      return;
    }
    const sentBack: MessageExt[] = [];
    const failed: MessageExt[] = [];
    await Promise.all(messages.map(async (message) => {
      try {
        await this.#client!.sendBack(this.#member.group, pq.queue, message, 0, this.#maxReconsumeTimes);
        sentBack.push(message);
      } catch (error) {
        this.#log(`Sending message ${message.msgId} back to group "${this.#member.group}" failed: ${(error as Error).message}`);
        failed.push(message);
      }
    }));
    this.#finish(pq, sentBack);
    if (failed.length === 0) return;
    for (const message of failed) message.reconsumeTimes++;
    this.#later(LOCAL_RETRY_DELAY_MS, () => this.#submit({ pq, messages: failed, next: 0 }));
  }

  async #consumeOrderly(pq: ProcessQueue): Promise<void> {
    const messages = this.#live(pq) && this.#lockTrusted(pq) ? pq.peek(this.#batchSize) : [];
    if (messages.length === 0) {
      // Nothing to do, or the lock is gone: the pull loop relocks and schedules again.
      pq.consuming = false;
      return;
    }
    const trace = this.#member.tracer?.before(messages);
    const status = await this.#handle(this.#batchSize > 1 ? messages : messages[0]!);
    if (trace !== undefined) this.#member.tracer!.after(trace, status === "SUCCESS");
    if (status === "SUCCESS") {
      this.#finish(pq, messages);
      this.#continueOrderly(pq, 0);
      return;
    }
    let suspend = false;
    for (const message of messages) {
      if (message.reconsumeTimes >= this.#maxReconsumeTimes) {
        try {
          await this.#client!.sendBack(this.#member.group, pq.queue, message, -1, this.#maxReconsumeTimes);
          this.#finish(pq, [message]);
          continue;
        } catch (error) {
          this.#log(`Moving message ${message.msgId} to the dead-letter topic failed: ${(error as Error).message}`);
        }
      } else {
        message.reconsumeTimes++;
      }
      suspend = true;
    }
    this.#continueOrderly(pq, suspend ? this.#suspendQueueMs : 0);
  }

  /** Orderly mode: runs the queue's next task after a pause, or lets the next pull schedule it. */
  #continueOrderly(pq: ProcessQueue, delayMs: number): void {
    if (!this.#live(pq) || pq.count === 0) {
      pq.consuming = false;
      return;
    }
    if (delayMs === 0) this.#submit({ pq, messages: undefined, next: 0 });
    else this.#later(delayMs, () => this.#submit({ pq, messages: undefined, next: 0 }));
  }

  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#retryTimers.delete(timer);
      if (this.#member.running) fn();
    }, ms);
    this.#retryTimers.add(timer);
  }

  /** The queue's master now, by the cached route. */
  #masterOf(pq: ProcessQueue): string | undefined {
    return this.#client?.routes.brokerAddress(pq.queue.brokerName, true);
  }

  /**
   * Orderly: the lock was taken recently, at the queue's master now. After a failover the new
   * master holds no lock of this member: it is taken there again before the queue is pulled or consumed.
   */
  #lockTrusted(pq: ProcessQueue): boolean {
    return pq.locked && Date.now() - pq.lastLockTime < LOCK_TRUST_MS && pq.lockAddress === this.#masterOf(pq);
  }

  async #lockQueue(pq: ProcessQueue): Promise<void> {
    const at = this.#masterOf(pq);
    const locked = await this.#client!.lock(this.#member.group, this.#member.clientId, [pq.queue]);
    if (locked.has(messageQueueKey(pq.queue)) && !pq.dropped) {
      pq.locked = true;
      pq.lastLockTime = Date.now();
      pq.lockAddress = at;
      if (pq.count > 0) this.#scheduleOrderly(pq);
    }
  }

  async #renewLocks(): Promise<void> {
    if (!this.#member.running) return;
    const pqs = [...this.#owner.queues.values()];
    if (pqs.length === 0) return;
    const at = pqs.map((pq) => this.#masterOf(pq));
    const locked = await this.#client!.lock(this.#member.group, this.#member.clientId, pqs.map((pq) => pq.queue));
    const now = Date.now();
    for (const [i, pq] of pqs.entries()) {
      if (locked.has(messageQueueKey(pq.queue))) {
        pq.locked = true;
        pq.lastLockTime = now;
        pq.lockAddress = at[i];
        if (pq.count > 0) this.#scheduleOrderly(pq);
      } else {
        pq.locked = false;
      }
    }
  }

  async #shutdown(): Promise<void> {
    await this.#starting?.catch(() => {});
    const member = this.#member;
    member.state = "stopping";
    member.stopTimers();
    for (const timer of this.#retryTimers) clearTimeout(timer);
    this.#retryTimers.clear();
    const client = this.#client;
    if (client === undefined) {
      member.state = "stopped";
      return;
    }
    const popQueue = this.#popQueue;
    if (popQueue !== undefined) {
      // Popped messages not handled yet come back after their invisible time.
      popQueue.drop();
      await popQueue.idle(this.#awaitTerminationMs);
      await Promise.allSettled([...this.#settling]);
      await member.leave(true);
      member.state = "stopped";
      return;
    }
    const pqs = await this.#owner.stop((dropped) => Promise.all(dropped.map((pq) => pq.idle(this.#awaitTerminationMs))));
    const locked = pqs.filter((pq) => pq.locked).map((pq) => pq.queue);
    if (this.#orderly && locked.length > 0) await client.unlock(member.group, member.clientId, locked);
    await member.leave(true);
    member.state = "stopped";
  }
}
