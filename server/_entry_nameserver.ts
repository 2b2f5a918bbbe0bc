/**
 * The NameServer entrypoint shared by `server/nameserver.ts` and `rmq nameserver`: flags, the
 * `--config` file and `RMQ_*` environment layered into one configuration, then a NameServer (and
 * the admin API when a port is configured) until SIGINT or SIGTERM.
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import type { Listen } from "../core/remoting/transport.ts";
import { HostFlag, integerFlag, parseFlagsOrExit, PortFlag } from "./_flags.ts";
import { loadLayeredConfig } from "./_config_layers.ts";
import { defaultListen, defaultServe } from "./_runtime.ts";
import type { HttpServer, Serve } from "./admin/serve_types.ts";
import { adminUrl, startAdminServer } from "./admin/start_admin.ts";
import { ConfigError } from "./config.ts";
import { loadServerSecurity, type ServerSecurity } from "./_security.ts";
import { SERVER_FLAG_ENTRIES, SERVER_FLAGS } from "./_entry_flags.ts";
import { type NameServer, startNameServer } from "./namesrv/name_server.ts";

/** Options of `runNameServer`. */
export interface RunNameServerOptions {
  /** The usage line of the caller, e.g. `rmq nameserver [flags]`. */
  usage: string;
  /** The runtime's listen adapter. @default the current runtime's */
  listen?: Listen;
  /** The runtime's HTTP adapter. @default the current runtime's */
  serve?: Serve;
}

/** The NameServer's flags; every one overrides its key of the config file and environment. */
export function nameServerSpec(usage: string) {
  return {
    usage,
    summary: "Runs a rocketmq-ts NameServer: brokers register their topics with it, clients ask it where topics live. " +
      "Settings come from --config, then RMQ_NAMESERVER_*/RMQ_ADMIN_* variables, then flags.",
    flags: {
      config: { description: "YAML configuration file (see config/config.yaml)", valueName: "file", short: "c" },
      port: { description: "Port to listen on; 0 picks a free one", default: "9876", valueName: "port" },
      host: { description: "Address to bind", default: "0.0.0.0", valueName: "address" },
      "broker-expiry-ms": { description: "Drop a broker not heard from for this long", default: "120000", valueName: "ms" },
      "scan-interval-ms": { description: "How often to look for silent brokers", default: "10000", valueName: "ms" },
      ...SERVER_FLAGS,
    },
    schema: v.object({
      config: v.optional(v.pipe(v.string(), v.minLength(1, "must not be empty"))),
      port: v.optional(PortFlag),
      host: v.optional(HostFlag),
      brokerExpiryMs: v.optional(integerFlag(1)),
      scanIntervalMs: v.optional(integerFlag(1)),
      ...SERVER_FLAG_ENTRIES,
    }),
  };
}

/**
 * Parses the flags, loads the configuration and runs a NameServer until SIGINT or SIGTERM. Exits 2
 * on a bad flag and 1 when the configuration is bad or a port cannot be bound.
 *
 * @param args The arguments after the command.
 * @param options Usage line and runtime adapters.
 * @returns Once the NameServer (and admin API) listen.
 */
export async function runNameServer(args: readonly string[], options: RunNameServerOptions): Promise<void> {
  const flags = parseFlagsOrExit(nameServerSpec(options.usage), args, { defaults: false });
  let layered;
  try {
    layered = loadLayeredConfig(flags.config, {
      nameserver: { host: flags.host, port: flags.port, brokerExpiryMs: flags.brokerExpiryMs, scanIntervalMs: flags.scanIntervalMs },
      admin: { host: flags.adminHost, port: flags.adminPort, token: flags.adminToken },
      acl: { file: flags.acl },
      tls: { cert: flags.tlsCert, key: flags.tlsKey },
    });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`Cannot start the NameServer: ${error.message}`);
    process.exit(1);
  }
  const { config } = layered;
  const ns = config.nameserver;
  const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
  let security: ServerSecurity;
  try {
    security = loadServerSecurity(config, { log });
  } catch (error) {
    console.error(`Cannot start the NameServer: ${(error as Error).message}`);
    process.exit(1);
  }
  let nameServer: NameServer;
  try {
    nameServer = await startNameServer({
      listen: options.listen ?? await defaultListen(),
      hostname: ns.host,
      port: ns.port,
      brokerExpiryMs: ns.brokerExpiryMs,
      scanIntervalMs: ns.scanIntervalMs,
      log,
      acl: security.guard,
      tls: security.tls,
    });
  } catch (error) {
    console.error(`Cannot start the NameServer on ${ns.host}:${ns.port}: ${(error as Error).message}`);
    process.exit(1);
  }
  console.log(`NameServer listening on ${nameServer.hostname}:${nameServer.port}`);
  let admin: HttpServer | undefined;
  if (flags.adminPort !== undefined || layered.isSet("admin", "port")) {
    const { host, port, token, allowedOrigins } = config.admin;
    try {
      admin = await startAdminServer({
        serve: options.serve ?? await defaultServe(),
        hostname: host,
        port,
        nameServer,
        token: token || undefined,
        allowedOrigins,
        acl: security.rules,
        tls: security.tls,
      });
    } catch (error) {
      console.error(`Cannot serve the admin API on ${host}:${port}: ${(error as Error).message}`);
      await nameServer.close();
      process.exit(1);
    }
    console.log(`Admin API, metrics and dashboard on ${adminUrl(admin, security.tls !== undefined)}`);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal} received, stopping`);
    security.close();
    Promise.resolve(admin?.close()).then(() => nameServer.close()).then(
      () => process.exit(0),
      (error) => {
        console.error(`NameServer did not close cleanly: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));
}
