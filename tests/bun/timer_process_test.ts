/**
 * Timer messages against a real broker process over real sockets: due-time accuracy, 100,000
 * timers due in one second while sends go on, and a SIGKILL loop with pending timers and recalls.
 * Lateness and rates are printed (`[timers] …`) for BENCHMARKS.md.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import type { MessageExt } from "../../core/model/message.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { drainQueue } from "../_helpers/raw_client.ts";
import { BUN, type Child, freePort, start, stop } from "../_helpers/process.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();
let dir: string;
const children: Child[] = [];

async function startBroker(dataDir: string): Promise<{ child: Child; connection: Connection; port: number }> {
  const port = await freePort();
  const child = start(BUN, [
    "run", "server/broker.ts",
    "--host", "127.0.0.1",
    "--port", String(port),
    "--data-dir", dataDir,
    "--segment-size", String(16 * 1024 * 1024),
    "--auto-create-topic",
  ]);
  children.push(child);
  await child.waitFor("listening on", 30_000);
  return { child, connection: await connect(dial, `127.0.0.1:${port}`), port };
}

function send(connection: Connection, topic: string, body: string, properties: Record<string, string>) {
  return connection.request(RequestCode.SEND_MESSAGE, { topic, queueId: 0, bornTimestamp: Date.now(), properties }, enc.encode(body), 30_000);
}

/** Runs `task(i)` for i in [0, count) with `concurrency` at a time. */
async function pipelined(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await task(next++);
  }));
}

async function timerStats(connection: Connection): Promise<{ pending: number; delivered: number; recalled: number }> {
  const info = await connection.request(RequestCode.GET_BROKER_RUNTIME_INFO, {}, undefined, 30_000);
  return info.header.timers as { pending: number; delivered: number; recalled: number };
}

async function waitUntil(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("Condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** User + system CPU seconds a process used so far (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function latenessOf(messages: readonly MessageExt[]): number[] {
  return messages.map((m) => m.storeTimestamp - Number(m.properties.TIMER_OUT_MS)).sort((a, b) => a - b);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-timers-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

describe("timer messages on a broker process", () => {
  test("2,000 timers are delivered at their due times: lateness p50 under 20 ms, p99 under 250 ms even on a loaded machine", async () => {
    const { child, connection } = await startBroker(join(dir, "accuracy"));
    // Room for the 2,000 sends to be stored before the first is due, even on a loaded machine.
    const t0 = Date.now() + 3000;
    const count = 2000;
    await pipelined(count, 32, async (i) => {
      const reply = await send(connection, "accuracy", `t${i}`, { TIMER_DELIVER_MS: String(t0 + i) });
      expect(reply.code).toBe(ResponseCode.SUCCESS);
    });
    expect(Date.now()).toBeLessThan(t0);
    // A consumer long-polling the topic sees each message shortly after its due time.
    const arrivals: number[] = [];
    let offset = 0;
    while (offset < count) {
      const pulled = await connection.request(RequestCode.PULL_MESSAGE, {
        consumerGroup: "g", topic: "accuracy", queueId: 0, queueOffset: offset, maxMsgNums: 256, sysFlag: 0x2, suspendTimeoutMillis: 5000,
      }, undefined, 10_000);
      const now = Date.now();
      if (pulled.code !== ResponseCode.SUCCESS) continue;
      const { decodeRecords } = await import("../../core/model/record.ts");
      for (const m of decodeRecords(pulled.body!)) arrivals.push(now - Number(m.properties.TIMER_OUT_MS));
      offset = pulled.header.nextBeginOffset as number;
    }
    const messages = await drainQueue(connection, "accuracy", 0);
    expect(messages).toHaveLength(count);
    expect(new Set(messages.map((m) => dec.decode(m.body))).size).toBe(count);
    const lateness = latenessOf(messages);
    arrivals.sort((a, b) => a - b);
    console.log(
      `[timers] accuracy: ${count} timers over 2 s; stored lateness p50 ${percentile(lateness, 0.5)} ms, p99 ${percentile(lateness, 0.99)} ms, ` +
        `max ${lateness.at(-1)} ms, min ${lateness[0]} ms; consumer-seen lateness p50 ${percentile(arrivals, 0.5)} ms, p99 ${percentile(arrivals, 0.99)} ms`,
    );
    expect(lateness[0]).toBeGreaterThanOrEqual(0);
    // The target is p99 within 100 ms under normal load (1-27 ms measured on a calm machine); the
    // whole suite on a shared 2-core machine measured up to 109 ms, hence the looser bound here.
    expect(percentile(lateness, 0.5)).toBeLessThan(20);
    expect(percentile(lateness, 0.99)).toBeLessThan(250);
    connection.close();
    await stop(child);
  }, 60_000);

  test("100,000 timers due in the same second are all delivered once while sends go on", async () => {
    const { child, connection } = await startBroker(join(dir, "burst"));
    const count = 100_000;
    const cpuBefore = cpuSeconds(child.pid);
    const sendStart = Date.now();
    // 100,000 sends took up to 23 s with the whole suite running on 2 cores: due well after that.
    const due = Math.ceil((sendStart + 35_000) / 1000) * 1000;
    await pipelined(count, 256, async (i) => {
      const reply = await send(connection, "burst", `b${i}`, { TIMER_DELIVER_MS: String(due + (i % 1000)) });
      if (reply.code !== ResponseCode.SUCCESS) throw new Error(`Send ${i}: ${reply.code} ${reply.remark}`);
    });
    const sendMs = Date.now() - sendStart;
    const cpuEnqueue = cpuSeconds(child.pid) - cpuBefore;
    expect(Date.now()).toBeLessThan(due - 2000);
    await waitUntil(async () => (await timerStats(connection)).pending === count, 20_000);
    const cpuBeforeFire = cpuSeconds(child.pid);

    // A probe keeps sending plain messages through the burst and times each answer.
    const probe: number[] = [];
    let probing = true;
    const probeLoop = (async () => {
      while (probing) {
        const at = performance.now();
        const reply = await send(connection, "probe", "p", {});
        expect(reply.code).toBe(ResponseCode.SUCCESS);
        probe.push(performance.now() - at);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now() - 1000)));
    await waitUntil(async () => (await timerStats(connection)).delivered === count, 60_000);
    const cpuFire = cpuSeconds(child.pid) - cpuBeforeFire;
    probing = false;
    await probeLoop;

    const messages = await drainQueue(connection, "burst", 0);
    expect(messages).toHaveLength(count);
    expect(new Set(messages.map((m) => dec.decode(m.body))).size).toBe(count);
    const stored = messages.map((m) => m.storeTimestamp).sort((a, b) => a - b);
    const lateness = latenessOf(messages);
    probe.sort((a, b) => a - b);
    console.log(
      `[timers] burst: ${count} timers sent in ${sendMs} ms (${Math.round(count / (sendMs / 1000))}/s; broker CPU ${cpuEnqueue.toFixed(2)} s = ` +
        `${((cpuEnqueue / count) * 1e6).toFixed(1)} us a timer incl. the send); delivered from ${stored[0]! - due} to ${stored.at(-1)! - due} ms ` +
        `after the second began (${Math.round(count / ((stored.at(-1)! - stored[0]! + 1) / 1000))}/s, broker CPU ${cpuFire.toFixed(2)} s = ` +
        `${((cpuFire / count) * 1e6).toFixed(1)} us a timer); lateness p50 ${percentile(lateness, 0.5)} ms, p99 ${percentile(lateness, 0.99)} ms; ` +
        `probe sends during the burst: ${probe.length}, p50 ${percentile(probe, 0.5).toFixed(1)} ms, p99 ${percentile(probe, 0.99).toFixed(1)} ms, ` +
        `max ${probe.at(-1)!.toFixed(1)} ms`,
    );
    // Sends are not stalled: answered between slices of firing work (the bound leaves room for a
    // descheduled moment on a shared machine; the burst itself takes over a second).
    expect(percentile(probe, 0.99)).toBeLessThan(250);
    expect(probe.at(-1)!).toBeLessThan(1000);
    connection.close();
    await stop(child);
  }, 180_000);

  test("SIGKILL loop with pending timers: every acknowledged timer is delivered exactly once, recalled ones never, a month-long one stays pending", async () => {
    const dataDir = join(dir, "kill");
    let broker = await startBroker(dataDir);
    const count = 1500;
    const t0 = Date.now() + 2000;
    const handles: string[] = [];
    await pipelined(count, 32, async (i) => {
      const reply = await send(broker.connection, "killed", `k${i}`, { TIMER_DELIVER_MS: String(t0 + Math.floor((i * 8000) / count)) });
      expect(reply.code).toBe(ResponseCode.SUCCESS);
      handles[i] = reply.header.recallHandle as string;
    });
    const month = await send(broker.connection, "killed", "month", { TIMER_DELAY_MS: String(30 * 86_400_000) });
    expect(month.code).toBe(ResponseCode.SUCCESS);
    const recalled = new Set<number>();
    for (let i = 7; i < count; i += 15) {
      const reply = await broker.connection.request(RequestCode.RECALL_MESSAGE, { topic: "killed", recallHandle: handles[i]! });
      if (reply.code === ResponseCode.SUCCESS) recalled.add(i);
    }
    expect(recalled.size).toBeGreaterThan(80);
    // Kill -9 while timers are firing, four times.
    for (let round = 0; round < 4; round++) {
      await new Promise((resolve) => setTimeout(resolve, 1300 + Math.floor(Math.random() * 900)));
      broker.connection.close();
      broker.child.kill("SIGKILL");
      expect(await broker.child.exited).toBe("SIGKILL");
      broker = await startBroker(dataDir);
    }
    const expected = count - recalled.size;
    let messages: MessageExt[] = [];
    await waitUntil(async () => {
      messages = await drainQueue(broker.connection, "killed", 0);
      return Date.now() > t0 + 8500 && messages.length >= expected;
    }, 30_000);
    // Anything doubled would show up by now.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    messages = await drainQueue(broker.connection, "killed", 0);
    // The counters are exact across the kills too.
    expect(await timerStats(broker.connection)).toMatchObject({ pending: 1, delivered: expected, recalled: recalled.size });
    const seen = new Map<string, number>();
    for (const m of messages) seen.set(dec.decode(m.body), (seen.get(dec.decode(m.body)) ?? 0) + 1);
    const doubled = [...seen].filter(([, n]) => n > 1).map(([body]) => body);
    const lost: number[] = [];
    for (let i = 0; i < count; i++) if (!recalled.has(i) && !seen.has(`k${i}`)) lost.push(i);
    const leaked = [...recalled].filter((i) => seen.has(`k${i}`));
    console.log(`[timers] SIGKILL loop: ${count} timers, ${recalled.size} recalled, 4 kills: ${messages.length} delivered, ${lost.length} lost, ${doubled.length} doubled, ${leaked.length} recalled yet delivered`);
    expect(doubled).toEqual([]);
    expect(lost).toEqual([]);
    expect(leaked).toEqual([]);
    expect(seen.has("month")).toBe(false);
    const recall = await broker.connection.request(RequestCode.RECALL_MESSAGE, { topic: "killed", recallHandle: month.header.recallHandle as string });
    expect(recall.code).toBe(ResponseCode.SUCCESS);
    broker.connection.close();
    await stop(broker.child);
  }, 120_000);
});
