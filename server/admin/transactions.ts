/**
 * Transactions: the half messages still unresolved, per real topic and producer group, the
 * counters since the broker started, the settings and the producers that take check-backs. With
 * `?topic=&group=` also the pending half messages of that pair (oldest first, at most `limit`).
 * With ACL on an account sees the producer groups it may use.
 *
 * @module
 */
import { Hono } from "hono";
import * as v from "valibot";
import { GroupName, TopicName } from "../../core/protocol/headers.ts";
import { integerParam, validate } from "./_http.ts";
import { type AdminState, requireBroker } from "./_state.ts";
import { accessOfRequest, authorize } from "./_auth.ts";
import { visibleProducers } from "./connections.ts";

const Query = v.object({
  topic: v.optional(TopicName),
  group: v.optional(GroupName),
  limit: v.optional(integerParam(1, 1000), "100"),
});

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/api/transactions`.
 */
export function transactionRoutes(state: AdminState): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const ctx = requireBroker(state);
    const access = accessOfRequest(c);
    const query = validate(Query, c.req.query(), "query");
    if (query.group !== undefined) authorize(access.group(query.group));
    const now = state.now();
    const service = ctx.transactions;
    const pending = service.summary()
      .filter((row) => access.group(row.producerGroup) === undefined)
      .map((row) => ({ ...row, oldestAgeMs: Math.max(0, now - row.oldestStoreTimestamp) }));
    const body: Record<string, unknown> = {
      brokerName: ctx.brokerName,
      role: ctx.replication.role,
      settings: service.settings,
      counters: service.counters,
      totalPending: pending.reduce((n, row) => n + row.pending, 0),
      pending,
      producers: visibleProducers(ctx, access),
    };
    if (query.topic !== undefined && query.group !== undefined) {
      body.halves = service.pending()
        .filter((h) => h.topic === query.topic && h.producerGroup === query.group)
        .slice(0, query.limit)
        .map((h) => ({
          transactionId: h.transactionId,
          queueId: h.queueId,
          halfQueueOffset: h.queueOffset,
          commitLogOffset: h.commitLogOffset,
          storeTimestamp: h.storeTimestamp,
          checkTimes: h.checkTimes,
          lastCheckAt: h.lastCheckAt === 0 ? null : h.lastCheckAt,
          nextCheckAt: h.dueAt,
        }));
    }
    return c.json(body);
  });
  return app;
}
