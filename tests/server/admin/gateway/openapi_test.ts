import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { GATEWAY_PREFIX, gatewayRoutes } from "../../../../server/admin/gateway/routes.ts";
import { createAdminState } from "../../../../server/admin/_state.ts";
import { type AdminFixture, startAdminFixture } from "../_admin_fixture.ts";

let f: AdminFixture;

beforeAll(async () => {
  f = await startAdminFixture();
});

afterAll(async () => {
  await f.close();
});

describe("HTTP gateway OpenAPI document", () => {
  test("GET /api/openapi.json describes exactly the routes the app serves, with their parameters and bodies", async () => {
    const r = await f.call("GET", "/api/openapi.json");
    expect(r.status).toBe(200);
    const doc = r.json;
    expect(doc.openapi).toStartWith("3.");
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path.replace(/\{([^}]+)\}/g, ":$1")}`))
      .sort();
    const app = gatewayRoutes(createAdminState({ broker: f.system.broker, version: "test" }));
    const served = app.routes.map((route) => `${route.method} ${GATEWAY_PREFIX}${route.path}`).sort();
    expect(documented).toEqual(served);
    expect(documented.length).toBeGreaterThanOrEqual(7);

    // Every path parameter the route has is documented, and each documented route answers (not 404 "No route").
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { parameters: { name: string; in: string }[] }>>)) {
      const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const op of Object.values(ops)) expect(op.parameters.filter((p) => p.in === "path").map((p) => p.name)).toEqual(names);
    }
    const receive = doc.paths["/api/gateway/groups/{group}/topics/{topic}/receive"].post;
    const body = receive.requestBody.content["application/json"].schema;
    expect(body.properties.maxMessages).toMatchObject({ type: "integer", minimum: 1, maximum: 32, default: 16 });
    expect(body.properties.invisibleTimeMs).toMatchObject({ minimum: 100, maximum: 43_200_000 });
    expect(receive.responses["200"].content["application/json"].schema.properties.messages.type).toBe("array");
    const produce = doc.paths["/api/gateway/topics/{topic}/messages"].post;
    expect(Object.keys(produce.requestBody.content).sort()).toEqual(["application/json", "application/octet-stream"]);
    expect(produce.parameters.map((p: { name: string }) => p.name)).toContain("idempotency-key");
    expect(doc.paths["/api/gateway/groups/{group}/topics/{topic}/stream"].get.responses["200"].content).toHaveProperty(["text/event-stream"]);
  });
});
