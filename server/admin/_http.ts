/**
 * Shared pieces of the admin routes: the error type `app.onError` maps, input validation with
 * valibot, and the JSON body reader.
 *
 * @module
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import * as v from "valibot";

/** Machine-readable error codes of the admin API. */
export type AdminErrorCode =
  | "BAD_REQUEST"
  | "UNAUTHORIZED"
  | "NOT_FOUND"
  | "CONFLICT"
  | "FORBIDDEN"
  | "UNPROCESSABLE"
  | "NOT_AVAILABLE"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  | "MISDIRECTED_REQUEST"
  | "TOO_MANY_REQUESTS"
  | "RECEIPT_HANDLE_INVALID"
  | "RECEIPT_HANDLE_EXPIRED"
  | "BAD_GATEWAY"
  | "INTERNAL";

/**
 * An HTTP failure with an error code, answered as `{ error: { code, message } }` by the app's
 * `onError`. Hono's own `HTTPException`, with the code in `cause`.
 *
 * @param status The HTTP status.
 * @param code The error code.
 * @param message What went wrong, for people.
 * @returns The exception to throw.
 */
export function httpError(status: ContentfulStatusCode, code: AdminErrorCode, message: string): HTTPException {
  return new HTTPException(status, { message, cause: { code } });
}

/**
 * Validates input with a valibot schema.
 *
 * @param schema The schema.
 * @param input The raw input (parsed JSON, query or path parameters).
 * @param what Names the input in the error (`body`, `query`, `path`).
 * @returns The parsed output.
 * @throws {HTTPException} 400 naming the first bad field.
 */
export function validate<T>(schema: v.GenericSchema<unknown, T>, input: unknown, what: string): T {
  const result = v.safeParse(schema, input);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const path = v.getDotPath(issue);
  throw httpError(400, "BAD_REQUEST", path === null ? `Invalid ${what}: ${issue.message}` : `Invalid ${what} field "${path}": ${issue.message}`);
}

/** Largest JSON body accepted, in bytes. */
export const MAX_JSON_BODY = 4 * 1024 * 1024 + 64 * 1024;

/**
 * Reads a request body, counting bytes as they arrive: a body past the limit is refused as soon as
 * the limit is passed (the rest is never read), whether or not it announced its length.
 *
 * @param c The request context.
 * @param limit Most bytes accepted.
 * @returns The body's bytes.
 * @throws {HTTPException} 413 once the body passes `limit`.
 */
export async function bodyBytes(c: Context, limit: number = MAX_JSON_BODY): Promise<Uint8Array> {
  const length = Number(c.req.header("content-length") ?? "0");
  if (length > limit) throw httpError(413, "PAYLOAD_TOO_LARGE", `Request body of ${length} bytes exceeds ${limit} bytes`);
  const stream = c.req.raw.body;
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      reader.cancel().catch(() => {});
      throw httpError(413, "PAYLOAD_TOO_LARGE", `Request body exceeds ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/**
 * Reads and validates a JSON request body.
 *
 * @param c The request context.
 * @param schema The body's schema.
 * @param limit Most bytes accepted. @default MAX_JSON_BODY
 * @returns The parsed body.
 * @throws {HTTPException} 400 for a body that is not JSON or does not match, 413 for one too large.
 */
export async function jsonBody<T>(c: Context, schema: v.GenericSchema<unknown, T>, limit: number = MAX_JSON_BODY): Promise<T> {
  const text = new TextDecoder().decode(await bodyBytes(c, limit));
  let value: unknown;
  try {
    value = text === "" ? {} : JSON.parse(text);
  } catch (error) {
    throw httpError(400, "BAD_REQUEST", `Request body is not JSON: ${(error as Error).message}`);
  }
  return validate(schema, value, "body");
}

/** A whole number in a query or path parameter. */
export function integerParam(min: number, max: number = Number.MAX_SAFE_INTEGER) {
  return v.pipe(
    v.string(),
    v.regex(/^-?\d+$/, "expected a whole number"),
    v.transform(Number),
    v.safeInteger("expected a safe integer"),
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  );
}
