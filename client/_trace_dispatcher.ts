/**
 * The client's trace dispatcher (RocketMQ's `AsyncTraceDispatcher`): records go into a bounded
 * buffer and leave in batches, as trace messages sent by a producer of their own, so tracing
 * never makes a send or a delivery wait or fail. A full buffer drops the new record and counts it.
 *
 * @module
 */
import { encodeTraceRecord, TRACE_BATCH_RECORDS, TRACE_MAX_BODY, traceKeys, type TraceRecord } from "../core/model/trace.ts";
import { intOption } from "./_consumer_options.ts";

/** Sends one trace message: its body (the records' text) and keys. */
export type TraceSend = (body: string, keys: string[]) => Promise<unknown>;

/** Options of a `TraceDispatcher`. */
export interface TraceDispatcherOptions {
  /** Sends a trace message. */
  send: TraceSend;
  /** Records waiting to be sent at most; past it new records are dropped and counted. @default 2048 */
  maxBuffered?: number;
  /** Records per trace message at most (1 to 20). @default 20 */
  batchSize?: number;
  /** Trace messages being sent at once at most; records wait in the buffer meanwhile. @default 8 */
  maxInFlight?: number;
  /** How long a record may wait for a batch to fill before it is sent anyway, ms. @default 100 */
  flushDelayMs?: number;
  /** Where failed trace sends are reported (throttled to one line per 10 s). @default console.warn */
  log?: (line: string) => void;
}

/** What a dispatcher has done since it was made. */
export interface TraceStats {
  /** Records taken into the buffer. */
  recorded: number;
  /** Records dropped because the buffer was full (or the dispatcher was shut down). */
  dropped: number;
  /** Records in trace messages the broker stored. */
  sent: number;
  /** Records in trace messages whose send failed (not sent again). */
  failed: number;
  /** Records waiting now. */
  buffered: number;
}

const FAILURE_LOG_INTERVAL_MS = 10_000;
/** Key characters of one trace message at most, well inside the broker's properties limit (32 KiB). */
const MAX_KEY_CHARS = 16_000;

/**
 * A bounded, batching, asynchronous queue of trace records in front of a send function.
 *
 * @example Trace through a producer of its own
 * ```ts ignore
 * const traces = new TraceDispatcher({ send: (body, keys) => traceProducer.send({ topic: TRACE_TOPIC, body, keys }) });
 * traces.append({ type: "Pub", ... });
 * await traces.shutdown();
 * ```
 */
export class TraceDispatcher {
  readonly #send: TraceSend;
  readonly #max: number;
  readonly #batchSize: number;
  readonly #maxInFlight: number;
  readonly #flushDelayMs: number;
  readonly #log: (line: string) => void;
  /** A ring of `#max` slots from `#head`, `#count` of them used. */
  readonly #ring: (TraceRecord | undefined)[];
  #head = 0;
  #count = 0;
  #inFlight = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #lastFailureLog = 0;
  readonly #pending = new Set<Promise<void>>();
  readonly #stats = { recorded: 0, dropped: 0, sent: 0, failed: 0 };

  /**
   * @param options The send function and the bounds.
   * @throws {ClientError} When a bound is invalid.
   */
  constructor(options: TraceDispatcherOptions) {
    this.#send = options.send;
    this.#max = intOption("traceMaxBuffered", options.maxBuffered ?? 2048, 1, 1_000_000);
    this.#batchSize = intOption("traceBatchSize", options.batchSize ?? TRACE_BATCH_RECORDS, 1, TRACE_BATCH_RECORDS);
    this.#maxInFlight = intOption("traceMaxInFlight", options.maxInFlight ?? 8, 1, 64);
    this.#flushDelayMs = intOption("traceFlushDelayMs", options.flushDelayMs ?? 100, 0, 60_000);
    this.#log = options.log ?? ((line) => console.warn(line));
    this.#ring = new Array(this.#max);
  }

  /** The counters. */
  get stats(): TraceStats {
    return { ...this.#stats, buffered: this.#count };
  }

  /**
   * Takes a record, or drops and counts it when the buffer is full. Never waits, never throws.
   *
   * @param record The record.
   * @returns Whether it was taken.
   */
  append(record: TraceRecord): boolean {
    if (this.#closed || this.#count === this.#max) {
      this.#stats.dropped++;
      return false;
    }
    this.#ring[(this.#head + this.#count) % this.#max] = record;
    this.#count++;
    this.#stats.recorded++;
    this.#next();
    return true;
  }

  /** Sends everything buffered now, waiting for the sends (and those already under way). */
  async flush(): Promise<void> {
    while (this.#count > 0 || this.#pending.size > 0) {
      this.#pump();
      if (this.#pending.size === 0) break;
      await Promise.race(this.#pending);
    }
  }

  /** Sends what is buffered, then takes no more records (they are counted as dropped). */
  async shutdown(): Promise<void> {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
    this.#closed = true;
  }

  /** Starts trace sends while batches wait and fewer than `maxInFlight` are under way. */
  #pump(): void {
    while (this.#count > 0 && this.#inFlight < this.#maxInFlight) {
      const batch: TraceRecord[] = [];
      let body = "";
      let keyChars = 0;
      while (this.#count > 0 && batch.length < this.#batchSize) {
        const record = this.#ring[this.#head]!;
        const text = encodeTraceRecord(record);
        keyChars += record.msgId.length + record.keys.length + 2;
        if (batch.length > 0 && (body.length + text.length > TRACE_MAX_BODY || keyChars > MAX_KEY_CHARS)) break;
        this.#ring[this.#head] = undefined;
        this.#head = (this.#head + 1) % this.#max;
        this.#count--;
        batch.push(record);
        body += text;
      }
      this.#inFlight++;
      const sending: Promise<void> = this.#sendSafely(body, traceKeys(batch)).then(
        () => void (this.#stats.sent += batch.length),
        (error) => {
          this.#stats.failed += batch.length;
          const now = Date.now();
          if (now - this.#lastFailureLog >= FAILURE_LOG_INTERVAL_MS) {
            this.#lastFailureLog = now;
            this.#log(`Sending ${batch.length} trace records failed (${this.#stats.failed} so far): ${(error as Error)?.message ?? error}`);
          }
        },
      ).finally(() => {
        this.#inFlight--;
        this.#pending.delete(sending);
        if (this.#count > 0) this.#next();
      });
      this.#pending.add(sending);
    }
  }

  /** A full batch leaves now; a partial one after the flush delay. */
  #next(): void {
    if (this.#count >= this.#batchSize) this.#pump();
    else this.#timer ??= unref(setTimeout(() => {
      this.#timer = undefined;
      this.#pump();
    }, this.#flushDelayMs));
  }

  #sendSafely(body: string, keys: string[]): Promise<unknown> {
    try {
      return this.#send(body, keys);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

function unref(timer: ReturnType<typeof setTimeout>): ReturnType<typeof setTimeout> {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}
