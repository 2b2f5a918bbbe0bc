/**
 * etcd clusters for the controller tests: 1 or 3 members of Debian's `etcd-server` on free loopback
 * ports, data in a temporary directory, stopped by PID.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Child, freePort, start, stop } from "../_helpers/process.ts";

/** The etcd binary (Debian's etcd-server package). */
export const ETCD = "/usr/bin/etcd";

/** Why etcd tests cannot run here, or undefined. */
export function missingEtcd(): string | undefined {
  return existsSync(ETCD) ? undefined : `needs etcd (${ETCD}, Debian's etcd-server package)`;
}

interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dir: string;
  child?: Child;
}

/** A running etcd cluster. */
export interface EtcdCluster {
  /** Client URLs, one per member. */
  readonly endpoints: string[];
  /** SIGKILLs member `i`. */
  kill(i: number): Promise<void>;
  /** Starts member `i` again on its data. */
  restart(i: number): Promise<void>;
  /** Stops every member and deletes the data. */
  close(): Promise<void>;
}

/**
 * Starts an etcd cluster and waits until every member serves.
 *
 * @param size 1 or 3 members.
 * @param netns Run the members inside this network namespace (on its loopback). @default this one
 * @returns The cluster.
 */
export async function startEtcd(size: 1 | 3, netns?: string): Promise<EtcdCluster> {
  const root = mkdtempSync(join(tmpdir(), "rmq-etcd-"));
  const members: Member[] = [];
  for (let i = 0; i < size; i++) {
    members.push({
      name: `m${i}`,
      clientUrl: `http://127.0.0.1:${await freePort()}`,
      peerUrl: `http://127.0.0.1:${await freePort()}`,
      dir: join(root, `m${i}`),
    });
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(",");
  const launch = async (m: Member, state: "new" | "existing") => {
    const args = [
      "--name", m.name,
      "--data-dir", m.dir,
      "--listen-client-urls", m.clientUrl,
      "--advertise-client-urls", m.clientUrl,
      "--listen-peer-urls", m.peerUrl,
      "--initial-advertise-peer-urls", m.peerUrl,
      "--initial-cluster", initialCluster,
      "--initial-cluster-state", state,
      "--initial-cluster-token", "rmq-test",
      "--heartbeat-interval", "100",
      "--election-timeout", "1000",
    ];
    m.child = netns === undefined ? start(ETCD, args) : start("ip", ["netns", "exec", netns, ETCD, ...args]);
    await m.child.waitFor("ready to serve client requests", 20_000);
  };
  try {
    await Promise.all(members.map((m) => launch(m, "new")));
  } catch (error) {
    for (const m of members) if (m.child !== undefined) await stop(m.child);
    rmSync(root, { recursive: true, force: true });
    throw error;
  }
  return {
    endpoints: members.map((m) => m.clientUrl),
    async kill(i) {
      const child = members[i]!.child;
      if (child === undefined) return;
      child.kill("SIGKILL");
      await child.exited;
      members[i]!.child = undefined;
    },
    async restart(i) {
      await launch(members[i]!, "existing");
    },
    async close() {
      for (const m of members) if (m.child !== undefined) await stop(m.child);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
