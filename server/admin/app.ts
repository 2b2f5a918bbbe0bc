/**
 * The admin HTTP app every broker and NameServer may serve (and the standalone process serves as
 * one cluster view): a JSON REST API under `/api`, Prometheus `/metrics`, `/healthz` and the web
 * dashboard at `/`. Errors are answered as `{ error: { code, message } }` from one `onError`.
 *
 * @module
 */
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AdminErrorCode } from "./_http.ts";
import { type AdminAppOptions, createAdminState } from "./_state.ts";
import { adminAuth, BEARER_CHALLENGE, SESSION_CHALLENGE } from "./_auth.ts";
import { requestGuard } from "./_request_guard.ts";
import { clusterRoutes } from "./cluster.ts";
import { connectionRoutes } from "./connections.ts";
import { dashboardRoutes } from "./dashboard.ts";
import { groupRoutes } from "./groups.ts";
import { messageRoutes } from "./messages.ts";
import { traceRoutes } from "./trace.ts";
import { metricsRoutes } from "./metrics.ts";
import { storeRoutes } from "./store.ts";
import { topicRoutes } from "./topics.ts";
import { createLogger } from "../logger.ts";
import { transactionRoutes } from "./transactions.ts";
import { trafficRoutes } from "./traffic.ts";
import { gatewayRoutes, openApiRoute } from "./gateway/routes.ts";

export type { AdminAppOptions, AdminBrokerView } from "./_state.ts";

const DEFAULT_CODES: Partial<Record<number, AdminErrorCode>> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  415: "UNSUPPORTED_MEDIA_TYPE",
  421: "MISDIRECTED_REQUEST",
  422: "UNPROCESSABLE",
  429: "TOO_MANY_REQUESTS",
  503: "NOT_AVAILABLE",
};

/**
 * Creates the admin app. Serve it with `app.fetch` (see `server/bun/serve.ts`,
 * `server/deno/serve.ts`) or call `app.request()` in tests.
 *
 * @param options The broker and/or NameServer to show, the token guarding changes, the version.
 * @returns The Hono app.
 *
 * @example Asking a standalone system for its topics
 * ```ts
 * import { createAdminApp } from "./app.ts";
 * import { startStandalone } from "../standalone.ts";
 * import { listen } from "../bun/listen.ts";
 * import { dial } from "../bun/connect.ts";
 *
 * const system = await startStandalone({ listen, dial, dataDir: "./data", port: 0, nameServerPort: 0 });
 * const app = createAdminApp({ broker: system.broker, nameServer: system.nameServer, version: "0.1.0" });
 * console.log(await (await app.request("/api/topics")).json());
 * await system.close();
 * ```
 */
export function createAdminApp(options: AdminAppOptions): Hono {
  const state = createAdminState(options);
  const app = new Hono();

  const acl = options.acl;
  const auth = adminAuth({ acl, token: options.token, now: state.now });
  app.use("*", requestGuard({ allowedOrigins: options.allowedOrigins, hostname: options.hostname }));
  app.use("*", auth.middleware);

  app.route("/api/session", auth.routes);
  app.route("/", clusterRoutes(state));
  app.route("/", metricsRoutes(state));
  app.route("/api/topics", topicRoutes(state));
  app.route("/api/groups", groupRoutes(state));
  app.route("/api/transactions", transactionRoutes(state));
  app.route("/api", messageRoutes(state));
  app.route("/api", traceRoutes(state));
  app.route("/api/store", storeRoutes(state));
  app.route("/api/traffic", trafficRoutes(state));
  app.route("/api/connections", connectionRoutes(state));
  if (options.gateway !== false) {
    app.route("/api/gateway", gatewayRoutes(state));
    app.route("/api", openApiRoute(state));
  }
  app.route("/", dashboardRoutes(state));

  app.notFound((c) => c.json({ error: { code: "NOT_FOUND", message: `No route for ${c.req.method} ${c.req.path}` } }, 404));

  app.onError((error, c) => {
    if (error instanceof HTTPException) {
      const status = error.status as ContentfulStatusCode;
      const cause = error.cause as { code?: AdminErrorCode } | undefined;
      const code = cause?.code ?? DEFAULT_CODES[status] ?? (status >= 500 ? "INTERNAL" : "BAD_REQUEST");
      const headers = status === 401 ? { "WWW-Authenticate": acl === undefined ? BEARER_CHALLENGE : SESSION_CHALLENGE } : undefined;
      return c.json({ error: { code, message: error.message } }, status, headers);
    }
    (options.log ?? createLogger({ component: "admin" }))(`Admin request ${c.req.method} ${c.req.path} failed: ${(error as Error)?.stack ?? error}`, "error");
    return c.json({ error: { code: "INTERNAL", message: `Internal error: ${(error as Error)?.message ?? String(error)}` } }, 500);
  });

  return app;
}
