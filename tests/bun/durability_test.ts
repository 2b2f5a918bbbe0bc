/**
 * A process crash under sync flush: the broker is SIGKILLed mid-stream and restarted, and every
 * acknowledged message is read back at the offset it was acknowledged with. This proves recovery
 * after a process crash, not that sync flush reaches the disk: the page cache outlives the
 * process, so this passes even with no fsync (tests/bun/sync_flush_fsync_test.ts proves the fsync).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { connect } from "../../core/remoting/connection.ts";
import { drainQueue } from "../_helpers/raw_client.ts";
import { BUN, type Child, type Server, start, startServer, stop } from "../_helpers/process.ts";

let dir: string;
const children: Child[] = [];

async function startBroker(): Promise<Server> {
  const child = await startServer(BUN, [
    "run", "server/broker.ts",
    "--host", "127.0.0.1",
    "--port", "0",
    "--data-dir", dir,
    "--flush", "sync",
    "--segment-size", String(256 * 1024),
    "--auto-create-topic",
  ]);
  children.push(child);
  return child;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-durable-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

describe("process-crash durability under sync flush", () => {
  test("every acknowledged message survives a SIGKILL of the broker process mid-stream (the page cache survives it too)", async () => {
    const broker = await startBroker();
    const sender = start(BUN, ["tests/_fixtures/sync_sender.ts", `127.0.0.1:${broker.port}`, "durable", "1000000", "16"]);
    children.push(sender);
    // Kill once a few thousand sends are acknowledged, while 16 more are in flight.
    await sender.waitFor(/(ACK .*\n){3000}/, 60_000);
    broker.kill("SIGKILL");
    expect(await broker.exited).toBe("SIGKILL");
    await sender.waitFor("DONE", 30_000);

    const acked = new Map<number, { queueId: number; queueOffset: number }>();
    for (const match of sender.output().matchAll(/^ACK (\d+) (\d+) (\d+) \d+$/gm)) {
      acked.set(Number(match[1]), { queueId: Number(match[2]), queueOffset: Number(match[3]) });
    }
    expect(acked.size).toBeGreaterThanOrEqual(3000);

    const restarted = await startBroker();
    const connection = await connect(dial, `127.0.0.1:${restarted.port}`);
    const stored = new Map<number, { queueId: number; queueOffset: number; body: string }>();
    for (let queueId = 0; queueId < 4; queueId++) {
      const messages = await drainQueue(connection, "durable", queueId);
      messages.forEach((m, i) => expect(m.queueOffset).toBe(i));
      for (const m of messages) {
        const seq = Number(m.keys[0]!.slice(4));
        stored.set(seq, { queueId, queueOffset: m.queueOffset, body: new TextDecoder().decode(m.body) });
      }
    }
    connection.close();
    let lost = 0;
    for (const [seq, ack] of acked) {
      const found = stored.get(seq);
      if (found === undefined || found.queueId !== ack.queueId || found.queueOffset !== ack.queueOffset) lost++;
      else expect(found.body).toBe(`message-${seq}-${"x".repeat(200)}`);
    }
    expect(lost).toBe(0);
    await stop(restarted);
  }, 120_000);
});
