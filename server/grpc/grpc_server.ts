/**
 * The gRPC port (RocketMQ 5's proxy protocol, default 8081): `@grpc/grpc-js`'s HTTP/2 server, which
 * runs on Bun and Deno through their `node:http2`, with the messages coded by the generated
 * `@bufbuild/protobuf` schemas, serving `MessagingService`.
 *
 * A request that is not valid protobuf is answered INTERNAL ("Error deserializing request"), one
 * over the size limit RESOURCE_EXHAUSTED, an unknown method UNIMPLEMENTED; bytes that are not HTTP/2
 * end that connection only.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { type DescMessage, fromBinary, type MessageShape, toBinary } from "@bufbuild/protobuf";
import type { TlsServerOptions } from "../../core/remoting/transport.ts";
import type { Log } from "../logger.ts";
import { MessagingService as MessagingServiceDesc } from "./gen/apache/rocketmq/v2/service_pb.ts";
import type { TelemetryCommand } from "./gen/apache/rocketmq/v2/service_pb.ts";
import type { CallInfo, MessagingService, ResponseStream, TelemetryStream } from "./messaging_service.ts";

/** Options of `startGrpcServer`. */
export interface GrpcServerOptions {
  /** What answers the calls. */
  service: MessagingService;
  /** Listen address. @default "0.0.0.0" */
  hostname?: string;
  /** Port; 0 picks a free one. @default 8081 */
  port?: number;
  /** Serve TLS with this certificate and key (PEM). @default plaintext (h2c) */
  tls?: TlsServerOptions;
  /** Largest request message, bytes (a message body plus its properties fits). @default 4 MiB + 64 KiB */
  maxReceiveMessageLength?: number;
  /** Where log lines go. @default no logging */
  log?: Log;
}

/** A running gRPC port. */
export interface GrpcServer {
  readonly hostname: string;
  readonly port: number;
  /** Stops taking calls; those under way get up to `graceMs` (then they are cut). */
  close(graceMs?: number): Promise<void>;
}

function callInfo(call: { metadata: grpc.Metadata; getPeer(): string }): CallInfo {
  const metadata = call.metadata;
  return {
    header(name) {
      const value = metadata.get(name)[0];
      return typeof value === "string" ? value : undefined;
    },
    get peer() {
      const peer = call.getPeer();
      // grpc-js names the peer "ipv4:1.2.3.4:5" or "ipv6:[::1]:5" on some runtimes, plain "host:port" on others.
      return peer.replace(/^ipv[46]:/, "");
    },
  };
}

function internal(error: unknown): grpc.ServiceError {
  const message = error instanceof Error ? error.message : String(error);
  return Object.assign(new Error(message), { code: grpc.status.INTERNAL, details: `Internal error: ${message}`, metadata: new grpc.Metadata() });
}

function responseStream<T>(call: grpc.ServerWritableStream<unknown, T> | grpc.ServerDuplexStream<unknown, T>): ResponseStream<T> {
  let ended = false;
  const gone = new AbortController();
  if (call.cancelled) gone.abort();
  else call.once("cancelled", () => gone.abort());
  return {
    signal: gone.signal,
    write(message) {
      if (!ended && !call.cancelled) call.write(message);
    },
    end() {
      if (ended) return;
      ended = true;
      if (!call.cancelled) call.end();
    },
    get cancelled() {
      return call.cancelled || ended;
    },
  };
}

type Unary = (request: never, call: CallInfo) => unknown;

/**
 * Binds the service to a gRPC server and starts listening.
 *
 * @param options The service, address, TLS and limits.
 * @returns The running server.
 */
export async function startGrpcServer(options: GrpcServerOptions): Promise<GrpcServer> {
  const { service } = options;
  const log = options.log ?? (() => {});
  // grpc-js logs to the console by default; its lines go to this server's log (the latest one started).
  grpc.setLogger({ error: (...parts: unknown[]) => log(`gRPC: ${parts.join(" ")}`, "warn") } as Partial<Console>);
  /** Open Telemetry streams: ended at close, since they last as long as their clients. */
  const telemetry = new Set<grpc.ServerDuplexStream<TelemetryCommand, TelemetryCommand>>();
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const implementation: grpc.UntypedServiceImplementation = {};
  for (const method of MessagingServiceDesc.methods) {
    const input: DescMessage = method.input;
    const output: DescMessage = method.output;
    definition[method.name] = {
      path: `/${MessagingServiceDesc.typeName}/${method.name}`,
      requestStream: method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming",
      requestSerialize: (value: unknown) => Buffer.from(toBinary(input, value as MessageShape<DescMessage>)),
      requestDeserialize: (bytes: Buffer) => fromBinary(input, bytes),
      responseSerialize: (value: unknown) => {
        const bytes = toBinary(output, value as MessageShape<DescMessage>);
        return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      },
      responseDeserialize: (bytes: Buffer) => fromBinary(output, bytes),
      originalName: method.localName,
    };
  }
  const unary = (fn: Unary): grpc.handleUnaryCall<unknown, unknown> => (call, callback) => {
    let result: unknown;
    try {
      result = fn(call.request as never, callInfo(call));
    } catch (error) {
      callback(internal(error));
      return;
    }
    Promise.resolve(result).then((response) => callback(null, response), (error) => {
      log(`gRPC: ${call.getPath()} failed: ${(error as Error)?.stack ?? error}`, "error");
      callback(internal(error));
    });
  };
  const serverStream = (
    fn: (request: never, call: CallInfo, stream: ResponseStream<unknown>) => void | Promise<void>,
  ): grpc.handleServerStreamingCall<unknown, unknown> =>
  (call) => {
    const stream = responseStream(call);
    Promise.resolve().then(() => fn(call.request as never, callInfo(call), stream)).catch((error) => {
      log(`gRPC: ${call.getPath()} failed: ${(error as Error)?.stack ?? error}`, "error");
      if (!stream.cancelled) call.destroy(internal(error));
    });
  };
  Object.assign(implementation, {
    QueryRoute: unary((r, c) => service.queryRoute(r, c)),
    Heartbeat: unary((r, c) => service.heartbeat(r, c)),
    SendMessage: unary((r, c) => service.sendMessage(r, c)),
    QueryAssignment: unary((r, c) => service.queryAssignment(r, c)),
    ReceiveMessage: serverStream((r, c, s) => service.receiveMessage(r, c, s as never)),
    AckMessage: unary((r, c) => service.ackMessage(r, c)),
    ForwardMessageToDeadLetterQueue: unary((r, c) => service.forwardMessageToDeadLetterQueue(r, c)),
    PullMessage: serverStream((r, c, s) => service.pullMessage(r, c, s as never)),
    UpdateOffset: unary((r, c) => service.updateOffset(r, c)),
    GetOffset: unary((r, c) => service.getOffset(r, c)),
    QueryOffset: unary((r, c) => service.queryOffset(r, c)),
    EndTransaction: unary((r, c) => service.endTransaction(r, c)),
    NotifyClientTermination: unary((r, c) => service.notifyClientTermination(r, c)),
    ChangeInvisibleDuration: unary((r, c) => service.changeInvisibleDuration(r, c)),
    RecallMessage: unary((r, c) => service.recallMessage(r, c)),
    SyncLiteSubscription: unary(() => service.syncLiteSubscription()),
    Telemetry: ((call: grpc.ServerDuplexStream<TelemetryCommand, TelemetryCommand>) => {
      telemetry.add(call);
      call.on("close", () => telemetry.delete(call));
      const stream: TelemetryStream = {
        ...responseStream(call),
        get cancelled() {
          return call.cancelled;
        },
        onCommand(command, end) {
          let ended = false;
          const finish = () => {
            if (ended) return;
            ended = true;
            end();
          };
          call.on("data", command);
          call.on("end", finish);
          call.on("error", finish);
          call.on("cancelled", finish);
          call.on("close", finish);
        },
      };
      service.telemetry(callInfo(call), stream).catch((error) => {
        log(`gRPC: Telemetry failed: ${(error as Error)?.stack ?? error}`, "error");
        call.destroy(internal(error));
      });
    }) as grpc.handleBidiStreamingCall<unknown, unknown>,
  });
  const server = new grpc.Server({
    "grpc.max_receive_message_length": options.maxReceiveMessageLength ?? 4 * 1024 * 1024 + 64 * 1024,
    // A client that stops reading is cut rather than buffered for.
    "grpc.keepalive_time_ms": 60_000,
    "grpc.keepalive_timeout_ms": 20_000,
  });
  server.addService(definition, implementation);
  const hostname = options.hostname ?? "0.0.0.0";
  const credentials = options.tls === undefined
    ? grpc.ServerCredentials.createInsecure()
    // No client certificates are asked for, so the CA list is unused; it is given (the certificate
    // itself) because grpc-js otherwise reads GRPC_DEFAULT_SSL_ROOTS_FILE_PATH, and Deno's TLS
    // server sends a given CA list along with the chain: every system root made its handshake
    // message too large for clients ("excessive message size").
    : grpc.ServerCredentials.createSsl(Buffer.from(options.tls.cert), [{ cert_chain: Buffer.from(options.tls.cert), private_key: Buffer.from(options.tls.key) }], false);
  const bindHost = hostname.includes(":") ? `[${hostname}]` : hostname;
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${bindHost}:${options.port ?? 8081}`, credentials, (error, bound) => {
      if (error === null) return resolve(bound);
      // grpc-js names the system error only in its message.
      const code = /\b(EADDRINUSE|EADDRNOTAVAIL|EACCES)\b/.exec(error.message)?.[1];
      reject(code === undefined ? error : Object.assign(error, { code }));
    });
  });
  let closing: Promise<void> | undefined;
  return {
    hostname,
    port,
    close(graceMs = 5000) {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
        for (const call of telemetry) call.end();
      }).then(() => service.close());
      return closing;
    },
  };
}
