/**
 * The Admin HTTP API as the `rmq` verbs call it: JSON in and out, the server's error message on a
 * refusal (exit 1) and a clear message when nothing answers (exit 3).
 *
 * @module
 */
import type { Credentials } from "../core/auth/signing.ts";
import { CliError, ExitCode } from "./_output.ts";

/** Time a request may take before the server counts as unreachable. */
const TIMEOUT_MS = 15_000;

/** How an `AdminClient` authenticates. */
export interface AdminAuth {
  /** ACL off: the bearer token changes need. */
  token?: string;
  /** ACL on: the account sent as `Authorization: Basic` (it takes precedence over `token`). */
  credentials?: Credentials;
}

/** Calls one admin endpoint. */
export class AdminClient {
  readonly #base: string;
  readonly #auth: AdminAuth;

  /**
   * @param base The admin API URL, e.g. `http://127.0.0.1:8080`.
   * @param auth The token or account sent with every request, if any.
   */
  constructor(base: string, auth: AdminAuth = {}) {
    this.#base = base.replace(/\/+$/, "");
    this.#auth = auth;
  }

  /** The admin API URL. */
  get base(): string {
    return this.#base;
  }

  /**
   * `GET` a JSON resource.
   *
   * @param path The path, with parameters already encoded (see `segment`).
   * @param query Query parameters; undefined values are left out.
   * @returns The parsed body.
   */
  get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) params.set(name, String(value));
    const search = params.size > 0 ? `?${params}` : "";
    return this.request<T>("GET", `${path}${search}`);
  }

  /**
   * Sends a request.
   *
   * @param method The HTTP method.
   * @param path The path with its query.
   * @param body A JSON body.
   * @returns The parsed response body.
   * @throws {CliError} Exit 3 when the server cannot be reached, exit 1 with the server's message
   *   when it answers with an error.
   */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.#base}${path}`;
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const { token, credentials } = this.#auth;
    if (credentials !== undefined) headers.authorization = `Basic ${basic(credentials)}`;
    else if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let response: Response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (error) {
      const reason = (error as Error).name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000} s` : (error as Error).message;
      throw new CliError(`Cannot connect to the admin API at ${this.#base}: ${reason}`, ExitCode.UNREACHABLE, { cause: error });
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text === "" ? {} : JSON.parse(text);
    } catch {
      throw new CliError(`${method} ${url} answered HTTP ${response.status} with a body that is not JSON: is ${this.#base} a rocketmq-ts admin API?`);
    }
    if (!response.ok) {
      const error = (json as { error?: { code?: string; message?: string } }).error;
      let message = error?.message ?? `HTTP ${response.status}`;
      // Speak CLI: name the flags that carry what the API asked for.
      const challenge = response.headers.get("www-authenticate") ?? "";
      if (response.status === 401 && credentials === undefined && /^Session\b/i.test(challenge)) {
        message = `The admin API at ${this.#base} has ACL on: pass --access-key and --secret-key (or set RMQ_ACCESS_KEY and RMQ_SECRET_KEY)`;
      } else if (response.status === 401 && token === undefined && /^Bearer\b/i.test(challenge)) {
        message = `The admin API at ${this.#base} needs its token for changes: pass --token (or set RMQ_ADMIN_TOKEN)`;
      }
      throw new CliError(`${message} (HTTP ${response.status}${error?.code === undefined ? "" : ` ${error.code}`})`, ExitCode.FAILED, { httpStatus: response.status });
    }
    return json as T;
  }
}

/**
 * Encodes one path segment (`%DLQ%billing` → `%25DLQ%25billing`).
 *
 * @param value A topic, group or message id.
 * @returns The encoded segment.
 */
export function segment(value: string): string {
  return encodeURIComponent(value);
}

/** `accessKey:secretKey` in base64 (UTF-8), for `Authorization: Basic`. */
function basic(credentials: Credentials): string {
  const bytes = new TextEncoder().encode(`${credentials.accessKey}:${credentials.secretKey}`);
  let text = "";
  for (const byte of bytes) text += String.fromCharCode(byte);
  return btoa(text);
}
