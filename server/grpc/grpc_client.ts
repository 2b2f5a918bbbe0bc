/**
 * One RocketMQ 5 client (by its `x-mq-client-id`) as the broker sees it: a `Connection` like a
 * remoting client's, so the broker's processors, producer and consumer managers and transaction
 * check-backs treat it as one. Its transport is in process: requests are handed to processors
 * directly, replies that come later (a held pull) arrive as frames and are matched by id, and the
 * broker's own requests to the client (CHECK_TRANSACTION_STATE) are turned into Telemetry commands
 * pushed on the client's stream.
 *
 * @module
 */
import { encodeFrame, FrameDecoder } from "../../core/codec/frame.ts";
import { type Command, CommandFlag, type Header } from "../../core/protocol/command.ts";
import { validateHeader } from "../../core/protocol/headers.ts";
import { ResponseCode } from "../../core/protocol/request_code.ts";
import { Connection } from "../../core/remoting/connection.ts";
import type { Processor, Reply } from "../../core/remoting/dispatcher.ts";
import type { Transport } from "../../core/remoting/transport.ts";
import { type Access, attachAccess } from "../acl/access.ts";
import type { Settings } from "./gen/apache/rocketmq/v2/definition_pb.ts";
import type { TelemetryCommand } from "./gen/apache/rocketmq/v2/service_pb.ts";

/** Pushes a command on one of the client's Telemetry streams. */
export type TelemetrySink = (command: TelemetryCommand) => void;

/** Options of `GrpcClient`. */
export interface GrpcClientOptions {
  /** The client's `x-mq-client-id`. */
  clientId: string;
  /** `host:port` of its peer. */
  remoteAddress: string;
  /** Turns a request of the broker (CHECK_TRANSACTION_STATE) into a Telemetry push; false: not deliverable. */
  onBrokerRequest: (client: GrpcClient, request: Command) => boolean;
  /** Called once when the client is closed. */
  onClose: (client: GrpcClient) => void;
  /**
   * Takes back a request whose call was cancelled (the broker's pull hold service); true when it
   * was parked and will never be answered.
   */
  drop: (request: Command) => boolean;
}

const MAX_ID = 0x7fffffff;

/** A RocketMQ 5 client known to this broker. */
export class GrpcClient {
  readonly clientId: string;
  /** The broker's view of the client, handed to processors and managers. */
  readonly connection: Connection;
  /** Its latest settings from Telemetry, if any arrived. */
  settings: Settings | undefined;
  /** The account of its latest authenticated call (ACL on). */
  owner: string | undefined;
  /** When the client last made a call (ms since epoch). */
  lastSeen = Date.now();
  /** Open Telemetry streams (a client opens one per endpoint it uses). */
  readonly streams: Set<TelemetrySink> = new Set();
  readonly #options: GrpcClientOptions;
  readonly #pending = new Map<number, (reply: Reply) => void>();
  readonly #decoder = new FrameDecoder();
  #nextId = 1;
  #closed = false;

  /** @param options The client's id, address and callbacks. */
  constructor(options: GrpcClientOptions) {
    this.clientId = options.clientId;
    this.#options = options;
    this.connection = new Connection();
    const transport: Transport = {
      remoteAddress: options.remoteAddress,
      bufferedAmount: 0,
      write: (data) => this.#fromBroker(data),
      close: () => this.close(),
    };
    this.connection.attach(transport);
  }

  /** Whether the client was closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Runs one broker processor for this client, as the dispatcher would for a remoting request:
   * the header is validated with the processor's schema, the account's access is attached.
   *
   * @param proc The processor.
   * @param code The request code.
   * @param header The request header.
   * @param options The request body, the account's access (ACL on), and the call's signal: when
   *   it aborts, a parked request is dropped and answered "cancelled" at once.
   * @returns The processor's reply, also when it answers later (a held pull).
   */
  async call(proc: Processor<unknown>, code: number, header: Header, options: { body?: Uint8Array; access?: Access; signal?: AbortSignal } = {}): Promise<Reply> {
    let parsed = proc.fast?.(header);
    if (parsed === undefined) {
      const check = validateHeader(proc.schema, header);
      if (!check.ok) return { code: ResponseCode.INVALID_HEADER, remark: check.error };
      parsed = check.header;
    }
    const id = this.#nextId;
    this.#nextId = id >= MAX_ID ? 1 : id + 1;
    const request: Command = { code, id, flags: 0, header, body: options.body };
    if (options.access !== undefined) attachAccess(request, options.access);
    const reply = await proc.handle(parsed, request, this.connection);
    if (reply !== undefined) return reply;
    if (this.#closed) return { code: ResponseCode.SYSTEM_ERROR, remark: "Client closed" };
    const signal = options.signal;
    if (signal === undefined) return await new Promise<Reply>((resolve) => this.#pending.set(id, resolve));
    return await new Promise<Reply>((resolve) => {
      const cancel = () => {
        // Not parked (being answered now): its answer still comes, and says what it took.
        if (!this.#options.drop(request)) return;
        this.#pending.delete(id);
        resolve({ code: ResponseCode.SYSTEM_ERROR, remark: "Call cancelled by the client" });
      };
      this.#pending.set(id, (reply) => {
        signal.removeEventListener("abort", cancel);
        resolve(reply);
      });
      if (signal.aborted) cancel();
      else signal.addEventListener("abort", cancel, { once: true });
    });
  }

  /** Closes the client: the broker forgets it as it forgets a closed connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const resolve of this.#pending.values()) resolve({ code: ResponseCode.SYSTEM_ERROR, remark: "Client closed" });
    this.#pending.clear();
    this.streams.clear();
    this.connection.handlers.close();
    this.#options.onClose(this);
  }

  /** Frames the broker wrote to this client: late replies and the broker's own requests. */
  #fromBroker(data: Uint8Array): void {
    let commands: Command[];
    try {
      commands = this.#decoder.push(data);
    } catch {
      return;
    }
    for (const command of commands) {
      if ((command.flags & CommandFlag.RESPONSE) !== 0) {
        const resolve = this.#pending.get(command.id);
        if (resolve === undefined) continue;
        this.#pending.delete(command.id);
        resolve({ code: command.code, header: command.header, ...(command.body === undefined ? {} : { body: command.body }), ...(command.remark === undefined ? {} : { remark: command.remark }) });
        continue;
      }
      const delivered = this.#options.onBrokerRequest(this, command);
      if ((command.flags & CommandFlag.ONEWAY) === 0) {
        // The broker waits for an answer: say at once what this client cannot take.
        const response: Command = {
          code: delivered ? ResponseCode.SUCCESS : ResponseCode.REQUEST_CODE_NOT_SUPPORTED,
          id: command.id,
          flags: CommandFlag.RESPONSE,
          header: {},
          ...(delivered ? {} : { remark: `Request code ${command.code} cannot be delivered to a RocketMQ 5 (gRPC) client` }),
        };
        queueMicrotask(() => this.connection.handlers.data(encodeFrame(response)));
      }
    }
  }
}
