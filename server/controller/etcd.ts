/**
 * A small etcd v3 client over its JSON gateway (`/v3/kv/range`, `/v3/kv/txn`, `/v3/lease/*`), with
 * `fetch` only: keys and values travel base64-encoded, 64-bit numbers as decimal text. Several
 * endpoints (the members of one etcd cluster) are tried in turn; the one that answered is tried
 * first next time. With a user name and password (etcd auth enabled) it takes a token from each
 * member (`/v3/auth/authenticate`) and takes a new one when the member no longer knows it (expired
 * after `--auth-token-ttl` idle, or the member restarted). See docs/REPLICATION.md, "Automatic failover".
 *
 * @module
 */

/** Options of `EtcdClient`. */
export interface EtcdClientOptions {
  /** Member URLs, e.g. `http://127.0.0.1:2379`. */
  endpoints: readonly string[];
  /** How long one request may take on one endpoint. @default 1000 */
  timeoutMs?: number;
  /** Sent as `Authorization` (an etcd auth token) when set. @default none */
  token?: string;
  /** etcd auth: the user and password to take tokens with (instead of `token`). @default none */
  credentials?: EtcdCredentials;
  /** The runtime's fetch (TLS options are the runtime's own). @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** An etcd user. */
export interface EtcdCredentials {
  username: string;
  password: string;
}

/** One key as etcd returns it. */
export interface EtcdKeyValue {
  key: string;
  value: string;
  createRevision: number;
  modRevision: number;
  lease: string;
}

/** A comparison of a transaction. */
export type EtcdCompare =
  | { key: string; rangeEnd?: string; target: "CREATE" | "MOD"; result: "EQUAL" | "GREATER" | "LESS"; revision: number }
  | { key: string; target: "VALUE"; result: "EQUAL"; value: string };

/** An operation of a transaction. */
export type EtcdOp = { put: { key: string; value: string; lease?: string } } | { delete: { key: string; rangeEnd?: string } };

/** gRPC status codes etcd answers with. */
const INVALID_ARGUMENT = 3;
const PERMISSION_DENIED = 7;
const UNAUTHENTICATED = 16;

/** etcd could not be reached, or answered an error. */
export class EtcdError extends Error {
  /** etcd's gRPC status code, when it answered one. */
  readonly code: number | undefined;

  /**
   * @param message What failed.
   * @param options The cause, and etcd's status code.
   */
  constructor(message: string, options?: ErrorOptions & { code?: number }) {
    super(message, options);
    this.name = "EtcdError";
    this.code = options?.code;
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function b64(text: string): string {
  let binary = "";
  for (const byte of encoder.encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function unb64(text: string | undefined): string {
  if (text === undefined) return "";
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return decoder.decode(bytes);
}

/**
 * The end of the range of every key starting with `prefix` (etcd's "prefix" range end).
 *
 * @param prefix The prefix.
 * @returns The first key after every key with that prefix.
 */
export function prefixEnd(prefix: string): string {
  const last = prefix.charCodeAt(prefix.length - 1);
  return prefix.slice(0, -1) + String.fromCharCode(last + 1);
}

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  lease?: string;
}

function kv(raw: RawKv): EtcdKeyValue {
  return {
    key: unb64(raw.key),
    value: unb64(raw.value),
    createRevision: Number(raw.create_revision ?? 0),
    modRevision: Number(raw.mod_revision ?? 0),
    lease: raw.lease ?? "0",
  };
}

/** An etcd cluster, through its JSON gateway. */
export class EtcdClient {
  readonly #endpoints: string[];
  readonly #timeoutMs: number;
  readonly #token: string | undefined;
  readonly #credentials: EtcdCredentials | undefined;
  /** etcd auth: each member's token (simple tokens are a member's own), or the request taking one. */
  readonly #tokens = new Map<string, Promise<string>>();
  readonly #fetch: typeof fetch;
  #preferred = 0;

  /** @param options Endpoints and timeouts. */
  constructor(options: EtcdClientOptions) {
    if (options.endpoints.length === 0) throw new RangeError("etcd needs at least one endpoint");
    for (const endpoint of options.endpoints) {
      if (!/^https?:\/\/[^/]+$/.test(endpoint)) throw new RangeError(`Invalid etcd endpoint "${endpoint}": expected http://host:port or https://host:port`);
    }
    this.#endpoints = [...options.endpoints];
    this.#timeoutMs = options.timeoutMs ?? 1000;
    this.#token = options.token;
    if (options.credentials !== undefined && options.token !== undefined) throw new RangeError("etcd takes a token or credentials, not both");
    if (options.credentials !== undefined && (options.credentials.username === "" || options.credentials.password === "")) {
      throw new RangeError("etcd credentials need a user name and a password");
    }
    this.#credentials = options.credentials;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** The endpoints, as given. */
  get endpoints(): readonly string[] {
    return this.#endpoints;
  }

  async #call(path: string, body: unknown): Promise<Record<string, unknown>> {
    const errors: string[] = [];
    for (let i = 0; i < this.#endpoints.length; i++) {
      const index = (this.#preferred + i) % this.#endpoints.length;
      const endpoint = this.#endpoints[index]!;
      try {
        let answer: Record<string, unknown>;
        try {
          answer = await this.#post(endpoint, path, body, await this.#authorization(endpoint));
        } catch (error) {
          // The member no longer knows the token (expired, or it restarted): once more with a new one.
          if (!(error instanceof EtcdError && error.code === UNAUTHENTICATED && this.#credentials !== undefined)) throw error;
          this.#tokens.delete(endpoint);
          answer = await this.#post(endpoint, path, body, await this.#authorization(endpoint));
        }
        this.#preferred = index;
        return answer;
      } catch (error) {
        // A refused request (a wrong password, a permission the user lacks) is the same on every member.
        if (error instanceof EtcdError && (error.code === PERMISSION_DENIED || error.code === INVALID_ARGUMENT)) throw error;
        errors.push(`${endpoint}: ${(error as Error).message}`);
      }
    }
    throw new EtcdError(`etcd is unreachable (${errors.join("; ")})`);
  }

  /** The `Authorization` value for a member: the given token, one taken with the credentials, or none. */
  #authorization(endpoint: string): Promise<string | undefined> {
    if (this.#credentials === undefined) return Promise.resolve(this.#token);
    let token = this.#tokens.get(endpoint);
    if (token === undefined) {
      const { username, password } = this.#credentials;
      token = this.#post(endpoint, "/v3/auth/authenticate", { name: username, password }, undefined).then((answer) => {
        if (typeof answer.token !== "string" || answer.token === "") throw new EtcdError("answered the authentication with no token");
        return answer.token;
      }, (error) => {
        if (error instanceof EtcdError && error.code === INVALID_ARGUMENT) {
          throw new EtcdError(`etcd refused user "${username}": ${error.message} (check controller.etcdUsername and controller.etcdPassword)`, { cause: error, code: INVALID_ARGUMENT });
        }
        throw error;
      });
      this.#tokens.set(endpoint, token);
      token.catch(() => {
        if (this.#tokens.get(endpoint) === token) this.#tokens.delete(endpoint);
      });
    }
    return token;
  }

  /** One request to one member. */
  async #post(endpoint: string, path: string, body: unknown, authorization: string | undefined): Promise<Record<string, unknown>> {
    const response = await this.#fetch(`${endpoint}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization === undefined ? {} : { authorization }) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await response.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new EtcdError(`answered ${response.status} with no JSON: ${text.slice(0, 200)}`);
    }
    if (!response.ok || typeof parsed.error === "string" || typeof parsed.code === "number" && parsed.code !== 0) {
      const message = String(parsed.message ?? parsed.error ?? response.statusText);
      const hint = message.endsWith("user name is empty") ? " (etcd has auth enabled: set controller.etcdUsername and controller.etcdPassword)" : "";
      // A member without a leader cannot serve: another member may.
      throw new EtcdError(`answered ${response.status}: ${message}${hint}`, typeof parsed.code === "number" ? { code: parsed.code } : {});
    }
    return parsed;
  }

  /**
   * Reads one key, or every key in `[key, rangeEnd)`.
   *
   * @param key The key (or the range start).
   * @param rangeEnd The range end (`prefixEnd(prefix)` for a prefix). @default one key
   * @returns The keys found and the store's revision.
   */
  async range(key: string, rangeEnd?: string): Promise<{ kvs: EtcdKeyValue[]; revision: number }> {
    const body: Record<string, unknown> = { key: b64(key) };
    if (rangeEnd !== undefined) body.range_end = b64(rangeEnd);
    const answer = await this.#call("/v3/kv/range", body);
    const header = answer.header as { revision?: string } | undefined;
    return { kvs: ((answer.kvs as RawKv[] | undefined) ?? []).map(kv), revision: Number(header?.revision ?? 0) };
  }

  /**
   * Writes a key.
   *
   * @param key The key.
   * @param value Its value.
   * @param lease The lease the key lives and dies with. @default none
   */
  async put(key: string, value: string, lease?: string): Promise<void> {
    await this.#call("/v3/kv/put", { key: b64(key), value: b64(value), ...(lease === undefined ? {} : { lease }) });
  }

  /**
   * A transaction: when every comparison holds, the `success` operations, otherwise `failure`.
   *
   * @param compare The comparisons.
   * @param success Operations done when all hold.
   * @param failure Operations done otherwise. @default none
   * @returns Whether the comparisons held.
   */
  async txn(compare: readonly EtcdCompare[], success: readonly EtcdOp[], failure: readonly EtcdOp[] = []): Promise<boolean> {
    const op = (o: EtcdOp) =>
      "put" in o
        ? { request_put: { key: b64(o.put.key), value: b64(o.put.value), ...(o.put.lease === undefined ? {} : { lease: o.put.lease }) } }
        : { request_delete_range: { key: b64(o.delete.key), ...(o.delete.rangeEnd === undefined ? {} : { range_end: b64(o.delete.rangeEnd) }) } };
    const answer = await this.#call("/v3/kv/txn", {
      compare: compare.map((c) =>
        c.target === "VALUE"
          ? { key: b64(c.key), target: "VALUE", result: c.result, value: b64(c.value) }
          : {
            key: b64(c.key),
            ...(c.rangeEnd === undefined ? {} : { range_end: b64(c.rangeEnd) }),
            target: c.target,
            result: c.result,
            [c.target === "CREATE" ? "create_revision" : "mod_revision"]: String(c.revision),
          }
      ),
      success: success.map(op),
      failure: failure.map(op),
    });
    return answer.succeeded === true;
  }

  /**
   * Grants a lease.
   *
   * @param ttlSeconds Its time to live (etcd raises very short ones to its minimum).
   * @returns The lease id and the TTL granted.
   */
  async grant(ttlSeconds: number): Promise<{ id: string; ttlSeconds: number }> {
    const answer = await this.#call("/v3/lease/grant", { TTL: String(ttlSeconds) });
    return { id: String(answer.ID), ttlSeconds: Number(answer.TTL) };
  }

  /**
   * Renews a lease.
   *
   * @param id The lease.
   * @returns Its TTL in seconds afterwards; 0 or less when it no longer exists.
   */
  async keepAlive(id: string): Promise<number> {
    const answer = await this.#call("/v3/lease/keepalive", { ID: id });
    const result = answer.result as { TTL?: string } | undefined;
    return Number(result?.TTL ?? 0);
  }

  /**
   * Ends a lease now, deleting its keys.
   *
   * @param id The lease.
   */
  async revoke(id: string): Promise<void> {
    await this.#call("/v3/lease/revoke", { ID: id });
  }
}
