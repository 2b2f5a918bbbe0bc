import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Perm, RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { BrokerFixture, heartbeat, until } from "./_fixture.ts";

const NOTIFY = RequestCode.NOTIFY_CONSUMER_IDS_CHANGED;

let fx: BrokerFixture;

beforeEach(() => {
  fx = new BrokerFixture();
});

afterEach(async () => {
  await fx.cleanup();
});

function consumerList(connection: import("../../../core/remoting/connection.ts").Connection, group: string) {
  return connection.request(RequestCode.GET_CONSUMER_LIST_BY_GROUP, { consumerGroup: group });
}

describe("consumer manager", () => {
  test("heartbeats register members; the consumer list is sorted and the retry topic exists", async () => {
    await fx.start();
    const a = await fx.client();
    const b = await fx.client();
    expect((await heartbeat(b.connection, "client-b", "g1")).code).toBe(ResponseCode.SUCCESS);
    expect((await heartbeat(a.connection, "client-a", "g1")).code).toBe(ResponseCode.SUCCESS);
    const list = await consumerList(a.connection, "g1");
    expect(list.code).toBe(ResponseCode.SUCCESS);
    expect(list.header.clientIds).toEqual(["client-a", "client-b"]);
    expect(fx.broker.context.topics.get("%RETRY%g1")).toEqual({
      topicName: "%RETRY%g1",
      readQueueNums: 1,
      writeQueueNums: 1,
      perm: Perm.READ | Perm.WRITE,
      order: false,
    });
    const info = fx.broker.context.consumers.groupInfo("g1")!;
    expect(info.messageModel).toBe("CLUSTERING");
    expect(info.members.map((m) => [m.clientId, m.runtime])).toEqual([["client-a", "bun test"], ["client-b", "bun test"]]);
    expect(info.subscriptions).toEqual([{ topic: "orders", expression: "*", expressionType: "TAG", version: 0 }]);
    expect(info.inconsistency).toBeUndefined();
  });

  test("an unknown group is an error, and broadcasting groups get no retry topic", async () => {
    await fx.start();
    const a = await fx.client();
    const unknown = await consumerList(a.connection, "nobody");
    expect(unknown.code).toBe(ResponseCode.SYSTEM_ERROR);
    expect(unknown.remark).toContain('"nobody"');
    await heartbeat(a.connection, "client-a", "bcast", undefined, "BROADCASTING");
    expect((await consumerList(a.connection, "bcast")).header.clientIds).toEqual(["client-a"]);
    expect(fx.broker.context.topics.get("%RETRY%bcast")).toBeUndefined();
  });

  test("members are told when another joins or unregisters", async () => {
    await fx.start();
    const a = await fx.client();
    const b = await fx.client();
    const joined = a.next(NOTIFY);
    await heartbeat(a.connection, "client-a", "g1");
    expect((await joined).header).toEqual({ consumerGroup: "g1" });

    const mark = a.received.length;
    await heartbeat(a.connection, "client-a", "g1"); // a repeated heartbeat changes nothing
    const bJoined = a.next(NOTIFY, mark);
    await heartbeat(b.connection, "client-b", "g1");
    await bJoined;
    expect(a.received.slice(mark).filter((c) => c.code === NOTIFY)).toHaveLength(1);

    const left = a.next(NOTIFY);
    const reply = await b.connection.request(RequestCode.UNREGISTER_CLIENT, { clientId: "client-b", consumerGroup: "g1" });
    expect(reply.code).toBe(ResponseCode.SUCCESS);
    expect((await left).header).toEqual({ consumerGroup: "g1" });
    expect((await consumerList(a.connection, "g1")).header.clientIds).toEqual(["client-a"]);
    expect(fx.logs.some((l) => l.includes('"client-b" left group "g1" (unregistered'))).toBe(true);
  });

  test("a closed connection drops its member and the others are told", async () => {
    await fx.start();
    const a = await fx.client();
    const b = await fx.client();
    await heartbeat(a.connection, "client-a", "g1");
    await heartbeat(b.connection, "client-b", "g1");
    const left = a.next(NOTIFY, a.received.length);
    b.connection.close();
    await left;
    expect((await consumerList(a.connection, "g1")).header.clientIds).toEqual(["client-a"]);
  });

  test("members silent for longer than clientExpiryMs are dropped", async () => {
    await fx.start({ clientExpiryMs: 300, clientScanIntervalMs: 20 });
    const a = await fx.client();
    const b = await fx.client();
    await heartbeat(b.connection, "client-b", "g1");
    await heartbeat(a.connection, "client-a", "g1");
    const keepAlive = setInterval(() => void heartbeat(a.connection, "client-a", "g1"), 50);
    try {
      const started = Date.now();
      const left = a.next(NOTIFY, a.received.length);
      await left;
      expect(Date.now() - started).toBeGreaterThanOrEqual(200);
      expect((await consumerList(a.connection, "g1")).header.clientIds).toEqual(["client-a"]);
      expect(b.connection.closed).toBe(false);
      expect(fx.logs.some((l) => l.includes('"client-b" left group "g1" (expired'))).toBe(true);
    } finally {
      clearInterval(keepAlive);
    }
  });

  test("inconsistent subscriptions within a group are detected and logged", async () => {
    await fx.start();
    const a = await fx.client();
    const b = await fx.client();
    await heartbeat(a.connection, "client-a", "g1", [{ topic: "orders", expression: "TagA || TagB" }]);
    await heartbeat(b.connection, "client-b", "g1", [{ topic: "orders", expression: "TagB||TagA" }]);
    expect(fx.broker.context.consumers.inconsistency("g1")).toBeUndefined();

    await heartbeat(b.connection, "client-b", "g1", [
      { topic: "orders", expression: "TagC" },
      { topic: "payments", expression: "*" },
    ]);
    expect(fx.broker.context.consumers.inconsistency("g1")).toEqual({
      group: "g1",
      conflicts: [
        {
          topic: "orders",
          variants: [
            { expression: "TagA || TagB", clientIds: ["client-a"] },
            { expression: "TagC", clientIds: ["client-b"] },
          ],
        },
        {
          topic: "payments",
          variants: [
            { expression: null, clientIds: ["client-a"] },
            { expression: "*", clientIds: ["client-b"] },
          ],
        },
      ],
    });
    expect(fx.broker.context.consumers.groupInfo("g1")!.inconsistency?.conflicts).toHaveLength(2);
    expect(fx.broker.context.consumers.inconsistentGroups().map((i) => i.group)).toEqual(["g1"]);
    const warnings = fx.logs.filter((l) => l.includes('consumer group "g1" has inconsistent subscriptions'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('topic "orders"');

    await heartbeat(b.connection, "client-b", "g1", [{ topic: "orders", expression: "TagC" }, { topic: "payments", expression: "*" }]);
    expect(fx.logs.filter((l) => l.includes("inconsistent subscriptions"))).toHaveLength(1); // logged once, not per heartbeat

    b.connection.close();
    await until(() => fx.broker.context.consumers.clientIds("g1").length === 1);
    expect(fx.broker.context.consumers.inconsistency("g1")).toBeUndefined();
    expect(fx.logs.some((l) => l.includes('"g1" subscriptions are consistent again'))).toBe(true);
  });

  test("unregistering without a group leaves every group; reconnecting keeps the member", async () => {
    await fx.start();
    const a = await fx.client();
    const a2 = await fx.client();
    await heartbeat(a.connection, "client-a", "g1");
    await heartbeat(a.connection, "client-a", "g2");
    expect(fx.broker.context.consumers.groups()).toEqual(["g1", "g2"]);

    // The client reconnects and heartbeats on a new connection; closing the old one is harmless.
    await heartbeat(a2.connection, "client-a", "g1");
    a.connection.close();
    await until(() => fx.broker.context.consumers.clientIds("g2").length === 0);
    expect(fx.broker.context.consumers.clientIds("g1")).toEqual(["client-a"]);

    await a2.connection.request(RequestCode.UNREGISTER_CLIENT, { clientId: "client-a" });
    expect(fx.broker.context.consumers.groups()).toEqual([]);
  });

  test("a group name too long for its retry topic is refused", async () => {
    await fx.start();
    const a = await fx.client();
    const reply = await heartbeat(a.connection, "client-a", "g".repeat(125));
    expect(reply.code).toBe(ResponseCode.MESSAGE_ILLEGAL);
    expect(reply.remark).toContain("shorter consumer group name");
    expect(fx.broker.context.consumers.groups()).toEqual([]);
  });
});
