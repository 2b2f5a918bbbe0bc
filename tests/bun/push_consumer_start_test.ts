/**
 * A PushConsumer started right after a producer created its topic (auto-creation on the first
 * send, so the NameServer learns the route moments later) starts at once and says nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Producer } from "../../client/producer.ts";
import { PushConsumer } from "../../client/push_consumer.ts";
import { dial, startCluster, type TestCluster } from "../_helpers/consumer_cluster.ts";
import { until } from "../_helpers/wait.ts";

let cluster: TestCluster;
let producer: Producer;

beforeAll(async () => {
  cluster = await startCluster();
  producer = new Producer({ nameServer: cluster.nameServer, dial, group: "start_test_producer" });
  await producer.start();
});

afterAll(async () => {
  await producer.shutdown();
  await cluster.close();
});

describe("PushConsumer start", () => {
  test("started right after its topic was auto-created, it gets the first message at once and logs nothing", async () => {
    const runs = 8;
    const delays: number[] = [];
    const lines: string[] = [];
    for (let run = 0; run < runs; run++) {
      const topic = `fresh_topic_${run}`;
      await producer.send({ topic, body: `first of ${run}` });
      const consumer = new PushConsumer({
        nameServer: cluster.nameServer,
        group: `fresh_group_${run}`,
        dial,
        consumeFromWhere: "FIRST_OFFSET",
        log: (line) => lines.push(`run ${run}: ${line}`),
      });
      let receivedAt: number | undefined;
      consumer.subscribe(topic, "*");
      consumer.onMessage(() => {
        receivedAt ??= performance.now();
        return "SUCCESS";
      });
      const started = performance.now();
      await consumer.start();
      try {
        await until(() => receivedAt !== undefined, 10_000, `the first message of run ${run}`);
      } finally {
        await consumer.shutdown();
      }
      delays.push(Math.round(receivedAt! - started));
    }
    console.log(`first message after start (ms): ${delays.join(" ")}`);
    expect(lines).toEqual([]);
    // The slow path was a 1 s retry; a quiet start takes tens of ms here.
    expect(Math.max(...delays)).toBeLessThan(500);
  }, 60_000);

  test("a topic that stays unroutable is still reported, once, after the first seconds", async () => {
    const lines: string[] = [];
    const consumer = new PushConsumer({ nameServer: cluster.nameServer, group: "never_group", dial, log: (line) => lines.push(line) });
    consumer.subscribe("never_created", "*");
    consumer.onMessage(() => "SUCCESS");
    const started = Date.now();
    await consumer.start();
    try {
      await until(() => lines.length > 0, 10_000, "the lasting failure to be logged");
      const after = Date.now() - started;
      expect(after).toBeGreaterThanOrEqual(3000);
      // Retries go on every second at most; the same failure is not logged again.
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      await consumer.shutdown();
    }
    expect(lines).toEqual(['Rebalance of topic "never_created" for group "never_group" failed: No route for topic "never_created" (code 17)']);
  }, 20_000);
});
