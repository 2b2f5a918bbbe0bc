/**
 * The broker entrypoint shared by `server/broker.ts` and `rmq broker`: flags, the `--config` file
 * and `RMQ_*` environment layered into one configuration, then a broker (and the admin API when a
 * port is configured) until SIGINT or SIGTERM.
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import type { Dialer, Listen } from "../core/remoting/transport.ts";
import { HostFlag, integerFlag, parseFlagsOrExit, PortFlag } from "./_flags.ts";
import { loadLayeredConfig } from "./_config_layers.ts";
import { defaultDial, defaultListen, defaultServe } from "./_runtime.ts";
import type { HttpServer, Serve } from "./admin/serve_types.ts";
import { adminUrl, startAdminServer } from "./admin/start_admin.ts";
import { type Broker, startBroker } from "./broker/broker.ts";
import { ConfigError } from "./config.ts";
import { loadServerSecurity, type ServerSecurity } from "./_security.ts";
import { SERVER_FLAG_ENTRIES, SERVER_FLAGS } from "./_entry_flags.ts";

/** Where a broker keeps its data when neither flag, file nor environment says. */
const BROKER_DATA_DIR = "./data/broker";

/** `host:port` addresses separated by commas or semicolons. */
export const AddressList = v.pipe(
  v.string(),
  v.transform((text) => text.split(/[,;]/).map((s) => s.trim()).filter((s) => s !== "")),
  v.array(v.pipe(v.string(), v.regex(/^[^\s:]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/, "expected host:port"))),
);

/** Options of `runBroker`. */
export interface RunBrokerOptions {
  /** The usage line of the caller, e.g. `rmq broker [flags]`. */
  usage: string;
  /** The runtime's listen adapter. @default the current runtime's */
  listen?: Listen;
  /** The runtime's dialer. @default the current runtime's */
  dial?: Dialer;
  /** The runtime's HTTP adapter. @default the current runtime's */
  serve?: Serve;
}

/** The broker's flags; every one overrides its key of the config file and environment. */
export function brokerSpec(usage: string) {
  return {
    usage,
    summary: "Runs a broker: stores messages and serves producers and consumers. Registers with every NameServer given. " +
      "Settings come from --config, then RMQ_BROKER_*/RMQ_ADMIN_* variables, then flags.",
    flags: {
      config: { description: "YAML configuration file (see config/config.yaml)", valueName: "file", short: "c" },
      port: { description: "Port for clients", default: "10911", valueName: "port", short: "p" },
      host: { description: "Address to listen on", default: "0.0.0.0", valueName: "host" },
      "advertised-address": { description: "host:port clients are told to use (default: listen host, 127.0.0.1 for 0.0.0.0)", valueName: "host:port" },
      namesrv: { description: "NameServers to register with, comma separated", default: "", valueName: "host:port,…", short: "n" },
      "data-dir": { description: "Where messages, topics and offsets are kept", default: BROKER_DATA_DIR, valueName: "dir" },
      flush: { description: "async (periodic fsync) or sync (a send is answered after its fsync)", default: "async", valueName: "mode" },
      "flush-interval-ms": { description: "Async flush period", default: "500", valueName: "ms" },
      cluster: { description: "Cluster name", default: "DefaultCluster", valueName: "name" },
      "broker-name": { description: "Broker group name", default: "broker-a", valueName: "name" },
      "broker-id": { description: "0 for a master, > 0 for a slave", default: "0", valueName: "id" },
      "broker-role": { description: "ASYNC_MASTER, SYNC_MASTER (a send waits for a slave's copy) or SLAVE", default: "ASYNC_MASTER", valueName: "role" },
      "ha-port": { description: "Masters: replication port for slaves (default: --port + 1)", valueName: "port" },
      "ha-master-address": { description: "Slaves: the master's replication host:port (default: learned from the NameServers)", valueName: "host:port" },
      "sync-slave-timeout-ms": { description: "SYNC_MASTER: how long a send waits for a slave's copy", default: "3000", valueName: "ms" },
      "segment-size": { description: "CommitLog segment size in bytes", default: String(1024 ** 3), valueName: "bytes" },
      "file-reserved-time-hours": { description: "Serve messages this long (a topic may set its own retention)", default: "72", valueName: "h" },
      "delete-when": { description: 'Hours (local time) segments past retention are deleted: "04", "01;02;03" or "*"', default: "04", valueName: "hours" },
      "disk-high-water-percent": { description: "Above this much of the data disk in use, the oldest segments are deleted even if young", default: "75", valueName: "%" },
      "disk-hard-limit-percent": { description: "From this much of the data disk in use, sends are refused (retryable)", default: "90", valueName: "%" },
      "max-message-size": { description: "Largest message body in bytes", default: String(4 * 1024 * 1024), valueName: "bytes" },
      "max-frame-size": { description: "Largest request frame in bytes", default: String(8 * 1024 * 1024), valueName: "bytes" },
      "max-in-flight-per-connection": { description: "Requests processed at once per connection; more get SYSTEM_BUSY", default: "10000", valueName: "n" },
      "max-connections-per-ip": { description: "Open connections from one IP; more are closed", default: "1000", valueName: "n" },
      "max-pull-batch-size": { description: "Most messages one pull returns (1-1024)", default: "1024", valueName: "n" },
      "max-held-pulls": { description: "Long-polling pulls parked at once (0: no long polling)", default: "10000", valueName: "n" },
      "auto-create-topic": { description: "Create unknown topics on first send", type: "boolean" as const },
      ...SERVER_FLAGS,
    },
    schema: v.object({
      config: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
      port: v.optional(PortFlag),
      host: v.optional(HostFlag),
      advertisedAddress: v.optional(v.pipe(v.string(), v.regex(/^.+:\d{1,5}$/, "expected host:port"))),
      namesrv: v.optional(AddressList),
      dataDir: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
      flush: v.optional(v.picklist(["async", "sync"], "expected async or sync")),
      flushIntervalMs: v.optional(integerFlag(1, 60_000)),
      cluster: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
      brokerName: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
      brokerId: v.optional(integerFlag(0, 1024)),
      brokerRole: v.optional(v.picklist(["ASYNC_MASTER", "SYNC_MASTER", "SLAVE"], "expected ASYNC_MASTER, SYNC_MASTER or SLAVE")),
      haPort: v.optional(PortFlag),
      haMasterAddress: v.optional(v.pipe(v.string(), v.regex(/^.+:\d{1,5}$/, "expected host:port"))),
      syncSlaveTimeoutMs: v.optional(integerFlag(1, 600_000)),
      segmentSize: v.optional(integerFlag(64 * 1024, 2 ** 40)),
      fileReservedTimeHours: v.optional(integerFlag(1)),
      deleteWhen: v.optional(v.string()),
      diskHighWaterPercent: v.optional(integerFlag(1, 100)),
      diskHardLimitPercent: v.optional(integerFlag(1, 100)),
      maxMessageSize: v.optional(integerFlag(1, 64 * 1024 * 1024)),
      maxFrameSize: v.optional(integerFlag(64 * 1024, 256 * 1024 * 1024)),
      maxInFlightPerConnection: v.optional(integerFlag(1, 1_000_000)),
      maxConnectionsPerIp: v.optional(integerFlag(1, 1_000_000)),
      maxPullBatchSize: v.optional(integerFlag(1, 1024)),
      maxHeldPulls: v.optional(integerFlag(0, 10_000_000)),
      autoCreateTopic: v.optional(v.boolean()),
      ...SERVER_FLAG_ENTRIES,
    }),
  };
}

/**
 * Parses the flags, loads the configuration and runs a broker until SIGINT or SIGTERM. Exits 2 on
 * a bad flag and 1 when the configuration is bad or the broker cannot start.
 *
 * @param args The arguments after the command.
 * @param options Usage line and runtime adapters.
 * @returns Once the broker (and admin API) listen.
 */
export async function runBroker(args: readonly string[], options: RunBrokerOptions): Promise<void> {
  const flags = parseFlagsOrExit(brokerSpec(options.usage), args, { defaults: false });
  let layered;
  try {
    layered = loadLayeredConfig(flags.config, {
      broker: {
        host: flags.host,
        port: flags.port,
        advertisedAddress: flags.advertisedAddress,
        nameServers: flags.namesrv,
        dataDir: flags.dataDir,
        clusterName: flags.cluster,
        brokerName: flags.brokerName,
        brokerId: flags.brokerId,
        brokerRole: flags.brokerRole,
        haPort: flags.haPort,
        haMasterAddress: flags.haMasterAddress,
        syncSlaveTimeoutMs: flags.syncSlaveTimeoutMs,
        flushMode: flags.flush,
        flushIntervalMs: flags.flushIntervalMs,
        commitLogSegmentSize: flags.segmentSize,
        fileReservedTimeHours: flags.fileReservedTimeHours,
        deleteWhen: flags.deleteWhen,
        diskHighWaterPercent: flags.diskHighWaterPercent,
        diskHardLimitPercent: flags.diskHardLimitPercent,
        maxMessageSize: flags.maxMessageSize,
        maxFrameSize: flags.maxFrameSize,
        maxInFlightPerConnection: flags.maxInFlightPerConnection,
        maxConnectionsPerIp: flags.maxConnectionsPerIp,
        maxPullBatchSize: flags.maxPullBatchSize,
        maxHeldPulls: flags.maxHeldPulls,
        autoCreateTopicEnable: flags.autoCreateTopic,
      },
      admin: { host: flags.adminHost, port: flags.adminPort, token: flags.adminToken },
      acl: { file: flags.acl },
      tls: { cert: flags.tlsCert, key: flags.tlsKey },
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`Cannot start the broker: ${error.message}`);
    process.exit(1);
  }
  const { config } = layered;
  const b = config.broker;
  let security: ServerSecurity;
  try {
    security = loadServerSecurity(config);
  } catch (error) {
    console.error(`Cannot start the broker: ${(error as Error).message}`);
    process.exit(1);
  }
  const dataDir = flags.dataDir ?? (layered.isSet("broker", "dataDir") ? b.dataDir : BROKER_DATA_DIR);
  let broker: Broker;
  try {
    broker = await startBroker({
      listen: options.listen ?? await defaultListen(),
      dial: options.dial ?? await defaultDial(security.nameServerDial),
      acl: security.guard,
      nameServerCredentials: security.nameServerCredentials,
      tls: security.tls,
      hostname: b.host,
      port: b.port,
      advertisedAddress: b.advertisedAddress,
      nameServers: b.nameServers,
      dataDir,
      flushMode: b.flushMode,
      flushIntervalMs: b.flushIntervalMs,
      clusterName: b.clusterName,
      brokerName: b.brokerName,
      brokerId: b.brokerId,
      brokerRole: b.brokerRole,
      ...(b.haPort === undefined ? {} : { haPort: b.haPort }),
      ...(b.haMasterAddress === undefined ? {} : { haMasterAddress: b.haMasterAddress }),
      syncSlaveTimeoutMs: b.syncSlaveTimeoutMs,
      haDial: await defaultDial(security.replicationDial),
      commitLogSegmentSize: b.commitLogSegmentSize,
      fileReservedTimeHours: b.fileReservedTimeHours,
      deleteWhen: b.deleteWhen,
      diskHighWaterPercent: b.diskHighWaterPercent,
      diskHardLimitPercent: b.diskHardLimitPercent,
      maxMessageSize: b.maxMessageSize,
      maxFrameSize: b.maxFrameSize,
      maxInFlightPerConnection: b.maxInFlightPerConnection,
      maxConnectionsPerIp: b.maxConnectionsPerIp,
      maxPullBatchSize: b.maxPullBatchSize,
      maxHeldPulls: b.maxHeldPulls,
      autoCreateTopicEnable: b.autoCreateTopicEnable ?? false,
      defaultTopicQueueNums: b.defaultTopicQueueNums,
      messageDelayLevel: b.messageDelayLevel,
    });
  } catch (error) {
    console.error(`Cannot start the broker: ${(error as Error).message}`);
    process.exit(1);
  }
  let admin: HttpServer | undefined;
  if (flags.adminPort !== undefined || layered.isSet("admin", "port")) {
    const { host, port, token, allowedOrigins } = config.admin;
    try {
      admin = await startAdminServer({
        serve: options.serve ?? await defaultServe(),
        hostname: host,
        port,
        broker,
        dataDir,
        token: token || undefined,
        allowedOrigins,
        acl: security.rules,
        tls: security.tls,
      });
    } catch (error) {
      await broker.close();
      console.error(`Cannot serve the admin API on ${host}:${port}: ${(error as Error).message}`);
      process.exit(1);
    }
    console.log(`Admin API, metrics and dashboard on ${adminUrl(admin, security.tls !== undefined)}`);
  }
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal} received: shutting down the broker`);
    await admin?.close();
    await broker.close();
    security.close();
    console.log("Broker stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}
