/**
 * Runs a NameServer until SIGINT or SIGTERM.
 *
 * ```sh
 * bun run server/nameserver.ts --port 9876
 * deno run -A server/nameserver.ts --port 9876
 * ```
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import { HostFlag, integerFlag, parseFlagsOrExit, PortFlag } from "./_flags.ts";
import { defaultListen, defaultServe } from "./_runtime.ts";
import type { HttpServer } from "./admin/serve_types.ts";
import { adminUrl, startAdminServer } from "./admin/start_admin.ts";
import { DEFAULT_NAME_SERVER_PORT, type NameServer, startNameServer } from "./namesrv/name_server.ts";

const FLAGS = {
  usage: "bun run server/nameserver.ts [flags]  |  deno run -A server/nameserver.ts [flags]",
  summary: "Runs a rocketmq-ts NameServer: brokers register their topics with it, clients ask it where topics live.",
  flags: {
    port: { description: "Port to listen on; 0 picks a free one", default: String(DEFAULT_NAME_SERVER_PORT), valueName: "port" },
    host: { description: "Address to bind", default: "0.0.0.0", valueName: "address" },
    "broker-expiry-ms": {
      description: "Drop a broker not heard from for this long",
      default: "120000",
      valueName: "ms",
    },
    "scan-interval-ms": {
      description: "How often to look for silent brokers",
      default: "10000",
      valueName: "ms",
    },
    "admin-port": { description: "Serve the admin API, metrics and dashboard on this port (default: off)", valueName: "port" },
    "admin-host": { description: "Address the admin API binds (keep it private)", default: "127.0.0.1", valueName: "host" },
    "admin-token": { description: "Bearer token required for admin changes (default: $RMQ_ADMIN_TOKEN; none)", valueName: "token" },
  },
  schema: v.object({
    port: PortFlag,
    host: HostFlag,
    brokerExpiryMs: integerFlag(1),
    scanIntervalMs: integerFlag(1),
    adminPort: v.optional(PortFlag),
    adminHost: HostFlag,
    adminToken: v.optional(v.pipe(v.string(), v.minLength(8, "must have at least 8 characters"))),
  }),
};

async function main(): Promise<void> {
  const flags = parseFlagsOrExit(FLAGS);
  const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
  let nameServer: NameServer;
  try {
    nameServer = await startNameServer({
      listen: await defaultListen(),
      hostname: flags.host,
      port: flags.port,
      brokerExpiryMs: flags.brokerExpiryMs,
      scanIntervalMs: flags.scanIntervalMs,
      log,
    });
  } catch (error) {
    console.error(`Cannot start the NameServer on ${flags.host}:${flags.port}: ${(error as Error).message}`);
    process.exit(1);
  }
  console.log(`NameServer listening on ${nameServer.hostname}:${nameServer.port}`);
  let admin: HttpServer | undefined;
  if (flags.adminPort !== undefined) {
    try {
      admin = await startAdminServer({
        serve: await defaultServe(),
        hostname: flags.adminHost,
        port: flags.adminPort,
        nameServer,
        token: flags.adminToken ?? (process.env.RMQ_ADMIN_TOKEN || undefined),
      });
    } catch (error) {
      console.error(`Cannot serve the admin API on ${flags.adminHost}:${flags.adminPort}: ${(error as Error).message}`);
      await nameServer.close();
      process.exit(1);
    }
    console.log(`Admin API, metrics and dashboard on ${adminUrl(admin)}`);
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal} received, stopping`);
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

await main();
