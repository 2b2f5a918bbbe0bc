/**
 * The admin HTTP app every broker and NameServer may serve (and the standalone process serves as
 * one cluster view): a JSON REST API under `/api`, Prometheus `/metrics`, `/healthz` and the web
 * dashboard at `/`. Errors are answered as `{ error: { code, message } }` from one `onError`.
 *
 * @module
 */
import { Hono, type MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AdminErrorCode } from "./_http.ts";
import { httpError } from "./_http.ts";
import { type AdminAppOptions, createAdminState } from "./_state.ts";
import type { AclRules } from "../acl/acl_rules.ts";
import { clusterRoutes } from "./cluster.ts";
import { dashboardRoutes } from "./dashboard.ts";
import { groupRoutes } from "./groups.ts";
import { messageRoutes } from "./messages.ts";
import { metricsRoutes } from "./metrics.ts";
import { topicRoutes } from "./topics.ts";

export type { AdminAppOptions, AdminBrokerView } from "./_state.ts";

const ENCODER = new TextEncoder();

/** Compares two strings in time that depends only on their lengths. */
function sameSecret(given: string, expected: string): boolean {
  const a = ENCODER.encode(given);
  const b = ENCODER.encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i % Math.max(1, a.length)] ?? 0) ^ b[i]!;
  return diff === 0;
}

const BASIC_REALM = 'Basic realm="rocketmq-ts admin", charset="UTF-8"';
const READ_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** With ACL on: any account may read, only admin accounts may change; `/healthz` stays open. */
function basicAuth(acl: () => AclRules): MiddlewareHandler {
  return async (c, next) => {
    if (c.req.path === "/healthz") return await next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    let pair: string | undefined;
    if (match !== null) {
      try {
        pair = new TextDecoder().decode(Uint8Array.from(atob(match[1]!), (ch) => ch.charCodeAt(0)));
      } catch {
        pair = undefined;
      }
    }
    const colon = pair?.indexOf(":") ?? -1;
    const account = pair === undefined || colon < 0 ? undefined : acl().authenticate(pair.slice(0, colon), pair.slice(colon + 1));
    if (account === undefined) {
      c.header("WWW-Authenticate", BASIC_REALM);
      throw httpError(401, "UNAUTHORIZED", match === null
        ? "ACL is on: send Authorization: Basic base64(accessKey:secretKey)"
        : "The access key or secret key is wrong");
    }
    if (!READ_METHODS.has(c.req.method) && !account.admin) {
      throw httpError(403, "FORBIDDEN", `Account "${account.accessKey}" may not change anything: it needs the admin right`);
    }
    await next();
  };
}

const DEFAULT_CODES: Partial<Record<number, AdminErrorCode>> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  422: "UNPROCESSABLE",
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
  if (acl !== undefined) app.use("*", basicAuth(acl));
  app.use("*", async (c, next) => {
    if (acl === undefined && options.token !== undefined && c.req.method !== "GET" && c.req.method !== "HEAD" && c.req.method !== "OPTIONS") {
      const header = c.req.header("authorization") ?? "";
      const match = /^Bearer\s+(.+)$/i.exec(header);
      if (match === null || !sameSecret(match[1]!.trim(), options.token)) {
        c.header("WWW-Authenticate", 'Bearer realm="rocketmq-ts admin"');
        throw httpError(401, "UNAUTHORIZED", match === null ? "This change needs an Authorization: Bearer <token> header" : "The bearer token is wrong");
      }
    }
    await next();
  });

  app.route("/", clusterRoutes(state));
  app.route("/", metricsRoutes(state));
  app.route("/api/topics", topicRoutes(state));
  app.route("/api/groups", groupRoutes(state));
  app.route("/api", messageRoutes(state));
  app.route("/", dashboardRoutes(state));

  app.notFound((c) => c.json({ error: { code: "NOT_FOUND", message: `No route for ${c.req.method} ${c.req.path}` } }, 404));

  app.onError((error, c) => {
    if (error instanceof HTTPException) {
      const status = error.status as ContentfulStatusCode;
      const cause = error.cause as { code?: AdminErrorCode } | undefined;
      const code = cause?.code ?? DEFAULT_CODES[status] ?? (status >= 500 ? "INTERNAL" : "BAD_REQUEST");
      const headers = status === 401 ? { "WWW-Authenticate": acl === undefined ? 'Bearer realm="rocketmq-ts admin"' : BASIC_REALM } : undefined;
      return c.json({ error: { code, message: error.message } }, status, headers);
    }
    (options.log ?? console.error)(`Admin request ${c.req.method} ${c.req.path} failed: ${(error as Error)?.stack ?? error}`);
    return c.json({ error: { code: "INTERNAL", message: `Internal error: ${(error as Error)?.message ?? String(error)}` } }, 500);
  });

  return app;
}
