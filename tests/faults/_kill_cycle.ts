/**
 * The SIGKILL cycle shared by the sync and async crash tests: producer processes send keyed
 * messages while the broker is SIGKILLed and restarted on the same data dir, then every queue is
 * read back and checked.
 */
import { expect } from "bun:test";
import { dial } from "../../client/bun/connect.ts";
import { connect } from "../../core/remoting/connection.ts";
import { BUN, type Child, start, stop } from "../_helpers/process.ts";
import { drainTopic, keyOf, startTestBroker } from "./_common.ts";

const TOPIC = "crash";

/** What one kill cycle measured. */
export interface KillCycleResult {
  acked: number;
  lost: number;
  retried: number;
  duplicated: number;
  elapsedMs: number;
}

function ackCount(senders: Child[]): number {
  let n = 0;
  for (const s of senders) n += s.output().split("\nACK ").length - 1;
  return n;
}

async function waitUntil(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Runs producers against a broker, SIGKILLs it `kills` times (each after 1,500 more
 * acknowledgements) and restarts it, then checks what is stored: every acknowledged message at
 * the queue offset it was acknowledged with, CRCs good, offsets contiguous, duplicates only of
 * retried sends, nothing never sent.
 */
export async function runKillCycle(
  options: { dataDir: string; flush: "sync" | "async"; producers: number; perProducer: number; kills: number },
  children: Child[],
): Promise<KillCycleResult> {
  const brokerOptions = { dataDir: options.dataDir, flush: options.flush, flushIntervalMs: 500, segmentSize: 512 * 1024 };
  let broker = await startTestBroker(brokerOptions);
  children.push(broker);
  // Restarts reuse the port: the producers reconnect to it.
  const port = broker.port;
  const senders = Array.from({ length: options.producers }, (_, i) => {
    const s = start(BUN, ["tests/_fixtures/keyed_sender.ts", `127.0.0.1:${port}`, TOPIC, `p${i}`, String(options.perProducer), "8"]);
    children.push(s);
    return s;
  });
  const started = Date.now();
  for (let kill = 1; kill <= options.kills; kill++) {
    const target = ackCount(senders) + 1500;
    await waitUntil(() => ackCount(senders) >= target, 20_000, `${target} acknowledgements`);
    broker.kill("SIGKILL");
    expect(await broker.exited).toBe("SIGKILL");
    broker = await startTestBroker({ ...brokerOptions, port });
    children.push(broker);
  }
  await Promise.all(senders.map((s) => s.waitFor("DONE", 30_000)));
  const elapsedMs = Date.now() - started;

  const acked = new Map<string, { queueId: number; queueOffset: number }>();
  const retried = new Set<string>();
  for (const s of senders) {
    for (const m of s.output().matchAll(/^ACK (\S+) (\d+) (\d+)$/gm)) acked.set(m[1]!, { queueId: Number(m[2]), queueOffset: Number(m[3]) });
    for (const m of s.output().matchAll(/^RETRY (\S+)$/gm)) retried.add(m[1]!);
  }
  expect(acked.size).toBe(options.producers * options.perProducer);

  const connection = await connect(dial, `127.0.0.1:${port}`);
  const queues = await drainTopic(connection, TOPIC, [0, 1, 2, 3]); // CRC-checked, offsets contiguous
  connection.close();
  const copies = new Map<string, { queueId: number; queueOffset: number }[]>();
  for (const [queueId, messages] of queues.entries()) {
    for (const m of messages) {
      const key = keyOf(m);
      expect(new TextDecoder().decode(m.body)).toBe(`${key}:${"x".repeat(200)}`);
      let list = copies.get(key);
      if (list === undefined) copies.set(key, (list = []));
      list.push({ queueId, queueOffset: m.queueOffset });
    }
  }
  let lost = 0;
  for (const [key, ack] of acked) {
    // The acknowledged copy is at exactly the queue offset the broker answered with.
    if (!copies.get(key)?.some((c) => c.queueId === ack.queueId && c.queueOffset === ack.queueOffset)) lost++;
  }
  const duplicated = [...copies].filter(([, list]) => list.length > 1).map(([key]) => key);
  expect(duplicated.filter((key) => !retried.has(key))).toEqual([]);
  expect([...copies.keys()].filter((key) => !acked.has(key))).toEqual([]);
  await stop(broker);
  return { acked: acked.size, lost, retried: retried.size, duplicated: duplicated.length, elapsedMs };
}
