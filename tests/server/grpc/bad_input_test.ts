/**
 * Bad input on the gRPC port gets a clear error and ends only the call or connection that sent
 * it: bytes that are not HTTP/2, a request that is not valid protobuf, one over the size limit,
 * an unknown method, a call without a client id, a broken Telemetry stream, consumer calls with bad
 * values or forged receipt handles. After each, a good call
 * on another connection (and, for call-level errors, on the same one) is answered.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import { connect as tcpConnect } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code } from "../../../server/grpc/gen/apache/rocketmq/v2/definition_pb.ts";
import {
  AckMessageRequestSchema,
  AckMessageResponseSchema,
  ForwardMessageToDeadLetterQueueRequestSchema,
  ForwardMessageToDeadLetterQueueResponseSchema,
  QueryRouteRequestSchema,
  type QueryRouteResponse,
  QueryRouteResponseSchema,
  SendMessageRequestSchema,
  type SendMessageResponse,
  SendMessageResponseSchema,
  ReceiveMessageRequestSchema,
  type ReceiveMessageResponse,
  ReceiveMessageResponseSchema,
  SyncLiteSubscriptionRequestSchema,
  SyncLiteSubscriptionResponseSchema,
  TelemetryCommandSchema,
} from "../../../server/grpc/gen/apache/rocketmq/v2/service_pb.ts";
import { type GrpcStandalone, startGrpcStandalone } from "./_standalone.ts";

const SERVICE = "/apache.rocketmq.v2.MessagingService";
const MAX_MESSAGE = 64 * 1024;

let server: GrpcStandalone;
let address: string;

function client(): grpc.Client {
  return new grpc.Client(address, grpc.credentials.createInsecure());
}

function metadata(clientId = "bad-input-test"): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set("x-mq-client-id", clientId);
  return m;
}

/** One unary call with raw request bytes; resolves with the status error or the decoded answer. */
function raw<T>(c: grpc.Client, method: string, bytes: Uint8Array, decode: (b: Buffer) => T, meta = metadata()): Promise<{ error: grpc.ServiceError } | { response: T }> {
  return new Promise((resolve) => {
    c.makeUnaryRequest(`${SERVICE}/${method}`, (b: Uint8Array) => Buffer.from(b), decode, bytes, meta, (error, response) => {
      resolve(error ? { error } : { response: response as T });
    });
  });
}

function queryRoute(c: grpc.Client, meta = metadata()): Promise<{ error: grpc.ServiceError } | { response: QueryRouteResponse }> {
  const request = toBinary(QueryRouteRequestSchema, create(QueryRouteRequestSchema, { topic: { name: "bad-input" } }));
  return raw(c, "QueryRoute", request, (b) => fromBinary(QueryRouteResponseSchema, b), meta);
}

async function routeWorks(c: grpc.Client): Promise<void> {
  const answer = await queryRoute(c);
  expect("response" in answer && answer.response.status?.code).toBe(Code.OK);
}

beforeAll(async () => {
  server = await startGrpcStandalone("rmq-grpc-bad", { maxMessageSize: MAX_MESSAGE });
  address = server.endpoint;
});

afterAll(async () => {
  await server?.close();
});

describe("bad input on the gRPC port", () => {
  test("bytes that are not HTTP/2 end that connection only", async () => {
    const [host, port] = address.split(":");
    const closed = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect(Number(port), host!, () => socket.write("GARBAGE GARBAGE GARBAGE\r\n\r\n\x00\x01\x02".repeat(10)));
      socket.on("data", () => {});
      socket.on("close", () => resolve(true));
      socket.on("error", () => {});
      setTimeout(() => resolve(false), 5000);
    });
    expect(closed).toBe(true);
    const c = client();
    await routeWorks(c);
    c.close();
  });

  test("a request that is not valid protobuf is answered INTERNAL and the connection keeps serving", async () => {
    const c = client();
    const good = toBinary(SendMessageRequestSchema, create(SendMessageRequestSchema, {
      messages: [{ topic: { name: "bad-input" }, body: new Uint8Array(100), systemProperties: { messageId: "id-1", messageType: 1 } }],
    }));
    const truncated = good.subarray(0, good.length - 10);
    const answer = await raw(c, "SendMessage", truncated, (b) => fromBinary(SendMessageResponseSchema, b));
    expect("error" in answer && answer.error.code).toBe(grpc.status.INTERNAL);
    expect("error" in answer && answer.error.details).toContain("deserializ");
    const garbage = await raw(c, "SendMessage", new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f]), (b) => fromBinary(SendMessageResponseSchema, b));
    expect("error" in garbage && garbage.error.code).toBe(grpc.status.INTERNAL);
    await routeWorks(c);
    c.close();
  });

  test("a request over the size limit is answered RESOURCE_EXHAUSTED before it is read", async () => {
    const c = client();
    const big = toBinary(SendMessageRequestSchema, create(SendMessageRequestSchema, {
      messages: [{ topic: { name: "bad-input" }, body: new Uint8Array(MAX_MESSAGE + 128 * 1024), systemProperties: { messageId: "id-2", messageType: 1 } }],
    }));
    const answer = await raw(c, "SendMessage", big, (b) => fromBinary(SendMessageResponseSchema, b));
    expect("error" in answer && answer.error.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    await routeWorks(c);
    c.close();
  });

  test("a body over maxMessageSize within the request limit is answered MESSAGE_BODY_TOO_LARGE", async () => {
    const c = client();
    const request = toBinary(SendMessageRequestSchema, create(SendMessageRequestSchema, {
      messages: [{ topic: { name: "bad-input" }, body: new Uint8Array(MAX_MESSAGE + 1), systemProperties: { messageId: "id-3", messageType: 1 } }],
    }));
    const answer = await raw<SendMessageResponse>(c, "SendMessage", request, (b) => fromBinary(SendMessageResponseSchema, b));
    expect("response" in answer && answer.response.status?.code).toBe(Code.MESSAGE_BODY_TOO_LARGE);
    expect("response" in answer && answer.response.status?.message).toBe(`Message body of ${MAX_MESSAGE + 1} bytes exceeds the limit of ${MAX_MESSAGE} bytes`);
    c.close();
  });

  test("an unknown method is answered UNIMPLEMENTED", async () => {
    const c = client();
    const answer = await raw(c, "NoSuchMethod", new Uint8Array(0), (b) => b);
    expect("error" in answer && answer.error.code).toBe(grpc.status.UNIMPLEMENTED);
    await routeWorks(c);
    c.close();
  });

  test("a call without a client id is answered CLIENT_ID_REQUIRED", async () => {
    const c = client();
    const answer = await queryRoute(c, new grpc.Metadata());
    expect("response" in answer && answer.response.status?.code).toBe(Code.CLIENT_ID_REQUIRED);
    c.close();
  });

  test("a Telemetry stream sent garbage fails alone; another stream of the same client keeps working", async () => {
    const c = client();
    const path = `${SERVICE}/Telemetry`;
    const encode = (b: Uint8Array) => Buffer.from(b);
    const decode = (b: Buffer) => fromBinary(TelemetryCommandSchema, b);
    const broken = c.makeBidiStreamRequest(path, encode, decode, metadata("telemetry-client"));
    const failed = new Promise<grpc.ServiceError>((resolve) => broken.on("error", resolve));
    broken.on("data", () => {});
    broken.write(new Uint8Array([0x12, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    expect((await failed).code).toBe(grpc.status.INTERNAL);
    const good = c.makeBidiStreamRequest(path, encode, decode, metadata("telemetry-client"));
    const answered = new Promise<unknown>((resolve) => good.on("data", resolve));
    good.write(toBinary(TelemetryCommandSchema, create(TelemetryCommandSchema, {
      command: { case: "settings", value: { clientType: 1, pubSub: { case: "publishing", value: { topics: [{ name: "bad-input" }] } } } },
    })));
    const command = await answered as { status?: { code: number }; command: { case: string } };
    expect(command.status?.code).toBe(Code.OK);
    expect(command.command.case).toBe("settings");
    good.end();
    c.close();
  });

  test("consumer calls with bad values or forged receipt handles get their status codes at once", async () => {
    const c = client();
    const group = { name: "bad-input-group" };
    const topic = { name: "bad-input" };
    // No invisible duration and no auto-renew: refused before anything is popped.
    const request = toBinary(ReceiveMessageRequestSchema, create(ReceiveMessageRequestSchema, {
      group,
      messageQueue: { topic, id: -1 },
      batchSize: 1,
      autoRenew: false,
    }));
    const responses: ReceiveMessageResponse[] = [];
    const stream = c.makeServerStreamRequest(`${SERVICE}/ReceiveMessage`, (b: Uint8Array) => Buffer.from(b), (b: Buffer) => fromBinary(ReceiveMessageResponseSchema, b), request, metadata());
    stream.on("data", (r: ReceiveMessageResponse) => responses.push(r));
    await new Promise((resolve) => stream.on("end", resolve));
    expect(responses.map((r) => r.content.case === "status" && r.content.value.code)).toEqual([Code.ILLEGAL_INVISIBLE_TIME]);
    const forged = "a forged receipt handle";
    const ack = await raw(c, "AckMessage", toBinary(AckMessageRequestSchema, create(AckMessageRequestSchema, { group, topic, entries: [{ messageId: "m", receiptHandle: forged }] })), (b) =>
      fromBinary(AckMessageResponseSchema, b));
    expect("response" in ack && [ack.response.status?.code, ack.response.entries[0]?.status?.code]).toEqual([Code.INVALID_RECEIPT_HANDLE, Code.INVALID_RECEIPT_HANDLE]);
    const forward = await raw(
      c,
      "ForwardMessageToDeadLetterQueue",
      toBinary(ForwardMessageToDeadLetterQueueRequestSchema, create(ForwardMessageToDeadLetterQueueRequestSchema, { group, topic, receiptHandle: forged, messageId: "m" })),
      (b) => fromBinary(ForwardMessageToDeadLetterQueueResponseSchema, b),
    );
    expect("response" in forward && forward.response.status?.code).toBe(Code.INVALID_RECEIPT_HANDLE);
    const lite = await raw(c, "SyncLiteSubscription", toBinary(SyncLiteSubscriptionRequestSchema, create(SyncLiteSubscriptionRequestSchema, {})), (b) =>
      fromBinary(SyncLiteSubscriptionResponseSchema, b));
    expect("response" in lite && lite.response.status?.code).toBe(Code.UNSUPPORTED);
    await routeWorks(c);
    c.close();
  });
});
