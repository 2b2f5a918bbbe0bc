/**
 * Shared pieces of the fault tests: brokers and NameServers as child processes on loopback,
 * whole-topic reads with CRC checks, and process memory sampling.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MessageExt } from "../../core/model/message.ts";
import type { Connection } from "../../core/remoting/connection.ts";
import { drainQueue } from "../_helpers/raw_client.ts";
import { BUN, DENO, type Server, startServer } from "../_helpers/process.ts";
import { testClusterSecretFile } from "../_helpers/cluster_secret.ts";

/** How a test broker runs. */
export interface TestBrokerOptions {
  dataDir: string;
  /** The client port; 0 (the default) lets the broker bind a free one. A restart passes the port it had. */
  port?: number;
  flush?: "sync" | "async";
  flushIntervalMs?: number;
  namesrv?: string[];
  segmentSize?: number;
  brokerName?: string;
  /** More flags, e.g. a limit raised for a load test. */
  extraArgs?: string[];
  /** The cluster secret file; `false` runs without one. @default the shared test secret */
  clusterSecretFile?: string | false;
  /** Settings as `RMQ_BROKER_*` environment variables. */
  env?: Record<string, string>;
  /** The runtime the broker runs on. @default "bun" */
  runtime?: "bun" | "deno";
}

/**
 * Starts `server/broker.ts` with auto-created topics and waits until it listens.
 *
 * @param options Data dir, port, flush mode, NameServers.
 * @returns The running broker and its port.
 */
export function startTestBroker(options: TestBrokerOptions): Promise<Server> {
  const args = [
    ...runArgs(options.runtime), "server/broker.ts",
    "--host", "127.0.0.1",
    "--port", String(options.port ?? 0),
    "--data-dir", options.dataDir,
    "--flush", options.flush ?? "sync",
    "--flush-interval-ms", String(options.flushIntervalMs ?? 500),
    "--segment-size", String(options.segmentSize ?? 1024 * 1024),
    "--broker-name", options.brokerName ?? "broker-a",
    "--auto-create-topic",
  ];
  const secretFile = options.clusterSecretFile ?? testClusterSecretFile();
  if (secretFile !== false) args.push("--cluster-secret-file", secretFile);
  if (options.namesrv?.length) args.push("--namesrv", options.namesrv.join(","));
  if (options.extraArgs) args.push(...options.extraArgs);
  return startServer(runtimeBinary(options.runtime), args, {
    ...(options.env === undefined ? {} : { env: options.env }),
    ...(options.runtime === "deno" ? { timeoutMs: 30_000 } : {}),
  });
}

/** The executable of a runtime. */
export function runtimeBinary(runtime: "bun" | "deno" = "bun"): string {
  return runtime === "deno" ? DENO : BUN;
}

/** The arguments that run a script on a runtime, before the script's path. */
export function runArgs(runtime: "bun" | "deno" = "bun"): string[] {
  return runtime === "deno" ? ["run", "-A"] : ["run"];
}

/**
 * Starts `server/nameserver.ts` and waits until it listens.
 *
 * @param port The port; 0 (the default) lets it bind a free one. A restart passes the port it had.
 * @param clusterSecretFile The cluster secret file; `false` runs without one. @default the shared test secret
 * @returns The running NameServer and its port.
 */
export function startTestNameServer(port = 0, clusterSecretFile: string | false = testClusterSecretFile()): Promise<Server> {
  const args = ["run", "server/nameserver.ts", "--host", "127.0.0.1", "--port", String(port)];
  if (clusterSecretFile !== false) args.push("--cluster-secret-file", clusterSecretFile);
  return startServer(BUN, args);
}

/**
 * Why this process cannot mount a small tmpfs (not root, or a sandbox that forbids it), for the
 * disk tests to skip with; undefined when it can. Probes with a real mount and unmount.
 *
 * @returns The reason, or undefined.
 */
export function cannotMountTmpfs(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root to mount a small tmpfs";
  const probe = mkdtempSync(join(tmpdir(), "rmq-mount-probe-"));
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", probe], { stdio: "ignore" });
    execFileSync("umount", [probe], { stdio: "ignore" });
    return undefined;
  } catch {
    return "needs permission to mount a tmpfs (root outside a restricted sandbox)";
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/**
 * Reads every queue of a topic from offset 0 (CRC-checking each body) and checks that queue
 * offsets run 0, 1, 2… without a gap.
 *
 * @returns The messages by queue.
 */
export async function drainTopic(connection: Connection, topic: string, queueIds: readonly number[]): Promise<MessageExt[][]> {
  const out: MessageExt[][] = [];
  for (const queueId of queueIds) {
    const messages = await drainQueue(connection, topic, queueId);
    messages.forEach((m, i) => {
      if (m.queueOffset !== i) throw new Error(`Queue ${topic}/${queueId} has offset ${m.queueOffset} at position ${i}`);
    });
    out.push(messages);
  }
  return out;
}

/**
 * The resident set size of a process, from `/proc/<pid>/status`.
 *
 * @param pid The process.
 * @returns VmRSS in KiB.
 */
export function rssKiB(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`No VmRSS for process ${pid}`);
  return Number(match[1]);
}

/** The first key of a message (`KEYS` property). */
export function keyOf(message: MessageExt): string {
  return message.keys[0] ?? "";
}
