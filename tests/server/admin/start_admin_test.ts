/**
 * `startAdminServer` serves at once and builds the app on the first request: requests that arrive
 * while it loads wait for it and are answered, the uptime counts from the start, and a bad setting
 * still fails the start.
 */
import { expect, test } from "bun:test";
import type { FetchHandler, Serve } from "../../../server/admin/serve_types.ts";
import { startAdminServer } from "../../../server/admin/start_admin.ts";

/** A `Serve` that hands the test the fetch handler instead of listening. */
function handServe() {
  let handler: FetchHandler | undefined;
  const serve: Serve = (options, fetch) => {
    handler = fetch;
    return Promise.resolve({ hostname: options.hostname, port: options.port, close: () => Promise.resolve() });
  };
  return { serve, fetch: (path: string) => Promise.resolve(handler!(new Request(`http://127.0.0.1:8080${path}`))) };
}

test("startAdminServer() answers the requests that arrive while the app loads, with the uptime from the start", async () => {
  let clock = 1_000_000;
  const http = handServe();
  const server = await startAdminServer({ serve: http.serve, port: 8080, now: () => clock });
  expect(server.port).toBe(8080);
  clock += 5000;
  const [first, second] = await Promise.all([http.fetch("/api/cluster"), http.fetch("/api/cluster")]);
  for (const response of [first, second]) {
    expect(response.status).toBe(200);
    const body = await response.json() as { uptimeMs: number };
    expect(body.uptimeMs).toBe(5000);
  }
  expect((await http.fetch("/api/nothing-here")).status).toBe(404);
});

test("startAdminServer() refuses a bad allowed origin at the start", () => {
  expect(() => startAdminServer({ serve: handServe().serve, allowedOrigins: ["not a url"] })).toThrow('Allowed origin "not a url" is not a URL');
});
