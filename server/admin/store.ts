/**
 * `GET /api/store/recovery`: what the broker's store found and did when it opened (scanned,
 * checkpoint used or refused, damaged stretches kept or cut, ConsumeQueues rebuilt), the copies
 * of damaged stretches in its quarantine directory, and what the read path has mended since.
 *
 * @module
 */
import { Hono } from "hono";
import { describeRecovery } from "../store/store_recovery.ts";
import { type AdminState, requireBroker } from "./_state.ts";

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/api/store`.
 */
export function storeRoutes(state: AdminState): Hono {
  const app = new Hono();
  app.get("/recovery", (c) => {
    const store = requireBroker(state).store;
    const stats = store.stats;
    const described = describeRecovery(stats.recovery);
    return c.json({
      recovery: stats.recovery,
      summary: described.summary,
      warnings: described.warnings,
      quarantine: store.quarantineFiles(),
      readPath: { repairedEntries: stats.repairedEntries, unreadableRecords: stats.unreadableRecords },
    });
  });
  return app;
}
