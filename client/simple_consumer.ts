/**
 * The simple consumer (RocketMQ 5's SimpleConsumer): message-level consumption over POP. Members
 * own no queues, so a group may have more of them than its topics have queues, and a member that
 * hangs holds nothing but the messages it received.
 *
 * @module
 */
import { ClientError } from "../core/errors.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import { intOption } from "./_consumer_options.ts";
import { GroupMember } from "./_group_member.ts";
import type { ConsumeTrace, TraceOptions } from "./_tracer.ts";
import type { TraceStats } from "./_trace_dispatcher.ts";
import type { ReceiptHandle, ReceivedMessage } from "./_pop.ts";
import { checkHandle, checkInvisibleTime, MAX_RECEIVE, PopReceiver } from "./_pop_receiver.ts";
import type { MessageSelector } from "./_subscription.ts";

/** Options of a `SimpleConsumer`. */
export interface SimpleConsumerOptions extends TraceOptions {
  /** NameServer addresses (`host:port`). */
  nameServer: string | readonly string[];
  /** The consumer group. */
  group: string;
  /** Opens sockets. @default the runtime's dialer */
  dial?: Dialer;
  /** Long poll: how long `receive()` waits on a broker for messages when there are none (0 answers at once). @default 20000 */
  awaitDurationMs?: number;
  /** Where a queue the group never consumed starts. @default "LAST_OFFSET" */
  consumeFromWhere?: "LAST_OFFSET" | "FIRST_OFFSET";
  /** How often the member tells brokers it is alive. @default 30000 */
  heartbeatIntervalMs?: number;
  /** This member's id in the group. @default a random id */
  clientId?: string;
  /** Timeout of requests other than the long poll. @default 3000 */
  requestTimeoutMs?: number;
  /** How often routes are fetched again. @default 30000 */
  pollNameServerIntervalMs?: number;
  /** Where problems are reported. @default console.warn */
  log?: (line: string) => void;
}

/**
 * Receives messages of its subscriptions with `receive()`; each stays invisible to the group's
 * other members for the invisible time asked for. `ack()` settles a message; one neither acked
 * nor extended (`changeInvisibleDuration`) becomes visible again when its time runs out and is
 * delivered again, its `deliveryAttempt` one higher, until the group's `retryMaxTimes` sends it to
 * the dead-letter topic. In a FIFO group (`consumeMessageOrderly`), the messages of one message
 * group come one at a time, in order: the next only once the previous is acked.
 *
 * @example Receive, handle, ack
 * ```ts ignore
 * import { SimpleConsumer } from "./simple_consumer.ts";
 * const consumer = new SimpleConsumer({ nameServer: "127.0.0.1:9876", group: "billing" });
 * consumer.subscribe("orders", "created || paid");
 * await consumer.start();
 * for (const message of await consumer.receive(16, 30_000)) {
 *   await bill(message);
 *   await consumer.ack(message.receiptHandle);
 * }
 * await consumer.shutdown();
 * ```
 */
export class SimpleConsumer {
  readonly #member: GroupMember;
  readonly #receiver: PopReceiver;
  readonly #awaitDurationMs: number;
  /** With `enableTrace`: each received message's delivery record, until it is acked. */
  readonly #traces = new WeakMap<ReceiptHandle, ConsumeTrace>();
  #starting: Promise<void> | undefined;
  #stopping: Promise<void> | undefined;

  /**
   * Creates a consumer; subscribe, then `start()`.
   *
   * @param options NameServers, group and tuning.
   * @throws {ClientError} When an option is invalid.
   */
  constructor(options: SimpleConsumerOptions) {
    const from = options.consumeFromWhere ?? "LAST_OFFSET";
    if (from !== "LAST_OFFSET" && from !== "FIRST_OFFSET") throw new ClientError(`consumeFromWhere "${from}" must be "LAST_OFFSET" or "FIRST_OFFSET"`);
    this.#member = new GroupMember({ ...options, consumeFromWhere: from }, "POP");
    this.#receiver = new PopReceiver(this.#member, from);
    this.#awaitDurationMs = intOption("awaitDurationMs", options.awaitDurationMs ?? 20_000, 0, 120_000);
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
   * The broker filters (by tag, exactly, or by SQL92): a received message always matches.
   *
   * @param topic The topic.
   * @param selector `*`, a tag, or tags joined by `||`; or `{ sql }`, a SQL92 filter on each
   *   message's properties (`{ sql: "region = 'eu' AND amount > 100" }`).
   * @throws {ClientError} When the topic or selector is invalid or the consumer has started.
   * @throws {FilterExpressionError} When the SQL expression is invalid (the message names the column).
   */
  subscribe(topic: string, selector: MessageSelector = "*"): void {
    this.#member.subscribe(topic, selector);
  }

  /** With `enableTrace`: what the trace dispatcher recorded, dropped (buffer full), sent and failed to send. */
  get traceStats(): TraceStats | undefined {
    return this.#member.traceStats;
  }

  /**
   * Joins the group (heartbeats to the brokers of the subscribed topics).
   *
   * @throws {ClientError} Without subscriptions, or after `shutdown()`.
   */
  start(): Promise<void> {
    const state = this.#member.state;
    if (state === "stopped" || state === "stopping") return Promise.reject(new ClientError("Consumer is shut down"));
    if (this.#member.subscriptions.size === 0) return Promise.reject(new ClientError("Subscribe to at least one topic before start()"));
    this.#starting ??= (async () => {
      const member = this.#member;
      member.state = "starting";
      if (await member.connect() === undefined) return;
      member.state = "running";
      await member.startHeartbeats();
    })();
    return this.#starting;
  }

  /**
   * Receives messages of the next subscribed topic and broker in turn, waiting up to
   * `awaitDurationMs` for some. Each stays invisible to the group's other receives for
   * `invisibleDurationMs`: ack it within that time, or extend it.
   *
   * @param maxMessageNum Most messages (1 to 32). @default 16
   * @param invisibleDurationMs How long they stay invisible (100 ms to 12 hours). @default 30000
   * @returns The messages, each with its `receiptHandle` and `deliveryAttempt`; empty when none came.
   * @throws {ClientError} When an argument is invalid or the consumer is not running.
   * @throws {BrokerError} When the broker refuses the receive (unknown topic, no permission…); code
   *   `SYSTEM_BUSY` when it has no long-polling slot: receive again after a pause.
   */
  async receive(maxMessageNum = 16, invisibleDurationMs = 30_000): Promise<ReceivedMessage[]> {
    this.#checkRunning();
    intOption("maxMessageNum", maxMessageNum, 1, MAX_RECEIVE);
    checkInvisibleTime("invisibleDurationMs", invisibleDurationMs);
    const answer = await this.#receiver.receive(maxMessageNum, invisibleDurationMs, this.#awaitDurationMs);
    const tracer = this.#member.tracer;
    if (tracer !== undefined) for (const m of answer.messages) this.#traces.set(m.receiptHandle, tracer.before([m]));
    return answer.messages;
  }

  /**
   * Settles a received message: it is not delivered again.
   *
   * @param handle Its `receiptHandle` (the latest, after `changeInvisibleDuration`).
   * @throws {BrokerError} `INVALID_RECEIPT_HANDLE` when the broker did not issue the handle for this
   *   group; `RECEIPT_HANDLE_EXPIRED` when it was acked before, its invisible time ran out (it is or
   *   will be delivered again) or a later handle replaced it.
   */
  async ack(handle: ReceiptHandle): Promise<void> {
    this.#checkRunning();
    await this.#receiver.ack(checkHandle(handle));
    const trace = this.#traces.get(handle);
    if (trace !== undefined) this.#member.tracer?.after(trace, true);
  }

  /**
   * Keeps a received message invisible for `invisibleDurationMs` from now (longer work, or sooner
   * redelivery). The handle passed stops working: use the one returned.
   *
   * @param handle Its current `receiptHandle`.
   * @param invisibleDurationMs The new invisible time (100 ms to 12 hours).
   * @returns The new handle.
   * @throws {ClientError} When the time is invalid.
   * @throws {BrokerError} As `ack`.
   */
  async changeInvisibleDuration(handle: ReceiptHandle, invisibleDurationMs: number): Promise<ReceiptHandle> {
    this.#checkRunning();
    checkInvisibleTime("invisibleDurationMs", invisibleDurationMs);
    const changed = (await this.#receiver.changeInvisibleTime(checkHandle(handle), invisibleDurationMs)).handle;
    const trace = this.#traces.get(handle);
    if (trace !== undefined) this.#traces.set(changed, trace);
    return changed;
  }

  /**
   * Answers a request message (one sent with `Producer.request`): the reply goes to the broker that
   * stored the request, which pushes it to the waiting requester. Ack the request as usual.
   *
   * @param request The request, as `receive()` returned it.
   * @param body The reply's body.
   * @param properties The reply's user properties.
   * @returns The stored reply's offset message id.
   * @throws {ClientError} When the message is not a request, the reply is invalid, or the consumer is not running.
   * @throws {BrokerError} REPLY_NOT_DELIVERED when the requester is gone or no longer waits (it timed out).
   */
  reply(request: ReceivedMessage, body: Uint8Array | string, properties?: Record<string, string>): Promise<string> {
    return this.#member.reply(request, body, properties);
  }

  /** Leaves the group and closes connections. Messages received and not acked come back after their invisible time. */
  shutdown(): Promise<void> {
    const member = this.#member;
    if (member.state === "created") {
      member.state = "stopped";
      return Promise.resolve();
    }
    this.#stopping ??= (async () => {
      await this.#starting?.catch(() => {});
      member.state = "stopping";
      await member.leave(member.connected);
      member.state = "stopped";
    })();
    return this.#stopping;
  }

  #checkRunning(): void {
    const state = this.#member.state;
    if (state === "running") return;
    throw new ClientError(state === "created" || state === "starting" ? "Consumer is not started: call start() first" : "Consumer is shut down");
  }
}
