/**
 * Request signing for ACL (in the spirit of Apache RocketMQ's plain ACL): a client adds `accessKey`,
 * `timestamp`, `nonce` and `signature` to every request header, where
 *
 * ```text
 * signature = base64(HMAC-SHA256(secretKey, canonical string))
 * canonical string =
 *   "RMQ-HMAC-SHA256\n"
 *   <request code> "\n"
 *   for each header field except "signature" (and fields whose value is undefined), sorted by name:
 *     <name> "=" <canonical JSON of the value> "\n"
 *   <lowercase hex SHA-256 of the body; of zero bytes when there is no body>
 * ```
 *
 * Canonical JSON is `JSON.stringify` with object keys sorted at every level (undefined members left
 * out, as CBOR leaves them out). `accessKey`, `timestamp` and `nonce` are header fields, so the
 * signature covers them. The nonce (unique per signer: a random prefix and a counter) keeps two
 * identical requests signed in the same millisecond apart, which the server's replay check would
 * otherwise take for one request sent twice. Only Web Crypto (`crypto.subtle`) is used, so this
 * loads on every runtime.
 *
 * @module
 */
import type { Header } from "../protocol/command.ts";

/** An account's key pair. */
export interface Credentials {
  /** Names the account; sent in clear. */
  accessKey: string;
  /** Keys the HMAC; never sent. */
  secretKey: string;
}

/** Header field names the signing scheme adds. */
export const SIGNATURE_FIELDS = {
  ACCESS_KEY: "accessKey",
  TIMESTAMP: "timestamp",
  NONCE: "nonce",
  SIGNATURE: "signature",
} as const;

const PREFIX = "RMQ-HMAC-SHA256\n";
const ENCODER = new TextEncoder();
const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
/** SHA-256 of zero bytes. */
const EMPTY_DIGEST = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "bigint") return value.toString();
    return JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "null" : canonicalJson(item))).join(",")}]`;
  if (value instanceof Uint8Array) return `"${toBase64(value)}"`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((key) => record[key] !== undefined).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(",")}}`;
}

/**
 * Builds the canonical string of a request (see the module doc).
 *
 * @param code The request code.
 * @param header The header, `accessKey` and `timestamp` included (`signature` is skipped).
 * @param bodyDigest The lowercase hex SHA-256 of the body.
 * @returns The text that is signed.
 */
export function canonicalString(code: number, header: Header, bodyDigest: string): string {
  let text = `${PREFIX}${code}\n`;
  const keys = Object.keys(header).filter((key) => key !== SIGNATURE_FIELDS.SIGNATURE && header[key] !== undefined).sort();
  for (const key of keys) text += `${key}=${canonicalJson(header[key])}\n`;
  return text + bodyDigest;
}

/**
 * The lowercase hex SHA-256 of a body.
 *
 * @param body The payload, if any.
 * @returns The digest as hex.
 */
export async function bodyDigest(body: Uint8Array | undefined): Promise<string> {
  if (body === undefined || body.length === 0) return EMPTY_DIGEST;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body as Uint8Array<ArrayBuffer>));
  let hex = "";
  for (const byte of digest) hex += HEX[byte];
  return hex;
}

/**
 * Imports a secret as an HMAC-SHA256 key (sign and verify).
 *
 * @param secretKey The account's secret.
 * @returns The key.
 */
export function importHmacKey(secretKey: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", ENCODER.encode(secretKey), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
}

/**
 * Encodes bytes as standard base64.
 *
 * @param bytes The bytes.
 * @returns The base64 text.
 */
export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/**
 * Decodes standard base64 in its one canonical form (what `toBase64` writes: `=` padding, no
 * whitespace, unused bits zero), or returns undefined. `atob` alone is lenient: it also takes the
 * text without padding, with spaces, or with other unused bits, so one signature would have many
 * spellings, and a replay check keyed on the text could be passed by respelling it.
 *
 * @param text The base64 text.
 * @returns The bytes, or undefined when the text is not canonical base64.
 */
export function fromBase64(text: string): Uint8Array | undefined {
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return undefined;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return toBase64(bytes) === text ? bytes : undefined;
}

/** Options of `RequestSigner`. */
export interface RequestSignerOptions {
  /** The clock, in milliseconds. @default Date.now */
  now?: () => number;
}

/**
 * Signs requests for one account. The imported HMAC key is cached, so each request costs one
 * SHA-256 of the body and one HMAC.
 *
 * @example Signing a request header
 * ```ts
 * import { RequestSigner } from "./signing.ts";
 * const signer = new RequestSigner({ accessKey: "ak1", secretKey: "secret-1" });
 * const header = await signer.sign(10, { topic: "orders" }, new TextEncoder().encode("hi"));
 * console.log(header.accessKey, typeof header.signature); // ak1 string
 * ```
 */
export class RequestSigner {
  readonly #credentials: Credentials;
  readonly #now: () => number;
  /** Random per signer, so nonces of two signers of one account differ too. */
  readonly #noncePrefix: string;
  #nonceCounter = 0;
  #key: Promise<CryptoKey> | undefined;

  /**
   * @param credentials The account's key pair.
   * @param options The clock.
   */
  constructor(credentials: Credentials, options: RequestSignerOptions = {}) {
    this.#credentials = credentials;
    this.#now = options.now ?? Date.now;
    let prefix = "";
    for (const byte of crypto.getRandomValues(new Uint8Array(8))) prefix += HEX[byte];
    this.#noncePrefix = `${prefix}.`;
  }

  /** The account's access key. */
  get accessKey(): string {
    return this.#credentials.accessKey;
  }

  /**
   * Returns a copy of `header` with `accessKey`, `timestamp`, `nonce` and `signature` added.
   *
   * @param code The request code.
   * @param header The request header (left unchanged).
   * @param body The request body, if any.
   * @returns The signed header.
   */
  async sign(code: number, header: Header, body?: Uint8Array): Promise<Header> {
    this.#key ??= importHmacKey(this.#credentials.secretKey);
    const signed: Header = {
      ...header,
      [SIGNATURE_FIELDS.ACCESS_KEY]: this.#credentials.accessKey,
      [SIGNATURE_FIELDS.TIMESTAMP]: this.#now(),
      [SIGNATURE_FIELDS.NONCE]: this.#noncePrefix + (this.#nonceCounter++).toString(36),
    };
    delete signed[SIGNATURE_FIELDS.SIGNATURE];
    const text = canonicalString(code, signed, await bodyDigest(body));
    const mac = await crypto.subtle.sign("HMAC", await this.#key, ENCODER.encode(text));
    signed[SIGNATURE_FIELDS.SIGNATURE] = toBase64(new Uint8Array(mac));
    return signed;
  }
}

/**
 * Checks a signature against a request with a key from `importHmacKey` (constant time). Only the
 * canonical base64 spelling of the MAC is accepted (see `fromBase64`), so a valid signature has
 * exactly one text, the one replay checks remember.
 *
 * @param key The account's HMAC key.
 * @param code The request code.
 * @param header The header as received (with `accessKey`, `timestamp` and `signature`).
 * @param body The request body, if any.
 * @returns Whether the signature is right.
 */
export async function verifySignature(key: CryptoKey, code: number, header: Header, body?: Uint8Array): Promise<boolean> {
  const given = header[SIGNATURE_FIELDS.SIGNATURE];
  if (typeof given !== "string") return false;
  const mac = fromBase64(given);
  if (mac === undefined || mac.length !== 32) return false;
  const text = canonicalString(code, header, await bodyDigest(body));
  return await crypto.subtle.verify("HMAC", key, mac as Uint8Array<ArrayBuffer>, ENCODER.encode(text));
}
