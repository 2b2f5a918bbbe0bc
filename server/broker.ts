/**
 * The broker entrypoint: `bun run server/broker.ts` or `deno run -A server/broker.ts`.
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import { HostFlag, integerFlag, parseFlagsOrExit, PortFlag } from "./_flags.ts";
import { defaultDial, defaultListen, defaultServe } from "./_runtime.ts";
import { adminUrl, startAdminServer } from "./admin/start_admin.ts";
import type { HttpServer } from "./admin/serve_types.ts";
import { startBroker } from "./broker/broker.ts";

const AddressList = v.pipe(
  v.string(),
  v.transform((text) => text.split(/[,;]/).map((s) => s.trim()).filter((s) => s !== "")),
  v.array(v.pipe(v.string(), v.regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "expected host:port"))),
);

const spec = {
  usage: "bun run server/broker.ts [flags]",
  summary: "Runs a broker: stores messages and serves producers and consumers. Registers with every NameServer given.",
  flags: {
    port: { description: "Port for clients", default: "10911", valueName: "port", short: "p" },
    host: { description: "Address to listen on", default: "0.0.0.0", valueName: "host" },
    "advertised-address": { description: "host:port clients are told to use (default: listen host, 127.0.0.1 for 0.0.0.0)", valueName: "host:port" },
    namesrv: { description: "NameServers to register with, comma separated", default: "", valueName: "host:port,…", short: "n" },
    "data-dir": { description: "Where messages, topics and offsets are kept", default: "./data/broker", valueName: "dir" },
    flush: { description: "async (periodic fsync) or sync (a send is answered after its fsync)", default: "async", valueName: "mode" },
    "flush-interval-ms": { description: "Async flush period", default: "500", valueName: "ms" },
    cluster: { description: "Cluster name", default: "DefaultCluster", valueName: "name" },
    "broker-name": { description: "Broker group name", default: "broker-a", valueName: "name" },
    "broker-id": { description: "0 for a master, > 0 for a slave", default: "0", valueName: "id" },
    "segment-size": { description: "CommitLog segment size in bytes", default: String(1024 ** 3), valueName: "bytes" },
    "max-message-size": { description: "Largest message body in bytes", default: String(4 * 1024 * 1024), valueName: "bytes" },
    "auto-create-topic": { description: "Create unknown topics on first send", type: "boolean" as const },
    "admin-port": { description: "Serve the admin API, metrics and dashboard on this port (default: off)", valueName: "port" },
    "admin-host": { description: "Address the admin API binds (keep it private)", default: "127.0.0.1", valueName: "host" },
    "admin-token": { description: "Bearer token required for admin changes (default: $RMQ_ADMIN_TOKEN; none)", valueName: "token" },
  },
  schema: v.object({
    port: PortFlag,
    host: HostFlag,
    advertisedAddress: v.optional(v.pipe(v.string(), v.regex(/^.+:\d{1,5}$/, "expected host:port"))),
    namesrv: AddressList,
    dataDir: v.pipe(v.string(), v.minLength(1, "must not be empty")),
    flush: v.picklist(["async", "sync"], "expected async or sync"),
    flushIntervalMs: integerFlag(1, 60_000),
    cluster: v.pipe(v.string(), v.minLength(1)),
    brokerName: v.pipe(v.string(), v.minLength(1)),
    brokerId: integerFlag(0, 1024),
    segmentSize: integerFlag(64 * 1024, 2 ** 40),
    maxMessageSize: integerFlag(1, 64 * 1024 * 1024),
    autoCreateTopic: v.optional(v.boolean(), false),
    adminPort: v.optional(PortFlag),
    adminHost: HostFlag,
    adminToken: v.optional(v.pipe(v.string(), v.minLength(8, "must have at least 8 characters"))),
  }),
};

const flags = parseFlagsOrExit(spec);
try {
  const broker = await startBroker({
    listen: await defaultListen(),
    dial: await defaultDial(),
    hostname: flags.host,
    port: flags.port,
    advertisedAddress: flags.advertisedAddress,
    nameServers: flags.namesrv,
    dataDir: flags.dataDir,
    flushMode: flags.flush,
    flushIntervalMs: flags.flushIntervalMs,
    clusterName: flags.cluster,
    brokerName: flags.brokerName,
    brokerId: flags.brokerId,
    commitLogSegmentSize: flags.segmentSize,
    maxMessageSize: flags.maxMessageSize,
    autoCreateTopicEnable: flags.autoCreateTopic,
  });
  let admin: HttpServer | undefined;
  if (flags.adminPort !== undefined) {
    try {
      admin = await startAdminServer({
        serve: await defaultServe(),
        hostname: flags.adminHost,
        port: flags.adminPort,
        broker,
        dataDir: flags.dataDir,
        token: flags.adminToken ?? (process.env.RMQ_ADMIN_TOKEN || undefined),
      });
    } catch (error) {
      await broker.close();
      throw new Error(`Cannot serve the admin API on ${flags.adminHost}:${flags.adminPort}: ${(error as Error).message}`, { cause: error });
    }
    console.log(`Admin API, metrics and dashboard on ${adminUrl(admin)}`);
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal} received: shutting down the broker`);
    await admin?.close();
    await broker.close();
    console.log("Broker stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
} catch (error) {
  console.error(`Cannot start the broker: ${(error as Error).message}`);
  process.exit(1);
}
