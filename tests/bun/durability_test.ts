import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { connect } from "../../core/remoting/connection.ts";
import { drainQueue } from "../_helpers/raw_client.ts";
import { BUN, type Child, freePort, start, stop } from "../_helpers/process.ts";

let dir: string;
const children: Child[] = [];

function startBroker(port: number): Child {
  const child = start(BUN, [
    "run", "server/broker.ts",
    "--host", "127.0.0.1",
    "--port", String(port),
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

describe("durability under sync flush", () => {
  test("every acknowledged message survives SIGKILL of the broker mid-stream", async () => {
    const port = await freePort();
    const broker = startBroker(port);
    await broker.waitFor("listening on");
    const sender = start(BUN, ["tests/_fixtures/sync_sender.ts", `127.0.0.1:${port}`, "durable", "1000000", "16"]);
    children.push(sender);
    // Kill once a few thousand sends are acknowledged, while 16 more are in flight.
    await sender.waitFor(/(ACK .*\n){3000}/, 60_000);
    broker.kill("SIGKILL");
    expect(await broker.exited).toBe("SIGKILL");
    await sender.waitFor("DONE", 30_000);

    const acked = new Map<number, { queueId: number; queueOffset: number }>();
    for (const match of sender.output().matchAll(/^ACK (\d+) (\d+) (\d+)$/gm)) {
      acked.set(Number(match[1]), { queueId: Number(match[2]), queueOffset: Number(match[3]) });
    }
    expect(acked.size).toBeGreaterThanOrEqual(3000);

    const port2 = await freePort();
    const restarted = startBroker(port2);
    await restarted.waitFor("listening on");
    const connection = await connect(dial, `127.0.0.1:${port2}`);
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
