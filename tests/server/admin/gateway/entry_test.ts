/**
 * The server entries serve the HTTP gateway by default: `rmq standalone` (what `npm start` runs)
 * and `rmq broker` with an admin port answer a produce, a receive and the OpenAPI document, and
 * `--no-gateway` (`admin.gateway: false`) serves the admin API without them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseServerArgs } from "../../../../server/_config_layers.ts";
import { type RunningServers, startServers } from "../../../../server/_entry.ts";
import { adminUrl } from "../../../../server/admin/start_admin.ts";
import { dial } from "../../../../server/bun/connect.ts";
import { listen } from "../../../../server/bun/listen.ts";
import { serve } from "../../../../server/bun/serve.ts";
import type { CommandName } from "../../../../server/config.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-gateway-entry-"));
const running: RunningServers[] = [];
let standalone: RunningServers;

async function start(command: CommandName, args: string[]): Promise<RunningServers> {
  const parsed = await parseServerArgs(command, `rmq ${command}`, args, {});
  if (parsed.kind !== "config") throw new Error(JSON.stringify(parsed));
  const servers = await startServers(command, parsed.loaded.config, { runtime: { listen, dial, serve }, given: parsed.loaded.given });
  running.push(servers);
  return servers;
}

const ZERO = ["--host", "127.0.0.1", "--port", "0", "--admin-port", "0", "--no-grpc", "--no-replication"];

beforeAll(async () => {
  standalone = await start("standalone", [...ZERO, "--namesrv-port", "0", "--data-dir", join(dir, "standalone")]);
});

afterAll(async () => {
  for (const servers of running.reverse()) await servers.close();
  rmSync(dir, { recursive: true, force: true });
});

async function json(base: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, json: await r.json() };
}

/** Produces through the gateway of `base` and receives the message back as a group. */
async function roundTrip(base: string, topic: string): Promise<void> {
  expect((await json(base, "POST", "api/topics", { topic, queueNums: 1 })).status).toBe(201);
  const sent = await json(base, "POST", `api/gateway/topics/${topic}/messages`, { body: `through ${topic}` });
  expect(sent.status).toBe(201);
  const got = await json(base, "POST", `api/gateway/groups/${topic}_readers/topics/${topic}/receive`, { maxMessages: 1, waitMs: 5000, from: "earliest" });
  expect(got.status).toBe(200);
  expect(got.json.messages.map((m: { body: string }) => m.body)).toEqual([`through ${topic}`]);
  const spec = await json(base, "GET", "api/openapi.json");
  expect(spec.status).toBe(200);
  expect(spec.json.paths["/api/gateway/topics/{topic}/messages"]).toBeDefined();
}

describe("the HTTP gateway in the server entries", () => {
  test("rmq standalone serves it by default", async () => {
    await roundTrip(adminUrl(standalone.admin!), "via_standalone");
  });

  test("rmq broker with an admin port serves it by default", async () => {
    const broker = await start("broker", [
      ...ZERO, "--broker-name", "broker-b", "--namesrv", `127.0.0.1:${standalone.nameServer!.port}`, "--data-dir", join(dir, "broker"),
    ]);
    await roundTrip(adminUrl(broker.admin!), "via_broker");
  });

  test("--no-gateway serves the admin API without the gateway or its OpenAPI document", async () => {
    const off = await start("standalone", [...ZERO, "--namesrv-port", "0", "--no-gateway", "--data-dir", join(dir, "off")]);
    const base = adminUrl(off.admin!);
    expect((await json(base, "GET", "api/cluster")).status).toBe(200);
    expect((await json(base, "POST", "api/topics", { topic: "closed", queueNums: 1 })).status).toBe(201);
    const sent = await json(base, "POST", "api/gateway/topics/closed/messages", { body: "nope" });
    expect(sent).toEqual({ status: 404, json: { error: { code: "NOT_FOUND", message: "No route for POST /api/gateway/topics/closed/messages" } } });
    expect((await json(base, "GET", "api/openapi.json")).status).toBe(404);
  });
});
