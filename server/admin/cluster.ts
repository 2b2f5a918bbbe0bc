/**
 * `GET /healthz`, `GET /api/cluster` and `POST /api/cluster/switch-master`: liveness, every broker
 * this process knows with its role, store, disk and throughput (and in controller mode each
 * group's master, epoch, in-sync set and replica lags), and a safe switchover through the controller.
 *
 * @module
 */
import { Hono } from "hono";
import * as v from "valibot";
import { ClusterName } from "./_cluster_targets.ts";
import { controllerView, groupViews } from "./_controller_view.ts";
import { describeLocalBroker } from "./_figures.ts";
import { httpError, jsonBody } from "./_http.ts";
import type { AdminState } from "./_state.ts";

const SwitchMasterBody = v.object({
  /** The broker group (brokerName). */
  group: ClusterName,
  /** Its cluster. @default the only cluster the controller knows the group in */
  cluster: v.optional(ClusterName),
  /** The replica to hand over to. @default the live in-sync slave with the longest CommitLog */
  to: v.optional(v.pipe(v.number(), v.safeInteger("expected a whole number"), v.minValue(1), v.maxValue(0xffff))),
});

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

  app.get("/api/cluster", async (c) => {
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
      /** Controller mode: each group as the controller keeps it; null without a controller to ask. */
      controller: (await controllerView(state.options.controller)) ?? null,
    });
  });

  app.post("/api/cluster/switch-master", async (c) => {
    const body = await jsonBody(c, SwitchMasterBody);
    const controller = state.options.controller;
    if (controller === undefined) {
      throw httpError(503, "NOT_AVAILABLE", "This process has no controller to ask: run the admin API on a NameServer with a controller, or on a broker in controller mode");
    }
    const unreachable = (error: unknown): never => {
      throw httpError(503, "NOT_AVAILABLE", `Cannot reach the controller: ${(error as Error).message}`);
    };
    let clusterName = body.cluster;
    if (clusterName === undefined) {
      const clusters = groupViews(await controller.syncStateData().catch(unreachable)).filter((g) => g.brokerName === body.group).map((g) => g.clusterName);
      if (clusters.length === 0) throw httpError(404, "NOT_FOUND", `The controller knows no broker group "${body.group}"`);
      if (clusters.length > 1) throw httpError(400, "BAD_REQUEST", `Broker group "${body.group}" exists in clusters ${clusters.map((n) => `"${n}"`).join(", ")}: name one`);
      clusterName = clusters[0]!;
    }
    const result = await controller.electMaster({ clusterName, brokerName: body.group, ...(body.to === undefined ? {} : { brokerId: body.to }) }).catch(unreachable);
    if ("refused" in result) throw httpError(409, "CONFLICT", result.refused);
    return c.json({ clusterName, brokerName: body.group, epoch: result.state.epoch, masterId: result.state.masterId, inSync: result.state.isr });
  });

  return app;
}
