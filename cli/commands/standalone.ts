/**
 * `rmq standalone`: a NameServer and a Broker in one process, data under `./data`. Settings come
 * from `--config`, then `RMQ_*` variables, then flags.
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import type { Dialer, Listen } from "../../core/remoting/transport.ts";
import { loadLayeredConfig } from "../../server/_config_layers.ts";
import { HostFlag, integerFlag, parseFlagsOrExit, PortFlag } from "../../server/_flags.ts";
import { defaultDial, defaultServe } from "../../server/_runtime.ts";
import { loadServerSecurity, SECURITY_FLAGS, type ServerSecurity } from "../../server/_security.ts";
import type { HttpServer, Serve } from "../../server/admin/serve_types.ts";
import { adminUrl, startAdminServer } from "../../server/admin/start_admin.ts";
import { startStandalone } from "../../server/standalone.ts";
import { CliError } from "../_output.ts";

const spec = {
  usage: "rmq standalone [flags]",
  summary: "Runs a NameServer and a Broker in one process; topics are created on first send. " +
    "Settings come from --config, then RMQ_* variables, then flags.",
  flags: {
    config: { description: "YAML configuration file (see config/config.yaml)", valueName: "file", short: "c" },
    host: { description: "Address to listen on (broker.host)", default: "0.0.0.0", valueName: "host" },
    "namesrv-port": { description: "NameServer port (nameserver.port)", default: "9876", valueName: "port" },
    port: { description: "Broker port for clients (broker.port)", default: "10911", valueName: "port", short: "p" },
    "data-dir": { description: "Where the broker keeps its data (broker.dataDir)", default: "./data", valueName: "dir" },
    flush: { description: "async (periodic fsync) or sync (a send is answered after its fsync)", default: "async", valueName: "mode" },
    "segment-size": { description: "CommitLog segment size in bytes", default: String(1024 ** 3), valueName: "bytes" },
    "admin-port": { description: "Port of the admin API, metrics and dashboard; 0 picks a free one", default: "8080", valueName: "port" },
    "admin-host": { description: "Address the admin API binds (keep it private)", default: "127.0.0.1", valueName: "host" },
    "admin-token": { description: "Bearer token required for admin changes (default: admin.token, $RMQ_ADMIN_TOKEN; none)", valueName: "token" },
    "no-admin": { description: "Do not serve the admin API and dashboard", type: "boolean" as const },
    ...SECURITY_FLAGS,
  },
  schema: v.object({
    config: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
    host: v.optional(HostFlag),
    namesrvPort: v.optional(PortFlag),
    port: v.optional(PortFlag),
    dataDir: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
    flush: v.optional(v.picklist(["async", "sync"], "expected async or sync")),
    segmentSize: v.optional(integerFlag(64 * 1024, 2 ** 40)),
    adminPort: v.optional(PortFlag),
    adminHost: v.optional(HostFlag),
    adminToken: v.optional(v.pipe(v.string(), v.minLength(8, "must have at least 8 characters"))),
    noAdmin: v.optional(v.boolean(), false),
    acl: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
    tlsCert: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
    tlsKey: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
  }),
};

/**
 * Runs the standalone system until SIGINT or SIGTERM.
 *
 * @param args Flags after `standalone`.
 * @param runtime The runtime's listen adapter and dialer, and its HTTP adapter (loaded for the
 * runtime when absent).
 */
export async function standalone(args: string[], runtime: { listen: Listen; dial: Dialer; serve?: Serve }): Promise<void> {
  const flags = parseFlagsOrExit(spec, args, { defaults: false });
  let config;
  try {
    config = loadLayeredConfig(flags.config, {
      nameserver: { port: flags.namesrvPort },
      broker: { host: flags.host, port: flags.port, dataDir: flags.dataDir, flushMode: flags.flush, commitLogSegmentSize: flags.segmentSize },
      admin: { host: flags.adminHost, port: flags.adminPort, token: flags.adminToken },
      acl: { file: flags.acl },
      tls: { cert: flags.tlsCert, key: flags.tlsKey },
    }).config;
  } catch (error) {
    throw new CliError(`Cannot start: ${(error as Error).message}`, 1);
  }
  let security: ServerSecurity;
  try {
    security = loadServerSecurity(config, { standalone: true });
  } catch (error) {
    throw new CliError(`Cannot start: ${(error as Error).message}`, 1);
  }
  const b = config.broker;
  const system = await startStandalone({
    listen: runtime.listen,
    dial: security.nameServerDial.tls === undefined ? runtime.dial : await defaultDial(security.nameServerDial),
    acl: security.guard,
    nameServerCredentials: security.nameServerCredentials,
    tls: security.tls,
    hostname: b.host,
    nameServerPort: config.nameserver.port,
    port: b.port,
    advertisedAddress: b.advertisedAddress,
    dataDir: b.dataDir,
    flushMode: b.flushMode,
    flushIntervalMs: b.flushIntervalMs,
    commitLogSegmentSize: b.commitLogSegmentSize,
    fileReservedTimeHours: b.fileReservedTimeHours,
    deleteWhen: b.deleteWhen,
    diskHighWaterPercent: b.diskHighWaterPercent,
    diskHardLimitPercent: b.diskHardLimitPercent,
    clusterName: b.clusterName,
    brokerName: b.brokerName,
    maxMessageSize: b.maxMessageSize,
    autoCreateTopicEnable: b.autoCreateTopicEnable,
    defaultTopicQueueNums: b.defaultTopicQueueNums,
    messageDelayLevel: b.messageDelayLevel,
  });
  let admin: HttpServer | undefined;
  if (!flags.noAdmin) {
    const { host, port, token, allowedOrigins } = config.admin;
    try {
      admin = await startAdminServer({
        serve: runtime.serve ?? await defaultServe(),
        hostname: host,
        port,
        broker: system.broker,
        nameServer: system.nameServer,
        dataDir: b.dataDir,
        token: token || undefined,
        allowedOrigins,
        acl: security.rules,
        tls: security.tls,
      });
    } catch (error) {
      await system.close();
      throw new Error(`Cannot serve the admin API on ${host}:${port}: ${(error as Error).message}`, { cause: error });
    }
  }
  console.log(`Standalone ready (pid ${process.pid}): NameServer ${system.nameServerAddress}, broker ${system.brokerAddress}, data in ${b.dataDir}`);
  if (admin !== undefined) console.log(`Dashboard and admin API on ${adminUrl(admin, security.tls !== undefined)}`);
  if (security.guard !== undefined) console.log(`ACL on: requests must be signed (${config.acl.file})`);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal} received: shutting down`);
    await admin?.close();
    await system.close();
    security.close();
    console.log("Stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}
