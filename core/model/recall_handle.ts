/**
 * The recall handle of a timer message: what `send` returns for a message with a delivery time,
 * and what `recall` takes to cancel it. Text: base64url of `v1 <brokerName> <topic> <dueMs>
 * <timerId> <mac>` (RocketMQ 5's handle is `v1 topic brokerName timestamp messageId`; ours adds the
 * broker's MAC so a forged or altered handle is refused). The client reads the broker name to know
 * where to send the recall; only the broker that issued a handle can check its MAC.
 *
 * @module
 */

const VERSION = "v1";
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: true });
/** Longest handle text accepted (a 127-character topic and broker name fit easily). */
export const MAX_RECALL_HANDLE_LENGTH = 512;

/** The fields of a recall handle. */
export interface RecallHandleFields {
  /** The broker group holding the timer. */
  brokerName: string;
  /** The topic the message is delivered to. */
  topic: string;
  /** When it is due, ms since epoch. */
  dueMs: number;
  /** The timer's id on that broker: the CommitLog offset of its first record. */
  timerId: number;
  /** The broker's MAC over the other fields, lower-case hex. */
  mac: string;
}

/**
 * The text a handle's MAC is computed over.
 *
 * @param fields The handle's fields but the MAC.
 * @returns `v1 <brokerName> <topic> <dueMs> <timerId>`.
 */
export function recallHandleSubject(fields: Omit<RecallHandleFields, "mac">): string {
  return `${VERSION} ${fields.brokerName} ${fields.topic} ${fields.dueMs} ${fields.timerId}`;
}

/**
 * Encodes a handle.
 *
 * @param fields Broker, topic, due time, timer id and MAC.
 * @returns The handle text (base64url, no padding).
 */
export function encodeRecallHandle(fields: RecallHandleFields): string {
  const bytes = ENCODER.encode(`${recallHandleSubject(fields)} ${fields.mac}`);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Decodes a handle's text; does not check its MAC (the issuing broker does).
 *
 * @param handle The handle text.
 * @returns Its fields, or a sentence saying why it is not a handle.
 */
export function decodeRecallHandle(handle: unknown): RecallHandleFields | string {
  if (typeof handle !== "string" || handle.length === 0) return "Recall handle is empty";
  if (handle.length > MAX_RECALL_HANDLE_LENGTH) return `Recall handle is longer than ${MAX_RECALL_HANDLE_LENGTH} characters`;
  if (!/^[A-Za-z0-9_-]+$/.test(handle)) return "Recall handle is not base64url text";
  let text: string;
  try {
    const binary = atob(handle.replaceAll("-", "+").replaceAll("_", "/"));
    text = DECODER.decode(Uint8Array.from(binary, (c) => c.charCodeAt(0)));
  } catch {
    return "Recall handle is not base64url text";
  }
  const parts = text.split(" ");
  if (parts.length !== 6 || parts[0] !== VERSION) return "Recall handle has an unknown format";
  const [, brokerName, topic, due, id, mac] = parts as [string, string, string, string, string, string];
  const dueMs = Number(due);
  const timerId = Number(id);
  if (!/^\d{1,16}$/.test(due) || !Number.isSafeInteger(dueMs)) return "Recall handle has an invalid due time";
  if (!/^\d{1,16}$/.test(id) || !Number.isSafeInteger(timerId)) return "Recall handle has an invalid timer id";
  if (brokerName === "" || topic === "" || !/^[0-9a-f]{32}$/.test(mac)) return "Recall handle has an unknown format";
  return { brokerName, topic, dueMs, timerId, mac };
}
