/**
 * The gateway's rights against a real `rmq standalone --acl` process, and with ACL off and an admin
 * token in process: produce needs PUB on the topic, consume the group and SUB on the topic (as POP
 * over the wire), a receipt handle is bound to its group and topic, and refusals keep the error
 * shape.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as v from "valibot";
import { ErrorBody } from "../../../../server/admin/gateway/_schemas.ts";
import { type AclStandalone, startAclStandalone } from "../../../security/_acl_standalone.ts";
import { startAdminFixture } from "../_admin_fixture.ts";

const ADMIN = { accessKey: "admin-ak", secretKey: "admin-secret-1", admin: true };
const SHOP = { accessKey: "shop", secretKey: "shop-secret-1", topicPerms: ["orders=PUB|SUB"], groupPerms: ["shop-workers=SUB"] };
const WRITER = { accessKey: "writer", secretKey: "writer-secret-1", topicPerms: ["orders=PUB"], groupPerms: ["writer-group=SUB"] };
const READER = { accessKey: "reader", secretKey: "reader-secret-1", topicPerms: ["orders=SUB"], groupPerms: ["reader-group=SUB"] };

type Account = { accessKey: string; secretKey: string };
let server: AclStandalone;

async function call(method: string, path: string, as: Account | undefined, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${server.adminUrl}${path}`, {
    method,
    headers: {
      ...(as === undefined ? {} : { authorization: `Basic ${btoa(`${as.accessKey}:${as.secretKey}`)}` }),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: JSON.parse(text) };
}

beforeAll(async () => {
  server = await startAclStandalone([ADMIN, SHOP, WRITER, READER]);
  expect((await call("POST", "/api/topics", ADMIN, { topic: "orders", queueNums: 1 })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await server?.close();
});

describe("HTTP gateway rights (ACL on)", () => {
  test("produce needs credentials and PUB on the topic", async () => {
    const anonymous = await call("POST", "/api/gateway/topics/orders/messages", undefined, { body: "x" });
    expect(anonymous.status).toBe(401);
    expect(v.parse(ErrorBody, anonymous.json).error.code).toBe("UNAUTHORIZED");
    expect((await call("POST", "/api/gateway/topics/orders/messages", { accessKey: "shop", secretKey: "wrong" }, { body: "x" })).status).toBe(401);
    const reader = await call("POST", "/api/gateway/topics/orders/messages", READER, { body: "x" });
    expect(reader.status).toBe(403);
    expect(v.parse(ErrorBody, reader.json).error.code).toBe("FORBIDDEN");
    expect((await call("POST", "/api/gateway/topics/orders/messages/batch", READER, { messages: [{ body: "x" }] })).status).toBe(403);
    expect((await call("POST", "/api/gateway/topics/orders/messages", WRITER, { body: "from writer" })).status).toBe(201);
    expect((await call("POST", "/api/gateway/topics/orders/messages", SHOP, { body: "from shop" })).status).toBe(201);
  });

  test("consume needs the group and SUB on the topic; a handle is refused for another account's group", async () => {
    // The group right alone is not enough: WRITER has its group but no SUB on the topic.
    expect((await call("POST", "/api/gateway/groups/writer-group/topics/orders/receive", WRITER, {})).status).toBe(403);
    // SUB on the topic without the group right.
    const foreign = await call("POST", "/api/gateway/groups/shop-workers/topics/orders/receive", READER, {});
    expect(foreign.status).toBe(403);
    expect(foreign.json.error.message).toMatch(/shop-workers/);
    expect((await call("GET", "/api/gateway/groups/shop-workers/topics/orders/stream", READER)).status).toBe(403);
    expect((await call("GET", "/api/gateway/groups/shop-workers/offsets?topic=orders", READER)).status).toBe(403);

    const got = await call("POST", "/api/gateway/groups/shop-workers/topics/orders/receive", SHOP, { maxMessages: 32 });
    expect(got.status).toBe(200);
    expect(got.json.messages.map((m: { body: string }) => m.body).sort()).toEqual(["from shop", "from writer"]);
    const handle = got.json.messages[0].receiptHandle;
    // READER may use its own group, but the handle was issued for SHOP's.
    const stolen = await call("POST", "/api/gateway/groups/reader-group/topics/orders/ack", READER, { receiptHandle: handle });
    expect(stolen.status).toBe(400);
    expect(stolen.json.error.code).toBe("RECEIPT_HANDLE_INVALID");
    expect((await call("POST", "/api/gateway/groups/shop-workers/topics/orders/ack", READER, { receiptHandle: handle })).status).toBe(403);
    expect((await call("POST", "/api/gateway/groups/shop-workers/topics/orders/invisible-time", READER, { receiptHandle: handle, invisibleTimeMs: 1000 })).status).toBe(403);
    const acked = await call("POST", "/api/gateway/groups/shop-workers/topics/orders/ack", SHOP, { receiptHandles: got.json.messages.map((m: { receiptHandle: string }) => m.receiptHandle) });
    expect(acked.json).toEqual({ acked: 2, failed: [] });
    const offsets = await call("GET", "/api/gateway/groups/shop-workers/offsets?topic=orders", SHOP);
    expect(offsets.status).toBe(200);
    expect(offsets.json.totalLag).toBe(0);
  });
});

describe("HTTP gateway rights (ACL off, admin token)", () => {
  test("every gateway change needs the bearer token", async () => {
    const f = await startAdminFixture({ token: "s3cret-token" });
    try {
      await f.call("POST", "/api/topics", { topic: "orders" }, { authorization: "Bearer s3cret-token" });
      const none = await f.call("POST", "/api/gateway/topics/orders/messages", { body: "x" });
      expect(none.status).toBe(401);
      expect(none.json.error.code).toBe("UNAUTHORIZED");
      expect((await f.call("POST", "/api/gateway/topics/orders/messages", { body: "x" }, { authorization: "Bearer wrong" })).status).toBe(401);
      expect((await f.call("POST", "/api/gateway/groups/g/topics/orders/receive", {})).status).toBe(401);
      expect((await f.call("POST", "/api/gateway/topics/orders/messages", { body: "x" }, { authorization: "Bearer s3cret-token" })).status).toBe(201);
      const got = await f.call("POST", "/api/gateway/groups/g/topics/orders/receive", {}, { authorization: "Bearer s3cret-token" });
      expect(got.json.messages).toHaveLength(1);
    } finally {
      await f.close();
    }
  });
});
