/**
 * A standalone NameServer + Broker in this process over real loopback sockets, on in-memory or
 * file storage, with helpers for consumer tests: topic creation, waiting on a condition, and
 * message bodies.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RemotingClient } from "../../client/remoting_client.ts";
import { dial as clientDial } from "../../client/bun/connect.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import { RequestCode } from "../../core/protocol/request_code.ts";
import { dial as serverDial } from "../../server/bun/connect.ts";
import { listen } from "../../server/bun/listen.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { FileSegmentStorage } from "../../server/store/file_segment_storage.ts";
import { MemorySegmentStorage } from "../../server/store/memory_segment_storage.ts";
import type { BrokerOptions } from "../../server/broker/broker.ts";

export { clientDial as dial };

/** A running standalone for tests. */
export interface TestCluster {
  standalone: Standalone;
  nameServer: string;
  admin: RemotingClient;
  /** Creates a topic and waits until the NameServer routes it with all its queues. */
  createTopic(topic: string, queues: number): Promise<void>;
  close(): Promise<void>;
}

/** Where a test cluster keeps its data: `MemorySegmentStorage`, or files in a temporary directory. */
export type TestStore = "memory" | "file";

/** Both stores, for tests that run on each. */
export const TEST_STORES: readonly TestStore[] = ["memory", "file"];

/**
 * Starts a standalone on 127.0.0.1 with free ports.
 *
 * @param options Extra broker options (delay levels, lock expiry…).
 * @param store In-memory storage, or the file store in a temporary directory (removed on close).
 */
export async function startCluster(options: Partial<BrokerOptions> = {}, store: TestStore = "memory"): Promise<TestCluster> {
  const dir = store === "file" ? mkdtempSync(join(tmpdir(), "rmq-cluster-")) : undefined;
  const standalone = await startStandalone({
    listen,
    dial: serverDial,
    hostname: "127.0.0.1",
    dataDir: dir ?? "/data",
    storage: dir === undefined ? new MemorySegmentStorage() : new FileSegmentStorage(),
    port: 0,
    nameServerPort: 0,
    log: () => {},
    ...options,
  });
  const admin = new RemotingClient({ dial: clientDial });
  const nameServer = standalone.nameServerAddress;
  return {
    standalone,
    nameServer,
    admin,
    async createTopic(topic, queues) {
      await admin.invoke(standalone.brokerAddress, {
        code: RequestCode.UPDATE_AND_CREATE_TOPIC,
        header: { topic, readQueueNums: queues, writeQueueNums: queues },
      });
      await waitFor(async () => {
        const response = await admin.request(nameServer, { code: RequestCode.GET_ROUTEINFO_BY_TOPIC, header: { topic } });
        const datas = response.header.queueDatas as { readQueueNums: number }[] | undefined;
        return datas?.[0]?.readQueueNums === queues;
      }, 5000, `route of "${topic}"`);
    },
    async close() {
      await admin.shutdown();
      await standalone.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Polls a condition until it holds.
 *
 * @param check The condition.
 * @param timeoutMs How long to wait.
 * @param what What is awaited, for the error.
 */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether the members' assignments split `count` queues of `topic` with no overlap and none left out. */
export function partitioned(assignments: MessageQueue[][], topic: string, count: number): boolean {
  const seen = new Set<number>();
  let total = 0;
  for (const queues of assignments) {
    for (const q of queues) {
      if (q.topic !== topic) continue;
      seen.add(q.queueId);
      total++;
    }
  }
  return seen.size === count && total === count;
}
