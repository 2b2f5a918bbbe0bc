/**
 * A controlled broker that changes role restarts with a new context: the admin app, started once,
 * must act on the broker of the moment, not on the context it saw at start.
 */
import { afterEach, expect, test } from "bun:test";
import { createAdminApp } from "../../../server/admin/app.ts";
import type { AdminBrokerView } from "../../../server/admin/_state.ts";
import { type AdminFixture, startAdminFixture } from "./_admin_fixture.ts";

const fixtures: AdminFixture[] = [];
afterEach(async () => {
  for (const f of fixtures.splice(0)) await f.close();
});

test("topic and message routes follow the broker's current context after it changes", async () => {
  const first = await startAdminFixture();
  const second = await startAdminFixture();
  fixtures.push(first, second);
  let running = first.system.broker;
  const view: AdminBrokerView = {
    get address() {
      return running.address;
    },
    get context() {
      return running.context;
    },
    get connections() {
      return running.connections;
    },
  };
  const app = createAdminApp({ broker: view, version: "9.9.9" });
  const post = (path: string, body: unknown) =>
    app.request(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  expect((await post("/api/topics", { topic: "before", queueNums: 1 })).status).toBe(201);
  expect(first.system.broker.context.topics.get("before")).toBeDefined();

  running = second.system.broker; // the role change: a new broker, a new context
  expect((await post("/api/topics", { topic: "after", queueNums: 1 })).status).toBe(201);
  expect(second.system.broker.context.topics.get("after")).toBeDefined();
  expect(first.system.broker.context.topics.get("after")).toBeUndefined();

  const sent = await post("/api/topics/after/messages", { body: "hello" });
  expect(sent.status).toBe(201);
  expect(second.system.broker.context.store.getMaxOffset("after", 0)).toBe(1);
  expect(first.system.broker.context.store.getMaxOffset("after", 0)).toBe(0);
});
