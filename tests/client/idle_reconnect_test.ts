/**
 * A broker and NameServer cut client connections that sent no frame for `idleTimeoutMs`; a
 * producer and a pull consumer left idle past it reopen their connections on their next call, and
 * nothing they send or read is lost or doubled.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Producer } from "../../client/producer.ts";
import { PullConsumer } from "../../client/pull_consumer.ts";
import { ConnectionGuard } from "../../core/remoting/connection_guard.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { MemorySegmentStorage } from "../../server/store/memory_segment_storage.ts";
import { MemoryNetwork } from "../_helpers/memory_network.ts";
import { until } from "../_helpers/wait.ts";

const IDLE_MS = 200;
const decoder = new TextDecoder();
let network: MemoryNetwork;
let guard: ConnectionGuard;
let standalone: Standalone;

beforeAll(async () => {
  network = new MemoryNetwork();
  guard = new ConnectionGuard({ frameReadTimeoutMs: 50, idleTimeoutMs: IDLE_MS });
  standalone = await startStandalone({
    listen: network.listen,
    dial: network.dial,
    dataDir: "/data",
    storage: new MemorySegmentStorage(),
    port: 0,
    nameServerPort: 0,
    connectionGuard: guard,
    log: () => {},
  });
});

afterAll(async () => {
  await standalone?.close();
});

test("a producer and a pull consumer idle past idleTimeoutMs are cut, and their next calls reconnect", async () => {
  const producer = new Producer({ nameServer: standalone.nameServerAddress, dial: network.dial, group: "idle_producer" });
  const consumer = new PullConsumer({ nameServer: standalone.nameServerAddress, dial: network.dial, group: "idle_consumer" });
  await producer.start();
  await consumer.start();
  const topic = "idle_reconnect";
  const first = await producer.send({ topic, body: "before the cut" });
  const cutsBefore = guard.cuts.get("idleTimeoutMs") ?? 0;
  await until(() => (guard.cuts.get("idleTimeoutMs") ?? 0) > cutsBefore, 5000, "the idle connections to be cut");
  const second = await producer.send({ topic, body: "after the cut" });
  expect(second.status).toBe("SEND_OK");
  // The topic was created by the first send; the NameServer routes it once the broker registers it.
  await until(async () => (await consumer.fetchMessageQueues(topic).catch(() => [])).length > 0, 5000, "the topic's route");
  const read: string[] = [];
  const queues = new Map([first, second].map((r) => [r.messageQueue.queueId, r.messageQueue]));
  for (const queue of queues.values()) {
    const result = await consumer.pull(queue, 0, { maxNums: 32 });
    if (result.status === "FOUND") read.push(...result.messages.map((m) => decoder.decode(m.body)));
  }
  expect(read.sort()).toEqual(["after the cut", "before the cut"]);
  await producer.shutdown();
  await consumer.shutdown();
});
