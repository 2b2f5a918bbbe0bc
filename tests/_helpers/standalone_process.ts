/**
 * A real `rmq standalone` process (NameServer, broker and admin API) on loopback, with its data in
 * a directory the caller owns, for tests that kill and restart the broker: a restart reuses the
 * ports, so clients keep their addresses.
 */
import { join } from "node:path";
import { BUN, ROOT, type Server, startServer, stop } from "./process.ts";
import { until } from "./wait.ts";

/** A running standalone process. */
export interface StandaloneProcess {
  child: Server;
  nameServer: string;
  broker: string;
  adminUrl: string;
  /** The ports, to restart on. */
  ports: StandalonePorts;
  /** Creates a topic (admin API) and waits until the NameServer routes it. */
  createTopic(topic: string, queues: number): Promise<void>;
  /** A JSON request to the admin API; throws on a status of 400 or more. */
  admin<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** SIGTERM, waiting for the exit. */
  stop(): Promise<void>;
}

/** The ports of a standalone. */
export interface StandalonePorts {
  nameServer: number;
  broker: number;
  admin: number;
}

/**
 * Starts `rmq standalone` with its data in `dataDir`.
 *
 * @param dataDir The data directory (kept: the caller removes it).
 * @param options Ports of a restart (else free ones), extra flags and environment.
 * @returns The running process.
 */
export async function startStandaloneProcess(
  dataDir: string,
  options: { ports?: StandalonePorts; flags?: string[]; env?: Record<string, string> } = {},
): Promise<StandaloneProcess> {
  const ports = options.ports;
  const child = await startServer(BUN, [
    "run", join(ROOT, "cli/bun.ts"), "standalone",
    "--host", "127.0.0.1",
    "--port", String(ports?.broker ?? 0),
    "--namesrv-port", String(ports?.nameServer ?? 0),
    "--admin-port", String(ports?.admin ?? 0),
    "--data-dir", dataDir,
    // A free gRPC port, not the standalone's default 8081 that anything else on the machine may hold.
    ...(options.flags?.some((flag) => flag.includes("grpc")) ? [] : ["--grpc-port", "0"]),
    ...(options.flags ?? []),
  ], { ready: /Dashboard and admin API on https?:\/\/127\.0\.0\.1:(\d+)/, env: options.env ?? {}, timeoutMs: 30_000 });
  const [, nameServer, broker] = /Standalone ready: NameServer (\S+), broker (\S+),/.exec(child.output())!;
  const adminUrl = `http://127.0.0.1:${child.port}`;
  const portOf = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));
  const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`${adminUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const json = await response.json() as T;
    if (response.status >= 400) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    return json;
  };
  return {
    child,
    nameServer: nameServer!,
    broker: broker!,
    adminUrl,
    ports: { nameServer: portOf(nameServer!), broker: portOf(broker!), admin: child.port },
    admin,
    async createTopic(topic, queues) {
      await admin("POST", "/api/topics", { topic, queueNums: queues });
      await until(async () => {
        const route = await admin<{ source?: string }>("GET", `/api/topics/${encodeURIComponent(topic)}/route`).catch(() => undefined);
        return route?.source === "nameserver";
      }, 10_000, `the route of "${topic}"`);
    },
    stop: () => stop(child),
  };
}
