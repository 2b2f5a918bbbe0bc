/**
 * `rmq standalone|broker|nameserver` as processes: structured log lines, a taken port named with
 * its component and flag, the replication port under the user's control, and settings a command
 * does not use reported instead of silently dropped.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, type Child, DENO, freePort, ROOT, start, stop } from "../_helpers/process.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-servers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every process a test started; whatever still runs after it (a failed test) is killed by PID. */
const children: Child[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

const RUNTIMES = [
  { name: "Bun", rmq: [BUN, "run", join(ROOT, "cli/bun.ts")] },
  { name: "Deno", rmq: [DENO, "run", "-A", join(ROOT, "cli/deno.ts")] },
];

function spawn(command: string, args: string[], env: Record<string, string> = {}): Child {
  const child = start(command, args, env);
  children.push(child);
  return child;
}

function rmq(args: string[], runtime = RUNTIMES[0]!): Child {
  return spawn(runtime.rmq[0]!, [...runtime.rmq.slice(1), ...args]);
}

/** Holds a port on 127.0.0.1 until closed. */
async function occupy(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
  return { port, server };
}

/** Every port of a standalone picked by the system, so nothing can take one first. */
const ZERO_PORTS = ["--port", "0", "--namesrv-port", "0", "--admin-port", "0", "--ha-port", "0", "--grpc-port", "0"];

/** The ports a server's lines say it listens on (NameServer, broker, replication). */
function listening(output: string): number[] {
  return [...output.matchAll(/(?:listening on|accepts slaves on) [^\s,]*:(\d+)/g)].map((m) => Number(m[1]));
}

async function canBind(port: number): Promise<boolean> {
  const server = createServer();
  return await new Promise((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

describe("log lines", () => {
  test("--log-format json: every line is an object with time, level and component; the broker's start line shows its flush mode", async () => {
    const child = rmq([
      "standalone", "--host", "127.0.0.1", ...ZERO_PORTS, "--data-dir", join(dir, "json"), "--flush", "sync", "--log-format", "json",
    ]);
    await child.waitFor("Standalone ready");
    await stop(child);
    expect(await child.exited).toBe(0);
    const lines = child.output().trimEnd().split("\n").map((line) => JSON.parse(line));
    for (const line of lines) {
      expect(Object.keys(line)).toEqual(["time", "level", "component", "msg"]);
      expect(new Date(line.time).toISOString()).toBe(line.time);
    }
    const startLine = lines.find((l) => l.component === "broker" && l.msg.includes(" listening on "));
    expect(startLine).toMatchObject({ level: "info" });
    expect(startLine.msg).toContain('Broker "broker-a" (cluster "DefaultCluster", id 0, ASYNC_MASTER, flush sync) listening on');
    expect(lines.find((l) => l.msg.startsWith("NameServer listening"))).toMatchObject({ component: "nameserver" });
    expect(lines.find((l) => l.msg.startsWith("Standalone ready"))).toMatchObject({ component: "standalone" });
    expect(lines.at(-1)).toMatchObject({ component: "standalone", msg: "Stopped" });
  }, 30_000);

  test("text lines carry the timestamp, level and component; RMQ_LOG_LEVEL=warn keeps only warnings and errors", async () => {
    const child = spawn(BUN, ["run", join(ROOT, "server/nameserver.ts"), "--host", "127.0.0.1", "--port", "0"]);
    await child.waitFor("NameServer listening on 127.0.0.1:");
    await stop(child);
    expect(child.output()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO  \[nameserver\] NameServer listening on 127\.0\.0\.1:\d+$/m);
    const held = await occupy();
    try {
      const failing = spawn(BUN, ["run", join(ROOT, "server/nameserver.ts"), "--host", "127.0.0.1", "--port", String(held.port)], { RMQ_LOG_LEVEL: "warn" });
      expect(await failing.exited).toBe(1);
      expect(failing.output()).toMatch(/^\S+Z ERROR \[nameserver\] Cannot start the NameServer on 127\.0\.0\.1:\d+: /m);
      expect(failing.output()).not.toContain("INFO");
    } finally {
      held.server.close();
    }
  }, 30_000);
});

describe("a port in use", () => {
  for (const runtime of RUNTIMES) {
    test(`names the component, the address and the flag that moves it, and exits 1 (${runtime.name})`, async () => {
      const held = await occupy();
      try {
        const broker = rmq(["broker", "--host", "127.0.0.1", "--port", String(held.port), "--data-dir", join(dir, `busy-${runtime.name}`)], runtime);
        const admin = rmq([
          "standalone", "--host", "127.0.0.1", ...ZERO_PORTS, "--admin-port", String(held.port), "--data-dir", join(dir, `busy-admin-${runtime.name}`),
        ], runtime);
        const nameserver = rmq(["standalone", "--host", "127.0.0.1", "--namesrv-port", String(held.port), "--no-admin", "--no-grpc", "--data-dir", join(dir, `busy-ns-${runtime.name}`)], runtime);
        expect(await broker.exited).toBe(1);
        expect(broker.output()).toContain(
          `Cannot start the broker on 127.0.0.1:${held.port}: the port is in use, another process holds it (EADDRINUSE); pick another port with --port or broker.port, or stop what holds it`,
        );
        expect(await admin.exited).toBe(1);
        expect(admin.output()).toContain(`Cannot start the admin API on 127.0.0.1:${held.port}: the port is in use, another process holds it (EADDRINUSE); pick another port with --admin-port or admin.port`);
        expect(await nameserver.exited).toBe(1);
        expect(nameserver.output()).toContain(`Cannot start the NameServer on 127.0.0.1:${held.port}: the port is in use, another process holds it (EADDRINUSE); pick another port with --namesrv-port or nameserver.port`);
        // What had started before the admin API failed (NameServer, broker, replication) was stopped again.
        const started = listening(admin.output());
        expect(started).toHaveLength(3);
        for (const port of started) expect(await canBind(port)).toBe(true);
      } finally {
        held.server.close();
      }
    }, 60_000);
  }
});

describe("the replication port", () => {
  test("standalone takes --ha-port, and --no-replication opens none", async () => {
    // A port of our choosing (not the default, the broker's port + 1): nothing binds it meanwhile but the broker.
    const ha = await freePort();
    const base = ["standalone", "--host", "127.0.0.1", "--port", "0", "--namesrv-port", "0", "--no-admin", "--no-grpc"];
    const withHa = rmq([...base, "--ha-port", String(ha), "--data-dir", join(dir, "ha")]);
    await withHa.waitFor("Standalone ready");
    expect(withHa.output()).toContain(`Replication (ASYNC_MASTER) accepts slaves on 127.0.0.1:${ha}`);
    expect(await canBind(ha)).toBe(false);
    await stop(withHa);

    const off = rmq([...base, "--no-replication", "--data-dir", join(dir, "no-ha")]);
    await off.waitFor("Standalone ready");
    expect(off.output()).toContain("Replication off (broker.replication false)");
    expect(off.output()).not.toContain("accepts slaves");
    expect(listening(off.output())).toHaveLength(2); // the NameServer and the broker only
    await stop(off);
  }, 30_000);

  test("a taken replication port names --ha-port and --no-replication", async () => {
    const held = await occupy();
    try {
      const child = rmq(["standalone", "--host", "127.0.0.1", "--port", "0", "--namesrv-port", "0", "--no-admin", "--no-grpc", "--ha-port", String(held.port), "--data-dir", join(dir, "ha-busy")]);
      expect(await child.exited).toBe(1);
      expect(child.output()).toContain(
        `Cannot listen for replication on 127.0.0.1:${held.port}: the port is in use, another process holds it (EADDRINUSE); pick a free port with --ha-port (broker.haPort), or turn replication off with --no-replication`,
      );
    } finally {
      held.server.close();
    }
  }, 30_000);
});

test("standalone warns about a broker key it does not use instead of dropping it silently", async () => {
  const file = join(dir, "cluster.yaml");
  writeFileSync(file, "broker:\n  brokerRole: SYNC_MASTER\n");
  const child = rmq(["standalone", "-c", file, "--host", "127.0.0.1", "--port", "0", "--namesrv-port", "0", "--no-admin", "--no-grpc", "--no-replication", "--data-dir", join(dir, "warn")]);
  await child.waitFor("Standalone ready");
  await stop(child);
  expect(child.output()).toMatch(/WARN  \[standalone\] Warning: "broker\.brokerRole" is not used by standalone \(only by broker\); ignored/);
}, 30_000);
