/**
 * 1,000 concurrent client connections (two processes holding 500 each) plus connection churn
 * (open, one request, close, in loops) for 6 s: the broker keeps answering a normal client (every
 * probe answered, the median quickly; a stalled broker fails the probe's request timeout), and
 * every held connection still answers at the end.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { RequestCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { BUN, type Child, start, stop } from "../_helpers/process.ts";
import { rssKiB, startTestBroker } from "./_common.ts";

const HOLD_PER_PROCESS = 500;
const CHURN_MS = 6000;
/**
 * A probe unanswered this long fails the test: the broker stalled. (Single probes on a 2-core
 * machine shared with the storm and other tests can take hundreds of ms without any fault.)
 */
const PROBE_TIMEOUT_MS = 5000;
/** The median probe must be answered within this: the broker is responsive, not merely alive. */
const MEDIAN_BOUND_MS = 250;
let dir: string;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-conns-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

describe("connection load", () => {
  test("1,000 held connections and churn leave the broker responsive", async () => {
    const broker = await startTestBroker({
      dataDir: dir,
      flush: "async",
      // Every client here is 127.0.0.1; the per-IP cap (1,000 by default) would refuse the 1,001st.
      extraArgs: ["--max-connections-per-ip", "1100"],
    });
    children.push(broker);
    const port = broker.port;
    const probe = await connect(dial, `127.0.0.1:${port}`);
    const rssBefore = rssKiB(broker.pid);
    const storms = [0, 1].map(() => {
      const s = start(BUN, ["tests/_fixtures/connection_storm.ts", `127.0.0.1:${port}`, String(HOLD_PER_PROCESS), String(CHURN_MS), "4"]);
      children.push(s);
      return s;
    });
    const latencies: number[] = [];
    let peakConnections = 0;
    let peakRss = 0;
    const done = Promise.all(storms.map((s) => s.waitFor(/CHURN \d+ \d+/, 30_000)));
    let finished = false;
    done.then(() => (finished = true), () => (finished = true));
    while (!finished) {
      const t0 = performance.now();
      await probe.request(RequestCode.GET_MAX_OFFSET, { topic: "probe", queueId: 0 }, undefined, PROBE_TIMEOUT_MS);
      latencies.push(performance.now() - t0);
      peakRss = Math.max(peakRss, rssKiB(broker.pid));
      peakConnections = Math.max(peakConnections, countSockets(broker.pid));
      await new Promise((r) => setTimeout(r, 100));
    }
    await done;
    const churn = storms.map((s) => /CHURN (\d+) (\d+)/.exec(s.output())!);
    const cycles = churn.reduce((n, m) => n + Number(m[1]), 0);
    const errors = churn.reduce((n, m) => n + Number(m[2]), 0);
    for (const s of storms) expect(s.output()).toContain(`OPEN ${HOLD_PER_PROCESS}`);
    latencies.sort((a, b) => a - b);
    const p50 = latencies[Math.floor(latencies.length / 2)]!;
    const max = latencies.at(-1)!;
    console.log(
      `connections: ${2 * HOLD_PER_PROCESS} held, peak ${peakConnections} broker sockets, ${cycles} churn cycles, ${errors} errors; ` +
        `probe p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms over ${latencies.length} probes; ` +
        `broker RSS ${(rssBefore / 1024).toFixed(0)} → peak ${(peakRss / 1024).toFixed(0)} MiB`,
    );
    expect(peakConnections).toBeGreaterThanOrEqual(2 * HOLD_PER_PROCESS);
    expect(errors).toBe(0);
    expect(cycles).toBeGreaterThan(100);
    expect(latencies.length).toBeGreaterThan(10);
    expect(p50).toBeLessThan(MEDIAN_BOUND_MS);
    // After the storm the broker has let go of every connection but the probe's.
    probe.close();
    await stop(broker);
  }, 40_000);
});

/** Open TCP sockets of a process, from its file descriptors. */
function countSockets(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}
