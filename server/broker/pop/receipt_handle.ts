/**
 * POP receipt handles: RocketMQ's extra-info fields (checkpoint queue offset, pop time, invisible
 * time, revive queue id, topic type, broker name, queue id, queue offset, separated by spaces)
 * followed by an HMAC-SHA256 tag (128 bits, base64url) over the group, topic and those fields,
 * under a key only the broker holds. A handle the broker did not issue, or issued for another
 * group or topic, fails the tag check.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHmac, timingSafeEqual } from "node:crypto";

/** What a receipt handle names: one delivery of one message. */
export interface ReceiptHandle {
  /** Queue offset of the checkpoint record in the revive log that made this delivery. */
  ckOffset: number;
  /** When the message was popped (or its invisible time last changed), ms since the epoch. */
  popTime: number;
  /** How long it stays invisible from `popTime`, ms. */
  invisibleTime: number;
  /** The revive queue (0; 999 for FIFO deliveries, as RocketMQ). */
  reviveQueueId: number;
  /** Whether it came from the group's POP retry topic rather than the topic itself. */
  retry: boolean;
  /** The broker that delivered it. */
  brokerName: string;
  /** The queue of the topic (or of the retry topic) it is stored in. */
  queueId: number;
  /** Its offset in that queue. */
  queueOffset: number;
}

/** Revive queue id of FIFO deliveries (RocketMQ's `POP_ORDER_REVIVE_QUEUE`). */
export const FIFO_REVIVE_QUEUE_ID = 999;

const TAG_BYTES = 16;
const MAX_HANDLE_LENGTH = 512;
const INTEGER = /^(0|[1-9][0-9]{0,15})$/;

/** Why a handle was refused: it cannot be read, or the broker did not issue it (for this group and topic). */
export class ReceiptHandleError extends Error {
  /** @param message What is wrong with it. */
  constructor(message: string) {
    super(message);
    this.name = "ReceiptHandleError";
  }
}

/** Issues and checks receipt handles under one key. */
export class ReceiptHandles {
  readonly #key: Uint8Array;

  /** @param key The secret key (32 bytes or more). */
  constructor(key: Uint8Array) {
    if (key.length < 32) throw new RangeError("A receipt handle key needs at least 32 bytes");
    this.#key = key;
  }

  /**
   * The handle of one delivery.
   *
   * @param group The consumer group it was delivered to.
   * @param topic The topic it was popped for (the original, also for retries).
   * @param handle Its fields.
   * @returns The handle text.
   */
  issue(group: string, topic: string, handle: ReceiptHandle): string {
    const fields = [
      handle.ckOffset,
      handle.popTime,
      handle.invisibleTime,
      handle.reviveQueueId,
      handle.retry ? 1 : 0,
      handle.brokerName,
      handle.queueId,
      handle.queueOffset,
    ].join(" ");
    return `${fields} ${this.#tag(group, topic, fields).toString("base64url")}`;
  }

  /**
   * Reads and authenticates a handle.
   *
   * @param group The group the request names.
   * @param topic The topic the request names.
   * @param text The handle.
   * @returns Its fields.
   * @throws {ReceiptHandleError} When it cannot be read or its tag does not match.
   */
  verify(group: string, topic: string, text: unknown): ReceiptHandle {
    if (typeof text !== "string" || text.length === 0) throw new ReceiptHandleError("Receipt handle is empty");
    if (text.length > MAX_HANDLE_LENGTH) throw new ReceiptHandleError(`Receipt handle is longer than ${MAX_HANDLE_LENGTH} characters`);
    const parts = text.split(" ");
    if (parts.length < 9) throw new ReceiptHandleError(`Receipt handle "${shorten(text)}" does not have the nine fields of a handle`);
    const tagText = parts.pop()!;
    const fields = parts.join(" ");
    const tag = Buffer.from(tagText, "base64url");
    const expected = this.#tag(group, topic, fields);
    if (tag.length !== TAG_BYTES || tag.toString("base64url") !== tagText || !timingSafeEqual(tag, expected)) {
      throw new ReceiptHandleError(
        `Receipt handle "${shorten(text)}" was not issued by this broker for group "${group}" and topic "${topic}"`,
      );
    }
    // Authenticated, so the broker wrote these fields: they are read strictly all the same.
    const leading = parts.slice(0, 5);
    const trailing = parts.slice(-2);
    const brokerName = parts.slice(5, -2).join(" ");
    const numbers = [...leading, ...trailing];
    if (!numbers.every((n) => INTEGER.test(n)) || (leading[4] !== "0" && leading[4] !== "1")) {
      throw new ReceiptHandleError(`Receipt handle "${shorten(text)}" has a field that is not a whole number`);
    }
    const [ckOffset, popTime, invisibleTime, reviveQueueId] = leading.map(Number) as [number, number, number, number];
    return {
      ckOffset,
      popTime,
      invisibleTime,
      reviveQueueId,
      retry: leading[4] === "1",
      brokerName,
      queueId: Number(trailing[0]),
      queueOffset: Number(trailing[1]),
    };
  }

  #tag(group: string, topic: string, fields: string): Buffer {
    return createHmac("sha256", this.#key).update(`${group}\n${topic}\n${fields}`).digest().subarray(0, TAG_BYTES);
  }
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
