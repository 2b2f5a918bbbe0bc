/**
 * SIGKILL of a real sync-flush broker process while it takes keyed sends, with a key index
 * checkpoint far behind (a long flush interval) and small index files that roll over: after the
 * restart every acknowledged message is found by its key and by its unique key, the index having
 * been rebuilt past its durable point, and a key shared by many messages finds them all.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { decodeRecords } from "../../core/model/record.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { type Child, type Server, stop } from "../_helpers/process.ts";
import { startTestBroker } from "./_common.ts";

const TOPIC = "keyed";
const EVERY = { beginTimestamp: 0, endTimestamp: Number.MAX_SAFE_INTEGER };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let dir: string;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-kill-index-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

function uniqueKey(i: number): string {
  return `0A00000700010000019300000000${i.toString(16).toUpperCase().padStart(4, "0")}`;
}

async function startBroker(): Promise<Server> {
  const broker = await startTestBroker({
    dataDir: dir,
    flush: "sync",
    flushIntervalMs: 60_000,
    extraArgs: ["--max-index-num", "1000", "--max-hash-slot-num", "256"],
  });
  children.push(broker);
  return broker;
}

/** Sends message `i` with keys `k<i>` and `group-<i % 10>` and its unique key; resolves on the acknowledgement. */
async function send(connection: Connection, i: number): Promise<boolean> {
  const header = {
    topic: TOPIC,
    queueId: i % 4,
    bornTimestamp: Date.now(),
    producerGroup: "kill-producer",
    properties: { KEYS: `k${i} group-${i % 10}`, UNIQ_KEY: uniqueKey(i) },
  };
  const answer = await connection.request(RequestCode.SEND_MESSAGE, header, encoder.encode(`body ${i}`), 10_000);
  return answer.code === ResponseCode.SUCCESS;
}

async function query(connection: Connection, key: string, extra: Record<string, unknown> = {}): Promise<string[]> {
  const answer = await connection.request(RequestCode.QUERY_MESSAGE, { topic: TOPIC, key, maxNum: 1024, ...EVERY, ...extra }, undefined, 10_000);
  if (answer.code === ResponseCode.QUERY_NOT_FOUND) return [];
  if (answer.code !== ResponseCode.SUCCESS) throw new Error(`QUERY_MESSAGE "${key}" answered ${answer.code}: ${answer.remark}`);
  return decodeRecords(answer.body!).map((m) => decoder.decode(m.body));
}

describe("key index after a broker process SIGKILL", () => {
  test("every acknowledged message is found by key and unique key after the restart, the index rebuilt past its checkpoint", async () => {
    let broker = await startBroker();
    let connection = await connect(dial, `127.0.0.1:${broker.port}`);
    const acked = new Set<number>();
    // 3,000 acknowledged (6,000 index entries: six files of 1,000), then a burst the kill cuts into.
    for (let i = 0; i < 3000; i += 100) {
      const batch = Array.from({ length: 100 }, (_, k) => i + k);
      const results = await Promise.all(batch.map((n) => send(connection, n)));
      batch.forEach((n, k) => results[k] && acked.add(n));
    }
    expect(acked.size).toBe(3000);
    expect(await query(connection, "k1234")).toEqual(["body 1234"]);
    const burst = Array.from({ length: 2000 }, (_, k) => 3000 + k).map((n) => send(connection, n).then((ok) => ok && acked.add(n), () => {}));
    while (acked.size < 3300) await Bun.sleep(1);
    broker.kill("SIGKILL");
    expect(await broker.exited).toBe("SIGKILL");
    await Promise.all(burst);
    connection.close();

    broker = await startBroker();
    const caughtUp = /Key index caught up in \d+ ms: (\d+) records indexed again, starting at CommitLog offset (\d+)/.exec(broker.output());
    expect(caughtUp).not.toBeNull();
    expect(Number(caughtUp![1])).toBeGreaterThanOrEqual(acked.size);
    expect(Number(caughtUp![2])).toBe(0);
    connection = await connect(dial, `127.0.0.1:${broker.port}`);
    try {
      for (const i of acked) {
        expect(await query(connection, `k${i}`)).toEqual([`body ${i}`]);
        if (i % 50 === 0) expect(await query(connection, uniqueKey(i), { _UNIQUE_KEY_QUERY: "true" })).toEqual([`body ${i}`]);
      }
      const group = await query(connection, "group-3");
      const expected = [...acked].filter((i) => i % 10 === 3);
      expect(group.length).toBeGreaterThanOrEqual(expected.length);
      expect(new Set(group)).toEqual(new Set(group.filter((b) => Number(b.slice(5)) % 10 === 3)));
      for (const i of expected) expect(group).toContain(`body ${i}`);
      // Small files rolled over: the entries of every acknowledged message span several of them.
      const files = readdirSync(join(dir, "store", "index")).filter((n) => /^\d{20}$/.test(n));
      expect(files.length).toBeGreaterThanOrEqual(7);
      console.log(`key index kill: ${acked.size} acknowledged, ${caughtUp![1]} records re-indexed at restart, ${files.length} index files`);
    } finally {
      connection.close();
    }
  }, 120_000);
});
