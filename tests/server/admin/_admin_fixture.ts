/**
 * A standalone system over the in-memory network with its admin app, for admin tests.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hono } from "hono";
import { connect, type Connection } from "../../../core/remoting/connection.ts";
import { createAdminApp } from "../../../server/admin/app.ts";
import type { AdminAppOptions } from "../../../server/admin/_state.ts";
import { type Standalone, startStandalone } from "../../../server/standalone.ts";
import { MemoryNetwork } from "../../_helpers/memory_network.ts";

export interface AdminFixture {
  system: Standalone;
  app: Hono;
  net: MemoryNetwork;
  dir: string;
  /** Calls the app; a body is sent as JSON. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any; headers: Headers }>;
  /** A client connection to the broker. */
  client(): Promise<Connection>;
  close(): Promise<void>;
}

export async function startAdminFixture(
  extra: Partial<Omit<AdminAppOptions, "broker" | "nameServer">> & { autoCreateTopicEnable?: boolean; messageIndexEnable?: boolean; dedupWindowMs?: number } = {},
): Promise<AdminFixture> {
  const net = new MemoryNetwork();
  const dir = mkdtempSync(join(tmpdir(), "rmq-admin-"));
  const { autoCreateTopicEnable, messageIndexEnable, dedupWindowMs, ...appOptions } = extra;
  const system = await startStandalone({
    listen: net.listen,
    dial: net.dial,
    dataDir: dir,
    port: 0,
    nameServerPort: 0,
    commitLogSegmentSize: 1024 * 1024,
    autoCreateTopicEnable,
    messageIndexEnable,
    dedupWindowMs,
    log: () => {},
  });
  const app = createAdminApp({ broker: system.broker, nameServer: system.nameServer, dataDir: dir, version: "9.9.9", ...appOptions });
  const clients: Connection[] = [];
  return {
    system,
    app,
    net,
    dir,
    async call(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = typeof body === "string" ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)["content-type"] = "application/json";
      }
      const response = await app.request(path, init);
      const text = await response.text();
      let json: unknown = text;
      try {
        json = JSON.parse(text);
      } catch {
        // not JSON (metrics, dashboard)
      }
      return { status: response.status, json, headers: response.headers };
    },
    async client() {
      const connection = await connect(net.dial, `memory:${system.broker.port}`);
      clients.push(connection);
      return connection;
    },
    async close() {
      for (const c of clients) c.close();
      await system.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
