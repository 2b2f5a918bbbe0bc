/**
 * Auto-renew of a RocketMQ 5 push consumer's deliveries, as RocketMQ 5's proxy does it: a receive
 * with `autoRenew` takes its messages invisible for `invisibleMs`; while the client has not acked,
 * nacked or dead-lettered one, the broker extends its invisible time shortly before it would run
 * out (by 1, 3, 5, 10 and 30 minutes, then an hour each time), for at most `maxMs` after the
 * receive, and then hands it back for redelivery after the group's retry backoff. The client keeps
 * the handle it was given: its ack, nack or dead-letter is carried out with the delivery's current
 * handle. The deliveries of a client that goes away, and all of them when the broker closes, become
 * visible again after `clearInvisibleMs`.
 *
 * @module
 */
import { ResponseCode } from "../../core/protocol/request_code.ts";
import { MAX_INVISIBLE_TIME_MS, MIN_INVISIBLE_TIME_MS, PopRefusal } from "../broker/pop/pop_service.ts";
import type { Log } from "../logger.ts";

/** Settings of auto-renew, named after RocketMQ 5 proxy's settings of the same meaning. */
export interface AutoRenewOptions {
  /** How long a push consumer's deliveries are invisible at first (the proxy's `defaultInvisibleTimeMills`). @default 60000 */
  invisibleMs?: number;
  /** A delivery is renewed when it would become visible within this (`renewAheadTimeMillis`). @default 10000 */
  aheadMs?: number;
  /** How often deliveries are looked at (`renewSchedulePeriodMillis`). @default 5000 */
  periodMs?: number;
  /** How long after its receive a delivery is renewed at most (`renewMaxTimeMillis`). @default 10800000 (3 h) */
  maxMs?: number;
  /** Failed renewals in a row after which a delivery is left to its invisible time (`maxRenewRetryTimes`). @default 3 */
  maxRetries?: number;
  /** Invisible time left to the deliveries of a client that went away (`invisibleTimeMillisWhenClear`). @default 1000 */
  clearInvisibleMs?: number;
}

/** What renewal needs of the broker's POP service. */
export interface RenewalTarget {
  /** Changes a delivery's invisible time; answers its new handle. Throws `PopRefusal` for a handle it refuses. */
  changeInvisibleTime(group: string, topic: string, handle: string, invisibleMs: number): Promise<{ handle: string; popTime: number; invisibleTime: number }>;
  /** The group's retry backoff after a failed delivery (`attempt`, 1 for the first). */
  backoffMs(group: string, attempt: number): number;
}

/** RocketMQ's proxy renews by these, one after another (`RenewStrategyPolicy`), then by the last. */
const RENEW_STEPS_MS = [60_000, 180_000, 300_000, 600_000, 1_800_000, 3_600_000];

interface Delivery {
  clientId: string;
  group: string;
  topic: string;
  /** The handle the delivery has now (the client keeps the first one). */
  handle: string;
  /** When it becomes visible unless renewed, ms since the epoch. */
  visibleAt: number;
  receivedAt: number;
  attempt: number;
  renewals: number;
  failures: number;
  /** A renewal or stop under way. */
  busy: Promise<void> | undefined;
}

/** The deliveries of auto-renew receives that are still being consumed, by the handle their client was given. */
export class ReceiptRenewal {
  /** The deliveries' first invisible time, ms. */
  readonly invisibleMs: number;
  readonly #target: RenewalTarget;
  readonly #log: Log;
  readonly #aheadMs: number;
  readonly #maxMs: number;
  readonly #maxRetries: number;
  readonly #clearMs: number;
  readonly #deliveries = new Map<string, Delivery>();
  readonly #timer: ReturnType<typeof setInterval>;
  readonly #now: () => number;

  /**
   * @param target The POP service the renewals go to.
   * @param options The proxy's settings.
   * @param log Where failures are told.
   * @param now The clock. @default Date.now
   */
  constructor(target: RenewalTarget, options: AutoRenewOptions = {}, log: Log = () => {}, now: () => number = Date.now) {
    this.#target = target;
    this.#log = log;
    this.#now = now;
    this.invisibleMs = options.invisibleMs ?? 60_000;
    this.#aheadMs = options.aheadMs ?? 10_000;
    this.#maxMs = options.maxMs ?? 3 * 3_600_000;
    this.#maxRetries = options.maxRetries ?? 3;
    this.#clearMs = options.clearInvisibleMs ?? 1000;
    this.#timer = setInterval(() => this.#scan(), options.periodMs ?? 5000);
    (this.#timer as { unref?: () => void }).unref?.();
  }

  /** How many deliveries are being renewed. */
  get size(): number {
    return this.#deliveries.size;
  }

  /**
   * Renews a delivery until its client settles it or goes away.
   *
   * @param clientId The client that received it.
   * @param delivery Its group, topic, handle, pop and invisible time, and delivery attempt.
   */
  track(clientId: string, delivery: { group: string; topic: string; handle: string; popTime: number; invisibleTime: number; attempt: number }): void {
    this.#deliveries.set(delivery.handle, {
      clientId,
      group: delivery.group,
      topic: delivery.topic,
      handle: delivery.handle,
      visibleAt: delivery.popTime + delivery.invisibleTime,
      receivedAt: this.#now(),
      attempt: delivery.attempt,
      renewals: 0,
      failures: 0,
      busy: undefined,
    });
  }

  /**
   * The handle to settle a delivery with (ack, nack, dead-letter): its current one when it is
   * being renewed (after any renewal under way), which is then no longer renewed; else the one given.
   *
   * @param group The group the client settles for.
   * @param handle The handle the client has.
   * @returns The handle to use.
   */
  async settle(group: string, handle: string): Promise<string> {
    const delivery = this.#deliveries.get(handle);
    if (delivery === undefined || delivery.group !== group) return handle;
    this.#deliveries.delete(handle);
    await delivery.busy;
    return delivery.handle;
  }

  /**
   * A client went away: its deliveries are visible again after `clearInvisibleMs`.
   *
   * @param clientId The client.
   * @returns When their invisible times were changed (failures are left to the invisible time).
   */
  clear(clientId: string): Promise<void> {
    const cleared: Promise<void>[] = [];
    for (const [key, delivery] of this.#deliveries) {
      if (delivery.clientId !== clientId) continue;
      this.#deliveries.delete(key);
      cleared.push((async () => {
        await delivery.busy;
        await this.#target.changeInvisibleTime(delivery.group, delivery.topic, delivery.handle, this.#clearMs);
      })().catch(() => {}));
    }
    return Promise.all(cleared).then(() => {});
  }

  /**
   * Stops renewing; the deliveries still being consumed become visible after `clearInvisibleMs`
   * (as the proxy clears every handle at shutdown), so a restart does not leave them invisible for
   * the rest of their latest renewal.
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    const clients = new Set([...this.#deliveries.values()].map((d) => d.clientId));
    await Promise.all([...clients].map((clientId) => this.clear(clientId)));
  }

  #scan(): void {
    const now = this.#now();
    for (const [key, delivery] of this.#deliveries) {
      if (delivery.busy !== undefined || delivery.visibleAt - now > this.#aheadMs) continue;
      delivery.busy = (now - delivery.receivedAt < this.#maxMs ? this.#renew(key, delivery) : this.#stop(key, delivery)).finally(() => {
        delivery.busy = undefined;
      });
    }
  }

  async #renew(key: string, delivery: Delivery): Promise<void> {
    const ms = RENEW_STEPS_MS[Math.min(delivery.renewals, RENEW_STEPS_MS.length - 1)]!;
    try {
      const renewed = await this.#target.changeInvisibleTime(delivery.group, delivery.topic, delivery.handle, ms);
      delivery.handle = renewed.handle;
      delivery.visibleAt = renewed.popTime + renewed.invisibleTime;
      delivery.renewals++;
      delivery.failures = 0;
    } catch (error) {
      // A refused handle (settled, expired, or moved) is not renewed again; other failures are retried.
      const refused = error instanceof PopRefusal && error.code !== ResponseCode.SYSTEM_ERROR;
      if (refused || ++delivery.failures >= this.#maxRetries) {
        this.#deliveries.delete(key);
        this.#log(`gRPC: stopped renewing a delivery of group "${delivery.group}" (topic "${delivery.topic}"): ${(error as Error).message}`, refused ? "debug" : "warn");
      }
    }
  }

  /** Renewed for `maxMs`: handed back for redelivery after the group's retry backoff, as a failed delivery. */
  async #stop(key: string, delivery: Delivery): Promise<void> {
    this.#deliveries.delete(key);
    const backoffMs = Math.min(MAX_INVISIBLE_TIME_MS, Math.max(MIN_INVISIBLE_TIME_MS, this.#target.backoffMs(delivery.group, delivery.attempt)));
    await this.#target.changeInvisibleTime(delivery.group, delivery.topic, delivery.handle, backoffMs).catch((error) => {
      this.#log(`gRPC: cannot hand back a delivery of group "${delivery.group}" renewed for ${this.#maxMs} ms: ${(error as Error).message}`, "warn");
    });
  }
}
