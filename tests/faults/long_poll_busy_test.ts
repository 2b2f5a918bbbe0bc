/**
 * Long-polling slots taken: a broker process whose every slot is held by other connections answers
 * an idle push consumer (its own process) SYSTEM_BUSY, and the consumer backs off instead of
 * pulling again at once, so the broker stays near idle; one connection cannot take more than its
 * share, and when slots free up the consumer's pulls are parked again and get new messages.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { PullSysFlag, RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type Connection, connect } from "../../core/remoting/connection.ts";
import { BUN, type Child, freePort, start, stop } from "../_helpers/process.ts";
import { until } from "../_helpers/wait.ts";
import { startTestBroker, startTestNameServer } from "./_common.ts";

const children: Child[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const child of children) await stop(child);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** CPU time (user + system) a process used so far, ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function metric(adminPort: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const line = new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, "m").exec(text);
  if (line === null) throw new Error(`No ${name} in the metrics`);
  return Number(line[1]);
}

/** Parks a pull on `filler` that waits up to two minutes. */
function hold(connection: Connection): Promise<{ code: number; remark?: string }> {
  return connection.request(RequestCode.PULL_MESSAGE, {
    consumerGroup: "filler",
    topic: "filler",
    queueId: 0,
    queueOffset: 1,
    maxMsgNums: 1,
    sysFlag: PullSysFlag.SUSPEND,
    suspendTimeoutMillis: 120_000,
  }, undefined, 130_000);
}

describe("long polling with every slot taken", () => {
  test("an idle push consumer is answered busy and backs off, and is parked again once slots free up", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rmq-longpoll-"));
    dirs.push(dir);
    const config = join(dir, "config.yaml");
    writeFileSync(config, "broker:\n  maxHeldPulls: 8\n  maxHeldPullsPerConnection: 4\n");
    const [nsPort, port, adminPort] = [await freePort(), await freePort(), await freePort()];
    const ns = await startTestNameServer(nsPort);
    children.push(ns);
    const broker = await startTestBroker({
      dataDir: join(dir, "data"),
      port,
      flush: "async",
      namesrv: [`127.0.0.1:${nsPort}`],
      extraArgs: ["--config", config, "--admin-port", String(adminPort)],
    });
    children.push(broker);
    const address = `127.0.0.1:${port}`;
    const setup = await connect(dial, address);
    for (const topic of ["filler", "idle"]) {
      const sent = await setup.request(RequestCode.SEND_MESSAGE, { topic, queueId: 0, bornTimestamp: Date.now() }, new Uint8Array(1));
      expect(sent.code).toBe(ResponseCode.SUCCESS);
    }
    // Two connections take the 8 slots, 4 each: one connection cannot take more than its share.
    const [a, b] = [await connect(dial, address), await connect(dial, address)];
    const heldA = Array.from({ length: 4 }, () => hold(a));
    const beyond = await hold(a);
    expect(beyond.code).toBe(ResponseCode.SYSTEM_BUSY);
    expect(beyond.remark).toContain("limit maxHeldPullsPerConnection");
    const heldB = Array.from({ length: 4 }, () => hold(b));
    await until(async () => (await metric(adminPort, "rocketmq_pending_long_polls")) === 8, 5000, "8 parked pulls");

    // The broker's own idle cost (its timers, Bun's threads), to tell the consumer's share from it.
    const idleBefore = cpuMs(broker.pid);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const idle = cpuMs(broker.pid) - idleBefore;

    const member = start(BUN, ["tests/_fixtures/push_member.ts", `127.0.0.1:${nsPort}`, "idle-group", "idle", "0"]);
    children.push(member);
    await member.waitFor(/ASSIGN \d/, 20_000);
    // Let the back-off settle, then watch the broker for 5 s.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const busyBefore = await metric(adminPort, "rocketmq_long_poll_busy_total");
    const cpuBefore = cpuMs(broker.pid);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const cpu = cpuMs(broker.pid) - cpuBefore;
    const busy = (await metric(adminPort, "rocketmq_long_poll_busy_total")) - busyBefore;
    console.log(`Broker with every long-polling slot taken and one idle push consumer: ${cpu} ms CPU (${idle} ms idle before it came) and ${busy} busy pulls in 5 s`);
    expect(busy).toBeGreaterThan(0);
    // Each queue pulls at most every 2.25-3.75 s once backed off; answered "nothing yet" instead, the
    // consumer pulled again at once: about 460,000 pulls and 2,050 ms of broker CPU in 5 s.
    expect(busy).toBeLessThan(60);
    expect(cpu - idle).toBeLessThan(400);
    // The consumer said so once per queue, not at every attempt.
    const lines = member.output().split("\n").filter((line) => line.includes("limit maxHeldPulls"));
    expect(lines.length).toBeLessThan(20);

    // B goes away: its 4 slots go to the consumer's pulls, which then wait for messages again.
    b.close();
    await Promise.allSettled(heldB);
    await until(async () => (await metric(adminPort, "rocketmq_pending_long_polls")) === 8, 10_000, "the consumer's pulls to be parked");
    const sent = await setup.request(RequestCode.SEND_MESSAGE, { topic: "idle", queueId: 0, bornTimestamp: Date.now() }, new TextEncoder().encode("wake"));
    expect(sent.code).toBe(ResponseCode.SUCCESS);
    await member.waitFor("H 0 wake", 10_000);
    a.close();
    await Promise.allSettled(heldA);
    setup.close();
  }, 90_000);
});
