/**
 * `prebindPorts` (the server commands' ports bound before the broker's and NameServer's modules
 * load): connections and bytes that arrive early are held and handed, in order, to the server that
 * listens on the port; and through `startServers`, a request sent to the broker's port while the
 * NameServer still starts is answered once the broker runs, instead of refused.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial as clientDial } from "../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import type { Listen, Transport, TransportHandlers } from "../../core/remoting/transport.ts";
import type { WebSocketListen } from "../../core/remoting/web_socket.ts";
import { parseServerArgs } from "../../server/_config_layers.ts";
import { type RunningServers, startServers } from "../../server/_entry.ts";
import { prebindPorts } from "../../server/_prebound_ports.ts";
import { dial } from "../../server/bun/connect.ts";
import { listen } from "../../server/bun/listen.ts";
import { listenWebSocket } from "../../server/bun/listen_web_socket.ts";
import { freePort } from "../_helpers/process.ts";

/** A `Listen` whose connections the test makes by hand. */
function handListen() {
  const accepts = new Map<number, (transport: Transport) => TransportHandlers>();
  const closed: number[] = [];
  const listen: Listen = (options, accept) => {
    accepts.set(options.port, accept);
    return Promise.resolve({
      hostname: options.hostname ?? "0.0.0.0",
      port: options.port,
      close: () => {
        closed.push(options.port);
        return Promise.resolve();
      },
    });
  };
  const connectTo = (port: number) => {
    const transport = { remoteAddress: "127.0.0.1:5000", bufferedAmount: 0, ended: false, write() {}, close() {
      transport.ended = true;
    } };
    return { transport, handlers: accepts.get(port)!(transport) };
  };
  return { listen, connectTo, closed, accepts };
}

/** Handlers that record what they got. */
function recorder() {
  const got: string[] = [];
  const handlers: TransportHandlers = {
    data: (chunk) => {
      got.push(new TextDecoder().decode(chunk));
      return true;
    },
    close: () => got.push("<closed>"),
  };
  return { got, handlers };
}

describe("prebindPorts()", () => {
  test("hands a held connection and its bytes, in order, to the server that listens on the port, then passes bytes live", async () => {
    const net = handListen();
    const ports = await prebindPorts(net.listen, [{ hostname: "127.0.0.1", port: 4001 }]);
    expect(ports.bound).toEqual([{ hostname: "127.0.0.1", port: 4001 }]);
    const { transport, handlers } = net.connectTo(4001);
    const chunk = new TextEncoder().encode("one");
    handlers.data(chunk);
    chunk.fill(0); // the adapter may reuse its buffer: what was held is a copy
    handlers.data(new TextEncoder().encode("two"));
    const server = recorder();
    const accepted: Transport[] = [];
    const listener = await ports.listen({ hostname: "127.0.0.1", port: 4001 }, (t) => {
      accepted.push(t);
      return server.handlers;
    });
    expect(listener.port).toBe(4001);
    expect(accepted).toEqual([transport]);
    expect(server.got).toEqual(["one", "two"]);
    handlers.data(new TextEncoder().encode("three"));
    handlers.close();
    expect(server.got).toEqual(["one", "two", "three", "<closed>"]);
    // Connections after the hand-over go straight to the server.
    const later = net.connectTo(4001);
    later.handlers.data(new TextEncoder().encode("four"));
    expect(accepted.length).toBe(2);
    expect(server.got.at(-1)).toBe("four");
    await ports.release();
    expect(net.closed).toEqual([]); // a claimed port belongs to its server
  });

  test("never hands over a connection that closed while held", async () => {
    const net = handListen();
    const ports = await prebindPorts(net.listen, [{ port: 4002 }]);
    const early = net.connectTo(4002);
    early.handlers.data(new TextEncoder().encode("gone"));
    early.handlers.close();
    const accepted: Transport[] = [];
    await ports.listen({ port: 4002 }, (t) => {
      accepted.push(t);
      return recorder().handlers;
    });
    expect(accepted).toEqual([]);
  });

  test("closes a connection whose held bytes pass maxHeldBytes, and connections past maxHeldConnections", async () => {
    const net = handListen();
    const ports = await prebindPorts(net.listen, [{ port: 4003 }], { maxHeldBytes: 10, maxHeldConnections: 2 });
    const a = net.connectTo(4003);
    a.handlers.data(new Uint8Array(6));
    const b = net.connectTo(4003);
    b.handlers.data(new Uint8Array(6)); // 12 held bytes: b goes
    expect(a.transport.ended).toBe(false);
    expect(b.transport.ended).toBe(true);
    const c = net.connectTo(4003); // b's bytes were let go: room again
    const d = net.connectTo(4003); // a and c are held: no room
    expect(c.transport.ended).toBe(false);
    expect(d.transport.ended).toBe(true);
    const accepted: Transport[] = [];
    await ports.listen({ port: 4003 }, (t) => {
      accepted.push(t);
      return recorder().handlers;
    });
    expect(accepted).toEqual([a.transport, c.transport]);
  });

  test("listens anew for other ports and for TLS; release closes the unclaimed ports and their held connections", async () => {
    const net = handListen();
    const ports = await prebindPorts(net.listen, [{ port: 4004 }, { port: 4005 }]);
    expect(ports.bound).toEqual([{ hostname: "0.0.0.0", port: 4004 }, { hostname: "0.0.0.0", port: 4005 }]);
    const held = net.connectTo(4005);
    const tls = { cert: "c", key: "k" };
    const before = net.accepts.get(4004);
    await ports.listen({ port: 4004, tls }, () => recorder().handlers);
    expect(net.accepts.get(4004)).not.toBe(before); // a TLS listen is its own
    await ports.listen({ port: 4006 }, () => recorder().handlers);
    expect(net.accepts.has(4006)).toBe(true);
    await ports.release();
    expect(net.closed.sort()).toEqual([4004, 4005]);
    expect(held.transport.ended).toBe(true);
  });

  test("binds a free port for port 0 and hands it to a listen on the port bound; tells of each connection held", async () => {
    let holds = 0;
    let held!: () => void;
    const firstHeld = new Promise<void>((resolve) => (held = resolve));
    const ports = await prebindPorts(listen, [{ hostname: "127.0.0.1", port: 0 }], {
      onHold: () => {
        holds++;
        held();
      },
    });
    const port = ports.bound[0]!.port;
    expect(port).toBeGreaterThan(0);
    const client = await clientDial(`127.0.0.1:${port}`, { data: () => {}, close: () => {} });
    client.write(new TextEncoder().encode("ping"));
    await firstHeld;
    let pinged!: () => void;
    const gotPing = new Promise<void>((resolve) => (pinged = resolve));
    let got = "";
    const listener = await ports.listen({ hostname: "127.0.0.1", port }, () => ({
      data: (chunk) => {
        got += new TextDecoder().decode(chunk);
        if (got === "ping") pinged();
        return true;
      },
      close: () => {},
    }));
    await gotPing;
    expect(holds).toBe(1);
    client.close();
    await listener.close();
  });

  test("skips a port it cannot bind, and says so", async () => {
    const taken = await listen({ hostname: "127.0.0.1", port: 0 }, () => recorder().handlers);
    const failures: number[] = [];
    const ports = await prebindPorts(listen, [{ hostname: "127.0.0.1", port: taken.port }], { onBindError: (target) => failures.push(target.port) });
    expect(ports.bound).toEqual([]);
    expect(failures).toEqual([taken.port]);
    await taken.close();
  });
});

describe("startServers() with prebound ports", () => {
  const dir = mkdtempSync(join(tmpdir(), "rmq-prebound-"));
  const running: RunningServers[] = [];
  afterAll(async () => {
    for (const servers of running) await servers.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a send that reaches the broker's port before the broker starts waits for it and is stored", async () => {
    const [nsPort, brokerPort, wsPort] = [await freePort(), await freePort(), await freePort()];
    // The NameServer's WebSocket listener waits for the test: the broker starts only after it.
    let releaseNameServer!: () => void;
    const nameServerGate = new Promise<void>((resolve) => (releaseNameServer = resolve));
    const gatedWebSocket: WebSocketListen = async (options, accept) => {
      await nameServerGate;
      return listenWebSocket(options, accept);
    };
    // Bytes reaching the broker's port, seen below the prebound port.
    let brokerBytes!: () => void;
    const brokerGotBytes = new Promise<void>((resolve) => (brokerBytes = resolve));
    let brokerBound!: () => void;
    const brokerPortBound = new Promise<void>((resolve) => (brokerBound = resolve));
    const watched: Listen = async (options, accept) => {
      const listener = await listen(options, options.port !== brokerPort ? accept : (transport) => {
        const handlers = accept(transport);
        return { ...handlers, data: (chunk) => {
          const kept = handlers.data(chunk);
          brokerBytes();
          return kept;
        } };
      });
      if (options.port === brokerPort) brokerBound();
      return listener;
    };
    const parsed = await parseServerArgs("standalone", "rmq standalone", [
      "--host", "127.0.0.1", "--namesrv-port", String(nsPort), "--port", String(brokerPort),
      "--namesrv-web-socket-port", String(wsPort), "--no-admin", "--no-grpc", "--no-replication", "--data-dir", join(dir, "early"),
    ], {});
    if (parsed.kind !== "config") throw new Error(JSON.stringify(parsed));
    let started = false;
    const starting = startServers("standalone", parsed.loaded.config, { runtime: { listen: watched, dial, listenWebSocket: gatedWebSocket } })
      .then((servers) => {
        started = true;
        running.push(servers);
        return servers;
      });
    await brokerPortBound;
    const client = await connect(clientDial, `127.0.0.1:${brokerPort}`);
    try {
      const sent = client.request(RequestCode.SEND_MESSAGE, { topic: "EarlyTopic", queueId: 0, bornTimestamp: Date.now(), properties: "" }, new TextEncoder().encode("early"));
      await brokerGotBytes;
      let answered = false;
      void sent.then(() => (answered = true), () => (answered = true));
      expect(started).toBe(false);
      expect(answered).toBe(false);
      releaseNameServer();
      const reply = await sent;
      expect(reply.code).toBe(ResponseCode.SUCCESS);
      const servers = await starting;
      expect(servers.broker!.port).toBe(brokerPort);
      expect(servers.broker!.context.store.getMaxOffset("EarlyTopic", 0)).toBe(1);
    } finally {
      client.close();
      releaseNameServer();
      await starting.catch(() => {});
    }
  });
});
