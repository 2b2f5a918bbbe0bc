/**
 * Routes requests to processors by code, validating each header with its schema first.
 *
 * @module
 */
import type * as v from "valibot";
import type { Command, Header } from "../protocol/command.ts";
import { validateHeader } from "../protocol/headers.ts";
import { ResponseCode } from "../protocol/request_code.ts";
import type { Connection, RequestHandler } from "./connection.ts";

/** An answer to a request. */
export interface Reply {
  code: number;
  header?: Header;
  body?: Uint8Array;
  remark?: string;
  /**
   * Called once the reply was written to the connection (its body copied into the frame), so a
   * processor that lent the body from memory of its own may use that memory again. Whoever answers
   * with a reply calls it after `Connection#respond`; one that keeps the reply instead never does.
   */
  written?: () => void;
}

/**
 * Serves one request code. `handle` returns the reply, or `undefined` when it answers later
 * itself (a held long poll).
 */
export interface Processor<H = unknown> {
  schema: v.GenericSchema<unknown, H>;
  /**
   * A hand-written parser for hot request codes: returns exactly what `schema` would for a plainly
   * valid header, or undefined to let `schema` decide.
   */
  fast?: (header: unknown) => H | undefined;
  handle(header: H, request: Command, connection: Connection): Reply | undefined | Promise<Reply | undefined>;
}

/**
 * Declares a processor with its header type inferred from the schema.
 *
 * @param schema The header schema.
 * @param handle The handler.
 * @param fast An optional fast parser agreeing with the schema (see `Processor.fast`).
 * @returns The processor.
 */
export function processor<H>(
  schema: v.GenericSchema<unknown, H>,
  handle: Processor<H>["handle"],
  fast?: Processor<H>["fast"],
): Processor<H> {
  return fast === undefined ? { schema, handle } : { schema, handle, fast };
}

/** Counts the requests a dispatcher is processing (see `DispatcherOptions.track`). */
export interface RequestTracker {
  /** A request of `connection` is handed to its processor. */
  enter(connection: Connection): void;
  /** That request is answered (or failed, or left to its processor to answer later itself). */
  leave(connection: Connection): void;
}

/** Options of `createDispatcher`. */
export interface DispatcherOptions {
  /** Called with unexpected processor failures (they are also answered with SYSTEM_ERROR). */
  onError?: (error: unknown, request: Command) => void;
  /**
   * Told of every request handed to a processor and of its end, right after its answer was given
   * to the connection: the counting rides on the dispatcher's own answer, no promise of its own a request.
   */
  track?: RequestTracker;
}

/**
 * Builds a connection request handler from processors keyed by request code.
 *
 * @param processors The processors.
 * @param options Error reporting.
 * @returns The handler to give `Connection`.
 */
export function createDispatcher(
  processors: Readonly<Record<number, Processor<any>>>,
  options: DispatcherOptions = {},
): RequestHandler {
  const fail = (connection: Connection, request: Command, error: unknown) => {
    options.onError?.(error, request);
    const message = error instanceof Error ? error.message : String(error);
    connection.respond(request, { code: ResponseCode.SYSTEM_ERROR, remark: `Request ${request.code} failed: ${message}` });
  };
  const answer = (connection: Connection, request: Command, reply: Reply | undefined) => {
    if (reply === undefined) return;
    try {
      connection.respond(request, reply);
      reply.written?.();
    } catch (error) {
      // A reply that cannot be encoded is a bug here, not the client's fault: say so, keep serving.
      fail(connection, request, error);
    }
  };
  const track = options.track;
  // `answer` and `fail` do not throw (an answer that cannot be written fails; `respond` of a failure does not throw).
  const answered = track === undefined ? answer : (connection: Connection, request: Command, reply: Reply | undefined) => {
    answer(connection, request, reply);
    track.leave(connection);
  };
  const failed = track === undefined ? fail : (connection: Connection, request: Command, error: unknown) => {
    fail(connection, request, error);
    track.leave(connection);
  };
  return (request, connection) => {
    const proc = processors[request.code];
    if (proc === undefined) {
      connection.respond(request, {
        code: ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
        remark: `Request code ${request.code} is not supported`,
      });
      return;
    }
    let header = proc.fast?.(request.header);
    if (header === undefined) {
      const check = validateHeader(proc.schema, request.header);
      if (!check.ok) {
        connection.respond(request, { code: ResponseCode.INVALID_HEADER, remark: check.error });
        return;
      }
      header = check.header;
    }
    track?.enter(connection);
    let result;
    try {
      result = proc.handle(header, request, connection);
    } catch (error) {
      failed(connection, request, error);
      return;
    }
    if (result instanceof Promise) {
      result.then((reply) => answered(connection, request, reply), (error) => failed(connection, request, error));
    } else {
      answered(connection, request, result);
    }
  };
}
