/**
 * RocketMQ 5's request authentication (the gRPC clients'): an `authorization` header
 * `MQv2-HMAC-SHA1 Credential=<accessKey>, SignedHeaders=x-mq-date-time, Signature=<hex>`, where the
 * signature is the HMAC-SHA1 of the `x-mq-date-time` header (`yyyyMMdd'T'HHmmss'Z'`, UTC) keyed
 * with the account's secret key. It proves the account and the time, not the request: the proxy's
 * scheme signs no request fields.
 *
 * @module
 */

/** The parts of an `authorization` header. */
export interface Rocketmq5Authorization {
  accessKey: string;
  /** The signature, lower-case hex. */
  signature: string;
}

const AUTHORIZATION = /^MQv2-HMAC-SHA1\s+Credential=([^,\s]+),\s*SignedHeaders=x-mq-date-time,\s*Signature=([0-9A-Fa-f]{40})$/;
const DATE_TIME = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/**
 * Reads an `authorization` header.
 *
 * @param text The header.
 * @returns Its access key and signature, or undefined when it is not of RocketMQ 5's form.
 */
export function parseRocketmq5Authorization(text: string): Rocketmq5Authorization | undefined {
  const match = AUTHORIZATION.exec(text.trim());
  if (match === null) return undefined;
  // The access key may be a RocketMQ 5 credential scope (`key/...`); its first part names the account.
  return { accessKey: match[1]!.split("/")[0]!, signature: match[2]!.toLowerCase() };
}

/**
 * Reads `x-mq-date-time`.
 *
 * @param text The header.
 * @returns Its time (ms since epoch), or NaN when malformed.
 */
export function parseRocketmq5DateTime(text: string): number {
  const m = DATE_TIME.exec(text);
  if (m === null) return NaN;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

/**
 * Signs a date-time as RocketMQ 5's clients do.
 *
 * @param secretKey The account's secret key.
 * @param dateTime The `x-mq-date-time` header.
 * @returns The signature, lower-case hex.
 */
export async function signRocketmq5(secretKey: string, dateTime: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secretKey), { name: "HMAC", hash: "SHA-1" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(dateTime)));
  let hex = "";
  for (const byte of mac) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
