/**
 * The peer of one HTTP request that runs a broker processor in process, for processors that may
 * answer later (a long-polled POP parks itself in the pull hold service and answers through its
 * connection): the answer settles a promise instead of leaving on a socket, and when the HTTP
 * client goes away the peer closes, so a parked pop is dropped instead of taking messages for
 * nobody.
 *
 * @module
 */
import type { Command, Header } from "../../../core/protocol/command.ts";
import { Connection } from "../../../core/remoting/connection.ts";
import type { Processor, Reply } from "../../../core/remoting/dispatcher.ts";

let nextId = 1;

/** A connection whose only request is answered into a promise. */
class HttpPeer extends Connection {
  readonly #answer: (reply: Reply) => void;

  constructor(answer: (reply: Reply) => void) {
    super();
    this.#answer = answer;
  }

  override respond(_request: Command, response: { code: number; header?: Header; body?: Uint8Array; remark?: string }): void {
    if (!this.closed) this.#answer(response);
  }
}

/**
 * Runs a processor for one HTTP request, waiting for its answer however late it comes.
 *
 * @param proc The processor.
 * @param code The request code.
 * @param header The header, already valid for the processor's schema.
 * @param signal The HTTP request's signal: when it aborts, the peer closes (a parked request is
 *   dropped) and the promise resolves undefined.
 * @returns The reply, or undefined when the client went away first.
 */
export function requestInProcess<H>(proc: Processor<H>, code: number, header: H, signal: AbortSignal): Promise<Reply | undefined> {
  return new Promise<Reply | undefined>((resolve, reject) => {
    const peer = new HttpPeer((reply) => {
      signal.removeEventListener("abort", abort);
      resolve(reply);
      peer.close();
    });
    const abort = () => {
      peer.close();
      resolve(undefined);
    };
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    const request: Command = { code, id: nextId++, flags: 0, header: header as Header };
    Promise.resolve(proc.handle(header, request, peer)).then((reply) => {
      if (reply !== undefined) peer.respond(request, reply);
    }, (error) => {
      signal.removeEventListener("abort", abort);
      peer.close();
      reject(error);
    });
  });
}
