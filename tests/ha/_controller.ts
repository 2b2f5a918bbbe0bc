/**
 * Shared pieces of the controller-mode tests: a NameServer running a controller on an etcd
 * cluster, controlled broker processes (replicas of one group on fixed ports), and reading which
 * messages a broker's CommitLog files hold.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BLANK_MAGIC, decodeRecord } from "../../core/model/record.ts";
import { testClusterSecretFile } from "../_helpers/cluster_secret.ts";
import { BUN, type Server, startServer } from "../_helpers/process.ts";
import { SEGMENT_SIZE } from "./_ha.ts";

/**
 * Starts a NameServer with a controller on `etcd`.
 *
 * @param etcd The etcd client URLs.
 * @param port Its port (0: a free one).
 * @param where A network namespace to run in, the host to listen on, more flags and environment. @default here, 127.0.0.1
 * @returns The running NameServer.
 */
export function startControllerNameServer(
  etcd: readonly string[],
  port = 0,
  where: { netns?: string; host?: string; extraArgs?: string[]; env?: Record<string, string> } = {},
): Promise<Server> {
  const args = [
    "run", join(import.meta.dir, "..", "..", "server", "nameserver.ts"), "--host", where.host ?? "127.0.0.1", "--port", String(port),
    "--cluster-secret-file", testClusterSecretFile(),
    "--controller-etcd-endpoints", etcd.join(","),
    ...(where.extraArgs ?? []),
  ];
  const options = where.env === undefined ? {} : { env: where.env };
  return where.netns === undefined ? startServer(BUN, args, options) : startServer("ip", ["netns", "exec", where.netns, BUN, ...args], options);
}

/**
 * Which replica became master of an epoch, by the replicas' logs.
 *
 * @param replicas The replica processes by id.
 * @param epoch The epoch.
 * @returns Its id, or undefined while none has said so.
 */
export function masterOf(replicas: ReadonlyMap<number, Server>, epoch: number): number | undefined {
  for (const [id, server] of replicas) if (server.output().includes(`Replica ${id} is the master of epoch ${epoch}`)) return id;
  return undefined;
}

/** How a controlled replica runs. */
export interface ReplicaOptions {
  dataDir: string;
  port: number;
  /** Its replication port when it is master. */
  haPort: number;
  replicaId: number;
  namesrv: string[];
  role?: "SYNC_MASTER" | "ASYNC_MASTER";
  /** Run it inside a network namespace (`ip netns exec <ns>`). */
  netns?: string;
  host?: string;
  extraArgs?: string[];
}

/**
 * Starts one replica of group "broker-a" in controller mode (sync flush, topics auto-created)
 * and waits until it listens.
 *
 * @returns The running broker.
 */
export function startReplica(options: ReplicaOptions): Promise<Server> {
  const args = [
    "run", join(import.meta.dir, "..", "..", "server", "broker.ts"),
    "--host", options.host ?? "127.0.0.1",
    "--port", String(options.port),
    "--ha-port", String(options.haPort),
    "--data-dir", options.dataDir,
    "--flush", "sync",
    "--segment-size", String(SEGMENT_SIZE),
    "--broker-name", "broker-a",
    "--auto-create-topic",
    "--enable-controller-mode",
    "--broker-id", String(options.replicaId),
    "--broker-role", options.role ?? "SYNC_MASTER",
    "--cluster-secret-file", testClusterSecretFile(),
    "--namesrv", options.namesrv.join(","),
    "--controller-heartbeat-ms", "250",
    ...(options.extraArgs ?? []),
  ];
  if (options.netns !== undefined) return startServer("ip", ["netns", "exec", options.netns, BUN, ...args]);
  return startServer(BUN, args);
}

/** A message found in a CommitLog: its key, offset and topic. */
export interface StoredMessage {
  key: string;
  offset: number;
  topic: string;
}

/**
 * Reads every record of a broker's CommitLog files (stopped or running) straight from disk.
 *
 * @param dataDir The broker's data directory.
 * @returns The records' first keys, CommitLog offsets and topics, in log order.
 */
export function storedMessages(dataDir: string): StoredMessage[] {
  const dir = join(dataDir, "store", "commitlog");
  const out: StoredMessage[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    const bytes = new Uint8Array(readFileSync(join(dir, name)));
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let pos = 0;
    while (pos + 8 <= bytes.length) {
      const size = view.getInt32(pos);
      if (size <= 0 || view.getInt32(pos + 4) === BLANK_MAGIC || pos + size > bytes.length) break;
      const message = decodeRecord(bytes, pos, { copyBody: false });
      out.push({ key: message.keys[0] ?? "", offset: message.commitLogOffset, topic: message.topic });
      pos += size;
    }
  }
  return out;
}

/**
 * The epochs a broker recorded (`store/epochs.json`).
 *
 * @param dataDir The broker's data directory.
 * @returns The entries, oldest first.
 */
export function epochsOf(dataDir: string): Array<{ epoch: number; startOffset: number }> {
  const path = join(dataDir, "store", "epochs.json");
  if (!existsSync(path)) return [];
  return (JSON.parse(readFileSync(path, "utf8")) as { epochs: Array<{ epoch: number; startOffset: number }> }).epochs;
}

/**
 * The epoch that wrote the record at `offset`, by a list of epoch boundaries.
 *
 * @returns The epoch, 0 before the first.
 */
export function epochAt(epochs: ReadonlyArray<{ epoch: number; startOffset: number }>, offset: number): number {
  let epoch = 0;
  for (const entry of epochs) if (entry.startOffset <= offset) epoch = entry.epoch;
  return epoch;
}

/**
 * The acknowledged and refused sends a `tests/_fixtures/failover_sender.ts` process printed.
 *
 * @returns Acknowledged keys with their message ids and times, and the times of every other outcome.
 */
export function sendOutcomes(output: string): { acked: Array<{ key: string; msgId: string; at: number }>; failedAt: number[] } {
  const acked = [...output.matchAll(/^ACK (\S+) (\S+) (\d+)$/gm)].map((m) => ({ key: m[1]!, msgId: m[2]!, at: Number(m[3]) }));
  const failedAt = [...output.matchAll(/^ERR \S+ \S+ (\d+)$/gm)].map((m) => Number(m[1]));
  return { acked, failedAt };
}
