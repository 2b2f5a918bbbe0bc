/**
 * The gateway's Server-Sent Events stream over a real HTTP server (Bun.serve through the admin
 * server adapter): messages arrive as events with their receipt handles and are acked through the
 * ack endpoint; unacked ones come back after their invisible time; a client that never reads is
 * disconnected once its bounded buffer stays full, and what was popped for it comes back.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { connect as tcpConnect, type Socket } from "node:net";
import * as v from "valibot";
import { ReceivedMessage } from "../../../../server/admin/gateway/_schemas.ts";
import { startAdminServer } from "../../../../server/admin/start_admin.ts";
import type { HttpServer } from "../../../../server/admin/serve_types.ts";
import { serve } from "../../../../server/bun/serve.ts";
import { until } from "../../../_helpers/wait.ts";
import { type AdminFixture, startAdminFixture } from "../_admin_fixture.ts";

let f: AdminFixture;
let http: HttpServer;
let base: string;

beforeEach(async () => {
  f = await startAdminFixture();
  http = await startAdminServer({
    serve,
    port: 0,
    broker: f.system.broker,
    nameServer: f.system.nameServer,
    gateway: { sseBufferBytes: 64 * 1024, sseStallTimeoutMs: 1000, sseHeartbeatMs: 500 },
    idleTimeoutMs: 2000,
  });
  base = `http://127.0.0.1:${http.port}`;
  expect((await f.call("POST", "/api/topics", { topic: "feed", queueNums: 2 })).status).toBe(201);
});

afterEach(async () => {
  await http.close();
  await f.close();
});

async function produce(bodies: string[]) {
  const r = await fetch(`${base}/api/gateway/topics/feed/messages/batch`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: bodies.map((body) => ({ body })) }),
  });
  expect(r.status).toBe(201);
}

/** Reads SSE events from a response until `want` of them arrived. */
async function readEvents(response: Response, want: number): Promise<{ event: string; id?: string; data: unknown }[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: { event: string; id?: string; data: unknown }[] = [];
  let text = "";
  while (events.length < want) {
    const { done, value } = await reader.read();
    if (done) break;
    text += value;
    let end: number;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      if (block.startsWith(":")) continue;
      const fields = Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]));
      events.push({ event: fields.event!, id: fields.id, data: JSON.parse(fields.data!) });
    }
  }
  await reader.cancel();
  return events;
}

describe("HTTP gateway event stream", () => {
  test("messages arrive as events with receipt handles; acked ones stay settled, unacked ones come back after their invisible time", async () => {
    await produce(["e1", "e2", "e3"]);
    const stream = await fetch(`${base}/api/gateway/groups/readers/topics/feed/stream?invisibleTimeMs=1000`);
    expect(stream.status).toBe(200);
    expect(stream.headers.get("content-type")).toStartWith("text/event-stream");
    const first = await readEvents(stream, 3);
    const messages = first.map((e) => {
      expect(e.event).toBe("message");
      const m = v.parse(ReceivedMessage, e.data);
      expect(e.id).toBe(m.msgId);
      return m;
    });
    expect(messages.map((m) => m.body).sort()).toEqual(["e1", "e2", "e3"]);
    const acked = messages.filter((m) => m.body !== "e2");
    const ack = await fetch(`${base}/api/gateway/groups/readers/topics/feed/ack`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ receiptHandles: acked.map((m) => m.receiptHandle) }),
    });
    expect(await ack.json()).toEqual({ acked: 2, failed: [] });

    // A new stream: only e2 comes back, as its second delivery, once its invisible time is over.
    const again = await fetch(`${base}/api/gateway/groups/readers/topics/feed/stream?invisibleTimeMs=1000`);
    const [back] = await readEvents(again, 1);
    const m = v.parse(ReceivedMessage, back!.data);
    expect([m.body, m.deliveryAttempt]).toEqual(["e2", 2]);
    expect(Date.now()).toBeGreaterThanOrEqual(messages.find((x) => x.body === "e2")!.invisibleUntil);
  });

  test("a stream delivers messages produced after it opened", async () => {
    const stream = await fetch(`${base}/api/gateway/groups/late/topics/feed/stream`);
    expect(stream.status).toBe(200);
    const reading = readEvents(stream, 2);
    await produce(["later-1", "later-2"]);
    const events = await reading;
    expect(events.map((e) => (e.data as { body: string }).body).sort()).toEqual(["later-1", "later-2"]);
  });

  test("a client that never reads is disconnected with its memory bounded; what it was handed comes back", async () => {
    const body = "x".repeat(60_000);
    const total = 400;
    for (let i = 0; i < total; i += 50) await produce(Array.from({ length: 50 }, (_, j) => `${i + j}:${body}`));
    const socket: Socket = tcpConnect(http.port, "127.0.0.1");
    let read = 0;
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.on("error", () => {});
    socket.on("data", (chunk: Uint8Array) => (read += chunk.length));
    await new Promise<void>((resolve) => socket.on("connect", () => resolve()));
    socket.pause();
    socket.write(`GET /api/gateway/groups/stuck/topics/feed/stream?invisibleTimeMs=2000&maxMessages=8 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const pop = f.system.broker.context.pop;
    await until(() => pop.counters.popped > 0, 5000, "the stream to pop");
    // Not reading: the stream stops popping once its buffer is full, and is cut.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const handed = pop.counters.popped;
    expect(handed).toBeLessThan(total / 2);
    socket.resume();
    await closed;
    // What reached the socket before the cut is all it got: far from the backlog.
    expect(read).toBeLessThan(total * body.length / 2);
    expect(pop.counters.popped).toBe(handed);
    // Others keep being served, and the stuck client's messages come back to them.
    const bodies = new Set<string>();
    const deadline = Date.now() + 20_000;
    while (bodies.size < total && Date.now() < deadline) {
      const r = await fetch(`${base}/api/gateway/groups/stuck/topics/feed/receive`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ maxMessages: 32, waitMs: 3000 }),
      });
      const { messages } = await r.json() as { messages: { body: string; receiptHandle: string }[] };
      for (const m of messages) bodies.add(m.body.slice(0, m.body.indexOf(":")));
      if (messages.length > 0) {
        await fetch(`${base}/api/gateway/groups/stuck/topics/feed/ack`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ receiptHandles: messages.map((m) => m.receiptHandle) }),
        });
      }
    }
    expect(bodies.size).toBe(total);
  }, 60_000);

  test("a refused stream is an HTTP error, not a stream", async () => {
    const missing = await fetch(`${base}/api/gateway/groups/readers/topics/nothing/stream`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).error.code).toBe("NOT_FOUND");
    const bad = await fetch(`${base}/api/gateway/groups/readers/topics/feed/stream?maxMessages=99`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toMatch(/maxMessages/);
  });
});
