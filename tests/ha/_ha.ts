/**
 * Shared pieces of the replication tests: master and slave broker processes on loopback, and
 * CommitLog comparisons straight from their data directories.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { type Server, startServer } from "../_helpers/process.ts";
import { runArgs, runtimeBinary, startTestBroker } from "../faults/_common.ts";
import { until } from "../_helpers/wait.ts";
import { testClusterSecretFile } from "../_helpers/cluster_secret.ts";
import { RequestCode } from "../../core/protocol/request_code.ts";
import type { Connection } from "../../core/remoting/connection.ts";

export { until };

/** Segment size of every test broker: small, so blank markers and segment changes happen. */
export const SEGMENT_SIZE = 1024 * 1024;

/** How a test master runs. */
export interface MasterOptions {
  dataDir: string;
  /** 0 (the default) lets the broker bind a free port; a restart passes the one it had. */
  port?: number;
  /** 0 (the default) lets the broker bind a free port; its log line names it (`haPortOf`). */
  haPort?: number;
  namesrv?: string[];
  role?: "ASYNC_MASTER" | "SYNC_MASTER";
  flush?: "sync" | "async";
  extraArgs?: string[];
  /** The cluster secret file; `false` runs without one. @default the shared test secret */
  clusterSecretFile?: string | false;
  /** Settings as `RMQ_BROKER_*` environment variables. */
  env?: Record<string, string>;
  /** The runtime the broker runs on. @default "bun" */
  runtime?: "bun" | "deno";
}

/**
 * Starts a master broker process (topics auto-created) and waits until it listens.
 *
 * @returns The running broker and its client port.
 */
export function startMaster(options: MasterOptions): Promise<Server> {
  return startTestBroker({
    dataDir: options.dataDir,
    port: options.port,
    flush: options.flush ?? "async",
    segmentSize: SEGMENT_SIZE,
    namesrv: options.namesrv,
    ...(options.clusterSecretFile === undefined ? {} : { clusterSecretFile: options.clusterSecretFile }),
    extraArgs: ["--ha-port", String(options.haPort ?? 0), "--broker-role", options.role ?? "ASYNC_MASTER", ...(options.extraArgs ?? [])],
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.runtime === undefined ? {} : { runtime: options.runtime }),
  });
}

/** How a test slave runs. */
export interface SlaveOptions {
  dataDir: string;
  /** 0 (the default) lets the broker bind a free port; a restart passes the one it had. */
  port?: number;
  /** The master's HA address; learned from the NameServers when absent. */
  haMaster?: string;
  namesrv?: string[];
  brokerId?: number;
  flush?: "sync" | "async";
  extraArgs?: string[];
  /** Wait for this line instead of the replication link coming up. */
  waitFor?: string | RegExp;
  /** The cluster secret file; `false` runs without one. @default the shared test secret */
  clusterSecretFile?: string | false;
  /** The runtime the broker runs on. @default "bun" */
  runtime?: "bun" | "deno";
}

/**
 * Starts a slave broker process and waits until it listens and its replication link is up (or
 * `waitFor`).
 *
 * @returns The running broker and its client port.
 */
export async function startSlave(options: SlaveOptions): Promise<Server> {
  const args = [
    ...runArgs(options.runtime), "server/broker.ts",
    "--host", "127.0.0.1",
    "--port", String(options.port ?? 0),
    "--data-dir", options.dataDir,
    "--flush", options.flush ?? "async",
    "--segment-size", String(SEGMENT_SIZE),
    "--broker-role", "SLAVE",
    "--broker-id", String(options.brokerId ?? 1),
  ];
  const secretFile = options.clusterSecretFile ?? testClusterSecretFile();
  if (secretFile !== false) args.push("--cluster-secret-file", secretFile);
  if (options.haMaster !== undefined) args.push("--ha-master-address", options.haMaster);
  if (options.namesrv?.length) args.push("--namesrv", options.namesrv.join(","));
  if (options.extraArgs) args.push(...options.extraArgs);
  const child = await startServer(runtimeBinary(options.runtime), args, options.runtime === "deno" ? { timeoutMs: 30_000 } : {});
  try {
    await child.waitFor(options.waitFor ?? "Replicating from master", 20_000);
  } catch (error) {
    child.kill("SIGKILL"); // the caller never gets it to stop
    throw error;
  }
  return child;
}

/**
 * The replication port a master printed ("accepts slaves on host:port").
 *
 * @param master The master's process.
 * @returns The port.
 */
export function haPortOf(master: Server): number {
  const match = /accepts slaves on [^\s]*:(\d+)/.exec(master.output());
  if (!match) throw new Error(`The master named no replication port:\n${master.output()}`);
  return Number(match[1]);
}

/** The CommitLog segment files of a broker's data dir, name → bytes. */
export function commitLogFiles(dataDir: string): Map<string, Uint8Array> {
  const dir = join(dataDir, "store", "commitlog");
  const out = new Map<string, Uint8Array>();
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    try {
      out.set(name, new Uint8Array(readFileSync(join(dir, name))));
    } catch (error) {
      // Removed since the listing (a replica cutting its log back): the next look sees the new set.
      if ((error as { code?: string }).code !== "ENOENT") throw error;
    }
  }
  return out;
}

/** Total bytes of a broker's CommitLog files. */
export function commitLogSize(dataDir: string): number {
  const dir = join(dataDir, "store", "commitlog");
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce((n, name) => n + statSync(join(dir, name)).size, 0);
}


/**
 * Waits until the slave's CommitLog is as long as the master's, then checks that every segment
 * file is byte for byte the same.
 *
 * @returns The number of bytes compared.
 */
/**
 * Waits until a slave has copied a topic's config from its master (it answers pulls of a topic it
 * does not know yet with TOPIC_NOT_EXIST).
 *
 * @param connection A connection to the slave.
 * @param topic The topic.
 */
export async function slaveKnowsTopic(connection: Connection, topic: string, timeoutMs = 15_000): Promise<void> {
  await until(async () => {
    const answer = await connection.request(RequestCode.GET_ALL_TOPIC_CONFIG, {});
    return topic in ((answer.header.topicConfigs ?? {}) as object);
  }, timeoutMs, `the slave to copy topic "${topic}" from its master`, 50);
}

export async function expectSameCommitLog(masterDir: string, slaveDir: string, timeoutMs = 15_000): Promise<number> {
  await until(() => commitLogSize(slaveDir) === commitLogSize(masterDir) && commitLogSize(masterDir) > 0, timeoutMs, "the slave to catch up");
  const master = commitLogFiles(masterDir);
  const slave = commitLogFiles(slaveDir);
  if ([...master.keys()].join() !== [...slave.keys()].join()) {
    throw new Error(`Segment files differ: master ${[...master.keys()].join()}, slave ${[...slave.keys()].join()}`);
  }
  let bytes = 0;
  for (const [name, data] of master) {
    const copy = slave.get(name)!;
    if (Buffer.compare(copy, data) !== 0) throw new Error(`Segment ${name} differs`);
    bytes += data.length;
  }
  return bytes;
}
