/**
 * Changes on a whole cluster (`--cluster`, as `mqadmin updateTopic -c`): two broker groups of
 * cluster "c1" (one in the admin API's process, one reached over the wire) and one of cluster "c2"
 * register with a NameServer; `rmq topic create|delete` and `rmq group update` with `--cluster c1`
 * change both masters of c1 and leave c2's alone, through the real command line.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

let dir: string;
let system: Standalone;
let brokerB: Broker;
let other: Broker;
let admin: HttpServer;
let server: string;
/** Brokers sign their registrations with it. */
const SECRET = "cluster-wide-test-secret-0123456789";

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-cluster-wide-"));
  system = await startStandalone({
    listen, dial, hostname: "127.0.0.1", port: 0, nameServerPort: 0, dataDir: join(dir, "a"), storage: new MemorySegmentStorage(),
    clusterName: "c1", brokerName: "broker-a", clusterSecret: SECRET, log: () => {},
  });
  const peer = (clusterName: string, brokerName: string) =>
    startBroker({
      listen, dial, hostname: "127.0.0.1", port: 0, dataDir: join(dir, brokerName), storage: new MemorySegmentStorage(),
      clusterName, brokerName, nameServers: [system.nameServerAddress], clusterSecret: SECRET, log: () => {},
    });
  brokerB = await peer("c1", "broker-b");
  other = await peer("c2", "broker-x");
  await waitFor(() => Object.keys(system.nameServer.routeTable.getClusterInfo().brokerAddrTable).length === 3, 5000, "three broker groups registered");
  admin = await startAdminServer({ serve, hostname: "127.0.0.1", port: 0, broker: system.broker, nameServer: system.nameServer, dial });
  server = `http://127.0.0.1:${admin.port}`;
});

afterAll(async () => {
  await admin?.close();
  await other?.close();
  await brokerB?.close();
  await system?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("changes on a whole cluster", () => {
  test("rmq topic create --cluster creates the topic on every master of the cluster, and an update keeps what it leaves out", async () => {
    const created = await rmq(["topic", "create", "--topic", "wide_orders", "--queues", "6", "--cluster", "c1", "--server", server, "--json"]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    const answer = JSON.parse(created.stdout) as { brokers: Array<{ brokerName: string; created: boolean }> };
    expect(answer.brokers.map((b) => [b.brokerName, b.created])).toEqual([["broker-a", true], ["broker-b", true]]);
    for (const broker of [system.broker, brokerB]) expect(broker.context.topics.get("wide_orders")?.writeQueueNums).toBe(6);
    expect(other.context.topics.get("wide_orders")).toBeUndefined();

    // An update: the permission changes on both, the queue counts each broker has stay.
    const updated = await rmq(["topic", "update", "--topic", "wide_orders", "--perm", "r", "--cluster", "c1", "--server", server]);
    expect(updated.code).toBe(0);
    expect(updated.stdout).toContain('Topic "wide_orders" set on 2 masters of cluster "c1"');
    for (const broker of [system.broker, brokerB]) {
      const config = broker.context.topics.get("wide_orders")!;
      expect([config.readQueueNums, config.writeQueueNums, config.perm]).toEqual([6, 6, 4]);
    }
  });

  test("rmq group update --cluster changes the group's settings on every master of the cluster", async () => {
    const run = await rmq(["group", "update", "--group", "wide_billing", "--retry-max-times", "3", "--fifo", "--cluster", "c1", "--server", server]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Group "wide_billing" changed on 2 masters of cluster "c1"');
    for (const broker of [system.broker, brokerB]) {
      const config = broker.context.groups.get("wide_billing");
      expect([config.retryMaxTimes, config.consumeMessageOrderly]).toEqual([3, true]);
    }
    expect(other.context.groups.has("wide_billing")).toBe(false);
  });

  test("rmq topic delete --cluster deletes the topic from every master; an unknown cluster is refused", async () => {
    await rmq(["topic", "create", "--topic", "wide_orders", "--cluster", "c2", "--server", server]);
    const run = await rmq(["topic", "delete", "--topic", "wide_orders", "--cluster", "c1", "--server", server]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Deleted topic "wide_orders" from 2 masters of cluster "c1"');
    for (const broker of [system.broker, brokerB]) expect(broker.context.topics.get("wide_orders")).toBeUndefined();
    expect(other.context.topics.get("wide_orders")).toBeDefined();

    const unknown = await rmq(["topic", "create", "--topic", "wide_orders", "--cluster", "nowhere", "--server", server]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('No NameServer knows cluster "nowhere"');
  });

  test("the admin API of a broker without a NameServer of its own finds the cluster's masters through its broker's NameServers", async () => {
    const brokerAdmin = await startAdminServer({
      serve, hostname: "127.0.0.1", port: 0, broker: brokerB, dial, nameServerAddresses: [system.nameServerAddress],
    });
    try {
      const run = await rmq(["topic", "create", "--topic", "wide_audit", "--cluster", "c1", "--server", `http://127.0.0.1:${brokerAdmin.port}`]);
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      for (const broker of [system.broker, brokerB]) expect(broker.context.topics.get("wide_audit")).toBeDefined();
      expect(other.context.topics.get("wide_audit")).toBeUndefined();
    } finally {
      await brokerAdmin.close();
    }
  });

  test("without controller mode the cluster view has no controller part and a switchover is refused", async () => {
    const listed = await rmq(["cluster", "list", "--server", server, "--json"]);
    expect(listed.code).toBe(0);
    expect(JSON.parse(listed.stdout).controller).toBeNull();
    const refused = await rmq(["cluster", "switch-master", "--group", "broker-a", "--server", server]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("This process has no controller to ask");
  });
});
