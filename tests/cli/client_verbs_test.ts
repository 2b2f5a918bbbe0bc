/**
 * `rmq send`, `rmq consume` and `rmq bench` against a real standalone system, and `--config` of
 * `rmq standalone|nameserver|broker`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, freePort, ROOT, start, stop } from "../_helpers/process.ts";
import { until } from "../_helpers/wait.ts";
import { type CliServer, rmq, startCliServer } from "./_cli.ts";

let server: CliServer;
beforeAll(async () => {
  server = await startCliServer();
});
afterAll(() => server.close());

describe("rmq send and consume", () => {
  test("consume --from earliest --count prints sent messages and exits 0; --json lines parse", async () => {
    const sent = await rmq(["send", "-t", "tail", "-b", "first", "--tags", "A", "--keys", "k1", "-n", server.namesrv]);
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/^STATUS\s+MSG ID\s+BROKER\s+QUEUE\s+OFFSET\nSEND_OK\s+[0-9A-F]{32}\s+broker-a\s+\d\s+0\n$/);
    const many = await rmq(["send", "-t", "tail", "-b", "more", "--count", "4", "--json"], { RMQ_NAMESRV_ADDR: server.namesrv });
    expect(JSON.parse(many.stdout).sent).toHaveLength(4);

    const text = await rmq(["consume", "-t", "tail", "--from", "earliest", "--count", "5", "-n", server.namesrv]);
    expect(text.code).toBe(0);
    const lines = text.stdout.trimEnd().split("\n");
    expect(lines).toHaveLength(5);
    expect(lines.filter((l) => / [0-9A-F]{32} tags=A keys=k1 first$/.test(l))).toHaveLength(1);

    const json = await rmq(["consume", "-t", "tail", "--from", "earliest", "--count", "1", "--tag", "A", "--json", "-n", server.namesrv]);
    expect(json.code).toBe(0);
    const parsed = json.stdout.trimEnd().split("\n").map((l) => JSON.parse(l));
    expect(parsed).toHaveLength(1);
    expect(parsed[0]).toMatchObject({ topic: "tail", tags: "A", keys: ["k1"], body: "first", bodyEncoding: "utf8" });
  }, 30_000);

  test("consume --from latest waits (long poll) for a message sent after it starts", async () => {
    await rmq(["send", "-t", "live", "-b", "before", "-n", server.namesrv]);
    const waiting = start(BUN, ["run", join(ROOT, "cli/bun.ts"), "consume", "-t", "live", "--count", "1", "--json", "-n", server.namesrv]);
    await waiting.waitFor('Consuming "live"');
    await until(() => server.system.broker.context.holds.size > 0, 10_000, "the consumer's pulls to be parked on the broker");
    const sent = JSON.parse((await rmq(["send", "-t", "live", "-b", "late", "--json", "-n", server.namesrv])).stdout);
    expect(await waiting.exited).toBe(0);
    const line = waiting.output().split("\n").find((l) => l.startsWith("{"))!;
    expect(JSON.parse(line)).toMatchObject({ msgId: sent.msgId, body: "late", topic: "live" });
  }, 30_000);

  test("client verbs exit 3 when the NameServer is down, 1 for an unknown topic, 2 for bad flags", async () => {
    const port = await freePort();
    const [sendDown, consumeDown, unknown, noBody, badFrom] = await Promise.all([
      rmq(["send", "-t", "x", "-b", "y", "-n", `127.0.0.1:${port}`, "--timeout-ms", "1500"]),
      rmq(["consume", "-t", "x", "--count", "1", "-n", `127.0.0.1:${port}`]),
      rmq(["consume", "-t", "ghost", "--count", "1", "-n", server.namesrv]),
      rmq(["send", "-t", "x"]),
      rmq(["consume", "-t", "x", "--from", "middle"]),
    ]);
    expect(sendDown.code).toBe(3);
    expect(sendDown.stderr).toContain("Cannot send to \"x\"");
    expect(consumeDown.code).toBe(3);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No route for topic "ghost"');
    expect(noBody.code).toBe(2);
    expect(noBody.stderr).toContain("Flag --body is required");
    expect(badFrom.code).toBe(2);
  }, 30_000);
});

describe("rmq bench", () => {
  test("runs the load tool against a standalone of its own and reports stored counts", async () => {
    const run = await rmq(["bench", "--modes", "sync,batch", "--count", "200", "--size", "64", "--json"]);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.reports.map((r: { mode: string; ok: number; stored: number }) => [r.mode, r.ok, r.stored])).toEqual([["sync", 200, 200], ["batch", 200, 200]]);
    const table = await rmq(["bench", "--modes", "async", "--count", "100", "--namesrv", server.namesrv]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^async\s+1000 in flight\s+\d+/m);
    const bad = await rmq(["bench", "--modes", "warp"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("expected sync, async, oneway or batch");
  }, 60_000);
});

describe("--config", () => {
  test("standalone reads the file; flags override it and the environment sits between", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rmq-config-"));
    const [ns, broker, envAdmin] = await Promise.all([freePort(), freePort(), freePort()]);
    const file = join(dir, "rmq.yaml");
    writeFileSync(file, `nameserver:\n  port: ${ns}\nbroker:\n  host: 127.0.0.1\n  port: 1\n  dataDir: ${join(dir, "data")}\n  brokerName: from-file\nadmin:\n  port: 1\n`);
    const child = start(BUN, ["run", join(ROOT, "cli/bun.ts"), "standalone", "--config", file, "--port", String(broker), "--no-grpc"], { RMQ_ADMIN_PORT: String(envAdmin) });
    try {
      await child.waitFor("Dashboard and admin API on");
      expect(child.output()).toContain(`NameServer 127.0.0.1:${ns}, broker 127.0.0.1:${broker}, data in ${join(dir, "data")}`);
      expect(child.output()).toContain(`http://127.0.0.1:${envAdmin}/`);
      const cluster = JSON.parse((await rmq(["cluster", "list", "--json", "--server", `http://127.0.0.1:${envAdmin}`])).stdout);
      expect(cluster.brokers[0].brokerName).toBe("from-file");
    } finally {
      await stop(child);
    }
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  test("a bad key or value fails at start with a message naming it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rmq-config-"));
    try {
      const badKey = join(dir, "bad_key.yaml");
      writeFileSync(badKey, "broker:\n  flushMod: sync\n");
      const badValue = join(dir, "bad_value.yaml");
      writeFileSync(badValue, "nameserver:\n  port: 70000\n");
      const [a, b, c, d] = await Promise.all([
        rmq(["standalone", "--config", badKey]),
        rmq(["nameserver", "--config", badValue]),
        rmq(["broker", "--config", join(dir, "missing.yaml")]),
        rmq(["nameserver"], { RMQ_NAMESERVER_PORT: "-5" }),
      ]);
      expect(a.code).toBe(1);
      expect(a.stderr).toContain('unknown key "broker.flushMod"');
      expect(b.code).toBe(1);
      expect(b.stderr).toContain('"nameserver.port" must be at most 65535');
      expect(c.code).toBe(1);
      expect(c.stderr).toContain("Cannot read config file");
      expect(d.code).toBe(1);
      expect(d.stderr).toContain('"nameserver.port"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("rmq nameserver and rmq broker run from one file, with flags on top", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rmq-config-"));
    const [ns, brokerPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const file = join(dir, "cluster.yaml");
    writeFileSync(file, `nameserver:\n  host: 127.0.0.1\n  port: ${ns}\nbroker:\n  host: 127.0.0.1\n  port: ${brokerPort}\n  nameServers: ["127.0.0.1:${ns}"]\n  dataDir: ${join(dir, "b")}\n  brokerName: broker-cfg\n  autoCreateTopicEnable: true\n`);
    const nameserver = start(BUN, ["run", join(ROOT, "cli/bun.ts"), "nameserver", "-c", file]);
    let broker: ReturnType<typeof start> | undefined;
    try {
      await nameserver.waitFor(`NameServer listening on 127.0.0.1:${ns}`);
      broker = start(BUN, ["run", join(ROOT, "server/broker.ts"), "--config", file, "--admin-port", String(adminPort)]);
      await broker.waitFor("Admin API, metrics and dashboard on");
      const sent = await rmq(["send", "-t", "cfg", "-b", "x", "--json", "-n", `127.0.0.1:${ns}`]);
      expect(sent.code).toBe(0);
      expect(JSON.parse(sent.stdout).brokerName).toBe("broker-cfg");
      const topics = JSON.parse((await rmq(["topic", "list", "--json", "--server", `http://127.0.0.1:${adminPort}`])).stdout);
      expect(topics.topics.map((t: { topic: string }) => t.topic)).toContain("cfg");
    } finally {
      if (broker !== undefined) await stop(broker);
      await stop(nameserver);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 40_000);
});
