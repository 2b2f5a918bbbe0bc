/**
 * A ReceiveMessage parked in long polling whose client goes away (the call cancelled with
 * RST_STREAM, or the consumer's process killed) takes nothing for long: its parked pop is dropped
 * with its wait slot, and what a pop under way then takes is visible again at once and reaches the
 * next receive, not after the first receive's 30 s.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { dial } from "../../../client/bun/connect.ts";
import { Producer } from "../../../client/producer.ts";
import { ReceiveMessageRequestSchema, type ReceiveMessageResponse, ReceiveMessageResponseSchema } from "../../../server/grpc/gen/apache/rocketmq/v2/service_pb.ts";
import { childEnv } from "../../_helpers/process.ts";
import { until } from "../../_helpers/wait.ts";
import { type GrpcStandalone, startGrpcStandalone } from "./_standalone.ts";

let server: GrpcStandalone;
let producer: Producer;
let client: grpc.Client;

beforeAll(async () => {
  server = await startGrpcStandalone("rmq-grpc-cancel");
  producer = new Producer({ nameServer: server.standalone.nameServerAddress, dial, log: () => {} });
  await producer.start();
  client = new grpc.Client(server.endpoint, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  await producer?.shutdown();
  await server?.close();
});

/** A ReceiveMessage of one message, invisible 30 s, long-polling up to `pollMs`. */
function receive(topic: string, group: string, pollMs: number): { call: grpc.ClientReadableStream<ReceiveMessageResponse>; done: Promise<ReceiveMessageResponse[]> } {
  const metadata = new grpc.Metadata();
  metadata.set("x-mq-client-id", `cancel-test-${pollMs}`);
  const request = toBinary(ReceiveMessageRequestSchema, create(ReceiveMessageRequestSchema, {
    group: { name: group },
    messageQueue: { topic: { name: topic }, id: -1 },
    batchSize: 1,
    invisibleDuration: durationFromMs(30_000),
    longPollingTimeout: durationFromMs(pollMs),
  }));
  const call = client.makeServerStreamRequest(
    "/apache.rocketmq.v2.MessagingService/ReceiveMessage",
    (b: Uint8Array) => Buffer.from(b),
    (b: Buffer) => fromBinary(ReceiveMessageResponseSchema, b),
    request,
    metadata,
  );
  const done = new Promise<ReceiveMessageResponse[]>((resolve) => {
    const responses: ReceiveMessageResponse[] = [];
    call.on("data", (r: ReceiveMessageResponse) => responses.push(r));
    call.on("error", () => resolve(responses));
    call.on("end", () => resolve(responses));
  });
  return { call, done };
}

const bodies = (responses: ReceiveMessageResponse[]) => responses.flatMap((r) => r.content.case === "message" ? [new TextDecoder().decode(r.content.value.body)] : []);

/** Sends one message after the parked receive is gone and receives it with a second receive. */
async function nextReceiveGets(topic: string, group: string): Promise<void> {
  await producer.send({ topic, body: "after the cancel" });
  // The parked pop takes it; the next receive gets it once it is visible again.
  const started = Date.now();
  let got: string[] = [];
  while (got.length === 0 && Date.now() - started < 5000) got = bodies(await receive(topic, group, 1000).done);
  expect(got).toEqual(["after the cancel"]);
}

test("a receive cancelled by its client while it long-polls gives back what it then takes", async () => {
  const holds = server.standalone.broker.context.holds;
  // The topic exists and the group has taken all there is.
  await producer.send({ topic: "rmq5-cancel", body: "before" });
  expect(bodies(await receive("rmq5-cancel", "rmq5-cancel-group", 1000).done)).toEqual(["before"]);
  const parked = receive("rmq5-cancel", "rmq5-cancel-group", 20_000);
  await until(() => holds.size === 1, 5000, "the receive to park");
  parked.call.cancel();
  expect(await parked.done).toEqual([]);
  await nextReceiveGets("rmq5-cancel", "rmq5-cancel-group");
}, 30_000);

test("a receive cancelled while it long-polls frees its wait slot at once and takes nothing", async () => {
  const holds = server.standalone.broker.context.holds;
  await producer.send({ topic: "rmq5-cancel-slot", body: "before" });
  expect(bodies(await receive("rmq5-cancel-slot", "rmq5-cancel-slot-group", 1000).done)).toEqual(["before"]);
  const parked = receive("rmq5-cancel-slot", "rmq5-cancel-slot-group", 20_000);
  await until(() => holds.size === 1, 5000, "the receive to park");
  parked.call.cancel();
  expect(await parked.done).toEqual([]);
  // Not at the end of its 20 s: the slot is free as soon as the cancel arrives.
  await until(() => holds.size === 0, 2000, "the cancelled receive's slot to be freed");
  // Nothing took the next message: the first receive after it gets it, invisible for nobody else.
  await producer.send({ topic: "rmq5-cancel-slot", body: "after the cancel" });
  expect(bodies(await receive("rmq5-cancel-slot", "rmq5-cancel-slot-group", 2000).done)).toEqual(["after the cancel"]);
}, 30_000);

test("a RocketMQ 5 SimpleConsumer killed while its receive long-polls leaves nothing invisible", async () => {
  const holds = server.standalone.broker.context.holds;
  const child = Bun.spawn(["node", join(import.meta.dir, "_node", "consumer.cjs"), server.endpoint, "rmq5-killed", "rmq5-killed-group", "park"], {
    env: childEnv(),
    stdout: "ignore",
    stderr: "ignore",
  });
  try {
    await until(() => holds.size === 1, 15_000, "the SimpleConsumer's receive to park");
  } finally {
    child.kill("SIGKILL");
  }
  await child.exited;
  await nextReceiveGets("rmq5-killed", "rmq5-killed-group");
}, 30_000);
