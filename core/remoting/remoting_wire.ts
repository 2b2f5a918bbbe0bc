/**
 * A connection that speaks RocketMQ 4.x remoting: its frames become `Command`s and back, so the
 * connection's request correlation, limits and timeouts, and the server's processors, serve it
 * unchanged. A remoting request arrives as a command with the remoting code, `id` = its opaque,
 * `flags` = its flag bits (response and one-way are the same bits in both protocols) and `header` =
 * its extFields as text; what it was on the wire stays reachable through `remotingOrigin`. A server
 * maps such a request onto its own request (`setRemotingOrigin` on the new command, with how its
 * answer goes back); answers are written in the serialize type the request came in.
 *
 * @module
 */
import type { CborWriter } from "../codec/cbor_encoder.ts";
import { FrameDecoder } from "../codec/frame.ts";
import {
  decodeRemotingCommand,
  RemotingFlag,
  type RemotingCommand,
  SerializeType,
  writeRemotingFrame,
} from "../codec/remoting_frame.ts";
import { type Command, CommandFlag, type Header } from "../protocol/command.ts";
import { ResponseCode } from "../protocol/request_code.ts";
import type { Wire, WireFactory } from "./wire.ts";

/** A remoting answer before its envelope (opaque, flag, serialize type) is added. */
export interface RemotingReply {
  code: number;
  /** Named fields; every value is written as text. */
  extFields?: Record<string, string>;
  body?: Uint8Array;
  remark?: string;
}

/** A reply as the processors give it. */
export interface NativeReply {
  code: number;
  header?: Header;
  body?: Uint8Array;
  remark?: string;
}

/** Where a request came from over remoting, and how its answer goes back. */
export interface RemotingOrigin {
  /** The request as it was on the wire. */
  readonly command: RemotingCommand;
  /**
   * Turns the processors' reply into the remoting answer; undefined (or no function) writes the
   * header's values as extFields.
   */
  readonly answer?: (reply: NativeReply) => RemotingReply | undefined;
}

const ORIGINS = new WeakMap<Command, RemotingOrigin>();

/**
 * Where a request came from over remoting.
 *
 * @param command A request a connection received, or one mapped from it.
 * @returns Its origin, or undefined for a native request.
 */
export function remotingOrigin(command: Command): RemotingOrigin | undefined {
  return ORIGINS.get(command);
}

/**
 * Marks a request as coming from remoting (a server's own request mapped from a remoting one), so
 * its answer is written back in remoting form.
 *
 * @param command The request.
 * @param origin The remoting request and how its answer goes back.
 */
export function setRemotingOrigin(command: Command, origin: RemotingOrigin): void {
  ORIGINS.set(command, origin);
}

/** The `MQVersion` ordinal answers carry: `V4_9_4`, what a 4.9.4 broker sends. */
export const REMOTING_VERSION = 401;

/** Our response codes that RocketMQ clients do not know, as the RocketMQ code a Java broker sends there. */
const RESPONSE_CODES: Readonly<Record<number, number>> = {
  // A header RocketMQ's Java broker cannot decode is answered SYSTEM_ERROR with the reason.
  [ResponseCode.INVALID_HEADER]: ResponseCode.SYSTEM_ERROR,
  // Not stored: the client should try elsewhere, which it does on SYSTEM_ERROR.
  [ResponseCode.FLUSH_DISK_FAILED]: ResponseCode.SYSTEM_ERROR,
  // Java's EndTransactionProcessor answers SYSTEM_ERROR when it finds no such half message.
  [ResponseCode.TRANSACTION_NOT_FOUND]: ResponseCode.SYSTEM_ERROR,
  [ResponseCode.REPLY_NOT_DELIVERED]: ResponseCode.SYSTEM_ERROR,
};

/**
 * Writes header values as extFields: text as it is, numbers and booleans as their text, anything
 * else as JSON; absent values are left out.
 *
 * @param header The fields.
 * @returns The extFields.
 */
export function textFields(header: Header | undefined): Record<string, string> {
  const fields: Record<string, string> = {};
  if (header === undefined) return fields;
  for (const name in header) {
    const value = header[name];
    if (value === undefined || value === null) continue;
    fields[name] = typeof value === "string" ? value : typeof value === "object" ? JSON.stringify(value) : String(value);
  }
  return fields;
}

function toCommand(remoting: RemotingCommand): Command {
  const command: Command = {
    code: remoting.code,
    id: remoting.opaque,
    flags: remoting.flag & (CommandFlag.RESPONSE | CommandFlag.ONEWAY),
    header: remoting.extFields,
  };
  if (remoting.body !== undefined) command.body = remoting.body;
  if (remoting.remark !== undefined) command.remark = remoting.remark;
  ORIGINS.set(command, { command: remoting });
  return command;
}

function answerOf(origin: RemotingOrigin | undefined, command: Command): RemotingReply {
  const reply: NativeReply = { code: command.code, header: command.header, body: command.body, remark: command.remark };
  if (origin?.answer !== undefined) {
    try {
      const mapped = origin.answer(reply);
      if (mapped !== undefined) return mapped;
    } catch (error) {
      return { code: ResponseCode.SYSTEM_ERROR, remark: `Cannot write the answer in RocketMQ's form: ${(error as Error).message}` };
    }
  }
  const answer: RemotingReply = { code: reply.code, extFields: textFields(reply.header) };
  if (reply.body !== undefined) answer.body = reply.body;
  if (reply.remark !== undefined) answer.remark = reply.remark;
  return answer;
}

function toRemoting(command: Command, request: Command | undefined): RemotingCommand {
  if ((command.flags & CommandFlag.RESPONSE) === 0) {
    const out: RemotingCommand = {
      code: command.code,
      language: "JAVA",
      version: REMOTING_VERSION,
      opaque: command.id,
      flag: command.flags & CommandFlag.ONEWAY ? RemotingFlag.ONEWAY : 0,
      extFields: textFields(command.header),
      serializeType: SerializeType.JSON,
    };
    if (command.body !== undefined) out.body = command.body;
    return out;
  }
  const origin = request === undefined ? undefined : ORIGINS.get(request);
  const answer = answerOf(origin, command);
  const out: RemotingCommand = {
    code: RESPONSE_CODES[answer.code] ?? answer.code,
    language: "JAVA",
    version: REMOTING_VERSION,
    opaque: command.id,
    flag: RemotingFlag.RESPONSE,
    extFields: answer.extFields ?? {},
    serializeType: origin?.command.serializeType ?? SerializeType.JSON,
  };
  if (answer.remark !== undefined) out.remark = answer.remark;
  if (answer.body !== undefined) out.body = answer.body;
  return out;
}

/** RocketMQ 4.x remoting frames, JSON or ROCKETMQ headers (answers mirror their request's). */
export const remotingWire: WireFactory = (options): Wire => {
  const decoder = new FrameDecoder<Command>({
    maxFrameSize: options.maxFrameSize,
    budget: options.budget,
    decode: (frame) => toCommand(decodeRemotingCommand(frame)),
  });
  return {
    protocol: "remoting",
    get pendingBytes() {
      return decoder.pendingBytes;
    },
    get viewedChunk() {
      return decoder.viewedChunk;
    },
    push: (chunk) => decoder.push(chunk),
    reset: () => decoder.reset(),
    write(out: CborWriter, command, request) {
      const at = out.length;
      try {
        writeRemotingFrame(out, toRemoting(command, request));
      } catch (error) {
        out.truncate(at);
        throw error;
      }
    },
  };
};
