/**
 * A push-consumer process SIGKILLed while its handlers are in flight: the broker sees its
 * connection drop, the surviving member of the group takes over its queues from the last
 * committed offsets, and every message is handled at least once. Redeliveries are counted.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Producer } from "../../client/producer.ts";
import { until } from "../_helpers/wait.ts";
import { BUN, type Child, start, stop } from "../_helpers/process.ts";
import { startTestBroker, startTestNameServer } from "./_common.ts";

const TOPIC = "ck_fault";
const GROUP = "ck_group";
const COUNT = 3000;
let dir: string;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-ckill-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

function handled(member: Child): string[] {
  return [...member.output().matchAll(/^H \d+ (\S+)$/gm)].map((m) => m[1]!);
}


describe("consumer SIGKILL mid-batch", () => {
  test("the surviving member gets the killed member's uncommitted messages", async () => {
    const ns = await startTestNameServer();
    children.push(ns);
    const nameServer = `127.0.0.1:${ns.port}`;
    children.push(await startTestBroker({ dataDir: dir, flush: "async", namesrv: [nameServer] }));
    const producer = new Producer({ nameServer });
    await producer.start();
    await Promise.all(Array.from({ length: COUNT }, (_, i) => producer.send({ topic: TOPIC, body: `m-${i}` })));
    await producer.shutdown();

    // Each handler takes 40 ms, 20 at a time per member: the victim always has handlers in flight.
    const victim = start(BUN, ["tests/_fixtures/push_member.ts", nameServer, GROUP, TOPIC, "40"]);
    const survivor = start(BUN, ["tests/_fixtures/push_member.ts", nameServer, GROUP, TOPIC, "40"]);
    children.push(victim, survivor);
    await until(() => handled(victim).length >= 300 && /ASSIGN \d/.test(survivor.output()), 20_000, "both members consuming");
    victim.kill("SIGKILL");
    await victim.exited;
    const byVictim = handled(victim);

    const all = new Set<string>();
    await until(() => {
      all.clear();
      for (const body of byVictim) all.add(body);
      for (const body of handled(survivor)) all.add(body);
      return all.size === COUNT;
    }, 25_000, `all ${COUNT} messages handled`);
    const bySurvivor = handled(survivor);
    const redelivered = byVictim.filter((b) => bySurvivor.includes(b)).length;
    const handledTotal = byVictim.length + bySurvivor.length;
    console.log(
      `consumer kill: ${COUNT} messages, victim handled ${byVictim.length} before SIGKILL, survivor ${bySurvivor.length}; ` +
        `${handledTotal - COUNT} duplicate deliveries (${redelivered} handled by both), none lost`,
    );
    expect(all.size).toBe(COUNT);
    // The survivor took over the victim's queues: it handled more than its own half.
    expect(bySurvivor.length).toBeGreaterThan(COUNT / 2);
    await stop(survivor);
  }, 40_000);
});
