/**
 * The admin HTTP API of a real `rmq standalone --acl` process, attacked by a second account and by
 * forged browser-style requests: reads and writes honour topic and group rights as the wire
 * protocol does, forged changes and foreign Host headers are refused, sessions need both the
 * cookie and the CSRF header, and an oversized chunked body is cut off as soon as it passes the
 * limit. Ordinary clients keep working beside each attack.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect as tcpConnect } from "node:net";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { type AclStandalone, signed, startAclStandalone } from "./_acl_standalone.ts";

const ADMIN = { accessKey: "admin-ak", secretKey: "admin-secret-1", admin: true };
const VICTIM = { accessKey: "orders-svc", secretKey: "orders-secret-1", topicPerms: ["orders=PUB|SUB"], groupPerms: ["orders-group=SUB"] };
const MALLORY = { accessKey: "mallory", secretKey: "mallory-secret-1", topicPerms: ["mallory-topic=PUB|SUB"], groupPerms: ["mallory-group=SUB"] };

type Account = { accessKey: string; secretKey: string };

let server: AclStandalone;

function basic(account: Account): Record<string, string> {
  return { authorization: `Basic ${btoa(`${account.accessKey}:${account.secretKey}`)}` };
}

async function call(method: string, path: string, options: { as?: Account; body?: unknown; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...(options.as === undefined ? {} : basic(options.as)), ...options.headers };
  if (options.body !== undefined) headers["content-type"] ??= "application/json";
  const response = await fetch(`${server.adminUrl}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : typeof options.body === "string" ? options.body : JSON.stringify(options.body),
  });
  const text = await response.text();
  let json: any = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, json, headers: response.headers };
}

beforeAll(async () => {
  server = await startAclStandalone([ADMIN, VICTIM, MALLORY]);
  for (const topic of ["orders", "mallory-topic"]) {
    expect((await call("POST", "/api/topics", { as: ADMIN, body: { topic, queueNums: 1 } })).status).toBe(201);
  }
}, 60_000);

afterAll(async () => {
  await server?.close();
});

describe("admin API rights", () => {
  test("reads of messages, queues and groups honour topic and group rights", async () => {
    const sent = await call("POST", "/api/topics/orders/messages", { as: VICTIM, body: { body: "secret order", keys: "order-7" } });
    expect(sent.status).toBe(201);
    const member = await server.raw();
    const joined = await signed(member, VICTIM, RequestCode.HEART_BEAT, {
      clientId: "orders-consumer@10.0.0.7",
      consumers: [{ group: "orders-group", consumeType: "PUSH", messageModel: "CLUSTERING", subscriptions: [{ topic: "orders", expression: "*" }] }],
    });
    expect(joined.code).toBe(ResponseCode.SUCCESS);

    const reads = [
      "/api/topics/orders/queues/0/messages",
      `/api/messages/${sent.json.msgId}`,
      "/api/messages?topic=orders&key=order-7",
      "/api/topics/orders/status",
      "/api/groups/orders-group",
    ];
    for (const path of reads) {
      const refused = await call("GET", path, { as: MALLORY });
      expect({ path, status: refused.status }).toEqual({ path, status: 403 });
      expect(JSON.stringify(refused.json)).not.toContain("secret order");
      expect(JSON.stringify(refused.json)).not.toContain("orders-consumer");
    }
    expect((await call("GET", "/api/topics/orders/queues/0/messages", { as: MALLORY })).json.error.message)
      .toBe('Account "mallory" may not subscribe to topic "orders"');
    expect((await call("GET", `/api/messages/${sent.json.msgId}`, { as: MALLORY })).json.error.message)
      .toBe(`Account "mallory" may not read message "${sent.json.msgId}": it may not subscribe to the message's topic`);
    expect((await call("GET", "/api/groups/orders-group", { as: MALLORY })).json.error.message)
      .toBe('Account "mallory" may not use consumer group "orders-group"');
    const groups = await call("GET", "/api/groups", { as: MALLORY });
    expect(groups.status).toBe(200);
    expect(groups.json.groups.map((g: { group: string }) => g.group)).not.toContain("orders-group");
    // Metadata stays readable to any account, as GET_ALL_TOPIC_CONFIG and routes are on the wire.
    expect((await call("GET", "/api/topics", { as: MALLORY })).status).toBe(200);
    expect((await call("GET", "/api/topics/orders/route", { as: MALLORY })).status).toBe(200);

    // The owner reads all of it.
    expect((await call("GET", "/api/topics/orders/queues/0/messages", { as: VICTIM })).json.messages[0].body).toBe("secret order");
    expect((await call("GET", `/api/messages/${sent.json.msgId}`, { as: VICTIM })).json.message.body).toBe("secret order");
    expect((await call("GET", "/api/messages?topic=orders&key=order-7", { as: VICTIM })).json.matched).toBe(1);
    expect((await call("GET", "/api/groups/orders-group", { as: VICTIM })).json.members[0].clientId).toBe("orders-consumer@10.0.0.7");
    expect((await call("GET", "/api/groups", { as: VICTIM })).json.groups.map((g: { group: string }) => g.group)).toContain("orders-group");
    member.close();
  });

  test("writes need the right the wire request would: PUB to send, the group to reset, the admin right for topics", async () => {
    const send = await call("POST", "/api/topics/orders/messages", { as: MALLORY, body: { body: "forged order" } });
    expect(send.status).toBe(403);
    expect(send.json.error.message).toBe('Account "mallory" may not publish to topic "orders"');
    const reset = await call("POST", "/api/groups/orders-group/reset-offset", { as: MALLORY, body: { topic: "orders", to: "earliest", force: true } });
    expect(reset.status).toBe(403);
    expect((await call("DELETE", "/api/topics/orders", { as: MALLORY })).json.error.message)
      .toBe('Account "mallory" may not make this change: it needs the admin right');
    expect((await call("POST", "/api/topics", { as: MALLORY, body: { topic: "mallory-topic", queueNums: 8 } })).status).toBe(403);
    expect((await call("GET", "/api/topics/orders/status", { as: VICTIM })).json.messages).toBe(1);
    expect((await call("POST", "/api/topics/mallory-topic/messages", { as: MALLORY, body: { body: "own" } })).status).toBe(201);
    expect((await call("POST", "/api/groups/orders-group/reset-offset", { as: VICTIM, body: { topic: "orders", to: "earliest", force: true } })).status).toBe(200);
  });

  test("a dead-letter re-send writes only to a topic the caller may publish to", async () => {
    // Whoever may write to a group's dead-letter topic chooses the RETRY_TOPIC a re-send goes to.
    const forged = await call("POST", "/api/topics/%25DLQ%25mallory-group/messages", {
      as: MALLORY,
      body: { body: "injected into orders", properties: { RETRY_TOPIC: "orders" } },
    });
    expect(forged.status).toBe(201);
    const before = (await call("GET", "/api/topics/orders/status", { as: VICTIM })).json.messages;
    const resend = await call("POST", "/api/dlq/mallory-group/resend", { as: MALLORY, body: { msgId: forged.json.msgId } });
    expect(resend.status).toBe(403);
    expect(resend.json.error.message).toBe('Account "mallory" may not publish to topic "orders"');
    expect((await call("GET", "/api/topics/orders/status", { as: VICTIM })).json.messages).toBe(before);

    const own = await call("POST", "/api/topics/%25DLQ%25mallory-group/messages", {
      as: MALLORY,
      body: { body: "back to my topic", properties: { RETRY_TOPIC: "mallory-topic" } },
    });
    const back = await call("POST", "/api/dlq/mallory-group/resend", { as: MALLORY, body: { msgId: own.json.msgId } });
    expect(back.status).toBe(201);
    expect(back.json.topic).toBe("mallory-topic");
    expect((await call("POST", "/api/dlq/orders-group/resend", { as: MALLORY, body: { msgId: own.json.msgId } })).status).toBe(403);
  });
});

describe("forged browser requests", () => {
  test("a change is refused unless it is JSON from the admin API's own origin", async () => {
    const body = { topic: "forged_topic" };
    const attempts: { headers: Record<string, string>; status: number; message?: string }[] = [
      { headers: { "content-type": "text/plain" }, status: 415, message: 'POST needs a JSON body with Content-Type: application/json, not "text/plain"' },
      { headers: { "content-type": "application/x-www-form-urlencoded" }, status: 415 },
      { headers: { "content-type": "multipart/form-data; boundary=x" }, status: 415 },
      { headers: { origin: "http://evil.example" }, status: 403, message: 'Changes are not accepted from pages of origin "http://evil.example": add it to admin.allowedOrigins to allow them' },
      { headers: { origin: `http://127.0.0.1:${server.adminPort + 1}` }, status: 403 },
      { headers: { origin: "null" }, status: 403 },
      { headers: { "sec-fetch-site": "same-site" }, status: 403, message: 'Changes are not accepted from pages of another origin (Sec-Fetch-Site "same-site")' },
    ];
    for (const attempt of attempts) {
      const answer = await call("POST", "/api/topics", { as: ADMIN, body, headers: attempt.headers });
      expect({ headers: attempt.headers, status: answer.status }).toEqual({ headers: attempt.headers, status: attempt.status });
      if (attempt.message !== undefined) expect(answer.json.error.message).toBe(attempt.message);
    }
    expect((await call("DELETE", "/api/topics/orders", { as: ADMIN, headers: { origin: "http://evil.example" } })).status).toBe(403);
    expect((await call("GET", "/api/topics/forged_topic/route", { as: ADMIN })).status).toBe(404);
    // The same change from the page's own origin, and from a client that is no browser, is made.
    const own = await call("POST", "/api/topics", { as: ADMIN, body, headers: { origin: server.adminUrl, "sec-fetch-site": "same-origin" } });
    expect(own.status).toBe(201);
    expect((await call("POST", "/api/topics", { as: ADMIN, body: { topic: "curl_topic" } })).status).toBe(201);
  });

  test("a Host that is not the admin server's address is refused (DNS rebinding); health checks answer any", async () => {
    for (const host of ["rebind.example", `rebind.example:${server.adminPort}`, "127.0.0.1.nip.io", "localhost.evil.example"]) {
      const answer = await call("GET", "/api/topics", { as: ADMIN, headers: { host } });
      expect({ host, status: answer.status }).toEqual({ host, status: 421 });
      expect(answer.json.error.code).toBe("MISDIRECTED_REQUEST");
    }
    expect((await call("GET", "/", { headers: { host: "rebind.example" } })).status).toBe(421);
    expect((await call("GET", "/healthz", { headers: { host: "rebind.example" } })).status).toBe(200);
    for (const host of [`localhost:${server.adminPort}`, `127.0.0.1:${server.adminPort}`, `[::1]:${server.adminPort}`]) {
      expect((await call("GET", "/api/topics", { as: ADMIN, headers: { host } })).status).toBe(200);
    }
  });

  test("a session needs its cookie and its CSRF header; a Basic challenge is never sent", async () => {
    const anonymous = await call("GET", "/api/topics");
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).not.toContain("Basic");
    expect((await call("POST", "/api/session", { body: { ...VICTIM, secretKey: "wrong-secret" } })).status).toBe(401);
    expect((await call("POST", "/api/session", { body: VICTIM, headers: { origin: "http://evil.example" } })).status).toBe(403);

    const signIn = await call("POST", "/api/session", { body: { accessKey: VICTIM.accessKey, secretKey: VICTIM.secretKey } });
    expect(signIn.status).toBe(201);
    expect(signIn.json).toMatchObject({ accessKey: "orders-svc", admin: false });
    const setCookie = signIn.headers.get("set-cookie")!;
    expect(setCookie).toMatch(new RegExp(`^rmq_session_${server.adminPort}=[A-Za-z0-9_-]{43};`));
    for (const attribute of ["HttpOnly", "SameSite=Strict", "Path=/"]) expect(setCookie).toContain(attribute);
    const cookie = setCookie.split(";")[0]!;
    const csrf = signIn.json.csrfToken as string;

    expect((await call("GET", "/api/topics/orders/status", { headers: { cookie } })).status).toBe(401);
    expect((await call("GET", "/api/topics/orders/status", { headers: { "x-csrf-token": csrf } })).status).toBe(401);
    expect((await call("GET", "/api/topics/orders/status", { headers: { cookie, "x-csrf-token": `${csrf}x` } })).status).toBe(401);
    expect((await call("GET", "/api/topics/orders/status", { headers: { cookie, "x-csrf-token": csrf } })).status).toBe(200);
    expect((await call("GET", "/api/session", { headers: { cookie, "x-csrf-token": csrf } })).json).toEqual({ acl: true, accessKey: "orders-svc", admin: false });
    // The session has the account's rights, no more.
    expect((await call("GET", "/api/topics/mallory-topic/status", { headers: { cookie, "x-csrf-token": csrf } })).status).toBe(403);
    expect((await call("DELETE", "/api/session", { headers: { cookie, "x-csrf-token": csrf } })).status).toBe(200);
    expect((await call("GET", "/api/topics/orders/status", { headers: { cookie, "x-csrf-token": csrf } })).status).toBe(401);
  });
});

describe("request bodies", () => {
  test("a chunked body is refused with 413 as soon as it passes the limit, not after it was buffered", async () => {
    const total = 128 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const socket = tcpConnect(server.adminPort, "127.0.0.1");
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    let response = "";
    const answered = new Promise<void>((resolve) => {
      socket.on("data", (data) => {
        response += data.toString();
        if (response.includes("\r\n\r\n")) resolve();
      });
      socket.on("close", () => resolve());
    });
    let done = false;
    answered.then(() => (done = true));
    socket.on("error", () => {});
    const head = [
      "POST /api/topics HTTP/1.1",
      `Host: 127.0.0.1:${server.adminPort}`,
      `Authorization: Basic ${btoa(`${ADMIN.accessKey}:${ADMIN.secretKey}`)}`,
      "Content-Type: application/json",
      "Transfer-Encoding: chunked",
      "",
      "",
    ].join("\r\n");
    socket.write(head);
    let written = 0;
    const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from("\r\n")]);
    while (!done && written < total) {
      written += chunk.length;
      if (!socket.write(frame)) await Promise.race([new Promise((r) => socket.once("drain", r)), answered]);
    }
    await answered;
    socket.destroy();
    expect(response.split("\r\n")[0]).toBe("HTTP/1.1 413 Payload Too Large");
    // The body never ends (its last, empty chunk is never sent), so the answer came mid-body: without
    // the running count the server would wait for the end and the test would time out. How far past
    // the limit the client got says nothing: its runtime may take all 128 MiB into its own buffer
    // before the server reads a byte (seen on a quiet machine), or stop at 107 MiB under load.
    expect((await call("GET", "/api/topics", { as: ADMIN })).status).toBe(200);
  }, 30_000);
});
