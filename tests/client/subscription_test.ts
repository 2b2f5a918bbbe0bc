/**
 * Consumers check selectors when given: a bad SQL92 expression is refused by `subscribe` (or
 * `pull`) with its column, before anything is sent; a selector of the wrong shape is a
 * ClientError; and the group's heartbeat tells the broker a subscription's expression type.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LitePullConsumer } from "../../client/lite_pull_consumer.ts";
import { PullConsumer } from "../../client/pull_consumer.ts";
import { PushConsumer } from "../../client/push_consumer.ts";
import { ClientError, FilterExpressionError } from "../../core/errors.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import { dial, startCluster, type TestCluster } from "../_helpers/consumer_cluster.ts";
import { until } from "../_helpers/wait.ts";

const BAD = "region = 'eu' AND amount >";
const BAD_MESSAGE = 'Invalid SQL filter at column 27: expected a value after ">"';
const options = { nameServer: "127.0.0.1:1", group: "g", dial, log: () => {} };

describe("subscribe() checks the selector", () => {
  for (const Consumer of [PushConsumer, LitePullConsumer]) {
    test(`${Consumer.name}: a bad SQL92 expression throws FilterExpressionError naming the column`, () => {
      const consumer = new Consumer(options);
      expect(() => consumer.subscribe("orders", { sql: BAD })).toThrow(new FilterExpressionError('expected a value after ">"', { line: 1, column: 27 }));
      expect(() => consumer.subscribe("orders", { sql: BAD })).toThrow(BAD_MESSAGE);
    });

    test(`${Consumer.name}: a selector that is neither a string nor { sql } is a ClientError`, () => {
      const consumer = new Consumer(options);
      for (const selector of [42, {}, { sql: 5 }, null, { tag: "A" }]) {
        expect(() => consumer.subscribe("orders", selector as never)).toThrow(ClientError);
      }
      consumer.subscribe("orders", { sql: "region = 'eu'" });
      consumer.subscribe("orders", "A || B");
    });
  }
});

describe("PullConsumer.pull() checks the selector", () => {
  const queue: MessageQueue = { topic: "orders", brokerName: "broker-a", queueId: 0 };

  test("a bad SQL92 expression, or tags and SQL together, are refused before any request", async () => {
    const consumer = new PullConsumer(options);
    await consumer.start();
    try {
      // The NameServer does not exist: any request would fail otherwise.
      await expect(consumer.pull(queue, 0, { sql: BAD })).rejects.toThrow(BAD_MESSAGE);
      await expect(consumer.pull(queue, 0, { sql: BAD })).rejects.toBeInstanceOf(FilterExpressionError);
      await expect(consumer.pull(queue, 0, { sql: "a = 1", expression: "A" })).rejects.toThrow("Pass expression (tags) or sql, not both");
    } finally {
      await consumer.shutdown();
    }
  });
});

describe("heartbeats carry the expression type", () => {
  let cluster: TestCluster;
  beforeAll(async () => {
    cluster = await startCluster();
    await cluster.createTopic("typed", 1);
  });
  afterAll(async () => {
    await cluster.close();
  });

  test("the broker records a push consumer's SQL92 subscription as SQL92, and its retry topic as TAG", async () => {
    const consumer = new PushConsumer({ ...options, nameServer: cluster.nameServer, group: "typed_group" });
    consumer.subscribe("typed", { sql: "region = 'eu'" });
    consumer.onMessage(() => "SUCCESS");
    await consumer.start();
    try {
      const consumers = cluster.standalone.broker.context.consumers;
      await until(() => consumers.groupInfo("typed_group") !== undefined, 5000, "the group's heartbeat");
      const subscriptions = consumers.groupInfo("typed_group")!.subscriptions.map(({ topic, expression, expressionType }) => ({ topic, expression, expressionType }));
      expect(subscriptions).toEqual([
        { topic: "%RETRY%typed_group", expression: "*", expressionType: "TAG" },
        { topic: "typed", expression: "region = 'eu'", expressionType: "SQL92" },
      ]);
    } finally {
      await consumer.shutdown();
    }
  });
});
