import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RemotingClient } from "../../client/remoting_client.ts";
import { buildRoute, RouteCache } from "../../client/route_cache.ts";
import { BrokerError, ConnectionClosedError } from "../../core/errors.ts";
import type { TopicConfig } from "../../core/protocol/headers.ts";
import { Perm, RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type NameServer, startNameServer } from "../../server/namesrv/name_server.ts";
import { MemoryNetwork } from "../_helpers/memory_network.ts";

const RW = Perm.READ | Perm.WRITE;

function topic(name: string, queues: number, perm = RW): TopicConfig {
  return { topicName: name, readQueueNums: queues, writeQueueNums: queues, perm, order: false };
}

let network: MemoryNetwork;
let nameServer: NameServer;
let nameServerAddress: string;
/** Registers brokers; it stays open because the NameServer drops a broker whose connection closes. */
let registrar: RemotingClient;
let client: RemotingClient;

async function register(brokerName: string, brokerId: number, brokerAddr: string, topics: TopicConfig[]): Promise<void> {
  await registrar.invoke(nameServerAddress, {
    code: RequestCode.REGISTER_BROKER,
    header: {
      clusterName: "c",
      brokerName,
      brokerAddr,
      brokerId,
      topicConfigs: Object.fromEntries(topics.map((t) => [t.topicName, t])),
    },
  });
}

beforeAll(async () => {
  network = new MemoryNetwork();
  nameServer = await startNameServer({ listen: network.listen, hostname: "127.0.0.1", port: 0 });
  nameServerAddress = `127.0.0.1:${nameServer.port}`;
  registrar = new RemotingClient({ dial: network.dial });
  client = new RemotingClient({ dial: network.dial });
  await register("broker-b", 0, "10.0.0.2:10911", [topic("Orders", 2), topic("TBW102", 8, RW | Perm.INHERIT)]);
  await register("broker-a", 0, "10.0.0.1:10911", [topic("Orders", 3), topic("ReadOnly", 2, Perm.READ)]);
  await register("broker-a", 1, "10.0.0.11:10911", [topic("Orders", 3), topic("ReadOnly", 2, Perm.READ)]);
  await register("broker-s", 0, "10.0.0.3:10911", [topic("SlaveOnly", 2)]);
  await register("broker-s", 1, "10.0.0.33:10911", [topic("SlaveOnly", 2)]);
  await registrar.invoke(nameServerAddress, {
    code: RequestCode.UNREGISTER_BROKER,
    header: { clusterName: "c", brokerName: "broker-s", brokerAddr: "10.0.0.3:10911", brokerId: 0 },
  });
});

afterAll(async () => {
  await client.shutdown();
  await registrar.shutdown();
  await nameServer.close();
});

describe("RouteCache", () => {
  test("get() lists write and read queues sorted by broker name and queue id", async () => {
    const routes = new RouteCache(client, { nameServers: [nameServerAddress] });
    const route = await routes.get("Orders");
    expect(route.fromTemplate).toBe(false);
    expect(route.writeQueues.map((q) => `${q.brokerName}/${q.queueId}`)).toEqual(["broker-a/0", "broker-a/1", "broker-a/2", "broker-b/0", "broker-b/1"]);
    expect(route.readQueues).toEqual(route.writeQueues);
    expect(routes.brokerAddress("broker-a")).toBe("10.0.0.1:10911");
    expect(new Set(routes.brokerAddresses())).toEqual(new Set(["10.0.0.1:10911", "10.0.0.11:10911", "10.0.0.2:10911"]));
  });

  test("get() leaves read-only queues out of the write queues", async () => {
    const routes = new RouteCache(client, { nameServers: [nameServerAddress] });
    const route = await routes.get("ReadOnly");
    expect(route.writeQueues).toEqual([]);
    expect(route.readQueues).toHaveLength(2);
  });

  test("a broker group without a master is readable through its slave but not writable", async () => {
    const routes = new RouteCache(client, { nameServers: [nameServerAddress] });
    const route = await routes.get("SlaveOnly");
    expect(route.writeQueues).toEqual([]);
    expect(route.readQueues).toHaveLength(2);
    expect(routes.brokerAddress("broker-s")).toBe("10.0.0.33:10911");
    expect(routes.brokerAddress("broker-s", true)).toBeUndefined();
  });

  test("get() tries the next NameServer when one cannot be reached", async () => {
    const dead = ["127.0.0.1:901", "127.0.0.1:902", "127.0.0.1:903"];
    for (let i = 0; i < 5; i++) {
      const routes = new RouteCache(client, { nameServers: [...dead, nameServerAddress] });
      expect((await routes.get("Orders")).writeQueues).toHaveLength(5);
    }
  });

  test("get() fails with the last connection error when no NameServer can be reached", async () => {
    const routes = new RouteCache(client, { nameServers: ["127.0.0.1:901", "127.0.0.1:902"] });
    await expect(routes.get("Orders")).rejects.toThrow(ConnectionClosedError);
  });

  test("get() of an unknown topic fails with TOPIC_NOT_EXIST without a template", async () => {
    const routes = new RouteCache(client, { nameServers: [nameServerAddress] });
    const error = await routes.get("Unknown").catch((e) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
  });

  test("get() of an unknown topic follows the TBW102 route when auto-creation is asked for", async () => {
    const routes = new RouteCache(client, { nameServers: [nameServerAddress], autoCreateQueueNums: 4 });
    const route = await routes.get("BrandNew");
    expect(route.fromTemplate).toBe(true);
    expect(route.writeQueues.map((q) => `${q.topic}@${q.brokerName}/${q.queueId}`)).toEqual(
      [0, 1, 2, 3].map((i) => `BrandNew@broker-b/${i}`),
    );
    expect(route.data.queueDatas[0]!.perm & Perm.INHERIT).toBe(0);
  });

  test("refresh() picks up a changed route; concurrent refreshes share one request", async () => {
    const routes = new RouteCache(client, { nameServers: [nameServerAddress] });
    expect((await routes.get("Growing").catch((e) => e)).code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    await register("broker-b", 0, "10.0.0.2:10911", [topic("Orders", 2), topic("TBW102", 8, RW | Perm.INHERIT), topic("Growing", 1)]);
    const [a, b] = [routes.refresh("Growing"), routes.refresh("Growing")];
    expect(a).toBe(b);
    expect((await a).writeQueues).toHaveLength(1);
    await register("broker-b", 0, "10.0.0.2:10911", [topic("Orders", 2), topic("TBW102", 8, RW | Perm.INHERIT), topic("Growing", 6)]);
    expect((await routes.get("Growing")).writeQueues).toHaveLength(1); // cached
    expect((await routes.refresh("Growing")).writeQueues).toHaveLength(6);
  });

  test("start() polls the NameServers for cached topics", async () => {
    const routes = new RouteCache(client, { nameServers: [nameServerAddress], pollIntervalMs: 10 });
    expect((await routes.get("Orders")).writeQueues).toHaveLength(5);
    await register("broker-c", 0, "10.0.0.4:10911", [topic("Orders", 1)]);
    routes.start();
    const deadline = Date.now() + 3000;
    while ((await routes.get("Orders")).writeQueues.length !== 6 && Date.now() < deadline) await Bun.sleep(5);
    routes.stop();
    expect((await routes.get("Orders")).writeQueues).toHaveLength(6);
  });
});

describe("buildRoute()", () => {
  test("leaves out queues of a broker with no broker data", () => {
    const route = buildRoute("t", {
      queueDatas: [{ brokerName: "ghost", readQueueNums: 1, writeQueueNums: 1, perm: RW }],
      brokerDatas: [],
    }, false);
    expect(route.writeQueues).toEqual([]);
  });
});
