import { afterEach, describe, expect, test } from "bun:test";
import { createServer } from "node:net";
import { dial } from "../../client/bun/connect.ts";
import type { TopicRouteData } from "../../core/protocol/headers.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { BUN, type Child, DENO, start, startServer, stop } from "../_helpers/process.ts";

const RUNTIMES: Array<{ name: string; command: string; args: string[] }> = [
  { name: "Bun", command: BUN, args: ["run", "server/nameserver.ts"] },
  { name: "Deno", command: DENO, args: ["run", "-A", "server/nameserver.ts"] },
];

const children: Child[] = [];
const connections: Connection[] = [];

afterEach(async () => {
  for (const connection of connections.splice(0)) connection.close();
  for (const child of children.splice(0)) await stop(child);
});

function spawnNameServer(runtime: (typeof RUNTIMES)[number], flags: string[]): Child {
  const child = start(runtime.command, [...runtime.args, ...flags]);
  children.push(child);
  return child;
}

async function open(address: string): Promise<Connection> {
  const connection = await connect(dial, address);
  connections.push(connection);
  return connection;
}

const REGISTRATION = {
  clusterName: "DefaultCluster",
  brokerName: "broker-a",
  brokerAddr: "127.0.0.1:10911",
  brokerId: 0,
  haServerAddr: "127.0.0.1:10912",
  topicConfigs: { orders: { topicName: "orders", readQueueNums: 4, writeQueueNums: 4, perm: 6, order: false } },
};

for (const runtime of RUNTIMES) {
  describe(`nameserver.ts on ${runtime.name}`, () => {
    test("serves routes over a real socket, drops a broker whose connection closes and exits 0 on SIGTERM", async () => {
      const child = await startServer(runtime.command, [...runtime.args, "--host", "127.0.0.1", "--port", "0"], {
        ready: /NameServer listening on 127\.0\.0\.1:(\d+)/,
        timeoutMs: 30_000,
      });
      children.push(child);
      const address = `127.0.0.1:${child.port}`;

      const broker = await open(address);
      const registered = await broker.request(RequestCode.REGISTER_BROKER, REGISTRATION);
      expect(registered.code).toBe(ResponseCode.SUCCESS);
      expect(registered.header).toEqual({ haServerAddr: "", masterAddr: "" });

      const user = await open(address);
      const route = await user.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "orders" });
      expect(route.code).toBe(ResponseCode.SUCCESS);
      expect((route.header as unknown as TopicRouteData).brokerDatas).toEqual([
        { cluster: "DefaultCluster", brokerName: "broker-a", brokerAddrs: { "0": "127.0.0.1:10911" } },
      ]);
      expect((await user.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER, {})).header).toEqual({ topics: ["orders"] });
      const bad = await user.request(RequestCode.REGISTER_BROKER, { ...REGISTRATION, brokerId: -1 });
      expect(bad.code).toBe(ResponseCode.INVALID_HEADER);

      broker.close();
      await child.waitFor("Broker at 127.0.0.1:10911 dropped");
      const gone = await user.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: "orders" });
      expect(gone.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
      expect(gone.remark).toBe(`No route for topic "orders"`);

      children.splice(children.indexOf(child), 1);
      await stop(child);
      expect(await child.exited).toBe(0);
      expect(child.output()).toContain("SIGTERM received, stopping");
    }, 60_000);

    test("exits 1 with a clear error when the port is taken", async () => {
      const blocker = createServer();
      const port = await new Promise<number>((resolve) => {
        blocker.listen(0, "127.0.0.1", () => resolve((blocker.address() as { port: number }).port));
      });
      try {
        const child = spawnNameServer(runtime, ["--host", "127.0.0.1", "--port", String(port)]);
        expect(await child.exited).toBe(1);
        expect(child.output()).toContain(`Cannot start the NameServer on 127.0.0.1:${port}:`);
      } finally {
        blocker.close();
      }
    }, 60_000);
  });
}

describe("nameserver.ts flags", () => {
  test("--help prints the flags and exits 0", async () => {
    const child = spawnNameServer(RUNTIMES[0]!, ["--help"]);
    expect(await child.exited).toBe(0);
    expect(child.output()).toContain("--broker-expiry-ms <ms>");
    expect(child.output()).toContain("(default: 9876)");
  });

  test("a bad flag value exits 2 naming the flag", async () => {
    const child = spawnNameServer(RUNTIMES[0]!, ["--port", "99999"]);
    expect(await child.exited).toBe(2);
    expect(child.output()).toContain(`Error: Invalid value "99999" for --port: must be at most 65535`);
  });
});
