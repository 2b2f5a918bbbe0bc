/**
 * Timer messages are replicated: a slave copies the timer records and the master's deliveries, and
 * a broker started as master on the slave's data (after the master is gone) delivers the timers
 * still pending exactly once and none the old master already delivered.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { drainQueue } from "../_helpers/raw_client.ts";
import { type Child, freePort, stop } from "../_helpers/process.ts";
import { commitLogSize, startMaster, startSlave, until } from "./_ha.ts";

let dir: string;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-ha-timers-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

function sendTimer(connection: Connection, body: string, dueMs: number) {
  return connection.request(RequestCode.SEND_MESSAGE_V2, { b: "ha_timers", e: 0, g: Date.now(), i: `TIMER_DELIVER_MS\u0001${dueMs}\u0002` }, new TextEncoder().encode(body));
}

async function timerStats(connection: Connection): Promise<{ pending: number; delivered: number }> {
  const info = await connection.request(RequestCode.GET_BROKER_RUNTIME_INFO, {}, undefined, 30_000);
  return info.header.timers as { pending: number; delivered: number };
}

describe("timer replication", () => {
  test("a slave's data started as master delivers the pending timers once and the delivered ones not again", async () => {
    const [masterPort, haPort, slavePort] = [await freePort(), await freePort(), await freePort()];
    const master = await startMaster({ dataDir: join(dir, "master"), port: masterPort, haPort });
    children.push(master);
    const slave = await startSlave({ dataDir: join(dir, "slave"), port: slavePort, haMaster: `127.0.0.1:${haPort}` });
    children.push(slave);
    const connection = await connect(dial, `127.0.0.1:${masterPort}`);
    const soon = Date.now() + 1500;
    const later = Date.now() + 8000;
    for (let i = 0; i < 200; i++) expect((await sendTimer(connection, `soon-${i}`, soon + i)).code).toBe(ResponseCode.SUCCESS);
    for (let i = 0; i < 200; i++) expect((await sendTimer(connection, `later-${i}`, later + i)).code).toBe(ResponseCode.SUCCESS);
    expect((await sendTimer(connection, "month", Date.now() + 30 * 86_400_000)).code).toBe(ResponseCode.SUCCESS);
    await until(async () => (await timerStats(connection)).delivered === 200, 20_000, "the master to deliver the first 200");
    await until(() => commitLogSize(join(dir, "slave")) === commitLogSize(join(dir, "master")), 20_000, "the slave to catch up");
    connection.close();
    master.kill("SIGKILL");
    await master.exited;
    await stop(slave);

    // The slave's data, started as the group's master.
    const promoted = await startMaster({ dataDir: join(dir, "slave"), port: await freePort(), haPort: await freePort() });
    children.push(promoted);
    const after = await connect(dial, `127.0.0.1:${promoted.output().match(/listening on 127\.0\.0\.1:(\d+)/)![1]}`);
    await until(async () => Date.now() > later + 1500 && (await timerStats(after)).pending === 1, 30_000, "the pending timers to fire");
    const bodies = (await drainQueue(after, "ha_timers", 0)).map((m) => new TextDecoder().decode(m.body));
    expect(bodies).toHaveLength(400);
    expect(new Set(bodies).size).toBe(400);
    expect(bodies.filter((b) => b.startsWith("later-"))).toHaveLength(200);
    after.close();
    await stop(promoted);
  }, 90_000);
});
