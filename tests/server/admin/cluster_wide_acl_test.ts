/**
 * Changes on a whole cluster with ACL on: the admin API sends each other master the request signed
 * as the caller's account (`Authorization: Basic`), and each broker checks it itself; a caller
 * signed in with a dashboard session, whose keys the admin API does not hold, is told to send them.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AclGuard } from "../../../server/acl/acl_guard.ts";
import { AclRules } from "../../../server/acl/acl_rules.ts";
import { type Broker, startBroker } from "../../../server/broker/broker.ts";
import { dial } from "../../../server/bun/connect.ts";
import { listen } from "../../../server/bun/listen.ts";
import { serve } from "../../../server/bun/serve.ts";
import type { HttpServer } from "../../../server/admin/serve_types.ts";
import { startAdminServer } from "../../../server/admin/start_admin.ts";
import { type Standalone, startStandalone } from "../../../server/standalone.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { waitFor } from "../../_helpers/consumer_cluster.ts";
import { rmq } from "../../cli/_cli.ts";

const SECRET = "cluster-wide-acl-secret-0123456789";
const ADMIN = { accessKey: "ops", secretKey: "ops-secret-key-1" };
const rules = AclRules.parse({ accounts: [{ ...ADMIN, admin: true }] });
let dir: string;
let system: Standalone;
let brokerB: Broker;
let admin: HttpServer;
let server: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-cluster-wide-acl-"));
  const common = { listen, dial, hostname: "127.0.0.1", port: 0, storage: new MemorySegmentStorage(), clusterName: "c1", clusterSecret: SECRET, log: () => {} };
  system = await startStandalone({ ...common, nameServerPort: 0, dataDir: join(dir, "a"), brokerName: "broker-a", acl: new AclGuard({ rules: () => rules }) });
  brokerB = await startBroker({
    ...common, storage: new MemorySegmentStorage(), dataDir: join(dir, "b"), brokerName: "broker-b", nameServers: [system.nameServerAddress],
    acl: new AclGuard({ rules: () => rules }),
  });
  await waitFor(() => Object.keys(system.nameServer.routeTable.getClusterInfo().brokerAddrTable).length === 2, 5000, "two broker groups registered");
  admin = await startAdminServer({ serve, hostname: "127.0.0.1", port: 0, broker: system.broker, nameServer: system.nameServer, dial, acl: () => rules });
  server = `http://127.0.0.1:${admin.port}`;
});

afterAll(async () => {
  await admin?.close();
  await brokerB?.close();
  await system?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("changes on a whole cluster with ACL on", () => {
  test("the other masters get the request signed as the caller's account and take it", async () => {
    const run = await rmq(["topic", "create", "--topic", "acl_wide", "--cluster", "c1", "--server", server, "--access-key", ADMIN.accessKey, "--secret-key", ADMIN.secretKey]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    for (const broker of [system.broker, brokerB]) expect(broker.context.topics.get("acl_wide")).toBeDefined();
  });

  test("a dashboard session cannot make a change on a whole cluster: the admin API holds no keys to sign with", async () => {
    const signIn = await fetch(`${server}/api/session`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(ADMIN) });
    expect(signIn.status).toBe(201);
    const cookie = signIn.headers.get("set-cookie")!.split(";")[0]!;
    const { csrfToken } = await signIn.json() as { csrfToken: string };
    const response = await fetch(`${server}/api/topics`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie, "x-csrf-token": csrfToken, origin: server },
      body: JSON.stringify({ topic: "acl_wide_2", cluster: "c1" }),
    });
    expect(response.status).toBe(400);
    expect((await response.json() as { error: { message: string } }).error.message).toContain("needs the account's keys (Authorization: Basic)");
    expect(brokerB.context.topics.get("acl_wide_2")).toBeUndefined();
  });
});
