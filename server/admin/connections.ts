/**
 * `GET /api/connections`: the clients connected to the broker as their heartbeats describe them,
 * producers (with the producer groups they take transaction check-backs for) and consumers (one
 * row per group member, with its subscriptions), and the count of open connections. With ACL on an
 * account sees the consumers of groups it may use, and the producers all of whose groups it may
 * use (a producer of no group only by admins).
 *
 * @module
 */
import { Hono } from "hono";
import type { Access } from "../acl/access.ts";
import type { BrokerContext } from "../broker/context.ts";
import type { ProducerMemberInfo } from "../broker/producer_manager.ts";
import { type AdminState, requireBroker } from "./_state.ts";
import { accessOfRequest } from "./_auth.ts";

/**
 * The connected producers an account may see.
 *
 * @param ctx The broker.
 * @param access The account's access.
 * @returns Producers sorted by client id.
 */
export function visibleProducers(ctx: BrokerContext, access: Access): ProducerMemberInfo[] {
  return ctx.producers.all().filter((p) => p.groups.length === 0 ? access.admin : p.groups.every((group) => access.group(group) === undefined));
}

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/api/connections`.
 */
export function connectionRoutes(state: AdminState): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const ctx = requireBroker(state);
    const access = accessOfRequest(c);
    const consumers = [];
    for (const group of ctx.consumers.groups()) {
      if (access.group(group) !== undefined) continue;
      const info = ctx.consumers.groupInfo(group);
      for (const member of info?.members ?? []) consumers.push({ group, ...member });
    }
    consumers.sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
    return c.json({
      brokerName: ctx.brokerName,
      now: state.now(),
      /** Open client connections, whether or not they sent a heartbeat. */
      connections: state.options.broker?.connections.size ?? 0,
      producers: visibleProducers(ctx, access),
      consumers,
    });
  });
  return app;
}
