/**
 * `rmq standalone`: a NameServer and a Broker in one process, data under `./data`.
 *
 * @module
 */
import process from "node:process";
import * as v from "valibot";
import type { Dialer, Listen } from "../../core/remoting/transport.ts";
import { HostFlag, integerFlag, parseFlagsOrExit, PortFlag } from "../../server/_flags.ts";
import { defaultServe } from "../../server/_runtime.ts";
import type { HttpServer, Serve } from "../../server/admin/serve_types.ts";
import { adminUrl, startAdminServer } from "../../server/admin/start_admin.ts";
import { startStandalone } from "../../server/standalone.ts";

const spec = {
  usage: "rmq standalone [flags]",
  summary: "Runs a NameServer and a Broker in one process; topics are created on first send.",
  flags: {
    host: { description: "Address to listen on", default: "0.0.0.0", valueName: "host" },
    "namesrv-port": { description: "NameServer port", default: "9876", valueName: "port" },
    port: { description: "Broker port for clients", default: "10911", valueName: "port", short: "p" },
    "data-dir": { description: "Where the broker keeps its data", default: "./data", valueName: "dir" },
    flush: { description: "async (periodic fsync) or sync (a send is answered after its fsync)", default: "async", valueName: "mode" },
    "segment-size": { description: "CommitLog segment size in bytes", default: String(1024 ** 3), valueName: "bytes" },
    "admin-port": { description: "Port of the admin API, metrics and dashboard; 0 picks a free one", default: "8080", valueName: "port" },
    "admin-host": { description: "Address the admin API binds (keep it private)", default: "127.0.0.1", valueName: "host" },
    "admin-token": { description: "Bearer token required for admin changes (default: $RMQ_ADMIN_TOKEN; none)", valueName: "token" },
    "no-admin": { description: "Do not serve the admin API and dashboard", type: "boolean" as const },
  },
  schema: v.object({
    host: HostFlag,
    namesrvPort: PortFlag,
    port: PortFlag,
    dataDir: v.pipe(v.string(), v.minLength(1, "must not be empty")),
    flush: v.picklist(["async", "sync"], "expected async or sync"),
    segmentSize: integerFlag(64 * 1024, 2 ** 40),
    adminPort: PortFlag,
    adminHost: HostFlag,
    adminToken: v.optional(v.pipe(v.string(), v.minLength(8, "must have at least 8 characters"))),
    noAdmin: v.optional(v.boolean(), false),
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
  const flags = parseFlagsOrExit(spec, args);
  const system = await startStandalone({
    listen: runtime.listen,
    dial: runtime.dial,
    hostname: flags.host,
    nameServerPort: flags.namesrvPort,
    port: flags.port,
    dataDir: flags.dataDir,
    flushMode: flags.flush,
    commitLogSegmentSize: flags.segmentSize,
  });
  let admin: HttpServer | undefined;
  if (!flags.noAdmin) {
    try {
      admin = await startAdminServer({
        serve: runtime.serve ?? await defaultServe(),
        hostname: flags.adminHost,
        port: flags.adminPort,
        broker: system.broker,
        nameServer: system.nameServer,
        dataDir: flags.dataDir,
        token: flags.adminToken ?? (process.env.RMQ_ADMIN_TOKEN || undefined),
      });
    } catch (error) {
      await system.close();
      throw new Error(`Cannot serve the admin API on ${flags.adminHost}:${flags.adminPort}: ${(error as Error).message}`, { cause: error });
    }
  }
  console.log(`Standalone ready: NameServer ${system.nameServerAddress}, broker ${system.brokerAddress}, data in ${flags.dataDir}`);
  if (admin !== undefined) console.log(`Dashboard and admin API on ${adminUrl(admin)}`);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`${signal} received: shutting down`);
    await admin?.close();
    await system.close();
    console.log("Stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}
