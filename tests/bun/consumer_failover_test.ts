/**
 * Group members as separate processes over real sockets: one is killed with SIGKILL mid-stream and
 * its queues move to the others. Measures the time until they are taken over.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Producer } from "../../client/producer.ts";
import { dial, startCluster, type TestCluster } from "../_helpers/consumer_cluster.ts";
import { BUN, type Child, start, stop } from "../_helpers/process.ts";
import { until } from "../_helpers/wait.ts";

const TOPIC = "failover_topic";
const GROUP = "failover_group";
const TOTAL = 20_000;

interface Member {
  child: Child;
  /** Queue ids, with the time the test saw each assignment. */
  assignments: { at: number; queues: number[] }[];
  handled: { at: number; queueId: number; body: string }[];
}

let cluster: TestCluster;
let producer: Producer;
const members: Member[] = [];

function spawnMember(): Member {
  const child = start(BUN, ["run", "tests/_fixtures/push_member.ts", cluster.nameServer, GROUP, TOPIC, "1"]);
  const member: Member = { child, assignments: [], handled: [] };
  let partial = "";
  child.process.stdout!.on("data", (chunk: Buffer) => {
    const now = Date.now();
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith("H ")) {
        const space = line.indexOf(" ", 2);
        member.handled.push({ at: now, queueId: Number(line.slice(2, space)), body: line.slice(space + 1) });
      } else if (line.startsWith("ASSIGN")) {
        const ids = line.slice(7).trim();
        member.assignments.push({ at: now, queues: ids === "" ? [] : ids.split(",").map(Number) });
      }
    }
  });
  members.push(member);
  return member;
}

const current = (m: Member) => m.assignments.at(-1)?.queues ?? [];


beforeAll(async () => {
  cluster = await startCluster();
  await cluster.createTopic(TOPIC, 8);
  producer = new Producer({ nameServer: cluster.nameServer, dial, group: "failover_producer" });
  await producer.start();
});

afterAll(async () => {
  await Promise.all(members.map((m) => stop(m.child, 3000)));
  await producer.shutdown();
  await cluster.close();
});

test("a member killed mid-stream: its queues move to the others and every message is handled at least once", async () => {
  const [a, b, victim] = [spawnMember(), spawnMember(), spawnMember()];
  await Promise.all([a, b, victim].map((m) => m.child.waitFor("READY", 15_000)));
  await until(() => [a, b, victim].reduce((n, m) => n + current(m).length, 0) === 8 && current(victim).length > 0, 10_000, "8 queues over 3 members", 5);

  // Send at a steady pace so consumption is in full swing when the member dies.
  let sent = 0;
  const sending = (async () => {
    while (sent < TOTAL) {
      const batch = [];
      for (let i = 0; i < 400 && sent < TOTAL; i++, sent++) batch.push(producer.send({ topic: TOPIC, body: `m${sent}` }));
      await Promise.all(batch);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await until(() => victim.handled.length > 1500, 15_000, "the victim to be consuming", 5);
  const victimQueues = current(victim);
  const killedAt = Date.now();
  victim.child.kill("SIGKILL");
  await victim.child.exited;

  const survivors = [a, b];
  await until(() => victimQueues.every((q) => survivors.some((m) => current(m).includes(q))), 10_000, "the victim's queues to move", 5);
  const reassignedAt = Math.max(...survivors.map((m) => m.assignments.at(-1)!.at));
  await until(
    () => victimQueues.every((q) => survivors.some((m) => m.handled.some((h) => h.queueId === q && h.at > killedAt))),
    15_000,
    "a survivor to handle each of the victim's queues",
    5,
  );
  const resumedAt = Math.max(...victimQueues.map((q) =>
    Math.min(...survivors.flatMap((m) => m.handled.filter((h) => h.queueId === q && h.at > killedAt).map((h) => h.at)))
  ));
  await sending;

  const counts = new Map<string, number>();
  const count = () => {
    counts.clear();
    for (const m of members) for (const h of m.handled) counts.set(h.body, (counts.get(h.body) ?? 0) + 1);
    return counts.size;
  };
  await until(() => count() === TOTAL, 20_000, "every message handled at least once", 5);
  const duplicates = [...counts.values()].reduce((n, c) => n + c - 1, 0);
  const reassignMs = reassignedAt - killedAt;
  const resumeMs = resumedAt - killedAt;
  console.log(
    `failover: victim held queues [${victimQueues}]; reassigned after ${reassignMs} ms, ` +
      `consumption resumed on all of them after ${resumeMs} ms; ${duplicates} duplicate deliveries of ${TOTAL}`,
  );
  expect(counts.size).toBe(TOTAL);
  expect(reassignMs).toBeLessThan(5000);
  expect(current(a).length + current(b).length).toBe(8);
}, 60_000);
