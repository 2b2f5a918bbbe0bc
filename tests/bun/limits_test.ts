import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { encodeFrame } from "../../core/codec/frame.ts";
import { PullSysFlag, RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type Connection, connect } from "../../core/remoting/connection.ts";
import { type Broker, type BrokerOptions, startBroker } from "../../server/broker/broker.ts";
import { hostOf } from "../../server/broker/connections_per_ip.ts";
import { listen } from "../../server/bun/listen.ts";
import { dial as serverDial } from "../../server/bun/connect.ts";
import { loadConfig } from "../../server/load_config.ts";
import { startNameServer } from "../../server/namesrv/name_server.ts";
import { startStandalone } from "../../server/standalone.ts";
import { until } from "../_helpers/wait.ts";

const dirs: string[] = [];
const brokers: Broker[] = [];

async function broker(options: Partial<BrokerOptions>, log: string[] = []): Promise<Broker> {
  const dir = mkdtempSync(join(tmpdir(), "rmq-limits-"));
  dirs.push(dir);
  const b = await startBroker({
    listen,
    dial: serverDial,
    hostname: "127.0.0.1",
    port: 0,
    dataDir: dir,
    autoCreateTopicEnable: true,
    log: (line) => log.push(line),
    ...options,
  });
  brokers.push(b);
  return b;
}

afterAll(async () => {
  for (const b of brokers) await b.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const body = new TextEncoder().encode("x");
const send = (c: Connection, topic: string) => c.request(RequestCode.SEND_MESSAGE, { topic, queueId: 0, bornTimestamp: Date.now() }, body, 10_000);

/** Resolves true once the connection closes, false when it is still open after `ms`. */
function closesWithin(c: Connection, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const started = Date.now();
    const timer = setInterval(() => {
      if (c.closed || Date.now() - started > ms) {
        clearInterval(timer);
        resolve(c.closed);
      }
    }, 5);
  });
}

describe("broker limits", () => {
  test("requests past maxInFlightPerConnection are answered SYSTEM_BUSY at once and the connection stays healthy", async () => {
    // Sync flush keeps every send in flight until its fsync, so a pipelined burst piles up.
    const b = await broker({ flushMode: "sync", maxInFlightPerConnection: 8 });
    const c = await connect(dial, b.address);
    expect((await send(c, "inflight")).code).toBe(ResponseCode.SUCCESS);
    const answers = await Promise.all(Array.from({ length: 200 }, () => send(c, "inflight")));
    const busy = answers.filter((a) => a.code === ResponseCode.SYSTEM_BUSY);
    const ok = answers.filter((a) => a.code === ResponseCode.SUCCESS);
    expect(busy.length).toBeGreaterThan(0);
    expect(ok.length).toBeGreaterThanOrEqual(8);
    expect(ok.length + busy.length).toBe(200);
    expect(busy[0]!.remark).toBe("Too many requests in flight on this connection (limit 8)");
    // The same connection still works once the burst is answered.
    expect((await send(c, "inflight")).code).toBe(ResponseCode.SUCCESS);
    // Another connection has its own budget.
    const other = await connect(dial, b.address);
    expect((await send(other, "inflight")).code).toBe(ResponseCode.SUCCESS);
    c.close();
    other.close();
  });

  test("connections past maxConnectionsPerIp are closed with a log line; a slot frees on close", async () => {
    const log: string[] = [];
    const b = await broker({ maxConnectionsPerIp: 3 }, log);
    const open = await Promise.all([1, 2, 3].map(() => connect(dial, b.address)));
    for (const c of open) expect((await c.request(RequestCode.GET_MAX_OFFSET, { topic: "ip", queueId: 0 })).code).not.toBe(ResponseCode.SYSTEM_ERROR);
    const fourth = await connect(dial, b.address);
    expect(await closesWithin(fourth, 2000)).toBe(true);
    expect(log.some((line) => /Connection from 127\.0\.0\.1 refused: it already has 3 open connections/.test(line))).toBe(true);
    expect(b.connections.size).toBe(3);
    open[0]!.close();
    await until(() => b.connections.size === 2, 5000, "the broker to see the close");
    const again = await connect(dial, b.address);
    expect((await again.request(RequestCode.GET_MAX_OFFSET, { topic: "ip", queueId: 0 })).header).toBeDefined();
    expect(again.closed).toBe(false);
    for (const c of [...open, again]) c.close();
  });

  test("a pull returns at most maxPullBatchSize messages", async () => {
    const b = await broker({ maxPullBatchSize: 5 });
    const c = await connect(dial, b.address);
    for (let i = 0; i < 12; i++) expect((await send(c, "batch")).code).toBe(ResponseCode.SUCCESS);
    const pull = await c.request(RequestCode.PULL_MESSAGE, {
      consumerGroup: "g",
      topic: "batch",
      queueId: 0,
      queueOffset: 0,
      maxMsgNums: 32,
    });
    expect(pull.code).toBe(ResponseCode.SUCCESS);
    expect(pull.header.nextBeginOffset).toBe(5);
    c.close();
  });

  test("past maxHeldPulls a pull that finds nothing is answered SYSTEM_BUSY at once instead of parked", async () => {
    const b = await broker({ maxHeldPulls: 1 });
    const c = await connect(dial, b.address);
    expect((await send(c, "held")).code).toBe(ResponseCode.SUCCESS);
    const pull = () =>
      c.request(RequestCode.PULL_MESSAGE, {
        consumerGroup: "g",
        topic: "held",
        queueId: 0,
        queueOffset: 1,
        maxMsgNums: 32,
        sysFlag: PullSysFlag.SUSPEND,
        suspendTimeoutMillis: 5000,
      }, undefined, 10_000);
    const first = pull();
    let firstDone = false;
    first.then(() => (firstDone = true));
    await until(() => b.context.holds.size === 1, 5000, "the first pull to be parked");
    // The second pull is either answered or parked; it must be answered, and not by a timeout (it
    // would wait 5 s parked) nor by a message (none is sent meanwhile).
    let secondDone = false;
    const second = pull().finally(() => (secondDone = true));
    await until(() => secondDone || b.context.holds.size > 1, 5000, "the second pull to be answered or parked");
    expect(b.context.holds.size).toBe(1);
    const answer = await second;
    expect(answer.code).toBe(ResponseCode.SYSTEM_BUSY);
    expect(answer.remark).toBe('Broker "broker-a" already holds 1 pulls waiting for messages (limit maxHeldPulls): pull again later');
    expect(b.context.holds.refused).toBe(1);
    expect(firstDone).toBe(false);
    // The parked pull is woken by the next message.
    expect((await send(c, "held")).code).toBe(ResponseCode.SUCCESS);
    expect((await first).code).toBe(ResponseCode.SUCCESS);
    c.close();
  });

  test("past maxHeldPullsPerConnection a connection's pulls are answered SYSTEM_BUSY; another connection still gets a slot", async () => {
    const b = await broker({ maxHeldPulls: 10, maxHeldPullsPerConnection: 3 });
    const greedy = await connect(dial, b.address);
    expect((await send(greedy, "fair")).code).toBe(ResponseCode.SUCCESS);
    const pull = (c: Connection, queueOffset = 1) =>
      c.request(RequestCode.PULL_MESSAGE, {
        consumerGroup: "g",
        topic: "fair",
        queueId: 0,
        queueOffset,
        maxMsgNums: 32,
        sysFlag: PullSysFlag.SUSPEND,
        suspendTimeoutMillis: 5000,
      }, undefined, 10_000);
    const held = Array.from({ length: 3 }, () => pull(greedy));
    const refused = await Promise.all(Array.from({ length: 5 }, () => pull(greedy)));
    expect(refused.map((a) => a.code)).toEqual(Array(5).fill(ResponseCode.SYSTEM_BUSY));
    expect(refused[0]!.remark).toBe(
      'This connection already has 3 pulls waiting for messages on broker "broker-a" (limit maxHeldPullsPerConnection): pull again later',
    );
    expect(b.context.holds.size).toBe(3);
    // Another client's pull is parked, and a pull that finds messages is answered whatever the slots.
    const other = await connect(dial, b.address);
    const otherHeld = pull(other);
    await until(() => b.context.holds.size === 4, 2000, "the other connection's pull to be parked");
    expect((await pull(greedy, 0)).code).toBe(ResponseCode.SUCCESS);
    expect((await send(other, "fair")).code).toBe(ResponseCode.SUCCESS);
    expect((await otherHeld).code).toBe(ResponseCode.SUCCESS);
    for (const answer of await Promise.all(held)) expect(answer.code).toBe(ResponseCode.SUCCESS);
    // The slots came back with the answers.
    expect([b.context.holds.size, b.context.holds.heldBy(greedy), b.context.holds.heldBy(other)]).toEqual([0, 0, 0]);
    greedy.close();
    other.close();
  });

  test("an oversized frame closes only its connection (maxFrameSize)", async () => {
    const b = await broker({ maxFrameSize: 64 * 1024 });
    const header = { topic: "big", queueId: 0, bornTimestamp: 1 };
    // A frame just under the limit is served: the limit, not the body size as such, closes the other.
    const near = encodeFrame({ code: RequestCode.SEND_MESSAGE, id: 1, flags: 0, header, body: new Uint8Array(63 * 1024) });
    expect(near.length).toBeLessThan(64 * 1024);
    const good = await connect(dial, b.address);
    expect((await good.request(RequestCode.SEND_MESSAGE, header, new Uint8Array(63 * 1024))).code).toBe(ResponseCode.SUCCESS);
    const bad = await connect(dial, b.address);
    bad.request(RequestCode.SEND_MESSAGE, header, new Uint8Array(65 * 1024)).catch(() => {});
    expect(await closesWithin(bad, 2000)).toBe(true);
    expect(good.closed).toBe(false);
    expect((await send(good, "big")).code).toBe(ResponseCode.SUCCESS);
    good.close();
  });

  test("invalid limits are refused at start", async () => {
    await expect(broker({ maxPullBatchSize: 2000 })).rejects.toThrow(/maxPullBatchSize "2000"/);
    await expect(broker({ maxInFlightPerConnection: 0 })).rejects.toThrow(/maxInFlightPerConnection "0"/);
    await expect(broker({ maxConnectionsPerIp: -1 })).rejects.toThrow(/maxConnectionsPerIp "-1"/);
    await expect(broker({ maxHeldPullsPerConnection: 0 })).rejects.toThrow(/maxHeldPullsPerConnection "0"/);
  });

  test("limits have config keys with safe defaults", () => {
    const b = loadConfig().broker;
    expect([b.maxFrameSize, b.maxInFlightPerConnection, b.maxConnectionsPerIp, b.maxPullBatchSize, b.maxHeldPulls, b.maxHeldPullsPerConnection])
      .toEqual([8 * 1024 * 1024, 10_000, 1000, 1024, 10_000, 1000]);
    const env = loadConfig({ env: { RMQ_BROKER_MAX_IN_FLIGHT_PER_CONNECTION: "64", RMQ_BROKER_MAX_HELD_PULLS: "0" } }).broker;
    expect([env.maxInFlightPerConnection, env.maxHeldPulls]).toEqual([64, 0]);
    expect(() => loadConfig({ overrides: { broker: { maxPullBatchSize: 5000 } } })).toThrow(/maxPullBatchSize/);
    const auth = [b.maxPendingFrameBytes, b.maxPendingFrameBytesPerIp, b.handshakeTimeoutMs, b.frameReadTimeoutMs];
    expect(auth).toEqual([256 * 1024 * 1024, 64 * 1024 * 1024, 10_000, 30_000]);
    const n = loadConfig({ command: "nameserver" }).nameserver;
    expect([n.maxPendingFrameBytes, n.maxPendingFrameBytesPerIp, n.handshakeTimeoutMs, n.frameReadTimeoutMs]).toEqual(auth);
  });

  test("limits before authentication: a server builds its guard from its options; standalone's two servers share the broker's", async () => {
    const b = await broker({ maxPendingFrameBytesPerIp: 1024 * 1024, frameReadTimeoutMs: 4321 });
    expect([b.context.connectionGuard.maxPendingFrameBytesPerIp, b.context.connectionGuard.frameReadTimeoutMs]).toEqual([1024 * 1024, 4321]);
    const ns = await startNameServer({ listen, hostname: "127.0.0.1", port: 0, handshakeTimeoutMs: 1234 });
    expect(ns.connectionGuard.handshakeTimeoutMs).toBe(1234);
    await ns.close();
    const dir = mkdtempSync(join(tmpdir(), "rmq-limits-"));
    dirs.push(dir);
    const system = await startStandalone({
      listen,
      dial: serverDial,
      hostname: "127.0.0.1",
      port: 0,
      nameServerPort: 0,
      dataDir: dir,
      maxPendingFrameBytes: 32 * 1024 * 1024,
      log: () => {},
    });
    expect(system.nameServer.connectionGuard).toBe(system.broker.context.connectionGuard);
    expect(system.nameServer.connectionGuard.maxPendingFrameBytes).toBe(32 * 1024 * 1024);
    await system.close();
  });

  test("GET_BROKER_RUNTIME_INFO is answered with plain data (found by the frame fuzzer)", async () => {
    const b = await broker({});
    const c = await connect(dial, b.address);
    expect((await send(c, "info")).code).toBe(ResponseCode.SUCCESS);
    const info = await c.request(RequestCode.GET_BROKER_RUNTIME_INFO, {});
    expect(info.code).toBe(ResponseCode.SUCCESS);
    expect((info.header.byTopic as Record<string, { messagesIn: number }>).info!.messagesIn).toBe(1);
    expect((info.header.sendLatency as { count: number }).count).toBe(1);
    c.close();
  });

  test("hostOf() strips the port and IPv6 brackets", () => {
    expect(hostOf("127.0.0.1:5000")).toBe("127.0.0.1");
    expect(hostOf("[::1]:5000")).toBe("::1");
    expect(hostOf("::ffff:10.0.0.1:80")).toBe("10.0.0.1");
  });
});

describe("in-flight limit and oneway requests", () => {
  test("oneway sends past the limit are still stored, never dropped", async () => {
    const system = await broker({ maxInFlightPerConnection: 2 });
    {
      const c = await connect(dial, system.address);
      for (let i = 0; i < 200; i++) {
        c.oneway(RequestCode.SEND_MESSAGE, { topic: "oneway_flood", queueId: 0, bornTimestamp: Date.now() }, new TextEncoder().encode(`m${i}`));
      }
      let stored = 0;
      for (let i = 0; i < 100 && stored < 200; i++) {
        await Bun.sleep(20);
        stored = (await c.request(RequestCode.GET_MAX_OFFSET, { topic: "oneway_flood", queueId: 0 })).header.offset as number;
      }
      expect(stored).toBe(200);
      c.close();
    }
  });
});
