/**
 * Auto-renew: Apache's RocketMQ 5 PushConsumer (rocketmq-client-nodejs, unchanged, in a Node
 * process) receives with `autoRenew`; the broker keeps renewing what it is still consuming, as
 * RocketMQ 5's proxy does, so a handler slower than the invisible time sees its message once, and
 * its ack with the handle it was given settles the renewed delivery.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { dial } from "../../../client/bun/connect.ts";
import { Producer } from "../../../client/producer.ts";
import { until } from "../../_helpers/wait.ts";
import { runNodeScript } from "./_node_script.ts";
import { type GrpcStandalone, startGrpcStandalone } from "./_standalone.ts";

let server: GrpcStandalone;
let producer: Producer;

beforeAll(async () => {
  // Deliveries invisible for 1.5 s at first, renewed when within 1 s of becoming visible.
  server = await startGrpcStandalone("rmq-grpc-renew", { grpcAutoRenew: { invisibleMs: 1500, aheadMs: 1000, periodMs: 100 } });
  producer = new Producer({ nameServer: server.standalone.nameServerAddress, dial, log: () => {} });
  await producer.start();
});

afterAll(async () => {
  await producer?.shutdown();
  await server?.close();
});

test("a push consumer's handler slower than the invisible time is not redelivered while it runs, and its ack settles the renewed delivery", async () => {
  await producer.send({ topic: "rmq5-renew", body: "slow" });
  // The handler takes 3 s: twice the first invisible time.
  const lines = await runNodeScript("consumer.cjs", [server.endpoint, "rmq5-renew", "rmq5-renew-group", "push-slow", "1"]);
  expect(lines.map((l) => [l.body, l.attempt, l.result])).toEqual([["slow", 1, "SUCCESS"]]);
  const pop = server.standalone.broker.context.pop;
  await until(() => pop.groupStats().get("rmq5-renew-group")?.inflight === 0, 5000, "the ack to settle the renewed delivery");
}, 60_000);
