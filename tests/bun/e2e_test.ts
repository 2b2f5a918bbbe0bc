import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MessageExt } from "../../core/model/message.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import { Producer, PullConsumer } from "../../mod.ts";
import { BUN, type Child, type Server, startServer, stop } from "../_helpers/process.ts";

const TOPIC = "e2e_orders";
const SYNC = 4000;
const ASYNC = 4000;
const ONEWAY = 2000;
const TOTAL = SYNC + ASYNC + ONEWAY;

let dir: string;
const children: Child[] = [];
let ns1: Server;
let ns2: Server;
let nameServers: string[];
/** 0 until the first start picks a port; the restart reuses it. */
let brokerPort = 0;

function bodyOf(mode: string, seq: number): string {
  return `${mode}:${seq}:${"p".repeat(900)}`;
}

async function startBroker(): Promise<Server> {
  const broker = await startServer(BUN, [
    "run", "server/broker.ts",
    "--host", "127.0.0.1",
    "--port", String(brokerPort),
    "--namesrv", nameServers.join(","),
    "--data-dir", dir,
    "--segment-size", String(1024 * 1024),
    "--auto-create-topic",
  ]);
  children.push(broker);
  brokerPort = broker.port;
  return broker;
}

async function readAll(consumer: PullConsumer, queues: MessageQueue[], expression = "*"): Promise<Map<number, MessageExt[]>> {
  const byQueue = new Map<number, MessageExt[]>();
  for (const queue of queues) {
    const messages: MessageExt[] = [];
    let offset = 0;
    for (;;) {
      const result = await consumer.pull(queue, offset, { maxNums: 64, expression });
      messages.push(...result.messages);
      if (result.status === "NO_NEW_MSG" || result.nextBeginOffset === offset) break;
      offset = result.nextBeginOffset;
    }
    byQueue.set(queue.queueId, messages);
  }
  return byQueue;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-e2e-"));
  const [a, b] = await Promise.all([0, 1].map(() => startServer(BUN, ["run", "server/nameserver.ts", "--host", "127.0.0.1", "--port", "0"])));
  [ns1, ns2] = [a!, b!];
  children.push(ns1, ns2);
  nameServers = [`127.0.0.1:${ns1.port}`, `127.0.0.1:${ns2.port}`];
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

describe("end to end on real sockets", () => {
  test("10,000 messages sent sync, async and oneway come back complete and in order, and survive a restart", async () => {
    let broker = await startBroker();
    const producer = new Producer({ nameServer: nameServers });
    await producer.start();
    const acked = new Map<string, { queueId: number; queueOffset: number }>();
    const tagOf = (seq: number) => (seq % 2 === 0 ? "even" : "odd");

    // sync: 10 senders, each awaiting its answer
    let next = 0;
    await Promise.all(Array.from({ length: 10 }, async () => {
      while (next < SYNC) {
        const seq = next++;
        const r = await producer.send({ topic: TOPIC, tags: tagOf(seq), keys: `sync-${seq}`, body: bodyOf("sync", seq) });
        expect(r.status).toBe("SEND_OK");
        acked.set(`sync:${seq}`, { queueId: r.messageQueue.queueId, queueOffset: r.queueOffset });
      }
    }));
    // async: all in flight at once
    const results = await Promise.all(Array.from({ length: ASYNC }, (_, seq) =>
      producer.send({ topic: TOPIC, tags: tagOf(seq), keys: `async-${seq}`, body: bodyOf("async", seq) })));
    results.forEach((r, seq) => acked.set(`async:${seq}`, { queueId: r.messageQueue.queueId, queueOffset: r.queueOffset }));
    // oneway: one sender, no answers
    for (let seq = 0; seq < ONEWAY; seq++) {
      await producer.sendOneway({ topic: TOPIC, tags: tagOf(seq), keys: `oneway-${seq}`, body: bodyOf("oneway", seq) });
    }

    const consumer = new PullConsumer({ nameServer: nameServers, group: "e2e_check" });
    await consumer.start();
    const queues = await consumer.fetchMessageQueues(TOPIC);
    expect(queues).toHaveLength(4);
    // Oneway sends have no answer: wait until the broker has stored all of them.
    for (let i = 0; i < 200; i++) {
      let stored = 0;
      for (const q of queues) stored += await consumer.maxOffset(q);
      if (stored >= TOTAL) break;
      await Bun.sleep(25);
    }

    const verify = async () => {
      const byQueue = await readAll(consumer, queues);
      const seen = new Set<string>();
      for (const [queueId, messages] of byQueue) {
        messages.forEach((m, i) => expect(m.queueOffset).toBe(i));
        let lastOneway = -1;
        for (const m of messages) {
          const [mode, seqText] = new TextDecoder().decode(m.body).split(":");
          const id = `${mode}:${seqText}`;
          const seq = Number(seqText);
          expect(seen.has(id)).toBe(false);
          seen.add(id);
          expect(new TextDecoder().decode(m.body)).toBe(bodyOf(mode!, seq));
          expect(m.tags).toBe(tagOf(seq));
          expect(m.keys).toEqual([`${mode}-${seq}`]);
          const ack = acked.get(id);
          if (ack !== undefined) expect({ queueId, queueOffset: m.queueOffset }).toEqual(ack);
          if (mode === "oneway") {
            expect(seq).toBeGreaterThan(lastOneway); // one sequential sender: order kept per queue
            lastOneway = seq;
          }
        }
      }
      expect(seen.size).toBe(TOTAL);
    };
    await verify();

    // Tag filtering: only "even" messages, and all of them.
    const even = await readAll(consumer, queues, "even");
    const evenCount = [...even.values()].reduce((n, list) => n + list.length, 0);
    expect(evenCount).toBe(TOTAL / 2);
    for (const list of even.values()) for (const m of list) expect(m.tags).toBe("even");

    // Graceful restart on the same data directory: everything is still there.
    await stop(broker);
    expect(await broker.exited).toBe(0);
    broker = await startBroker();
    await verify();

    // Losing one of two NameServers is invisible to a new client.
    ns1.kill("SIGKILL");
    await ns1.exited;
    const late = new Producer({ nameServer: nameServers });
    await late.start();
    for (let i = 0; i < 20; i++) expect((await late.send({ topic: TOPIC, body: `late-${i}` })).status).toBe("SEND_OK");
    await late.shutdown();
    await producer.shutdown();
    await consumer.shutdown();
  }, 120_000);
});
