/**
 * The load tool's engine, shared by `rmq bench` and `bench/load.ts`. Three workloads, each through
 * the public clients:
 *
 * - `produce`: sends in sync, async, oneway or batch mode, then checks what the broker stored;
 * - `consume`: fills a backlog, then reads it back with a `PushConsumer` (clustering, one member),
 *   with `PullConsumer` loops (one per queue), with `SimpleConsumer` receive-and-ack loops (POP),
 *   with a `PushConsumer` over POP or with a `LitePullConsumer`'s `poll()` loop;
 * - `e2e`: sends at a steady rate while a `PushConsumer` consumes, timing each message from its
 *   send to its handler.
 *
 * Every report adds up: `sent = ok + failed`, and for consume and e2e, `consumed` counts distinct
 * messages handed over (redeliveries are `duplicates`).
 *
 * @module
 */
import { LitePullConsumer } from "../client/lite_pull_consumer.ts";
import { Producer } from "../client/producer.ts";
import { PullConsumer } from "../client/pull_consumer.ts";
import { PushConsumer } from "../client/push_consumer.ts";
import { SimpleConsumer } from "../client/simple_consumer.ts";
import type { MessageExt } from "../core/model/message.ts";
import type { MessageQueue } from "../core/model/message_queue.ts";
import type { Dialer } from "../core/remoting/transport.ts";
import { errorKind, LatencyRecorder, type LatencySummary, meterProcess, meterSelf, type ResourceUse } from "./_load_stats.ts";

/** What the tool can measure. */
export const WORKLOADS = ["produce", "consume", "e2e"] as const;
/** One of `WORKLOADS`. */
export type Workload = typeof WORKLOADS[number];
/** The ways of sending `produce` measures. */
export const LOAD_MODES = ["sync", "async", "oneway", "batch"] as const;
/** One way of sending. */
export type LoadMode = typeof LOAD_MODES[number];
/** The ways of consuming `consume` measures. */
export const CONSUME_MODES = ["push", "pull", "pop", "push-pop", "lite-pull"] as const;
/** One way of consuming. */
export type ConsumeMode = typeof CONSUME_MODES[number];

/** What a run sends and how. */
export interface LoadOptions {
  /** NameServer addresses. */
  nameServers: string[];
  /** The runtime's dialer. @default the client's default */
  dial?: Dialer;
  /** Topic prefix; each mode uses `<topic>_<mode>`. */
  topic: string;
  /** Messages per mode (produce stops at whichever of count and duration comes first). */
  count: number;
  /** Produce and e2e: stop sending after this long. */
  durationMs?: number;
  /** Body bytes. */
  size: number;
  /** Concurrent senders for sync and batch. */
  concurrency: number;
  /** Sends in flight for async, and while filling a backlog or sending at a rate. */
  inflight: number;
  /** Messages per batch send, per pull of the pull loops, and per POP receive (at most 32). */
  batch: number;
  /** Messages per pull of the push and lite pull consumers; undefined: their default, as a new user gets it. */
  pullBatch?: number;
  /** Queues of each topic the run creates. */
  queues: number;
  /** e2e: messages a second. */
  rate: number;
  /**
   * Messages sent (produce, e2e) or filled and read (consume) the same way on a topic of their own
   * before the measured run, not counted: the runtimes compile hot code after it has run a while.
   * @default 0
   */
  warmup?: number;
  /** A broker process to meter through `/proc`. */
  brokerPid?: number;
  /** Called about ten times a second while a mode runs. */
  onProgress?: (progress: LoadProgress) => void;
}

/** Where a running mode is. */
export interface LoadProgress {
  /** `fill` while a backlog is written, else the mode. */
  phase: string;
  /** Messages done: sent (produce, fill) or consumed (consume, e2e). */
  done: number;
  failed: number;
  /** The count aimed at, when known. */
  total: number | undefined;
  elapsedMs: number;
}

/** The outcome of one mode. */
export interface LoadReport {
  workload: Workload;
  mode: LoadMode | ConsumeMode | "e2e";
  /** The client's runtime. */
  runtime: string;
  topic: string;
  /** Messages sent (measured sends; for consume, the backlog's). */
  sent: number;
  /** Acknowledged (oneway: handed to the connection). */
  ok: number;
  failed: number;
  /** `ok / sent`. */
  successRate: number;
  /** Distinct messages consumed (consume, e2e). */
  consumed?: number;
  /** Messages handed over more than once (consume, e2e). */
  duplicates?: number;
  /** What the broker holds for the topic after the run, warm-up excluded (produce, consume). */
  stored?: number;
  /** Measured span. */
  seconds: number;
  /** Produce: acknowledged a second; consume and e2e: consumed a second. */
  msgsPerSec: number;
  mbPerSec: number;
  /** Produce: send to answer (batch: per batch); pull: per pull; e2e: send to handler; push: none. */
  latencyMs: LatencySummary | null;
  /** Push consume: from `start()` to the first message. */
  firstMessageMs?: number;
  /** Failures by kind (`RequestTimeoutError`, `BrokerError:14`, …). */
  errors: Record<string, number>;
  /** This process over the measured span. */
  client: ResourceUse;
  /** The broker process over the measured span, when its PID is known. */
  broker: ResourceUse | null;
}

const STALL_MS = 10_000;
const runtimeName = () => ("Deno" in globalThis ? "deno" : "Bun" in globalThis ? "bun" : "node");
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Milliseconds on a clock shared by producer and consumer of this process, below 1 ms resolution. */
const nowMs = () => performance.timeOrigin + performance.now();

/** What the send loops count: acknowledged sends, their latencies, and failures by kind. */
export interface SendTally {
  ok: number;
  latency: LatencyRecorder;
  /** Counts `n` failed messages of one error. */
  fail(error: unknown, n?: number): void;
}

/** Counters of one mode, with progress reports ticking while it runs. */
class Tally implements SendTally {
  ok = 0;
  failed = 0;
  consumed = 0;
  readonly errors: Record<string, number> = {};
  latency = new LatencyRecorder();
  phase: string;
  #ticker: ReturnType<typeof setInterval> | undefined;
  #started = performance.now();

  constructor(phase: string, readonly options: LoadOptions, readonly total: number | undefined, readonly consuming = false) {
    this.phase = phase;
    if (options.onProgress) this.#ticker = setInterval(() => this.report(), 100);
  }

  fail(error: unknown, n = 1): void {
    this.failed += n;
    const kind = errorKind(error);
    this.errors[kind] = (this.errors[kind] ?? 0) + n;
  }

  report(): void {
    const done = this.consuming && this.phase !== "fill" ? this.consumed : this.ok + this.failed;
    this.options.onProgress?.({ phase: this.phase, done, failed: this.failed, total: this.total, elapsedMs: performance.now() - this.#started });
  }

  /** Moves on to the measured phase, dropping the latencies taken so far. */
  restart(phase: string): void {
    this.report();
    this.phase = phase;
    this.latency = new LatencyRecorder();
    this.#started = performance.now();
  }

  stop(): void {
    clearInterval(this.#ticker);
    this.report();
  }
}

/** Meters client and broker over a span. */
function meters(options: LoadOptions): () => { client: ResourceUse; broker: ResourceUse | null } {
  const client = meterSelf();
  const broker = options.brokerPid === undefined ? undefined : meterProcess(options.brokerPid);
  return () => ({ client: client.stop(), broker: broker?.stop() ?? null });
}

function newProducer(options: LoadOptions): Producer {
  return new Producer({
    nameServer: options.nameServers,
    dial: options.dial,
    defaultTopicQueueNums: options.queues,
    maxInFlight: Math.max(options.inflight, options.concurrency * options.batch, 1),
  });
}

/** Options of a consumer of a group of its own (`<topic>_group`) that reads `topic` from its first offset, quietly. */
function freshGroup(options: LoadOptions, topic: string) {
  return { nameServer: options.nameServers, dial: options.dial, group: `${topic}_group`, consumeFromWhere: "FIRST_OFFSET" as const, log: () => {} };
}

/** A push consumer of a group of its own (one member) reading `topic` from its first offset, over POP when asked. */
function newPushConsumer(options: LoadOptions, topic: string, pop = false): PushConsumer {
  return new PushConsumer({
    ...freshGroup(options, topic),
    ...(pop ? { pullBatchSize: Math.min(options.batch, POP_BATCH) } : options.pullBatch === undefined ? {} : { pullBatchSize: options.pullBatch }),
    ...(pop ? { pop: true } : {}),
  });
}

/** Most messages one POP receive returns. */
const POP_BATCH = 32;

/** Queues of a topic whose route may not have reached the NameServer yet. */
async function topicQueues(consumer: PullConsumer, topic: string): Promise<MessageQueue[]> {
  for (let attempt = 0;; attempt++) {
    try {
      return await consumer.fetchMessageQueues(topic);
    } catch (error) {
      if (attempt >= 50) throw error;
      await sleep(100);
    }
  }
}

/** Messages the broker holds for a topic: the sum of its queues' max offsets. */
async function storedCount(options: LoadOptions, topic: string): Promise<number> {
  const consumer = new PullConsumer({ nameServer: options.nameServers, group: "bench_check", dial: options.dial });
  await consumer.start();
  try {
    let total = 0;
    for (const queue of await topicQueues(consumer, topic)) total += await consumer.maxOffset(queue);
    return total;
  } finally {
    await consumer.shutdown();
  }
}

/**
 * Sends `count` messages (or until the deadline) with at most `inflight` outstanding, timing each
 * from its call to its answer. Any client's send fits, so `bench/compare_*.ts` drive their peers
 * the same way.
 *
 * @param send Sends one message; settles with its acknowledgement.
 * @returns When every send has settled.
 */
export function sendPipelined(
  tally: SendTally,
  count: number,
  inflight: number,
  deadline: number,
  send: () => Promise<unknown>,
): Promise<void> {
  // Callbacks rather than `inflight` awaiting loops: the tool's own cost per send stays small
  // next to the client's, so the figure is the client's and the broker's.
  return new Promise((resolve) => {
    let started = 0;
    let outstanding = 0;
    const launch = (): void => {
      while (outstanding < inflight && started < count) {
        const t0 = performance.now();
        if (t0 >= deadline) break;
        started++;
        outstanding++;
        send().then(
          () => {
            tally.ok++;
            tally.latency.add(performance.now() - t0);
            settled();
          },
          (error: unknown) => {
            tally.fail(error);
            settled();
          },
        );
      }
      if (outstanding === 0) resolve();
    };
    const settled = (): void => {
      outstanding--;
      launch();
    };
    launch();
  });
}

function finish(
  tally: Tally,
  base: Pick<LoadReport, "workload" | "mode" | "topic">,
  options: LoadOptions,
  seconds: number,
  throughput: number,
  usage: { client: ResourceUse; broker: ResourceUse | null },
  extra: Partial<LoadReport> = {},
): LoadReport {
  const sent = tally.ok + tally.failed;
  return {
    ...base,
    runtime: runtimeName(),
    sent,
    ok: tally.ok,
    failed: tally.failed,
    successRate: sent === 0 ? 0 : tally.ok / sent,
    ...extra,
    seconds,
    msgsPerSec: throughput / seconds,
    mbPerSec: (throughput * options.size) / seconds / 1024 / 1024,
    latencyMs: tally.latency.summary(),
    errors: tally.errors,
    ...usage,
  };
}

/**
 * Sends `count` messages in batches of `batch` (the last one smaller) from `senders` loops, each
 * awaiting its batch's answer, timed per batch; a failed batch counts all its messages failed.
 *
 * @param send Sends `n` messages as one batch.
 * @returns When every loop is done.
 */
export async function sendBatches(
  tally: SendTally,
  count: number,
  batch: number,
  senders: number,
  deadline: number,
  send: (n: number) => Promise<unknown>,
): Promise<void> {
  const batches = Math.ceil(count / batch);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(senders, batches) }, async () => {
    while (next < batches && performance.now() < deadline) {
      const n = Math.min(batch, count - next * batch);
      next++;
      const t0 = performance.now();
      try {
        await send(n);
        tally.ok += n;
        tally.latency.add(performance.now() - t0);
      } catch (error) {
        tally.fail(error, n);
      }
    }
  }));
}

/** Sends `count` messages to `topic` in one of the produce modes, counting them in `tally`. */
async function sendMode(
  mode: LoadMode,
  producer: Producer,
  tally: Tally,
  count: number,
  deadline: number,
  topic: string,
  body: Uint8Array,
  options: LoadOptions,
): Promise<void> {
  if (mode === "sync" || mode === "async") {
    await sendPipelined(tally, count, mode === "sync" ? options.concurrency : options.inflight, deadline, () => producer.send({ topic, body }));
  } else if (mode === "oneway") {
    for (let i = 0; i < count && performance.now() < deadline; i++) {
      try {
        await producer.sendOneway({ topic, body });
        tally.ok++;
      } catch (error) {
        tally.fail(error);
      }
    }
  } else {
    await sendBatches(tally, count, options.batch, options.concurrency, deadline, (n) => producer.sendBatch(Array.from({ length: n }, () => ({ topic, body }))));
  }
}

/**
 * Runs one produce mode on topic `<topic>_<mode>`: `--concurrency` awaiting senders (sync),
 * `--inflight` outstanding sends (async), one sender that does not wait (oneway) or
 * `--concurrency` senders of `--batch` messages a request (batch). One send first (routes, topic
 * creation, connection) and `--warmup` messages to another topic are not counted.
 *
 * @param mode How to send.
 * @param options What to send and where.
 * @returns The report, with what the broker stored.
 */
export async function runLoad(mode: LoadMode, options: LoadOptions): Promise<LoadReport> {
  const topic = `${options.topic}_${mode}`;
  const producer = newProducer(options);
  await producer.start();
  const body = new Uint8Array(options.size).fill(0x61);
  const count = options.count;
  const tally = new Tally(mode, options, options.durationMs === undefined ? count : undefined);
  let started = 0;
  let usage;
  try {
    await producer.send({ topic, body });
    if ((options.warmup ?? 0) > 0) {
      const warm = new Tally(`${mode} warm-up`, options, options.warmup);
      try {
        await sendMode(mode, producer, warm, options.warmup!, Infinity, `${topic}_warmup`, body, options);
      } finally {
        warm.stop();
      }
    }
    const deadline = options.durationMs === undefined ? Infinity : performance.now() + options.durationMs;
    const measure = meters(options);
    started = performance.now();
    await sendMode(mode, producer, tally, count, deadline, topic, body, options);
    usage = measure();
  } finally {
    tally.stop();
    await producer.shutdown();
  }
  const seconds = (performance.now() - started) / 1000;
  // Oneway sends get no answer: wait until the stored count stops moving.
  let stored = (await storedCount(options, topic)) - 1;
  for (let still = 0; stored < tally.ok && still < 20;) {
    await sleep(100);
    const now = (await storedCount(options, topic)) - 1;
    still = now === stored ? still + 1 : 0;
    stored = now;
  }
  return finish(tally, { workload: "produce", mode, topic }, options, seconds, tally.ok, usage, { stored });
}

/** Counts distinct messages by queue and offset (one growable bitmap per queue: offsets are dense). */
class Seen {
  readonly #queues: Uint8Array[] = [];
  duplicates = 0;

  /** @returns Whether the message is new. */
  add(message: MessageExt): boolean {
    const offset = message.queueOffset;
    let bits = this.#queues[message.queueId];
    if (bits === undefined || offset >>> 3 >= bits.length) {
      const grown = new Uint8Array(Math.max(1024, (offset >>> 3) * 2 + 1));
      if (bits !== undefined) grown.set(bits);
      this.#queues[message.queueId] = bits = grown;
    }
    const mask = 1 << (offset & 7);
    const at = offset >>> 3;
    if ((bits[at]! & mask) !== 0) {
      this.duplicates++;
      return false;
    }
    bits[at] = bits[at]! | mask;
    return true;
  }
}

/** Waits until `done()` or until `progress()` stops moving for `STALL_MS`. */
async function waitFor(done: () => boolean, progress: () => number): Promise<void> {
  let last = progress();
  let lastMove = performance.now();
  while (!done() && performance.now() - lastMove < STALL_MS) {
    await sleep(5);
    const now = progress();
    if (now !== last) {
      last = now;
      lastMove = performance.now();
    }
  }
}

/**
 * Runs one consume mode on topic `<topic>_<mode>`: first sends `--count` messages (`--inflight`
 * in flight, not measured), then reads them back from the start and measures that.
 *
 * @param mode `push`: a `PushConsumer` of a fresh group (clustering, one member, from the first
 * offset, `--pull-batch` messages a pull, the consumer's default without it); `pull`: one `PullConsumer` loop per queue, `--batch`
 * messages a pull; `pop`: a `SimpleConsumer` of a fresh group with one receive loop per queue,
 * each receiving up to `--batch` (at most 32) and acking them; `push-pop`: the push consumer over POP;
 * `lite-pull`: a `LitePullConsumer` of a fresh group (`--pull-batch` messages a pull and a poll), one
 * `poll()` loop.
 * @param options What to send and where.
 * @returns The report; `consumed` should equal `ok`.
 */
export async function runConsume(mode: ConsumeMode, options: LoadOptions): Promise<LoadReport> {
  if ((options.warmup ?? 0) > 0) {
    // The same workload on a backlog of `--warmup` messages of its own topic, not reported.
    await runConsume(mode, { ...options, topic: `${options.topic}_warmup`, count: options.warmup!, warmup: 0, onProgress: undefined });
  }
  const topic = `${options.topic}_${mode}`;
  const body = new Uint8Array(options.size).fill(0x62);
  const tally = new Tally("fill", options, options.count, true);
  const producer = newProducer(options);
  await producer.start();
  try {
    await sendPipelined(tally, options.count, options.inflight, Infinity, () => producer.send({ topic, body }));
  } finally {
    await producer.shutdown();
  }
  const stored = await storedCount(options, topic);
  // The fill's garbage is collected now rather than during the measured read.
  (globalThis as { Bun?: { gc(force: boolean): void } }).Bun?.gc(true);
  const seen = new Seen();
  let usage;
  let started = 0;
  let finished = 0;
  let firstMessageMs: number | undefined;
  tally.restart(mode);
  try {
    if (mode === "push" || mode === "push-pop") {
      const consumer = newPushConsumer(options, topic, mode === "push-pop");
      consumer.subscribe(topic, "*");
      consumer.onMessage((message: MessageExt) => {
        if (seen.add(message)) {
          // The clock is read at the first message, every 256th and the last one expected, not at
          // each (about 0.1 µs a read, as much as a tenth of what consuming a message costs).
          const consumed = ++tally.consumed;
          if (consumed === 1 || (consumed & 255) === 0 || consumed >= tally.ok) {
            finished = performance.now();
            firstMessageMs ??= finished - started;
          }
        }
        return "SUCCESS";
      });
      const measure = meters(options);
      started = performance.now();
      try {
        await consumer.start();
        await waitFor(() => tally.consumed >= tally.ok, () => tally.consumed);
        usage = measure();
      } finally {
        await consumer.shutdown();
      }
    } else if (mode === "lite-pull") {
      // One `poll()` loop, as an application reads; the consumer pulls its queues in the background.
      const consumer = new LitePullConsumer({ ...freshGroup(options, topic), ...(options.pullBatch === undefined ? {} : { pullBatchSize: options.pullBatch }) });
      consumer.subscribe(topic, "*");
      const measure = meters(options);
      started = performance.now();
      try {
        await consumer.start();
        let lastMessage = performance.now();
        while (tally.consumed < tally.ok && performance.now() - lastMessage < STALL_MS) {
          const messages = await consumer.poll(1000);
          if (messages.length === 0) continue;
          lastMessage = finished = performance.now();
          firstMessageMs ??= lastMessage - started;
          for (const message of messages) if (seen.add(message)) tally.consumed++;
        }
        usage = measure();
      } finally {
        await consumer.shutdown();
      }
    } else if (mode === "pop") {
      // One receive loop per queue, each acking a batch at once (the acks of a tick leave as one batch ack).
      const consumer = new SimpleConsumer({ ...freshGroup(options, topic), awaitDurationMs: 1000 });
      consumer.subscribe(topic, "*");
      const measure = meters(options);
      started = performance.now();
      try {
        await consumer.start();
        await Promise.all(Array.from({ length: options.queues }, async () => {
          let errorsInRow = 0;
          while (tally.consumed < tally.ok && errorsInRow < 100) {
            const t0 = performance.now();
            try {
              const messages = await consumer.receive(Math.min(options.batch, POP_BATCH), 60_000);
              if (messages.length > 0) tally.latency.add(performance.now() - t0);
              for (const message of messages) {
                if (seen.add(message)) {
                  tally.consumed++;
                  firstMessageMs ??= performance.now() - started;
                }
              }
              await Promise.all(messages.map((m) => consumer.ack(m.receiptHandle)));
              // Ends at the last ack, not when the other loops' long polls give up.
              if (messages.length > 0) finished = performance.now();
              errorsInRow = 0;
            } catch (error) {
              errorsInRow++;
              tally.errors[`pop ${errorKind(error)}`] = (tally.errors[`pop ${errorKind(error)}`] ?? 0) + 1;
            }
          }
        }));
        usage = measure();
      } finally {
        await consumer.shutdown();
      }
    } else {
      const consumer = new PullConsumer({ nameServer: options.nameServers, dial: options.dial, group: `${topic}_group` });
      await consumer.start();
      try {
        const queues = await topicQueues(consumer, topic);
        const ends = await Promise.all(queues.map((queue) => consumer.maxOffset(queue)));
        const measure = meters(options);
        started = performance.now();
        await Promise.all(queues.map(async (queue, i) => {
          let offset = 0;
          let errorsInRow = 0;
          while (offset < ends[i]! && errorsInRow < 100) {
            const t0 = performance.now();
            try {
              const result = await consumer.pull(queue, offset, { maxNums: Math.min(options.batch, 1024) });
              tally.latency.add(performance.now() - t0);
              errorsInRow = 0;
              for (const message of result.messages) if (seen.add(message)) tally.consumed++;
              offset = result.nextBeginOffset;
            } catch (error) {
              errorsInRow++;
              tally.errors[`pull ${errorKind(error)}`] = (tally.errors[`pull ${errorKind(error)}`] ?? 0) + 1;
            }
          }
        }));
        finished = performance.now();
        usage = measure();
      } finally {
        await consumer.shutdown();
      }
    }
  } finally {
    tally.stop();
  }
  const seconds = (Math.max(finished, started) - started) / 1000 || Number.EPSILON;
  return finish(tally, { workload: "consume", mode, topic }, options, seconds, tally.consumed, usage, {
    consumed: tally.consumed,
    duplicates: seen.duplicates,
    stored,
    ...(firstMessageMs === undefined ? {} : { firstMessageMs }),
  });
}

/**
 * Runs the e2e workload on topic `<topic>_e2e`: a `PushConsumer` (clustering, one member) is
 * started and given every queue, then messages are sent at `--rate` a second (`--inflight` at most
 * outstanding) for `--count` messages or `--duration`. Each body starts with its send time (a
 * float64 of ms, below 1 ms resolution, where the header's born timestamp has whole ms); the
 * handler takes the latency from it.
 *
 * @param options What to send and where.
 * @returns The report; `consumed` should equal `ok`.
 */
export async function runE2e(options: LoadOptions): Promise<LoadReport> {
  if ((options.warmup ?? 0) > 0) {
    // The same workload, `--warmup` messages at the rate on a topic of their own, not reported.
    await runE2e({ ...options, topic: `${options.topic}_warmup`, count: options.warmup!, durationMs: undefined, warmup: 0, onProgress: undefined });
  }
  const topic = `${options.topic}_e2e`;
  const size = options.size;
  const template = new Uint8Array(size).fill(0x63);
  const count = options.count;
  const tally = new Tally("e2e", options, options.durationMs === undefined ? count : undefined, true);
  const seen = new Seen();
  const producer = newProducer(options);
  const consumer = newPushConsumer(options, topic);
  consumer.subscribe(topic, "*");
  let finished = 0;
  consumer.onMessage((message: MessageExt) => {
    if (message.tags === "warmup" || !seen.add(message)) return "SUCCESS";
    const now = nowMs();
    const born = size >= 8 ? new DataView(message.body.buffer, message.body.byteOffset, 8).getFloat64(0) : message.bornTimestamp;
    tally.latency.add(now - born);
    tally.consumed++;
    finished = performance.now();
    return "SUCCESS";
  });
  let usage;
  let started = 0;
  try {
    await producer.start();
    // The warm-up send creates the topic, so the consumer finds its queues.
    await producer.send({ topic, body: template, tags: "warmup" });
    await consumer.start();
    for (const until = performance.now() + 15_000; consumer.assignedQueues().filter((q) => q.topic === topic).length < options.queues;) {
      if (performance.now() > until) throw new Error(`Consumer was not given the ${options.queues} queues of ${topic} in 15 s`);
      await sleep(20);
    }
    const measure = meters(options);
    started = performance.now();
    const deadline = options.durationMs === undefined ? Infinity : started + options.durationMs;
    const pending = new Set<Promise<void>>();
    let issued = 0;
    while (issued < count && performance.now() < deadline) {
      const due = Math.min(count, Math.floor(((performance.now() - started) * options.rate) / 1000) + 1);
      while (issued < due && pending.size < options.inflight) {
        issued++;
        const body = template.slice();
        if (size >= 8) new DataView(body.buffer).setFloat64(0, nowMs());
        const sent: Promise<void> = producer.send({ topic, body }).then(
          () => void tally.ok++,
          (error) => tally.fail(error),
        ).finally(() => pending.delete(sent));
        pending.add(sent);
      }
      await sleep(1);
    }
    await Promise.all(pending);
    await waitFor(() => tally.consumed >= tally.ok, () => tally.consumed);
    usage = measure();
  } finally {
    tally.stop();
    await consumer.shutdown();
    await producer.shutdown();
  }
  const seconds = (Math.max(finished, started) - started) / 1000 || Number.EPSILON;
  return finish(tally, { workload: "e2e", mode: "e2e", topic }, options, seconds, tally.consumed, usage, {
    consumed: tally.consumed,
    duplicates: seen.duplicates,
  });
}
