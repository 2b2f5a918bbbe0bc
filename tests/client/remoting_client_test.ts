import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RemotingClient } from "../../client/remoting_client.ts";
import { BrokerError, ClientError, ConnectionClosedError, RequestTimeoutError } from "../../core/errors.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
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
