/**
 * `GET /healthz` and `GET /api/cluster`: liveness, and every broker this process knows with its
 * role, store, disk and throughput.
 *
 * @module
 */
import { Hono } from "hono";
import { describeLocalBroker } from "./_figures.ts";
import type { AdminState } from "./_state.ts";

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/`.
 */
export function clusterRoutes(state: AdminState): Hono {
  const app = new Hono();
  const { broker, nameServer } = state.options;

  app.get("/healthz", (c) => {
    const failure = broker?.context.store.stats.writeFailure;
    if (failure !== undefined) return c.json({ status: "failing", reason: `Store cannot write: ${failure}` }, 503);
    return c.json({ status: "ok" });
  });

  app.get("/api/cluster", (c) => {
    const brokers: Record<string, unknown>[] = [];
    let localAddress: string | undefined;
    if (broker !== undefined) {
      localAddress = broker.context.advertisedAddress;
      brokers.push(describeLocalBroker(state, broker.context, broker.connections.size));
    }
    if (nameServer !== undefined) {
      const info = nameServer.routeTable.getClusterInfo();
      for (const [address, live] of Object.entries(info.brokerLiveTable)) {
        if (address === localAddress) continue;
        brokers.push({
          clusterName: live.clusterName,
          brokerName: live.brokerName,
          brokerId: live.brokerId,
          role: live.brokerId === 0 ? "master" : "slave",
          address,
          local: false,
          alive: true,
          lastHeartbeatAt: live.lastUpdateTimestamp,
        });
      }
    }
    brokers.sort((a, b) =>
      String(a.brokerName).localeCompare(String(b.brokerName)) || Number(a.brokerId) - Number(b.brokerId)
    );
    return c.json({
      version: state.options.version,
      now: state.now(),
      uptimeMs: state.now() - (broker?.context.startedAt ?? state.startedAt),
      nameServer: nameServer === undefined ? null : {
        port: nameServer.port,
        brokers: Object.keys(nameServer.routeTable.getClusterInfo().brokerLiveTable).length,
        topics: nameServer.routeTable.getTopicList().length,
      },
      brokers,
    });
  });

  return app;
}
