import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RemotingClient } from "../../client/remoting_client.ts";
import { BrokerError, ClientError, ConnectionClosedError, RequestTimeoutError } from "../../core/errors.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type Command } from "../../core/protocol/command.ts";
import { Connection } from "../../core/remoting/connection.ts";
import type { Dialer } from "../../core/remoting/transport.ts";
import { type NameServer, startNameServer } from "../../server/namesrv/name_server.ts";
import { MemoryNetwork } from "../_helpers/memory_network.ts";

let network: MemoryNetwork;
let nameServer: NameServer;
let address: string;

beforeAll(async () => {
  network = new MemoryNetwork();
  nameServer = await startNameServer({ listen: network.listen, hostname: "127.0.0.1", port: 0 });
  address = `127.0.0.1:${nameServer.port}`;
});

afterAll(async () => {
  await nameServer.close();
});

/** Counts dials, so tests can tell a reused connection from a new one. */
function countingDialer(): { dial: Dialer; count: () => number } {
  let n = 0;
  return {
    dial: (addr, handlers) => {
      n++;
      return network.dial(addr, handlers);
    },
    count: () => n,
  };
}

describe("RemotingClient", () => {
  test("request() opens one connection per address and reuses it, even for concurrent callers", async () => {
    const { dial, count } = countingDialer();
    const client = new RemotingClient({ dial });
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => client.request(address, { code: RequestCode.GET_BROKER_CLUSTER_INFO, header: {} })),
    );
    expect(responses.every((r) => r.code === ResponseCode.SUCCESS)).toBe(true);
    expect(count()).toBe(1);
    await client.shutdown();
  });

  test("the next request after a connection closed opens a new one", async () => {
    const { dial, count } = countingDialer();
    const client = new RemotingClient({ dial });
    const first = await client.connection(address);
    first.close();
    const response = await client.request(address, { code: RequestCode.GET_BROKER_CLUSTER_INFO, header: {} });
    expect(response.code).toBe(ResponseCode.SUCCESS);
    expect(count()).toBe(2);
    expect(await client.connection(address)).not.toBe(first);
    await client.shutdown();
  });

  test("invoke() throws BrokerError with the code and remark of an error response", async () => {
    const client = new RemotingClient({ dial: network.dial });
    const error = await client.invoke(address, { code: RequestCode.GET_ROUTEINFO_BY_TOPIC, header: { topic: "Nope" } }).catch((e) => e);
    expect(error).toBeInstanceOf(BrokerError);
    expect(error.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    expect(error.remark).toContain("Nope");
    const accepted = await client.invoke(address, {
      code: RequestCode.GET_ROUTEINFO_BY_TOPIC,
      header: { topic: "Nope" },
      accept: [ResponseCode.TOPIC_NOT_EXIST],
    });
    expect(accepted.code).toBe(ResponseCode.TOPIC_NOT_EXIST);
    await client.shutdown();
  });

  test("a request that needs no order takes the open connection with the fewest requests in flight; a lane keeps its own", async () => {
    // A server that holds every request, noting which of its connections it came on.
    const held: { on: number; request: Command; connection: Connection }[] = [];
    const { promise: allHeld, resolve: heldAll } = Promise.withResolvers<void>();
    let accepted = 0;
    const server = await network.listen({ port: 0 }, (transport) => {
      const on = accepted++;
      const connection = new Connection({ onRequest: (request, connection) => {
        if (held.push({ on, request, connection }) === 7) heldAll();
      } });
      connection.attach(transport);
      return connection.handlers;
    });
    const target = `127.0.0.1:${server.port}`;
    const client = new RemotingClient({ dial: network.dial, connectionsPerAddress: 2 });
    const lanes = [await client.connection(target, 0), await client.connection(target, 1)];
    const answers: Promise<Command>[] = [];
    // Lane 0 keeps its requests on its connection, however busy it is.
    for (let i = 0; i < 3; i++) answers.push(client.request(target, { code: 1, header: { n: i }, lane: 0 }));
    // These may go anywhere: the idle connection takes them until it is as busy as the other.
    for (let i = 3; i < 7; i++) answers.push(client.request(target, { code: 1, header: { n: i }, lane: 0, anyLane: true }));
    expect(lanes.map((c) => c.inFlight)).toEqual([4, 3]);
    await allHeld;
    const on = (n: number) => held.find((h) => h.request.header.n === n)!.on;
    const lane0 = on(0);
    expect([on(1), on(2)]).toEqual([lane0, lane0]);
    expect([on(3), on(4), on(5), on(6)].map((c) => c === lane0)).toEqual([false, false, false, true]);
    for (const h of held) h.connection.respond(h.request, { code: ResponseCode.SUCCESS });
    expect((await Promise.all(answers)).every((r) => r.code === ResponseCode.SUCCESS)).toBe(true);
    await client.shutdown();
    await server.close();
  });

  test("request() fails with RequestTimeoutError when the server never answers", async () => {
    const silent = await network.listen({ port: 0 }, () => ({ data() {}, close() {} }));
    const client = new RemotingClient({ dial: network.dial });
    await expect(client.request(`127.0.0.1:${silent.port}`, { code: 1, header: {}, timeoutMs: 30 })).rejects.toThrow(RequestTimeoutError);
    await client.shutdown();
    await silent.close();
  });

  test("connection() fails with ConnectionClosedError when the address refuses or never answers", async () => {
    const client = new RemotingClient({ dial: network.dial });
    await expect(client.connection("127.0.0.1:999")).rejects.toThrow(ConnectionClosedError);
    const hanging = new RemotingClient({ dial: () => new Promise(() => {}), connectTimeoutMs: 20 });
    await expect(hanging.connection(address)).rejects.toThrow("no answer within 20 ms");
    await client.shutdown();
    await hanging.shutdown();
  });

  test("shutdown() closes connections and refuses later requests", async () => {
    const client = new RemotingClient({ dial: network.dial });
    const connection = await client.connection(address);
    await client.shutdown();
    expect(connection.closed).toBe(true);
    await expect(client.request(address, { code: RequestCode.GET_BROKER_CLUSTER_INFO, header: {} })).rejects.toThrow(ClientError);
  });
});
