/**
 * Random bit flips in a stopped broker's data dir, many times over: a sync-flush broker takes
 * 3,000 acknowledged sends and is SIGKILLed; then, from a pristine copy of its data dir each
 * time, 1 to 3 bits are flipped in randomly chosen files (CommitLog segments, ConsumeQueue
 * files, the checkpoint and its backup, the config files) and a broker process is started on it.
 * It must either start and serve every acknowledged record none of whose bytes were flipped
 * (same body, queue and queue offset), or refuse to start with a clear message. It must never
 * lose an intact record.
 *
 * Seeded: the seed is printed, and `RMQ_FAULT_SEED` replays a run; `RMQ_FAULT_ITERATIONS`
 * (default 20) sets how many data dirs are damaged.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, cpSync, mkdtempSync, openSync, readdirSync, readSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { decodeOffsetMessageId } from "../../core/model/message_id.ts";
import { decodeRecords } from "../../core/model/record.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { type Child, stop } from "../_helpers/process.ts";
import { startTestBroker } from "./_common.ts";

const TOPIC = "flip";
const QUEUES = 4;
const MESSAGES = 3000;
const SEGMENT = 64 * 1024;
const ITERATIONS = Number(process.env.RMQ_FAULT_ITERATIONS ?? 20);
const SEED = Number(process.env.RMQ_FAULT_SEED ?? (Date.now() % 2_147_483_647));

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One acknowledged send and where its record lies in the CommitLog. */
interface Acked {
  body: string;
  queueId: number;
  queueOffset: number;
  commitLogOffset: number;
  size: number;
}

let root: string;
let pristine: string;
const acked: Acked[] = [];
const children: Child[] = [];

function bodyOf(seq: number): string {
  // 40 to 400 bytes, different for every message.
  return `m${seq}:${"abcdefghij".repeat(4 + ((seq * 37) % 36))}`;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile() && statSync(path).size > 0) out.push(path);
  }
  return out.sort();
}

/** The size field of the record at a CommitLog offset, read from the pristine segment files. */
function recordSize(commitLogOffset: number): number {
  const start = commitLogOffset - (commitLogOffset % SEGMENT);
  const file = openSync(join(pristine, "store", "commitlog", String(start).padStart(20, "0")), "r");
  const head = new Uint8Array(4);
  readSync(file, head, 0, 4, commitLogOffset - start);
  closeSync(file);
  return new DataView(head.buffer).getInt32(0);
}

/** Pulls every queue of the topic from offset 0; records that fail their CRC or layout are left out. */
async function drain(connection: Connection): Promise<Map<number, { body: string; queueId: number; queueOffset: number }>> {
  const served = new Map<number, { body: string; queueId: number; queueOffset: number }>();
  for (let queueId = 0; queueId < QUEUES; queueId++) {
    let offset = 0;
    for (let pulls = 0; pulls < 10_000; pulls++) {
      const answer = await connection.request(RequestCode.PULL_MESSAGE, {
        consumerGroup: "flip_drain",
        topic: TOPIC,
        queueId,
        queueOffset: offset,
        maxMsgNums: 256,
      }, undefined, 10_000);
      if (answer.code === ResponseCode.PULL_NOT_FOUND) break;
      if (answer.code === ResponseCode.SUCCESS) {
        for (const m of decodeRecords(answer.body!, { onCorrupt: () => {} })) {
          served.set(m.commitLogOffset, { body: new TextDecoder().decode(m.body), queueId: m.queueId, queueOffset: m.queueOffset });
        }
      } else if (answer.code !== ResponseCode.PULL_RETRY_IMMEDIATELY && answer.code !== ResponseCode.PULL_OFFSET_MOVED) {
        throw new Error(`Pull of ${TOPIC}/${queueId}@${offset} answered ${answer.code}: ${answer.remark}`);
      }
      const next = answer.header.nextBeginOffset as number;
      if (next <= offset && answer.code !== ResponseCode.PULL_OFFSET_MOVED) throw new Error(`Pull of ${TOPIC}/${queueId}@${offset} did not move on (next ${next})`);
      offset = next;
    }
  }
  return served;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "rmq-bitflip-"));
  pristine = join(root, "pristine");
  const broker = await startTestBroker({ dataDir: pristine, flush: "sync", segmentSize: SEGMENT });
  children.push(broker);
  const connection = await connect(dial, `127.0.0.1:${broker.port}`);
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < MESSAGES) {
      const seq = next++;
      const body = bodyOf(seq);
      const answer = await connection.request(RequestCode.SEND_MESSAGE, {
        topic: TOPIC,
        queueId: seq % QUEUES,
        bornTimestamp: Date.now(),
        properties: { KEYS: `k${seq}`, TAGS: `t${seq % 3}` },
      }, new TextEncoder().encode(body), 10_000);
      if (answer.code !== ResponseCode.SUCCESS) throw new Error(`Send ${seq} answered ${answer.code}: ${answer.remark}`);
      const commitLogOffset = decodeOffsetMessageId(answer.header.msgId as string).commitLogOffset;
      acked.push({ body, queueId: answer.header.queueId as number, queueOffset: answer.header.queueOffset as number, commitLogOffset, size: 0 });
    }
  }));
  connection.close();
  // Acknowledged under sync flush, then a crash: the checkpoint lags behind the log's end.
  broker.kill("SIGKILL");
  await broker.exited;
  for (const a of acked) a.size = recordSize(a.commitLogOffset);
}, 60_000);

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(root, { recursive: true, force: true });
});

describe("bit flips in a stopped broker's data dir", () => {
  test(`the broker serves every intact acknowledged record or refuses clearly (seed ${SEED}, ${ITERATIONS} runs)`, async () => {
    console.log(`bit-flip fault test: seed ${SEED}, ${ITERATIONS} runs (replay with RMQ_FAULT_SEED=${SEED})`);
    const random = prng(SEED);
    const outcomes = { started: 0, refused: 0, checked: 0, damagedRecords: 0, flips: new Map<string, number>() };
    for (let run = 0; run < ITERATIONS; run++) {
      const dir = join(root, `run-${run}`);
      cpSync(pristine, dir, { recursive: true });
      const files = filesUnder(dir);
      const damaged = new Set<number>();
      const flips: string[] = [];
      const count = 1 + Math.floor(random() * 3);
      for (let f = 0; f < count; f++) {
        const path = files[Math.floor(random() * files.length)]!;
        const size = statSync(path).size;
        const at = Math.floor(random() * size);
        const bit = Math.floor(random() * 8);
        const fd = openSync(path, "r+");
        const byte = new Uint8Array(1);
        readSync(fd, byte, 0, 1, at);
        byte[0]! ^= 1 << bit;
        writeSync(fd, byte, 0, 1, at);
        closeSync(fd);
        const name = relative(dir, path);
        flips.push(`${name}@${at}^${1 << bit}`);
        const kind = name.split("/").slice(0, 2).join("/");
        outcomes.flips.set(kind, (outcomes.flips.get(kind) ?? 0) + 1);
        const segment = /store\/commitlog\/(\d{20})$/.exec(name);
        if (segment) {
          const offset = Number(segment[1]) + at;
          for (const a of acked) if (offset >= a.commitLogOffset && offset < a.commitLogOffset + a.size) damaged.add(a.commitLogOffset);
        }
      }
      const replay = `run ${run} of seed ${SEED} (RMQ_FAULT_SEED=${SEED}), flips ${flips.join(", ")}`;
      let broker: Child & { port: number };
      try {
        broker = await startTestBroker({ dataDir: dir, flush: "sync", segmentSize: SEGMENT });
      } catch (error) {
        // It may refuse, but only with a message that says why.
        const message = String((error as Error).message);
        expect(message, replay).toMatch(/Cannot start the broker: .*(Refusing to start|is missing|unusable)/);
        outcomes.refused++;
        console.log(`bit-flip fault test: ${replay}: refused: ${/Cannot start the broker: [^\n]*/.exec(message)![0].slice(0, 300)}`);
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      children.push(broker);
      outcomes.started++;
      const connection = await connect(dial, `127.0.0.1:${broker.port}`);
      const served = await drain(connection);
      connection.close();
      // The damaged copy is thrown away: no need for a clean shutdown.
      broker.kill("SIGKILL");
      await broker.exited;
      const missing: string[] = [];
      for (const a of acked) {
        if (damaged.has(a.commitLogOffset)) continue;
        outcomes.checked++;
        const got = served.get(a.commitLogOffset);
        if (!got || got.body !== a.body || got.queueId !== a.queueId || got.queueOffset !== a.queueOffset) {
          missing.push(`${a.queueId}/${a.queueOffset}@${a.commitLogOffset}${got ? ` served as ${JSON.stringify(got).slice(0, 80)}` : ""}`);
        }
      }
      outcomes.damagedRecords += damaged.size;
      expect(missing.slice(0, 10), `${replay}: ${missing.length} intact records not served; broker output:\n${broker.output().slice(-3000)}`).toEqual([]);
      rmSync(dir, { recursive: true, force: true });
    }
    console.log(
      `bit-flip fault test: ${ITERATIONS} runs, ${outcomes.started} started and served all ${outcomes.checked} intact records checked, ` +
        `${outcomes.refused} refused with a clear message; ${outcomes.damagedRecords} records hit; flips by place: ` +
        [...outcomes.flips].map(([kind, n]) => `${kind} ${n}`).join(", "),
    );
  }, Math.max(120_000, ITERATIONS * 6_000));
});
