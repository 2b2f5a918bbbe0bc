/**
 * POP receipt handles: RocketMQ's extra-info fields (checkpoint queue offset, pop time, invisible
 * time, revive queue id, topic type, broker name, queue id, queue offset, separated by spaces)
 * followed by a 128-bit tag (base64url) under a key only the broker holds. The tag is
 * SHA-256(K ‖ offset), where K = HMAC-SHA256(key, group, topic and every field but the offset) is
 * one value per checkpoint: a pop of 32 messages costs one HMAC and 32 hashes of a fixed 40 bytes
 * (so no length extension applies), and an ack finds K in a small cache of checkpoints issued or
 * verified. A handle the broker did not issue, issued for another group or topic, or with any
 * field changed, fails the tag check.
 *
 * @module
 */
import { createHash, createHmac } from "node:crypto";

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

/** A tag: 16 bytes as base64url without padding. */
const TAG_CHARS = 22;
const MAX_HANDLE_LENGTH = 512;
/** Checkpoint keys remembered for verifying (a pop's handles are acked soon after it). */
const CK_CACHE_SIZE = 4096;
const INTEGER = /^(0|[1-9][0-9]{0,15})$/;

/** Why a handle was refused: it cannot be read, or the broker did not issue it (for this group and topic). */
export class ReceiptHandleError extends Error {
  /** @param message What is wrong with it. */
  constructor(message: string) {
    super(message);
    this.name = "ReceiptHandleError";
  }
}

/** A handle's fields without its queue offset: what one checkpoint's handles share. */
export type CheckpointFields = Omit<ReceiptHandle, "queueOffset">;

/** Issues and checks receipt handles under one key. */
export class ReceiptHandles {
  readonly #key: Uint8Array;
  /** Checkpoint key by the text it was computed over, newest last. */
  readonly #keys = new Map<string, Uint8Array>();
  readonly #input = new Uint8Array(40);
  readonly #inputView = new DataView(this.#input.buffer);

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
    return this.issueAll(group, topic, handle, [handle.queueOffset])[0]!;
  }

  /**
   * The handles of a checkpoint's deliveries.
   *
   * @param group The consumer group they were delivered to.
   * @param topic The topic popped.
   * @param fields What they share.
   * @param offsets Their queue offsets.
   * @returns One handle text per offset.
   */
  issueAll(group: string, topic: string, fields: CheckpointFields, offsets: readonly number[]): string[] {
    const shared = [fields.ckOffset, fields.popTime, fields.invisibleTime, fields.reviveQueueId, fields.retry ? 1 : 0, fields.brokerName, fields.queueId].join(" ");
    const key = this.#checkpointKey(group, topic, shared);
    return offsets.map((offset) => `${shared} ${offset} ${this.#tag(key, offset)}`);
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
    const tag = parts.pop()!;
    const offsetText = parts.pop()!;
    const leading = parts.slice(0, 5);
    const queueIdText = parts[parts.length - 1]!;
    const numbers = [...leading, queueIdText, offsetText];
    const forged = () =>
      new ReceiptHandleError(`Receipt handle "${shorten(text)}" was not issued by this broker for group "${group}" and topic "${topic}"`);
    if (!numbers.every((n) => INTEGER.test(n)) || (leading[4] !== "0" && leading[4] !== "1") || tag.length !== TAG_CHARS) throw forged();
    const queueOffset = Number(offsetText);
    const input = `${group}\n${topic}\n${parts.join(" ")}`;
    const known = this.#keys.get(input);
    const key = known ?? this.#hmac(input);
    if (!sameText(tag, this.#tag(key, queueOffset))) throw forged();
    if (known === undefined) this.#remember(input, key);
    const [ckOffset, popTime, invisibleTime, reviveQueueId] = leading.map(Number) as [number, number, number, number];
    return {
      ckOffset,
      popTime,
      invisibleTime,
      reviveQueueId,
      retry: leading[4] === "1",
      brokerName: parts.slice(5, -1).join(" "),
      queueId: Number(queueIdText),
      queueOffset,
    };
  }

  /** K = HMAC(key, group, topic, shared fields), from the cache when this checkpoint was issued or verified. */
  #checkpointKey(group: string, topic: string, shared: string): Uint8Array {
    const input = `${group}\n${topic}\n${shared}`;
    let key = this.#keys.get(input);
    if (key === undefined) {
      key = this.#hmac(input);
      this.#remember(input, key);
    }
    return key;
  }

  #hmac(input: string): Uint8Array {
    return createHmac("sha256", this.#key).update(input).digest();
  }

  /** Caches a checkpoint key (only of handles issued or verified: a forged one evicts nothing), dropping the oldest past the cap. */
  #remember(input: string, key: Uint8Array): void {
    if (this.#keys.size >= CK_CACHE_SIZE) this.#keys.delete(this.#keys.keys().next().value!);
    this.#keys.set(input, key);
  }

  /** SHA-256(K ‖ offset as 8 bytes), the first 16 bytes in base64url. */
  #tag(key: Uint8Array, offset: number): string {
    this.#input.set(key.subarray(0, 32), 0);
    this.#inputView.setFloat64(32, offset);
    return createHash("sha256").update(this.#input).digest("base64url").slice(0, TAG_CHARS);
  }
}

/** Compares two strings of equal length in time independent of where they differ. */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

function shorten(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
