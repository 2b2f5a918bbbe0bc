import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import type { Connection } from "../../../core/remoting/connection.ts";
import { QueueLockManager } from "../../../server/broker/queue_lock_manager.ts";
import { BrokerFixture, heartbeat, until } from "./_fixture.ts";

const q = (queueId: number, topic = "orders") => ({ topic, brokerName: "broker-a", queueId });

let fx: BrokerFixture;

beforeEach(() => {
  fx = new BrokerFixture();
});

afterEach(async () => {
  await fx.cleanup();
});

async function lock(connection: Connection, clientId: string, mqs: ReturnType<typeof q>[], group = "g") {
  const reply = await connection.request(RequestCode.LOCK_BATCH_MQ, { consumerGroup: group, clientId, mqs });
  expect(reply.code).toBe(ResponseCode.SUCCESS);
  return (reply.header.lockOKMQSet as ReturnType<typeof q>[]).map((m) => m.queueId);
}

function unlock(connection: Connection, clientId: string, mqs: ReturnType<typeof q>[], group = "g") {
  return connection.request(RequestCode.UNLOCK_BATCH_MQ, { consumerGroup: group, clientId, mqs });
}

describe("queue locks", () => {
  test("a queue is held by one client of a group until it unlocks it", async () => {
    await fx.start();
    const a = (await fx.client()).connection;
    const b = (await fx.client()).connection;
    expect(await lock(a, "client-a", [q(0), q(1)])).toEqual([0, 1]);
    expect(await lock(b, "client-b", [q(1), q(2)])).toEqual([2]);
    expect(await lock(a, "client-a", [q(0), q(1), q(2)])).toEqual([0, 1]); // renewal; q2 is b's
    expect(await lock(b, "client-b", [q(1)], "other-group")).toEqual([1]); // groups are independent

    expect((await unlock(b, "client-b", [q(0)])).code).toBe(ResponseCode.SUCCESS); // not b's: no effect
    expect(await lock(b, "client-b", [q(0)])).toEqual([]);
    await unlock(a, "client-a", [q(1)]);
    expect(await lock(b, "client-b", [q(1)])).toEqual([1]);
    expect(fx.broker.context.locks.locks("g").map((l) => [l.queueId, l.clientId]).sort()).toEqual([
      [0, "client-a"],
      [1, "client-b"],
      [2, "client-b"],
    ]);
  });

  test("an expired lock can be taken over", async () => {
    await fx.start({ lockExpiryMs: 100 });
    const a = (await fx.client()).connection;
    const b = (await fx.client()).connection;
    expect(await lock(a, "client-a", [q(0)])).toEqual([0]);
    expect(await lock(b, "client-b", [q(0)])).toEqual([]);
    await Bun.sleep(150);
    expect(await lock(b, "client-b", [q(0)])).toEqual([0]);
    expect(await lock(a, "client-a", [q(0)])).toEqual([]);
  });

  test("locks are released when the holder's connection closes", async () => {
    await fx.start();
    const a = (await fx.client()).connection;
    const b = (await fx.client()).connection;
    expect(await lock(a, "client-a", [q(0), q(1)])).toEqual([0, 1]);
    a.close();
    await until(() => fx.broker.context.locks.locks("g").length === 0);
    expect(await lock(b, "client-b", [q(0), q(1)])).toEqual([0, 1]);
  });

  test("locks are released when the holder leaves the consumer group", async () => {
    await fx.start();
    const a = (await fx.client()).connection;
    const b = (await fx.client()).connection;
    await heartbeat(a, "client-a", "g");
    // Locked over a second connection: leaving the group still releases it.
    expect(await lock(b, "client-a", [q(3)])).toEqual([3]);
    expect(await lock(b, "client-b", [q(3)])).toEqual([]);
    await a.request(RequestCode.UNREGISTER_CLIENT, { clientId: "client-a", consumerGroup: "g" });
    expect(await lock(b, "client-b", [q(3)])).toEqual([3]);
  });
});

describe("QueueLockManager", () => {
  test("tryLockBatch() grants a held queue only after lockExpiryMs without renewal", () => {
    let now = 1_000;
    const locks = new QueueLockManager({ lockExpiryMs: 60_000, now: () => now });
    const request = (clientId: string) => ({ group: "g", clientId, queues: [q(0)] });
    expect(locks.tryLockBatch(request("a"))).toEqual([q(0)]);
    now += 40_000;
    expect(locks.tryLockBatch(request("a"))).toEqual([q(0)]); // renewed at 41 s
    now += 60_000;
    expect(locks.tryLockBatch(request("b"))).toEqual([]);
    expect(locks.holder("g", q(0))).toEqual({ clientId: "a", lastUpdate: 41_000 });
    now += 1;
    expect(locks.holder("g", q(0))).toBeUndefined();
    expect(locks.tryLockBatch(request("b"))).toEqual([q(0)]);
    expect(locks.releaseClient("g", "a")).toBe(0);
    expect(locks.releaseClient("g", "b")).toBe(1);
    expect(locks.locks("g")).toEqual([]);
  });
});
