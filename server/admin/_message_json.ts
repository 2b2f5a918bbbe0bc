/**
 * A stored message as the admin API shows it: text bodies as text, binary ones as base64.
 *
 * @module
 */
import type { HostAddress, MessageExt } from "../../core/model/message.ts";

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** A message in admin responses. */
export interface MessageJson {
  msgId: string;
  topic: string;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  storeSize: number;
  bornTimestamp: number;
  storeTimestamp: number;
  bornHost: string;
  storeHost: string;
  reconsumeTimes: number;
  flag: number;
  sysFlag: number;
  tags: string | null;
  keys: string[];
  uniqueKey: string | null;
  properties: Record<string, string>;
  /** Body bytes. */
  bodySize: number;
  /** The body as UTF-8 text or base64, cut to the size limit asked for. */
  body: string;
  bodyEncoding: "utf8" | "base64";
  /** Whether `body` was cut. */
  bodyTruncated: boolean;
}

/**
 * @param message A decoded record.
 * @param maxBodyBytes Body bytes to include at most. @default Infinity
 * @returns Its JSON view.
 */
export function messageJson(message: MessageExt, maxBodyBytes: number = Infinity): MessageJson {
  const truncated = message.body.length > maxBodyBytes;
  const bytes = truncated ? message.body.subarray(0, maxBodyBytes) : message.body;
  let body: string;
  let bodyEncoding: "utf8" | "base64" = "utf8";
  try {
    body = UTF8.decode(bytes);
  } catch {
    // A cut may split a character: retry without the last three bytes before calling it binary.
    const text = truncated ? tryDecode(bytes.subarray(0, Math.max(0, bytes.length - 3))) : undefined;
    if (text !== undefined) body = text;
    else {
      body = base64(bytes);
      bodyEncoding = "base64";
    }
  }
  return {
    msgId: message.msgId,
    topic: message.topic,
    queueId: message.queueId,
    queueOffset: message.queueOffset,
    commitLogOffset: message.commitLogOffset,
    storeSize: message.storeSize,
    bornTimestamp: message.bornTimestamp,
    storeTimestamp: message.storeTimestamp,
    bornHost: hostText(message.bornHost),
    storeHost: hostText(message.storeHost),
    reconsumeTimes: message.reconsumeTimes,
    flag: message.flag,
    sysFlag: message.sysFlag,
    tags: message.tags ?? null,
    keys: message.keys,
    uniqueKey: message.uniqueKey ?? null,
    properties: message.properties,
    bodySize: message.body.length,
    body,
    bodyEncoding,
    bodyTruncated: truncated,
  };
}

function tryDecode(bytes: Uint8Array): string | undefined {
  try {
    return UTF8.decode(bytes);
  } catch {
    return undefined;
  }
}

function hostText(host: HostAddress): string {
  return host.address.includes(":") ? `[${host.address}]:${host.port}` : `${host.address}:${host.port}`;
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}
