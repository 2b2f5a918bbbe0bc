/**
 * The edge entry in Cloudflare's own runtime: a Worker bundled from `client/edge.ts` (as wrangler
 * would, `cloudflare:sockets` left to workerd) runs in workerd through miniflare, without
 * `nodejs_compat`, and talks TCP through `connect()` to a real NameServer and broker on loopback.
 * It sends and reads back messages (pulled, and received and acked over POP); a Worker that drops its socket mid-frame or mid-send costs the
 * broker nothing it keeps, loses nothing that was acknowledged and disturbs no other client.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { Miniflare } from "miniflare";
import { dial } from "../../client/bun/connect.ts";
import { Producer } from "../../client/producer.ts";
import { PullConsumer } from "../../client/pull_consumer.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import { listen } from "../../server/bun/listen.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { type Bundle, buildWorkerBundle } from "../../scripts/_edge_bundles.ts";
import { freePort } from "../_helpers/process.ts";
import { until } from "../_helpers/wait.ts";

let dir: string;
let system: Standalone;
let worker: Bundle;
let miniflare: Miniflare;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-worker-"));
  system = await startStandalone({
    listen,
    dial,
    hostname: "127.0.0.1",
    port: 0,
    nameServerPort: 0,
    dataDir: join(dir, "data"),
    log: () => {},
  });
  worker = await buildWorkerBundle(join(import.meta.dir, "../_fixtures/edge_worker.ts"), join(dir, "worker"));
  miniflare = new Miniflare({
    // Listed, not scanned: miniflare's scanner refuses the bundle's computed import() specifiers
    // (the runtime adapters of Bun, Deno and Node, which workerd never loads).
    modules: [{ type: "ESModule", path: "worker.js", contents: new TextDecoder().decode(worker.bytes) }],
    compatibilityDate: "2025-06-01",
    bindings: { NAME_SERVER: system.nameServerAddress },
  });
  await miniflare.ready;
}, 60_000);

afterAll(async () => {
  await miniflare?.dispose();
  await system?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call<T>(path: string, input?: unknown): Promise<T> {
  const response = await miniflare.dispatchFetch(`http://worker${path}`, input === undefined ? {} : { method: "POST", body: JSON.stringify(input) });
  const text = await response.text();
  if (response.status !== 200) throw new Error(`${path} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

interface Sent {
  status: string;
  msgId: string;
  queue: MessageQueue;
  offset: number;
}

/**
 * Reads a queue from `offset` over TCP, outside the Worker. A topic created by its first send
 * reaches the NameServer with the broker's next registration, so the route is waited for.
 */
async function readOverTcp(queue: MessageQueue, offset: number, count: number): Promise<string[]> {
  const consumer = new PullConsumer({ nameServer: system.nameServerAddress, group: "edge-check", dial });
  await consumer.start();
  try {
    let bodies: string[] | undefined;
    await until(async () => {
      const result = await consumer.pull(queue, offset, { maxNums: count }).catch(() => undefined);
      bodies = result?.messages.map((m) => new TextDecoder().decode(m.body));
      return bodies !== undefined;
    }, 10_000, `a route to "${queue.topic}"`, 50);
    return bodies!;
  } finally {
    await consumer.shutdown();
  }
}

describe("the edge entry in workerd", () => {
  test("a Worker sends messages and reads them back with a PullConsumer; a TCP client sees the same", async () => {
    const bodies = Array.from({ length: 12 }, (_, i) => `from the worker ${i} ${"x".repeat(i * 100)}`);
    const sent = await call<Sent[]>("/produce", { topic: "edge_orders", bodies });
    expect(sent.length).toBe(12);
    expect(sent.every((s) => s.status === "SEND_OK")).toBe(true);
    const offsets = sent.map((s) => s.offset);
    expect(offsets).toEqual(offsets.map((_, i) => offsets[0]! + i));
    // Read over TCP first: it waits for the new topic's route to reach the NameServer.
    expect(await readOverTcp(sent[0]!.queue, sent[0]!.offset, 32)).toEqual(bodies);
    const pulled = await call<{ status: string; bodies: string[]; next: number }>("/consume/pull", {
      queue: sent[0]!.queue,
      offset: sent[0]!.offset,
      max: 32,
    });
    expect(pulled.status).toBe("FOUND");
    expect(pulled.bodies).toEqual(bodies);
    expect(pulled.next).toBe(offsets.at(-1)! + 1);
  }, 30_000);

  test("a Worker receives and acks messages over POP with a SimpleConsumer: each once, nothing left in flight", async () => {
    const bodies = Array.from({ length: 8 }, (_, i) => `popped in the worker ${i}`);
    const sent = await call<Sent[]>("/produce", { topic: "edge_pop", bodies });
    await readOverTcp(sent[0]!.queue, sent[0]!.offset, 8);
    const received: string[] = [];
    for (let calls = 0; received.length < bodies.length && calls < 20; calls++) {
      const got = await call<{ bodies: string[]; attempts: number[] }>("/consume/pop", { topic: "edge_pop", group: "edge-pop", max: 3 });
      expect(got.bodies.length).toBeLessThanOrEqual(3);
      expect(got.attempts).toEqual(got.bodies.map(() => 1));
      received.push(...got.bodies);
    }
    expect(received.sort()).toEqual([...bodies].sort());
    const stats = system.broker.context.pop.groupStats().get("edge-pop");
    expect(stats).toMatchObject({ inflight: 0, waiting: 0 });
  }, 30_000);

  test("a Worker that drops its socket in the middle of a frame leaves nothing held, and the broker serves on", async () => {
    const guard = system.broker.context.connectionGuard;
    const wrote = await call<{ wrote: number }>("/drop", { broker: system.brokerAddress, announced: 1024 * 1024, fill: 200 * 1024 });
    expect(wrote.wrote).toBe(4 + 200 * 1024);
    await until(() => guard.pendingFrameBytes.untrusted === 0, 5000, "the half frame's bytes to come back");
    const sent = await call<Sent[]>("/produce", { topic: "edge_after_drop", bodies: ["still served"] });
    expect(await readOverTcp(sent[0]!.queue, sent[0]!.offset, 1)).toEqual(["still served"]);
  }, 30_000);

  test("a request that ends with a 2 MiB send in flight loses none of the acknowledged sends; other clients carry on", async () => {
    const guard = system.broker.context.connectionGuard;
    const tcp = new Producer({ nameServer: system.nameServerAddress, dial });
    await tcp.start();
    const { offsets } = await call<{ offsets: number[] }>("/abandon", { topic: "edge_abandoned", acknowledged: 5 });
    expect(offsets.length).toBe(5);
    const during = await tcp.send({ topic: "edge_bystander", body: "unaffected" });
    expect(during.status).toBe("SEND_OK");
    await until(() => guard.pendingFrameBytes.untrusted === 0, 10_000, "the abandoned send's bytes to come back");
    const queue = { topic: "edge_abandoned", brokerName: system.broker.context.brokerName, queueId: 0 };
    const stored = await readOverTcp(queue, offsets[0]!, 16);
    console.log(`abandoned 2 MiB send: ${stored.length === 6 ? "stored whole" : "absent"}`);
    expect(stored.slice(0, 5)).toEqual([0, 1, 2, 3, 4].map((i) => `acknowledged ${i}`));
    // The abandoned send is either whole or absent, never a part.
    expect(stored.length === 5 || (stored.length === 6 && stored[5]!.length === 2 * 1024 * 1024)).toBe(true);
    await tcp.shutdown();
  }, 30_000);

  test("errors a Worker sees are clear: an unreachable NameServer, and a client without a dial option", async () => {
    const port = await freePort();
    const unreachable = await call<{ name: string; error: string }>("/unreachable", { nameServer: `127.0.0.1:${port}` });
    expect(unreachable.name).not.toBe("Error");
    expect(unreachable.error).toContain(`127.0.0.1:${port}`);
    const noDial = await call<{ name: string; error: string }>("/no-dial");
    expect(noDial).toEqual({
      name: "ClientError",
      error: "No TCP dialer for this runtime: pass a dial option (cloudflareDialer(connect) in Workers, webSocketDialer() in browsers, " +
        "duplexDialer() for any Web Streams socket)",
    });
  }, 30_000);

  test("the Worker's bundle stays small: under 50 KB minified and gzipped", () => {
    const gzipped = gzipSync(worker.bytes, { level: 9 }).length;
    console.log(`worker bundle: ${worker.bytes.length} bytes minified, ${gzipped} bytes gzipped`);
    expect(gzipped).toBeLessThan(50 * 1024);
  });
});
