/**
 * The HTTP gateway, for clients with no socket (curl, serverless functions, other languages):
 * produce (`produce.ts`), consume as a group with POP semantics (`consume.ts`) or as an event
 * stream (`stream.ts`), and a group's offsets, mounted at `/api/gateway` of the admin app and
 * authorised like the wire requests they match. `GET /api/openapi.json` describes them, generated
 * from the same route declarations (`_spec.ts`).
 *
 * @module
 */
import { Hono } from "hono";
import type { AdminState } from "../_state.ts";
import { VERSION } from "../start_admin.ts";
import { consumeRoutes } from "./consume.ts";
import { produceRoutes } from "./produce.ts";
import { type GatewayRoute, defineRoutes, openApiDocument } from "./_spec.ts";
import { type GatewayStreamOptions, streamRoutes } from "./stream.ts";

export type { GatewayStreamOptions } from "./stream.ts";

/** Where the gateway is mounted. */
export const GATEWAY_PREFIX = "/api/gateway";

/**
 * Every route of the gateway.
 *
 * @param state The admin state.
 * @param options The event streams' limits.
 * @returns The routes.
 */
export function gatewayRouteList(state: AdminState, options: GatewayStreamOptions = {}): GatewayRoute[] {
  return [...produceRoutes(state), ...consumeRoutes(state), ...streamRoutes(state, options)];
}

/**
 * @param state The admin state (its `gateway` options set the event streams' limits).
 * @returns The gateway's routes, mounted at `GATEWAY_PREFIX`.
 */
export function gatewayRoutes(state: AdminState): Hono {
  return defineRoutes(gatewayRouteList(state, state.options.gateway || {}));
}

/**
 * `GET /openapi.json`: the gateway's OpenAPI 3 document.
 *
 * @param state The admin state.
 * @returns The route, mounted at `/api`.
 */
export function openApiRoute(state: AdminState): Hono {
  const document = openApiDocument(gatewayRouteList(state), {
    prefix: GATEWAY_PREFIX,
    title: "rocketmq-ts HTTP gateway",
    version: state.options.version ?? VERSION,
    description: "Produce and consume over HTTP. Errors are { error: { code, message } }. With ACL on, send Authorization: Basic " +
      "base64(accessKey:secretKey); with ACL off and an admin token set, Authorization: Bearer <token>.",
  });
  const app = new Hono();
  app.get("/openapi.json", (c) => c.json(document));
  return app;
}
