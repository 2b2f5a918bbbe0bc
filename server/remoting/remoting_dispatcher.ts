/**
 * RocketMQ 4.x remoting requests onto the server's own processors: each supported request code has
 * a mapping that turns the remoting request (extFields, JSON bodies) into the native request of
 * the same meaning, and the native reply back into what RocketMQ clients decode. The processors,
 * the ACL check and the limits see an ordinary request; no broker logic lives here.
 *
 * @module
 */
import type { RemotingCommand } from "../../core/codec/remoting_frame.ts";
import type { Command, Header } from "../../core/protocol/command.ts";
import { ResponseCode } from "../../core/protocol/request_code.ts";
import type { Connection, RequestHandler } from "../../core/remoting/connection.ts";
import { type NativeReply, type RemotingReply, remotingOrigin, setRemotingOrigin } from "../../core/remoting/remoting_wire.ts";

/** A native request built from a remoting one. */
export interface MappedRequest {
  header: Header;
  body?: Uint8Array;
}

/** A remoting request answered without reaching a processor. */
export interface Refusal {
  refuse: { code: number; remark: string };
}

/** How one remoting request code maps onto the server's processors. */
export interface RemotingMapping {
  /** The native request code it becomes. @default the same code */
  code?: number;
  /**
   * Builds the native request.
   *
   * @param request The remoting request.
   * @param connection Its connection.
   * @returns The native header and body, or a refusal.
   * @throws {TypeError} When a field is malformed (answered SYSTEM_ERROR with the message).
   */
  request(request: RemotingCommand, connection: Connection): MappedRequest | Refusal;
  /**
   * Turns the processor's reply into the remoting answer.
   *
   * @returns The answer, or undefined to write the reply's header values as extFields.
   */
  answer?(reply: NativeReply, request: RemotingCommand): RemotingReply | undefined;
}

/** Options of `createRemotingDispatcher`. */
export interface RemotingDispatcherOptions {
  /** Why codes RocketMQ defines are not served, for a remark clients can act on. */
  unsupported?: Readonly<Record<number, string>>;
}

/**
 * Builds the handler of remoting requests.
 *
 * @param mappings The mappings, by remoting request code.
 * @param next The server's handler of native requests (ACL and processors).
 * @param options Remarks of unsupported codes.
 * @returns The handler for requests of remoting connections.
 */
export function createRemotingDispatcher(
  mappings: Readonly<Record<number, RemotingMapping>>,
  next: RequestHandler,
  options: RemotingDispatcherOptions = {},
): RequestHandler {
  const unsupported = options.unsupported ?? {};
  return (request, connection) => {
    const origin = remotingOrigin(request);
    if (origin === undefined) return next(request, connection);
    const remoting = origin.command;
    const mapping = mappings[remoting.code];
    if (mapping === undefined) {
      const why = unsupported[remoting.code];
      connection.respond(request, {
        code: ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
        remark: `Request code ${remoting.code} is not supported over RocketMQ remoting${why === undefined ? "" : `: ${why}`}`,
      });
      return;
    }
    let mapped: MappedRequest | Refusal;
    try {
      mapped = mapping.request(remoting, connection);
    } catch (error) {
      connection.respond(request, { code: ResponseCode.SYSTEM_ERROR, remark: (error as Error).message });
      return;
    }
    if ("refuse" in mapped) {
      connection.respond(request, mapped.refuse);
      return;
    }
    const native: Command = { code: mapping.code ?? remoting.code, id: request.id, flags: request.flags, header: mapped.header };
    if (mapped.body !== undefined) native.body = mapped.body;
    const answer = mapping.answer;
    setRemotingOrigin(native, answer === undefined ? { command: remoting } : { command: remoting, answer: (reply) => answer(reply, remoting) });
    return next(native, connection);
  };
}
