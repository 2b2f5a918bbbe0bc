import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { createAdminApp } from "../../../server/admin/app.ts";
import { type AdminFixture, startAdminFixture } from "./_admin_fixture.ts";

let f: AdminFixture;
let now = 0;

beforeEach(async () => {
  f = await startAdminFixture({ now: () => now, freeDisk: () => 123_456 });
  now = f.system.broker.context.startedAt;
});

afterEach(async () => {
  await f.close();
});

describe("admin TPS", () => {
  test("is over a fixed trailing window kept by the broker: traffic that stopped a window ago reads 0, however rarely it is polled", async () => {
    const g = await startAdminFixture();
    try {
      // A poll, then traffic, then no poll for 7 s: a rate "since the last poll" would still show the traffic.
      await g.call("GET", "/api/cluster");
      for (let i = 0; i < 20; i++) await g.call("POST", "/api/topics/orders/messages", { body: "x" });
      const topic = (await g.call("GET", "/api/topics")).json.topics.find((t: { topic: string }) => t.topic === "orders");
      expect(topic.tps.in).toBeGreaterThan(0);
      // The broker samples once a second; 7 s cover its 5 s window and one more sample.
      await new Promise((resolve) => setTimeout(resolve, 7000));
      const r = await g.call("GET", "/api/cluster");
      expect(r.json.brokers[0].tps).toMatchObject({ in: 0, out: 0 });
      expect(r.json.brokers[0].tps.windowMs).toBeGreaterThanOrEqual(5000);
      expect((await g.call("GET", "/api/topics")).json.topics.find((t: { topic: string }) => t.topic === "orders").tps.in).toBe(0);
    } finally {
      await g.close();
    }
  }, 20_000);
});

describe("admin cluster", () => {
  test("GET /healthz answers ok", async () => {
    const r = await f.call("GET", "/healthz");
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ status: "ok" });
  });

  test("GET /api/cluster describes the broker with store, disk and TPS", async () => {
    now += 1000;
    let r = await f.call("GET", "/api/cluster");
    expect(r.status).toBe(200);
    expect(r.json.version).toBe("9.9.9");
    expect(r.json.nameServer.port).toBe(f.system.nameServer.port);
    expect(r.json.brokers).toHaveLength(1);
    const broker = r.json.brokers[0];
    expect(broker).toMatchObject({
      brokerName: "broker-a",
      role: "master",
      address: f.system.broker.address,
      local: true,
      version: "9.9.9",
      uptimeMs: 1000,
      storeSize: 0,
      diskFree: 123_456,
      tps: { in: 0, out: 0 },
    });

    for (let i = 0; i < 10; i++) await f.call("POST", "/api/topics/orders/messages", { body: "x" });
    now += 1000;
    r = await f.call("GET", "/api/cluster");
    expect(r.json.brokers[0].tps.in).toBeGreaterThan(0);
    expect(r.json.brokers[0].storeSize).toBeGreaterThan(0);
    expect(r.json.brokers[0].totals.messagesIn).toBe(10);
  });

  test("a NameServer-only app lists registered brokers and has no broker resources", async () => {
    const app = createAdminApp({ nameServer: f.system.nameServer, version: "1" });
    let body = await (await app.request("/api/cluster")).json();
    for (let i = 0; i < 100 && body.brokers.length === 0; i++) {
      await Bun.sleep(10);
      body = await (await app.request("/api/cluster")).json();
    }
    expect(body.brokers).toEqual([
      expect.objectContaining({ brokerName: "broker-a", role: "master", address: f.system.broker.address, local: false }),
    ]);
    const topics = await app.request("/api/groups");
    expect(topics.status).toBe(503);
    expect((await topics.json()).error.code).toBe("NOT_AVAILABLE");
    const metrics = await (await app.request("/metrics")).text();
    expect(metrics).toContain('rocketmq_build_info{version="1",role="nameserver"} 1');
    expect(metrics).not.toContain("rocketmq_messages_in_total{");
  });

  test("GET / serves the dashboard with a nonce CSP", async () => {
    const r = await f.app.request("/");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toContain("text/html");
    const csp = r.headers.get("content-security-policy")!;
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
    const html = await r.text();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html).toContain('<nav id="nav" aria-label="Sections">');
    expect(html).toContain("/api/cluster");
    expect(html).not.toMatch(/https?:\/\/(?!127|www\.w3\.org\/2000\/svg)/); // no CDN
    // The inline script is one valid program (Chromium tests catch the rest).
    const scripts = [...html.matchAll(/<script nonce="[^"]+">([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    expect(scripts.length).toBe(2);
    for (const script of scripts) expect(() => new Function(script)).not.toThrow();
  });
});

describe("admin auth", () => {
  test("changes need the bearer token when one is configured; reads do not", async () => {
    const g = await startAdminFixture({ token: "s3cret-token" });
    try {
      const missing = await g.call("POST", "/api/topics", { topic: "orders" });
      expect(missing.status).toBe(401);
      expect(missing.json.error.code).toBe("UNAUTHORIZED");
      expect(missing.headers.get("www-authenticate")).toContain("Bearer");
      const wrong = await g.call("POST", "/api/topics", { topic: "orders" }, { authorization: "Bearer nope" });
      expect(wrong.status).toBe(401);
      const deleted = await g.call("DELETE", "/api/topics/orders");
      expect(deleted.status).toBe(401);
      expect(g.system.broker.context.topics.get("orders")).toBeUndefined();
      const ok = await g.call("POST", "/api/topics", { topic: "orders" }, { authorization: "Bearer s3cret-token" });
      expect(ok.status).toBe(201);
      expect((await g.call("GET", "/api/topics")).status).toBe(200);
      expect((await g.call("GET", "/metrics")).status).toBe(200);
      const page = await (await g.app.request("/")).text();
      expect(page).toContain('"tokenRequired":true');
    } finally {
      await g.close();
    }
  });
});
