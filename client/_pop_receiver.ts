/**
 * The POP side of a group member (simple consumers, push consumers over POP): receiving from the
 * brokers of the subscribed topics in turn, acks gathered per broker and topic within a tick into
 * one BATCH_ACK_MESSAGE, and changes of invisible time.
 *
 * @module
 */
import { BrokerError, ClientError } from "../core/errors.ts";
import { ResponseCode } from "../core/protocol/request_code.ts";
import type { GroupMember } from "./_group_member.ts";
import type { PopAnswer, ReceiptHandle } from "./_pop.ts";

/** Invisible times a pop or change may ask for, ms (the broker's bounds). */
export const MIN_INVISIBLE_MS = 100;
/** The longest invisible time: 12 hours. */
export const MAX_INVISIBLE_MS = 43_200_000;
/** Most messages one pop returns. */
export const MAX_RECEIVE = 32;

interface PendingAck {
  handle: ReceiptHandle;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Checks an invisible time.
 *
 * @param name The option or argument, for the message.
 * @param ms The value.
 * @returns It.
 * @throws {ClientError} When it is not a whole number of ms from 100 to 12 hours.
 */
export function checkInvisibleTime(name: string, ms: number): number {
  if (!Number.isSafeInteger(ms) || ms < MIN_INVISIBLE_MS || ms > MAX_INVISIBLE_MS) {
    throw new ClientError(`${name} "${ms}" must be a whole number of milliseconds from ${MIN_INVISIBLE_MS} to ${MAX_INVISIBLE_MS} (12 hours)`);
  }
  return ms;
}

/**
 * Checks a receipt handle's shape (the broker checks that it issued it).
 *
 * @param handle What the caller passed.
 * @returns It.
 * @throws {ClientError} When it is not a handle.
 */
export function checkHandle(handle: ReceiptHandle): ReceiptHandle {
  if (
    handle === null || typeof handle !== "object" || typeof handle.value !== "string" || typeof handle.topic !== "string" ||
    typeof handle.brokerName !== "string"
  ) {
    throw new ClientError("Receipt handle must be the receiptHandle of a received message");
  }
  return handle;
}

/** Pops and settles messages for a member. */
export class PopReceiver {
  readonly #member: GroupMember;
  readonly #initMode: "FIRST_OFFSET" | "LAST_OFFSET";
  #turn = 0;
  #acks = new Map<string, PendingAck[]>();
  #flushScheduled = false;

  /**
   * @param member The member (subscriptions, client, group).
   * @param initMode Where a queue the group never consumed starts.
   */
  constructor(member: GroupMember, initMode: "FIRST_OFFSET" | "LAST_OFFSET") {
    this.#member = member;
    this.#initMode = initMode;
  }

  /**
   * The brokers serving a topic's readable queues, sorted.
   *
   * @param topic The topic.
   */
  async brokersOf(topic: string): Promise<string[]> {
    const route = await this.#member.client.routes.get(topic);
    return [...new Set(route.readQueues.map((q) => q.brokerName))].sort();
  }

  /**
   * Pops from the next subscribed topic and broker in turn.
   *
   * @param maxNums Most messages.
   * @param invisibleTimeMs How long they stay invisible to the group's other pops.
   * @param pollTimeMs How long the broker may wait for messages.
   * @returns The messages (empty when the poll time ran out).
   */
  async receive(maxNums: number, invisibleTimeMs: number, pollTimeMs: number): Promise<PopAnswer> {
    const topics = this.#member.topics();
    const turn = this.#turn++;
    const topic = topics[turn % topics.length]!;
    const brokers = await this.brokersOf(topic);
    if (brokers.length === 0) throw new BrokerError(ResponseCode.TOPIC_NOT_EXIST, `No broker serves readable queues of topic "${topic}"`);
    const brokerName = brokers[Math.floor(turn / topics.length) % brokers.length]!;
    return await this.receiveFrom(topic, brokerName, maxNums, invisibleTimeMs, pollTimeMs);
  }

  /**
   * Pops from one broker's queues of a topic.
   *
   * @param topic A subscribed topic.
   * @param brokerName The broker.
   * @param maxNums Most messages.
   * @param invisibleTimeMs How long they stay invisible.
   * @param pollTimeMs How long the broker may wait for messages.
   */
  receiveFrom(topic: string, brokerName: string, maxNums: number, invisibleTimeMs: number, pollTimeMs: number): Promise<PopAnswer> {
    const member = this.#member;
    const subscription = member.subscriptions.get(topic);
    return member.client.pop(brokerName, {
      group: member.group,
      topic,
      maxNums,
      invisibleTimeMs,
      pollTimeMs,
      initMode: this.#initMode,
      expression: subscription?.expression ?? "*",
      expressionType: subscription?.expressionType ?? "TAG",
    }, (message, reason) =>
      member.log(`Message at offset ${message.queueOffset} of queue ${message.queueId} of "${message.topic}" on broker "${brokerName}" was left out: ${reason}`));
  }

  /**
   * Acks a delivery. Acks made in one tick for one broker and topic leave in one request.
   *
   * @param handle The delivery's handle.
   * @throws {BrokerError} When the broker refuses it: `INVALID_RECEIPT_HANDLE` (not its handle),
   *   `RECEIPT_HANDLE_EXPIRED` (acked before, or its invisible time ran out).
   */
  ack(handle: ReceiptHandle): Promise<void> {
    return new Promise((resolve, reject) => {
      const key = `${handle.brokerName}\u0000${handle.topic}`;
      const list = this.#acks.get(key);
      const pending = { handle, resolve, reject };
      if (list === undefined) this.#acks.set(key, [pending]);
      else list.push(pending);
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  /**
   * Changes how long a delivery stays invisible, from now.
   *
   * @param handle The delivery's handle.
   * @param invisibleTimeMs The new invisible time.
   * @returns The new handle and when the message becomes visible.
   */
  changeInvisibleTime(handle: ReceiptHandle, invisibleTimeMs: number): Promise<{ handle: ReceiptHandle; invisibleUntil: number }> {
    return this.#member.client.changeInvisibleTime(this.#member.group, handle, invisibleTimeMs);
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batches = this.#acks;
    this.#acks = new Map();
    const client = this.#member.client;
    const group = this.#member.group;
    for (const pending of batches.values()) {
      for (let from = 0; from < pending.length; from += 1024) {
        const part = pending.slice(from, from + 1024);
        if (part.length === 1) {
          client.ack(group, part[0]!.handle).then(part[0]!.resolve, part[0]!.reject);
          continue;
        }
        client.batchAck(group, part.map((p) => p.handle)).then((refused) => {
          part.forEach((p, i) => {
            const error = refused.get(i);
            if (error === undefined) p.resolve();
            else p.reject(error);
          });
        }, (error) => {
          for (const p of part) p.reject(error);
        });
      }
    }
  }
}
