/**
 * The load tool (`rmq bench`, `bench/load.ts`) on small runs: not timed, but its numbers must add
 * up. Every send is acknowledged or failed, the broker stored what was acknowledged, consume and
 * e2e consumed what was sent, and `--json` parses.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { LatencyRecorder } from "../../cli/_load_stats.ts";
import { liveLine, type LoadRun, loadProblems } from "../../cli/_load_report.ts";
import type { LoadReport } from "../../cli/_load.ts";
import { BUN, ROOT } from "../_helpers/process.ts";
import { type CliServer, rmq, startCliServer } from "../cli/_cli.ts";

let server: CliServer;
beforeAll(async () => {
  server = await startCliServer();
});
afterAll(() => server.close());

function checkLatency(r: LoadReport): void {
  const l = r.latencyMs!;
  expect(l.samples).toBeGreaterThan(0);
  expect(l.p50).toBeLessThanOrEqual(l.p90);
  expect(l.p90).toBeLessThanOrEqual(l.p99);
  expect(l.p99).toBeLessThanOrEqual(l.p999);
  expect(l.p999).toBeLessThanOrEqual(l.max);
}

function checkCounts(r: LoadReport): void {
  expect(r.sent).toBe(r.ok + r.failed);
  expect(r.failed).toBe(0);
  expect(r.successRate).toBe(1);
  expect(r.errors).toEqual({});
  expect(r.msgsPerSec).toBeGreaterThan(0);
  expect(r.client.cpuSeconds).toBeGreaterThanOrEqual(0);
}

describe("rmq bench", () => {
  test("produce against a server of its own: every mode adds up, and the server's startup is reported", async () => {
    // --warmup sends go to a topic of their own first: the measured topic holds exactly the counted messages.
    const run = await rmq(["bench", "produce", "--count", "300", "--size", "64", "--batch", "16", "--queues", "2", "--warmup", "100", "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as LoadRun;
    expect(result.settings.warmup).toBe(100);
    expect(result.reports.map((r) => r.mode)).toEqual(["sync", "async", "oneway", "batch"]);
    for (const r of result.reports) {
      checkCounts(r);
      expect(r.sent).toBe(300);
      expect(r.stored).toBe(r.ok);
      expect(r.broker).not.toBeNull();
      if (r.mode === "oneway") expect(r.latencyMs).toBeNull();
      else checkLatency(r);
    }
    // 300 messages in batches of 16: 19 batch requests, each one latency sample.
    expect(result.reports[3]!.latencyMs!.samples).toBe(19);
    const s = result.server!;
    expect(s.runtime).toBe("bun");
    expect(s.pid).toBeGreaterThan(0);
    expect(s.firstConnectionMs).toBeGreaterThan(0);
    expect(s.readyMs).toBeGreaterThan(0);
    expect(s.idleRssBytes).toBeGreaterThan(1024 * 1024);
    expect(s.peakRssBytes).toBeGreaterThanOrEqual(s.idleRssBytes!);
  }, 20_000);

  test("consume: push, pull, POP receive+ack, push over POP and lite pull read back exactly the backlog", async () => {
    const run = await rmq(["bench", "consume", "--count", "400", "--size", "128", "--warmup", "150", "--namesrv", server.namesrv, "--json"]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as LoadRun;
    expect(result.server).toBeNull();
    expect(result.reports.map((r) => r.mode)).toEqual(["push", "pull", "pop", "push-pop", "lite-pull"]);
    for (const r of result.reports) {
      checkCounts(r);
      expect(r.sent).toBe(400);
      expect(r.stored).toBe(400);
      expect(r.consumed).toBe(400);
      expect(r.duplicates).toBe(0);
      expect(r.broker).toBeNull();
    }
    expect(result.reports[0]!.firstMessageMs).toBeGreaterThan(0);
    checkLatency(result.reports[1]!);
    checkLatency(result.reports[2]!);
    // The POP modes acked what they received: nothing of their groups is left in flight or waiting.
    for (const r of result.reports.slice(2)) {
      const group = await (await fetch(`${server.adminUrl}/api/groups/${r.topic}_group`)).json() as { pop: { inflight: number; waiting: number } };
      expect(group.pop).toMatchObject({ inflight: 0, waiting: 0 });
    }
  }, 30_000);

  test("consume --pull-batch sets the consumers' pull size (their default without it) and is checked", async () => {
    const run = await rmq(["bench", "consume", "--modes", "push,lite-pull", "--pull-batch", "7", "--count", "60", "--size", "16", "--warmup", "0", "--namesrv", server.namesrv, "--json"]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as LoadRun;
    expect(result.settings.pullBatch).toBe(7);
    for (const r of result.reports) {
      expect(r.consumed).toBe(60);
      expect(r.duplicates).toBe(0);
    }
    const plain = await rmq(["bench", "consume", "--modes", "lite-pull", "--count", "20", "--size", "16", "--warmup", "0", "--namesrv", server.namesrv, "--json"]);
    expect(plain.code).toBe(0);
    expect((JSON.parse(plain.stdout) as LoadRun).settings.pullBatch).toBeUndefined();
    const bad = await rmq(["bench", "consume", "--pull-batch", "0"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("pull-batch");
  }, 30_000);

  test("e2e: everything sent at the rate is consumed, each with its latency", async () => {
    // The warm-up's 100 messages go to a topic of their own and are not in the report.
    const run = await rmq(["bench", "e2e", "--count", "200", "--rate", "1000", "--size", "64", "--warmup", "100", "--namesrv", server.namesrv, "--json"]);
    expect(run.code).toBe(0);
    const [r] = (JSON.parse(run.stdout) as LoadRun).reports;
    checkCounts(r!);
    expect(r!.sent).toBe(200);
    expect(r!.consumed).toBe(200);
    expect(r!.latencyMs!.samples).toBe(200);
    checkLatency(r!);
    // 200 messages at 1000/s take about 0.2 s.
    expect(r!.seconds).toBeGreaterThan(0.15);
  }, 20_000);

  test("--duration bounds a produce run; the table reads; bad modes exit 2", async () => {
    const run = await rmq(["bench", "--modes", "sync", "--duration", "0.3", "--size", "16", "--namesrv", server.namesrv]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^sync\s+10 senders\s+\d+/m);
    expect(run.stdout).toMatch(/^sync\s+sent (\d+) = \1 ok \+ 0 failed/m);
    const bad = await rmq(["bench", "consume", "--modes", "push,batch"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("expected push, pull, pop, push-pop or lite-pull");
    const stray = await rmq(["bench", "--broker-pid", "1"]);
    expect(stray.code).toBe(2);
  }, 20_000);
});

describe("load tool pieces", () => {
  test("percentiles are nearest-rank", () => {
    const recorder = new LatencyRecorder();
    for (let i = 1000; i >= 1; i--) recorder.add(i);
    expect(recorder.summary()).toEqual({ p50: 500, p90: 900, p99: 990, p999: 999, max: 1000, samples: 1000 });
    expect(new LatencyRecorder().summary()).toBeNull();
  });

  test("problems name sends that failed and counts that differ", () => {
    const report = { mode: "push", sent: 10, ok: 9, failed: 1, stored: 9, consumed: 8 } as LoadReport;
    const run = { settings: {}, server: null, reports: [report] } as unknown as LoadRun;
    expect(loadProblems(run)).toEqual(["push: 1 of 10 sends failed", "push: 8 messages consumed, 9 were acknowledged"]);
  });

  test("the live line draws only on a terminal", () => {
    const written: string[] = [];
    const pipe = liveLine({ isTTY: false, write: (t) => written.push(t) });
    pipe.update({ phase: "sync", done: 5, failed: 0, total: 10, elapsedMs: 500 });
    pipe.done();
    expect(written).toEqual([]);
    const tty = liveLine({ isTTY: true, write: (t) => written.push(t) });
    tty.update({ phase: "sync", done: 5, failed: 0, total: 10, elapsedMs: 500 });
    tty.done();
    expect(written[0]).toContain("sync    5/10 50%  10 msgs/s");
    expect(written.at(-1)).toBe("\r\x1b[K");
  });

  test("bench/load.ts runs the same tool", async () => {
    const run = await rmq(["produce", "--modes", "batch", "--count", "64", "--namesrv", server.namesrv], {}, [BUN, `${ROOT}/bench/load.ts`]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^batch\s+32\/batch, 10 senders/m);
  }, 20_000);
});
