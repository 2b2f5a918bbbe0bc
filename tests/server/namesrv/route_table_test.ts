import { describe, expect, test } from "bun:test";
import type { TopicConfig } from "../../../core/protocol/headers.ts";
import { type BrokerRegistration, RouteTable } from "../../../server/namesrv/route_table.ts";

function topic(topicName: string, queues = 4, perm = 6): TopicConfig {
  return { topicName, readQueueNums: queues, writeQueueNums: queues, perm, order: false };
}

function topics(...configs: TopicConfig[]): Record<string, TopicConfig> {
  return Object.fromEntries(configs.map((c) => [c.topicName, c]));
}

function broker(overrides: Partial<BrokerRegistration> = {}): BrokerRegistration {
  return {
    clusterName: "DefaultCluster",
    brokerName: "broker-a",
    brokerAddr: "10.0.0.1:10911",
    brokerId: 0,
    haServerAddr: "10.0.0.1:10912",
    topicConfigs: topics(topic("orders")),
    ...overrides,
  };
}

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => { now += ms; } };
}

describe("RouteTable", () => {
  test("controller mode: a deposed master's registration (an older epoch) is refused and the new master keeps the route", () => {
    const table = new RouteTable();
    table.registerBroker(broker({ epoch: 1 }));
    table.registerBroker(broker({ brokerAddr: "10.0.0.2:10911", epoch: 2 }));
    expect(() => table.registerBroker(broker({ epoch: 1 }))).toThrow("registers as the master of epoch 1, but a master of epoch 2 registered since");
    expect(table.getRoute("orders")?.brokerDatas[0]?.brokerAddrs["0"]).toBe("10.0.0.2:10911");
    // The deposed master may register as a slave; a master of the same or a newer epoch may register.
    table.registerBroker(broker({ brokerId: 3 }));
    table.registerBroker(broker({ brokerAddr: "10.0.0.2:10911", epoch: 2 }));
    expect(table.getRoute("orders")?.brokerDatas[0]?.brokerAddrs).toEqual({ "0": "10.0.0.2:10911", "3": "10.0.0.1:10911" });
  });

  test("registerBroker() makes a master's topics routable", () => {
    const table = new RouteTable();
    const result = table.registerBroker(broker({ topicConfigs: topics(topic("orders", 8, 6), topic("audit", 2, 4)) }));
    expect(result).toEqual({ haServerAddr: "", masterAddr: "", isNew: true });
    expect(table.getRoute("orders")).toEqual({
      queueDatas: [{ brokerName: "broker-a", readQueueNums: 8, writeQueueNums: 8, perm: 6 }],
      brokerDatas: [{ cluster: "DefaultCluster", brokerName: "broker-a", brokerAddrs: { "0": "10.0.0.1:10911" } }],
    });
    expect(table.getRoute("audit")?.queueDatas).toEqual([{ brokerName: "broker-a", readQueueNums: 2, writeQueueNums: 2, perm: 4 }]);
    expect(table.getRoute("missing")).toBeUndefined();
    expect(table.getTopicList()).toEqual(["audit", "orders"]);
  });

  test("re-registration is not new and refreshes queue data", () => {
    const table = new RouteTable();
    table.registerBroker(broker());
    const again = table.registerBroker(broker({ topicConfigs: topics(topic("orders", 16)) }));
    expect(again.isNew).toBe(false);
    expect(table.getRoute("orders")?.queueDatas[0]?.writeQueueNums).toBe(16);
  });

  test("a master's registration removes topics it no longer lists", () => {
    const table = new RouteTable();
    table.registerBroker(broker({ topicConfigs: topics(topic("orders"), topic("gone")) }));
    table.registerBroker(broker({ brokerName: "broker-b", brokerAddr: "10.0.0.2:10911", topicConfigs: topics(topic("orders")) }));
    table.registerBroker(broker({ topicConfigs: topics(topic("fresh")) }));
    expect(table.getTopicList()).toEqual(["fresh", "orders"]);
    expect(table.getRoute("gone")).toBeUndefined();
    const orders = table.getRoute("orders")!;
    expect(orders.queueDatas.map((q) => q.brokerName)).toEqual(["broker-b"]);
    expect(orders.brokerDatas.map((b) => b.brokerName)).toEqual(["broker-b"]);
  });

  test("a topic served by two groups lists both, sorted by broker name", () => {
    const table = new RouteTable();
    table.registerBroker(broker({ brokerName: "broker-b", brokerAddr: "10.0.0.2:10911", topicConfigs: topics(topic("orders", 2)) }));
    table.registerBroker(broker({ topicConfigs: topics(topic("orders", 4)) }));
    const route = table.getRoute("orders")!;
    expect(route.queueDatas.map((q) => [q.brokerName, q.writeQueueNums])).toEqual([["broker-a", 4], ["broker-b", 2]]);
    expect(route.brokerDatas.map((b) => b.brokerName)).toEqual(["broker-a", "broker-b"]);
  });

  test("a slave joins its group, learns its master and cannot change routes", () => {
    const table = new RouteTable();
    table.registerBroker(broker());
    const slave = table.registerBroker(broker({
      brokerAddr: "10.0.0.3:10911",
      brokerId: 1,
      haServerAddr: "10.0.0.3:10912",
      topicConfigs: topics(topic("slave-only")),
    }));
    expect(slave).toEqual({ masterAddr: "10.0.0.1:10911", haServerAddr: "10.0.0.1:10912", isNew: true });
    expect(table.getTopicList()).toEqual(["orders"]);
    expect(table.getRoute("orders")?.brokerDatas[0]?.brokerAddrs).toEqual({ "0": "10.0.0.1:10911", "1": "10.0.0.3:10911" });
  });

  test("a slave registering before its master gets no master address", () => {
    const table = new RouteTable();
    const slave = table.registerBroker(broker({ brokerAddr: "10.0.0.3:10911", brokerId: 1 }));
    expect(slave).toEqual({ masterAddr: "", haServerAddr: "", isNew: true });
    expect(table.getTopicList()).toEqual([]);
    expect(table.getClusterInfo().brokerAddrTable["broker-a"]?.brokerAddrs).toEqual({ "1": "10.0.0.3:10911" });
  });

  test("a slave promoted to master keeps one id in its group", () => {
    const table = new RouteTable();
    table.registerBroker(broker({ brokerAddr: "10.0.0.3:10911", brokerId: 1 }));
    table.registerBroker(broker({ brokerAddr: "10.0.0.3:10911", brokerId: 0 }));
    expect(table.getClusterInfo().brokerAddrTable["broker-a"]?.brokerAddrs).toEqual({ "0": "10.0.0.3:10911" });
  });

  test("getClusterInfo() lists groups, clusters and liveness", () => {
    const c = clock();
    const table = new RouteTable({ now: c.now });
    table.registerBroker(broker());
    c.advance(5);
    table.registerBroker(broker({ clusterName: "Other", brokerName: "broker-c", brokerAddr: "10.0.0.9:10911", haServerAddr: "" }));
    const info = table.getClusterInfo();
    expect(info.clusterAddrTable).toEqual({ DefaultCluster: ["broker-a"], Other: ["broker-c"] });
    expect(Object.keys(info.brokerAddrTable)).toEqual(["broker-a", "broker-c"]);
    expect(info.brokerAddrTable["broker-c"]).toEqual({ cluster: "Other", brokerName: "broker-c", brokerAddrs: { "0": "10.0.0.9:10911" } });
    expect(info.brokerLiveTable["10.0.0.1:10911"]).toEqual({
      clusterName: "DefaultCluster",
      brokerName: "broker-a",
      brokerId: 0,
      haServerAddr: "10.0.0.1:10912",
      lastUpdateTimestamp: 1_000_000,
    });
    expect(info.brokerLiveTable["10.0.0.9:10911"]?.lastUpdateTimestamp).toBe(1_000_005);
  });

  test("a group re-registering under another cluster moves there", () => {
    const table = new RouteTable();
    table.registerBroker(broker());
    table.registerBroker(broker({ clusterName: "Moved" }));
    const info = table.getClusterInfo();
    expect(info.clusterAddrTable).toEqual({ Moved: ["broker-a"] });
    expect(info.brokerAddrTable["broker-a"]?.cluster).toBe("Moved");
  });

  test("an address re-registering under another group leaves its old group", () => {
    const table = new RouteTable();
    table.registerBroker(broker());
    const moved = table.registerBroker(broker({ brokerName: "broker-z", topicConfigs: topics(topic("z")) }));
    expect(moved.isNew).toBe(true);
    expect(Object.keys(table.getClusterInfo().brokerAddrTable)).toEqual(["broker-z"]);
    expect(table.getTopicList()).toEqual(["z"]);
  });

  test("unregisterBroker() of the last member removes the group, its cluster and its topics", () => {
    const table = new RouteTable();
    table.registerBroker(broker({ topicConfigs: topics(topic("orders"), topic("only-a")) }));
    table.registerBroker(broker({ brokerName: "broker-b", brokerAddr: "10.0.0.2:10911", topicConfigs: topics(topic("orders")) }));
    expect(table.unregisterBroker({ clusterName: "DefaultCluster", brokerName: "broker-a", brokerAddr: "10.0.0.1:10911", brokerId: 0 })).toBe(true);
    expect(table.getTopicList()).toEqual(["orders"]);
    expect(table.getRoute("orders")?.queueDatas.map((q) => q.brokerName)).toEqual(["broker-b"]);
    expect(table.getClusterInfo().clusterAddrTable).toEqual({ DefaultCluster: ["broker-b"] });
    expect(table.unregisterBroker({ clusterName: "DefaultCluster", brokerName: "broker-a", brokerAddr: "10.0.0.1:10911", brokerId: 0 })).toBe(false);
    table.unregisterBroker({ clusterName: "DefaultCluster", brokerName: "broker-b", brokerAddr: "10.0.0.2:10911", brokerId: 0 });
    expect(table.getTopicList()).toEqual([]);
    expect(table.getClusterInfo()).toEqual({ brokerAddrTable: {}, clusterAddrTable: {}, brokerLiveTable: {} });
  });

  test("unregistering a master keeps the group's queues while a slave remains", () => {
    const table = new RouteTable();
    table.registerBroker(broker());
    table.registerBroker(broker({ brokerAddr: "10.0.0.3:10911", brokerId: 1 }));
    table.unregisterBroker({ clusterName: "DefaultCluster", brokerName: "broker-a", brokerAddr: "10.0.0.1:10911", brokerId: 0 });
    expect(table.getRoute("orders")).toEqual({
      queueDatas: [{ brokerName: "broker-a", readQueueNums: 4, writeQueueNums: 4, perm: 6 }],
      brokerDatas: [{ cluster: "DefaultCluster", brokerName: "broker-a", brokerAddrs: { "1": "10.0.0.3:10911" } }],
    });
  });

  test("unregisterBroker() ignores a name that does not match the address", () => {
    const table = new RouteTable();
    table.registerBroker(broker());
    expect(table.unregisterBroker({ clusterName: "DefaultCluster", brokerName: "broker-x", brokerAddr: "10.0.0.1:10911", brokerId: 0 })).toBe(false);
    expect(table.getRoute("orders")).toBeDefined();
  });

  test("routes hide brokers past expiry before the scan, and scanExpired() removes them", () => {
    const c = clock();
    const table = new RouteTable({ now: c.now, brokerExpiryMs: 1000 });
    table.registerBroker(broker());
    table.registerBroker(broker({ brokerName: "broker-b", brokerAddr: "10.0.0.2:10911" }));
    c.advance(600);
    table.registerBroker(broker({ brokerName: "broker-b", brokerAddr: "10.0.0.2:10911" }));
    c.advance(400);
    expect(table.scanExpired()).toEqual([]); // exactly at the expiry: still alive
    expect(table.getRoute("orders")?.brokerDatas.map((b) => b.brokerName)).toEqual(["broker-a", "broker-b"]);
    c.advance(1);
    expect(table.getRoute("orders")?.brokerDatas.map((b) => b.brokerName)).toEqual(["broker-b"]);
    expect(Object.keys(table.getClusterInfo().brokerLiveTable)).toEqual(["10.0.0.2:10911"]);
    const expired = table.scanExpired();
    expect(expired.map((e) => [e.brokerAddr, e.info.brokerName])).toEqual([["10.0.0.1:10911", "broker-a"]]);
    expect(table.getClusterInfo().clusterAddrTable).toEqual({ DefaultCluster: ["broker-b"] });
    c.advance(600);
    expect(table.getRoute("orders")).toBeUndefined();
    expect(table.scanExpired().map((e) => e.brokerAddr)).toEqual(["10.0.0.2:10911"]);
    expect(table.getTopicList()).toEqual([]);
  });

  test("dropSession() removes only the brokers registered on that session", () => {
    const table = new RouteTable();
    const first = {};
    const second = {};
    table.registerBroker(broker(), first);
    table.registerBroker(broker({ brokerName: "broker-b", brokerAddr: "10.0.0.2:10911" }), second);
    expect(table.dropSession(first)).toEqual(["10.0.0.1:10911"]);
    expect(table.getRoute("orders")?.brokerDatas.map((b) => b.brokerName)).toEqual(["broker-b"]);
    expect(table.dropSession(first)).toEqual([]);
  });

  test("a broker that re-registers on a new session outlives its old one", () => {
    const table = new RouteTable();
    const oldSession = {};
    const newSession = {};
    table.registerBroker(broker(), oldSession);
    table.registerBroker(broker(), newSession);
    expect(table.dropSession(oldSession)).toEqual([]);
    expect(table.getRoute("orders")).toBeDefined();
    expect(table.dropSession(newSession)).toEqual(["10.0.0.1:10911"]);
    expect(table.getRoute("orders")).toBeUndefined();
  });

  test("deleteTopic() removes a topic until its master registers it again", () => {
    const table = new RouteTable();
    table.registerBroker(broker({ topicConfigs: topics(topic("orders"), topic("keep")) }));
    expect(table.deleteTopic("orders")).toBe(true);
    expect(table.deleteTopic("orders")).toBe(false);
    expect(table.getRoute("orders")).toBeUndefined();
    expect(table.getTopicList()).toEqual(["keep"]);
    table.registerBroker(broker({ topicConfigs: topics(topic("orders"), topic("keep")) }));
    expect(table.getTopicList()).toEqual(["keep", "orders"]);
  });

  test("a route is a copy: changing it leaves the table alone", () => {
    const table = new RouteTable();
    table.registerBroker(broker());
    const route = table.getRoute("orders")!;
    route.queueDatas[0]!.writeQueueNums = 99;
    route.brokerDatas[0]!.brokerAddrs["0"] = "evil:1";
    expect(table.getRoute("orders")?.queueDatas[0]?.writeQueueNums).toBe(4);
    expect(table.getRoute("orders")?.brokerDatas[0]?.brokerAddrs["0"]).toBe("10.0.0.1:10911");
  });

  test("rejects an expiry that is not above 0", () => {
    expect(() => new RouteTable({ brokerExpiryMs: 0 })).toThrow(RangeError);
  });
});
