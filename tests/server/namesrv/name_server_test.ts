import { afterEach, describe, expect, test } from "bun:test";
import type { Header } from "../../../core/protocol/command.ts";
import type { ClusterInfo, TopicConfig, TopicRouteData } from "../../../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../../core/remoting/connection.ts";
import { type NameServer, startNameServer } from "../../../server/namesrv/name_server.ts";
import { MemoryNetwork } from "../../_helpers/memory_network.ts";

function topics(...names: string[]): Record<string, TopicConfig> {
  return Object.fromEntries(names.map((topicName) => [topicName, { topicName, readQueueNums: 4, writeQueueNums: 4, perm: 6, order: false }]));
}

function registration(overrides: Header = {}): Header {
  return {
    clusterName: "DefaultCluster",
    brokerName: "broker-a",
    brokerAddr: "127.0.0.1:10911",
    brokerId: 0,
    haServerAddr: "127.0.0.1:10912",
    topicConfigs: topics("orders", "TBW102"),
    ...overrides,
  };
}

/** Waits for the first log line that contains `text`. */
class LogWatch {
  readonly lines: string[] = [];
  #waiters: Array<{ text: string; resolve: (line: string) => void }> = [];

  log = (line: string): void => {
    this.lines.push(line);
    for (const waiter of [...this.#waiters]) {
      if (!line.includes(waiter.text)) continue;
      this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  };

  next(text: string): Promise<string> {
    return new Promise((resolve) => this.#waiters.push({ text, resolve }));
  }
}

interface Setup {
  network: MemoryNetwork;
  nameServer: NameServer;
  address: string;
  watch: LogWatch;
  clock: { now: number };
}

const started: NameServer[] = [];
const clients: Connection[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  for (const nameServer of started.splice(0)) await nameServer.close();
});

async function setup(options: { brokerExpiryMs?: number; scanIntervalMs?: number } = {}): Promise<Setup> {
  const network = new MemoryNetwork();
  const watch = new LogWatch();
  const clock = { now: 5_000_000 };
  const nameServer = await startNameServer({
    listen: network.listen,
    hostname: "127.0.0.1",
    port: 0,
    now: () => clock.now,
    log: watch.log,
    ...options,
  });
  started.push(nameServer);
  return { network, nameServer, address: `127.0.0.1:${nameServer.port}`, watch, clock };
}

const closings = new WeakMap<Connection, Promise<void>>();

async function client(s: Setup): Promise<Connection> {
  const { promise, resolve } = Promise.withResolvers<void>();
  const connection = await connect(s.network.dial, s.address, { onClose: () => resolve() });
  closings.set(connection, promise);
  clients.push(connection);
  return connection;
}

/** Resolves when the connection has closed. */
function closed(connection: Connection): Promise<void> {
  return closings.get(connection)!;
}

/** Fails with `what` instead of a bare test timeout when `promise` does not settle in time. */
function within<T>(promise: Promise<T>, what: string, ms = 2000): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

describe("startNameServer()", () => {
  test("answers a registered master's route and the slave's master address", async () => {
    const s = await setup();
    const broker = await client(s);
    const master = await broker.request(RequestCode.REGISTER_BROKER, registration());
    expect(master.code).toBe(ResponseCode.SUCCESS);
    expect(master.header).toEqual({ haServerAddr: "", masterAddr: "" });

    const slaveConn = await client(s);
    const slave = await slaveConn.request(RequestCode.REGISTER_BROKER, registration({
      brokerAddr: "127.0.0.1:20911",
      brokerId: 1,
      haServerAddr: "",
    }));
    expect(slave.header).toEqual({ haServerAddr: "127.0.0.1:10912", masterAddr: "127.0.0.1:10911" });

    const user = await client(s);
    const route = await user.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "orders" });
    expect(route.code).toBe(ResponseCode.SUCCESS);
    expect(route.header as unknown as TopicRouteData).toEqual({
      queueDatas: [{ brokerName: "broker-a", readQueueNums: 4, writeQueueNums: 4, perm: 6 }],
      brokerDatas: [{ cluster: "DefaultCluster", brokerName: "broker-a", brokerAddrs: { "0": "127.0.0.1:10911", "1": "127.0.0.1:20911" } }],
    });
    expect(s.watch.lines.some((l) => l.includes(`Broker "broker-a" (master) of cluster "DefaultCluster" registered from 127.0.0.1:10911`))).toBe(true);
  });

  test("answers TOPIC_NOT_EXIST with a remark for an unknown topic", async () => {
    const s = await setup();
    const user = await client(s);
    const route = await user.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "nowhere" });
    expect(route.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect(route.remark).toBe(`No route for topic "nowhere"`);
  });

  test("answers cluster info and the sorted topic list", async () => {
    const s = await setup();
    const a = await client(s);
    await a.request(RequestCode.REGISTER_BROKER, registration());
    s.clock.now += 10;
    const b = await client(s);
    await b.request(RequestCode.REGISTER_BROKER, registration({
      clusterName: "Second",
      brokerName: "broker-b",
      brokerAddr: "127.0.0.1:30911",
      topicConfigs: topics("zebra", "apples"),
    }));

    const user = await client(s);
    const info = await user.request(RequestCode.GET_BROKER_CLUSTER_INFO, {});
    expect(info.code).toBe(ResponseCode.SUCCESS);
    const header = info.header as unknown as ClusterInfo & { brokerLiveTable: Record<string, { lastUpdateTimestamp: number }> };
    expect(header.clusterAddrTable).toEqual({ DefaultCluster: ["broker-a"], Second: ["broker-b"] });
    expect(header.brokerAddrTable).toEqual({
      "broker-a": { cluster: "DefaultCluster", brokerName: "broker-a", brokerAddrs: { "0": "127.0.0.1:10911" } },
      "broker-b": { cluster: "Second", brokerName: "broker-b", brokerAddrs: { "0": "127.0.0.1:30911" } },
    });
    expect(header.brokerLiveTable["127.0.0.1:10911"]?.lastUpdateTimestamp).toBe(5_000_000);
    expect(header.brokerLiveTable["127.0.0.1:30911"]?.lastUpdateTimestamp).toBe(5_000_010);

    const list = await user.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, {});
    expect(list.header).toEqual({ topics: ["TBW102", "apples", "orders", "zebra"] });
  });

  test("UNREGISTER_BROKER removes the broker, its group and its topics", async () => {
    const s = await setup();
    const broker = await client(s);
    await broker.request(RequestCode.REGISTER_BROKER, registration());
    const reply = await broker.request(RequestCode.UNREGISTER_BROKER, {
      clusterName: "DefaultCluster",
      brokerName: "broker-a",
      brokerAddr: "127.0.0.1:10911",
      brokerId: 0,
    });
    expect(reply.code).toBe(ResponseCode.SUCCESS);
    expect((await broker.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "orders" })).code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect((await broker.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, {})).header).toEqual({ topics: [] });
    expect((await broker.request(RequestCode.GET_BROKER_CLUSTER_INFO, {})).header).toEqual({
      brokerAddrTable: {},
      clusterAddrTable: {},
      brokerLiveTable: {},
    });
    expect(s.watch.lines.some((l) => l.includes(`Broker "broker-a" at 127.0.0.1:10911 unregistered`))).toBe(true);
  });

  test("DELETE_TOPIC_IN_NAMESRV removes the topic's routes", async () => {
    const s = await setup();
    const broker = await client(s);
    await broker.request(RequestCode.REGISTER_BROKER, registration());
    const reply = await broker.request(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic: "orders" });
    expect(reply.code).toBe(ResponseCode.SUCCESS);
    expect((await broker.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "orders" })).code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect((await broker.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, {})).header).toEqual({ topics: ["TBW102"] });
  });

  test("DELETE_TOPIC_IN_NAMESRV refuses TBW102 and keeps its route, so topics can still be auto-created", async () => {
    const s = await setup();
    const broker = await client(s);
    await broker.request(RequestCode.REGISTER_BROKER, registration());
    const reply = await broker.request(RequestCode.DELETE_TOPIC_IN_NAMESRV, { topic: "TBW102" });
    expect(reply).toMatchObject({ code: ResponseCode.NO_PERMISSION, remark: 'Topic "TBW102" is reserved for the brokers' });
    expect((await broker.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "TBW102" })).code).toBe(ResponseCode.SUCCESS);
  });

  test("drops a broker silent past the expiry on the next scan", async () => {
    const s = await setup({ brokerExpiryMs: 1000, scanIntervalMs: 5 });
    const broker = await client(s);
    await broker.request(RequestCode.REGISTER_BROKER, registration());
    s.clock.now += 1000;
    const user = await client(s);
    expect((await user.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "orders" })).code).toBe(ResponseCode.SUCCESS);

    const expired = s.watch.next("expired");
    s.clock.now += 1;
    expect(await expired).toContain(`Broker "broker-a" at 127.0.0.1:10911 expired: silent for more than 1000 ms`);
    expect(s.nameServer.routeTable.getTopicList()).toEqual([]);
    const route = await user.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "orders" });
    expect(route.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
  });

  test("drops a broker when the connection it registered on closes", async () => {
    const s = await setup();
    const broker = await client(s);
    await broker.request(RequestCode.REGISTER_BROKER, registration());
    const other = await client(s);
    await other.request(RequestCode.REGISTER_BROKER, registration({ brokerName: "broker-b", brokerAddr: "127.0.0.1:30911", topicConfigs: topics("orders") }));

    const dropped = s.watch.next("dropped");
    broker.close();
    expect(await within(dropped, "the NameServer never saw the broker's connection close")).toContain("Broker at 127.0.0.1:10911 dropped");
    const route = await other.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "orders" });
    expect((route.header as unknown as TopicRouteData).brokerDatas.map((b) => b.brokerName)).toEqual(["broker-b"]);
    expect(s.nameServer.routeTable.getTopicList()).toEqual(["orders"]);
  });

  test("answers INVALID_HEADER for a bad header and keeps serving", async () => {
    const s = await setup();
    const broker = await client(s);
    const bad = await broker.request(RequestCode.REGISTER_BROKER, registration({ brokerId: "zero" }));
    expect(bad.code).toBe(ResponseCode.INVALID_HEADER);
    expect(bad.remark).toContain(`"brokerId"`);
    const badTopic = await broker.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "no spaces allowed" });
    expect(badTopic.code).toBe(ResponseCode.INVALID_HEADER);
    expect(badTopic.remark).toContain(`"topic"`);
    const unknown = await broker.request(9999, {});
    expect(unknown.code).toBe(ResponseCode.REQUEST_CODE_NOT_SUPPORTED);

    const good = await broker.request(RequestCode.REGISTER_BROKER, registration());
    expect(good.code).toBe(ResponseCode.SUCCESS);
    expect((await broker.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "orders" })).code).toBe(ResponseCode.SUCCESS);
  });

  test("close() closes open connections, and the port can be reused", async () => {
    const s = await setup();
    const user = await client(s);
    await user.request(RequestCode.REGISTER_BROKER, registration());
    await s.nameServer.close();
    await within(closed(user), "the client never saw the NameServer close its connection");
    expect(user.closed).toBe(true);
    await expect(connect(s.network.dial, s.address)).rejects.toThrow("Connection refused");

    const again = await startNameServer({ listen: s.network.listen, hostname: "127.0.0.1", port: s.nameServer.port });
    started.push(again);
    const fresh = await client(s);
    expect((await fresh.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, {})).header).toEqual({ topics: [] });
  });
});
