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
import { defaultListen } from "./_runtime.ts";
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
  },
  schema: v.object({
    port: PortFlag,
    host: HostFlag,
    brokerExpiryMs: integerFlag(1),
    scanIntervalMs: integerFlag(1),
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

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal} received, stopping`);
    nameServer.close().then(
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
