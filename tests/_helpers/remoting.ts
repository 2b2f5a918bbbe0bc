/**
 * A RocketMQ 4.x remoting client for tests, written apart from the server's encoder: requests are
 * hand-built `RemotingCommand`s in either serialize type, answers come back decoded.
 */
import { FrameDecoder } from "../../core/codec/frame.ts";
import {
  decodeRemotingCommand,
  encodeRemotingFrame,
  type RemotingCommand,
  SerializeType,
} from "../../core/codec/remoting_frame.ts";
import type { Dialer, Transport } from "../../core/remoting/transport.ts";

/** A connection speaking remoting. */
export interface RemotingTestClient {
  /**
   * Sends a request and waits for its answer.
   *
   * @param code The request code.
   * @param extFields The fields; numbers and booleans are written as ali-ons writes them (JSON
   *   numbers and booleans) in JSON headers, as text in ROCKETMQ ones.
   * @param body The body.
   */
  request(code: number, extFields?: Record<string, string | number | boolean>, body?: Uint8Array, timeoutMs?: number): Promise<RemotingCommand>;
  /** Writes raw bytes. */
  write(bytes: Uint8Array): void;
  /** Requests the server sent us. */
  readonly received: RemotingCommand[];
  /** Resolves when the server closes the connection. */
  readonly closed: Promise<void>;
  close(): void;
}

/** Options of `remotingClient`. */
export interface RemotingClientOptions {
  /** @default SerializeType.JSON */
  serializeType?: SerializeType;
  /** @default 121 (ali-ons) */
  version?: number;
  /** @default "JAVA" */
  language?: string;
}

/**
 * Opens a remoting connection through a dialer.
 *
 * @param dial A dialer (the in-memory network's or a real one).
 * @param address The server.
 * @param options Serialize type, version, language.
 * @returns The client.
 */
export async function remotingClient(dial: Dialer, address: string, options: RemotingClientOptions = {}): Promise<RemotingTestClient> {
  const decoder = new FrameDecoder<RemotingCommand>({ maxFrameSize: 64 * 1024 * 1024, decode: decodeRemotingCommand });
  const pending = new Map<number, (command: RemotingCommand) => void>();
  const received: RemotingCommand[] = [];
  let closedResolve!: () => void;
  const closed = new Promise<void>((resolve) => (closedResolve = resolve));
  let transport: Transport | undefined;
  transport = await dial(address, {
    data(chunk) {
      for (const command of decoder.push(chunk.slice())) {
        if ((command.flag & 1) !== 0) {
          pending.get(command.opaque)?.(command);
          pending.delete(command.opaque);
        } else {
          received.push(command);
        }
      }
    },
    close() {
      closedResolve();
    },
  });
  let opaque = 1;
  const serializeType = options.serializeType ?? SerializeType.JSON;
  return {
    received,
    closed,
    write: (bytes) => transport!.write(bytes),
    close: () => transport!.close(),
    request(code, extFields = {}, body, timeoutMs = 10_000) {
      const id = opaque++;
      const fields: Record<string, string> = {};
      for (const [name, value] of Object.entries(extFields)) fields[name] = String(value);
      const command: RemotingCommand = {
        code,
        language: options.language ?? "JAVA",
        version: options.version ?? 121,
        opaque: id,
        flag: 0,
        extFields: fields,
        serializeType,
      };
      if (body !== undefined) command.body = body;
      let frame = encodeRemotingFrame(command);
      if (serializeType === SerializeType.JSON) {
        // As ali-ons writes them: numbers and booleans raw.
        const header = JSON.stringify({ code, language: command.language, opaque: id, flag: 0, version: command.version, extFields });
        const headerBytes = new TextEncoder().encode(header);
        frame = new Uint8Array(8 + headerBytes.length + (body?.length ?? 0));
        const view = new DataView(frame.buffer);
        view.setUint32(0, 4 + headerBytes.length + (body?.length ?? 0));
        view.setUint32(4, headerBytes.length);
        frame.set(headerBytes, 8);
        if (body !== undefined) frame.set(body, 8 + headerBytes.length);
      }
      return new Promise<RemotingCommand>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`Remoting request ${code} timed out`));
        }, timeoutMs);
        pending.set(id, (answer) => {
          clearTimeout(timer);
          resolve(answer);
        });
        closed.then(() => {
          clearTimeout(timer);
          if (pending.delete(id)) reject(new Error(`Connection closed before request ${code} was answered`));
        });
        transport!.write(frame);
      });
    },
  };
}
