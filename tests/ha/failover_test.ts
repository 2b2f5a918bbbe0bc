/**
 * The master SIGKILLed while a push consumer (its own process) is consuming: the consumer
 * switches to the slave of the group and receives every message at least once; when the master
 * comes back on the same data dir, the consumer moves back to it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Producer } from "../../client/producer.ts";
import { BUN, type Child, start, stop } from "../_helpers/process.ts";
import { startTestNameServer } from "../faults/_common.ts";
import { expectSameCommitLog, haPortOf, startMaster, startSlave, until } from "./_ha.ts";

const TOPIC = "ha_failover";
const GROUP = "ha_failover_group";
const COUNT = 4000;
let dir: string;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-ha-failover-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

function handled(member: Child): string[] {
  return [...member.output().matchAll(/^H \d+ (\S+)$/gm)].map((m) => m[1]!);
}

describe("master SIGKILL during consumption", () => {
  test("a push consumer continues from the slave and receives every message at least once", async () => {
    const ns = await startTestNameServer();
    children.push(ns);
    const nameServer = `127.0.0.1:${ns.port}`;
    const master = await startMaster({ dataDir: join(dir, "master"), namesrv: [nameServer] });
    children.push(master);
    // The master comes back on the same ports: the slave knows its replication address.
    const masterOptions = { dataDir: join(dir, "master"), port: master.port, haPort: haPortOf(master), namesrv: [nameServer] };
    children.push(await startSlave({ dataDir: join(dir, "slave"), namesrv: [nameServer], haMaster: `127.0.0.1:${masterOptions.haPort}` }));

    const producer = new Producer({ nameServer });
    await producer.start();
    await Promise.all(Array.from({ length: COUNT }, (_, i) => producer.send({ topic: TOPIC, body: `m-${i}` })));
    await producer.shutdown();
    await expectSameCommitLog(join(dir, "master"), join(dir, "slave"));

    // 4 handlers of 2 ms and at most 16 messages buffered per queue: the master dies mid-consumption
    // with most messages not yet pulled, so they can only come from the slave.
    const consumer = start(BUN, [
      "tests/_fixtures/push_member.ts", nameServer, GROUP, TOPIC, "2",
      JSON.stringify({ pullBatchSize: 8, pullThresholdForQueue: 16, consumeThreads: 4 }),
    ]);
    children.push(consumer);
    await until(() => handled(consumer).length >= 400, 20_000, "the consumer to get going");
    master.kill("SIGKILL");
    await master.exited;
    const killedAt = Date.now();
    const atKill = handled(consumer).length;
    // At most 4 queues × (16 buffered + 8 in a pull) were in hand at the kill; past that, the slave serves.
    await until(() => handled(consumer).length > atKill + 96, 20_000, "the first messages from the slave");
    const switchedMs = Date.now() - killedAt;

    await until(() => new Set(handled(consumer)).size === COUNT, 20_000, `all ${COUNT} messages (the consumer has ${new Set(handled(consumer)).size})`);
    const tookMs = Date.now() - killedAt;
    const all = handled(consumer);
    expect(new Set(all).size).toBe(COUNT);
    expect(atKill).toBeLessThan(COUNT - 1000); // mid-consumption: at most 4 × 24 were buffered, the rest came from the slave
    console.log(
      `failover: master SIGKILLed after ${atKill} of ${COUNT} messages; the consumer got the other ${COUNT - atKill} from the slave ` +
        `(reading from it ${switchedMs} ms after the kill, all done in ${tookMs} ms); ${all.length - COUNT} delivered twice`,
    );

    // The master comes back on the same data: new messages flow through it again.
    const back = await startMaster(masterOptions);
    children.push(back);
    const again = new Producer({ nameServer });
    await again.start();
    await until(() => back.output().includes("Slave 1"), 15_000, "the slave to reconnect");
    for (let i = 0; i < 100; i++) await again.send({ topic: TOPIC, body: `n-${i}` });
    await again.shutdown();
    await until(() => handled(consumer).filter((b) => b.startsWith("n-")).length >= 100, 15_000, "messages sent after the master came back");
  }, 60_000);
});
