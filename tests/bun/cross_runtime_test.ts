import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN, type Child, DENO, start, startServer, stop } from "../_helpers/process.ts";

const children: Child[] = [];
const dirs: string[] = [];

afterAll(async () => {
  for (const child of children) await stop(child);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Starts a NameServer and a sync-flush broker on a runtime; returns the NameServer address. */
async function startCluster(runtime: "bun" | "deno"): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `rmq-${runtime}-`));
  dirs.push(dir);
  const run = (script: string, args: string[]) =>
    runtime === "bun"
      ? startServer(BUN, ["run", script, ...args], { timeoutMs: 30_000 })
      : startServer(DENO, ["run", "-A", script, ...args], { timeoutMs: 30_000 });
  const ns = await run("server/nameserver.ts", ["--host", "127.0.0.1", "--port", "0"]);
  children.push(ns);
  const broker = await run("server/broker.ts", [
    "--host", "127.0.0.1", "--port", "0", "--namesrv", `127.0.0.1:${ns.port}`,
    "--data-dir", dir, "--flush", "sync", "--auto-create-topic",
  ]);
  children.push(broker);
  return `127.0.0.1:${ns.port}`;
}

async function roundtrip(runtime: "bun" | "deno", namesrv: string, topic: string, transport?: "streams"): Promise<void> {
  const extra = transport === undefined ? [] : [transport];
  const client = runtime === "bun"
    ? start(BUN, ["tests/_fixtures/client_roundtrip.ts", namesrv, topic, "2000", ...extra])
    : start(DENO, ["run", "-A", "tests/_fixtures/client_roundtrip.ts", namesrv, topic, "2000", ...extra]);
  children.push(client);
  const code = await client.exited;
  expect(client.output()).toContain("ROUNDTRIP OK 2000");
  expect(code).toBe(0);
}

describe("across runtimes", () => {
  test("a NameServer and broker on Deno serve a client on Bun", async () => {
    const namesrv = await startCluster("deno");
    await roundtrip("bun", namesrv, "deno_served");
  }, 90_000);

  test("a client on Deno works against servers on Bun", async () => {
    const namesrv = await startCluster("bun");
    await roundtrip("deno", namesrv, "bun_served");
  }, 90_000);

  test("a client on Deno dialing through duplexDialer over Deno.connect's Web Streams works too", async () => {
    const namesrv = await startCluster("bun");
    await roundtrip("deno", namesrv, "bun_served_streams", "streams");
  }, 90_000);
});
