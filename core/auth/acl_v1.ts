/**
 * RocketMQ ACL 1.0 signatures, as RocketMQ 4.x clients sign remoting requests (Java's
 * `AclClientRPCHook`, ali-ons' `Channel.beforeRequest`): the extFields `AccessKey` and `Signature`,
 * where
 *
 * ```text
 * signature = base64(HMAC-SHA1(secretKey, content))
 * content   = the values of every extField but "Signature", in the order of their names
 *             (`AccessKey` and, when sent, `SecurityToken` and `OnsChannel` among them), as UTF-8,
 *             followed by the body
 * ```
 *
 * Unlike the native scheme (`signing.ts`) nothing in it changes from one request to the next: the
 * same request signs the same way, so a captured request can be sent again (see docs/SECURITY.md).
 * Web Crypto only.
 *
 * @module
 */

/** The extFields ACL 1.0 adds. */
export const ACL_V1_FIELDS = {
  ACCESS_KEY: "AccessKey",
  SIGNATURE: "Signature",
} as const;

import { fromBase64, toBase64 } from "./signing.ts";

const ENCODER = new TextEncoder();

/**
 * The bytes an ACL 1.0 signature covers.
 *
 * @param extFields The request's fields as text (`Signature` is skipped).
 * @param body The request's body.
 * @returns The content to sign.
 */
export function aclV1Content(extFields: Readonly<Record<string, string>>, body: Uint8Array | undefined): Uint8Array {
  let text = "";
  for (const name of Object.keys(extFields).sort()) {
    if (name !== ACL_V1_FIELDS.SIGNATURE) text += extFields[name];
  }
  const fields = ENCODER.encode(text);
  if (body === undefined || body.length === 0) return fields;
  const content = new Uint8Array(fields.length + body.length);
  content.set(fields);
  content.set(body, fields.length);
  return content;
}

/**
 * Imports a secret as an HMAC-SHA1 key (sign and verify).
 *
 * @param secretKey The account's secret.
 * @returns The key.
 */
export function importHmacSha1Key(secretKey: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", ENCODER.encode(secretKey), { name: "HMAC", hash: "SHA-1" }, false, ["sign", "verify"]);
}

/**
 * Signs a request the way a RocketMQ 4.x client does.
 *
 * @param key The account's key from `importHmacSha1Key`.
 * @param extFields The request's fields, `AccessKey` included.
 * @param body The request's body.
 * @returns The `Signature` value.
 * @example Sign a route query
 * ```ts
 * import { importHmacSha1Key, signAclV1 } from "./acl_v1.ts";
 * const key = await importHmacSha1Key("secret-1");
 * console.log(await signAclV1(key, { AccessKey: "ak1", topic: "orders" }, undefined));
 * ```
 */
export async function signAclV1(key: CryptoKey, extFields: Readonly<Record<string, string>>, body: Uint8Array | undefined): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", key, aclV1Content(extFields, body) as Uint8Array<ArrayBuffer>);
  return toBase64(new Uint8Array(mac));
}

/**
 * Checks a request's ACL 1.0 signature (constant time).
 *
 * @param key The account's key from `importHmacSha1Key`.
 * @param extFields The request's fields, `Signature` included.
 * @param body The request's body.
 * @returns Whether `Signature` is the right one.
 */
export async function verifyAclV1(key: CryptoKey, extFields: Readonly<Record<string, string>>, body: Uint8Array | undefined): Promise<boolean> {
  const given = extFields[ACL_V1_FIELDS.SIGNATURE];
  if (given === undefined) return false;
  const mac = fromBase64(given);
  if (mac === undefined || mac.length !== 20) return false;
  return await crypto.subtle.verify("HMAC", key, mac as Uint8Array<ArrayBuffer>, aclV1Content(extFields, body) as Uint8Array<ArrayBuffer>);
}
