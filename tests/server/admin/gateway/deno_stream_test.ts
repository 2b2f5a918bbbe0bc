/**
 * The gateway's event stream served by Deno (`server/deno/serve.ts`): Deno.serve has no idle
 * timeout, so the stream's end must close the connection itself. A client that stops reading has
 * its connection closed by the server while it still reads nothing, what it was handed comes back
 * to the group, and the server stops with streams open.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect as tcpConnect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { needs } from "../../../_helpers/skip.ts";
import { DENO, type Server, startServer, stop } from "../../../_helpers/process.ts";

const NO_PROC = existsSync("/proc/net/tcp") ? undefined : "needs /proc/net/tcp (Linux) to see the server's side of a connection";

let dir: string;
let server: Server;
let base: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-deno-sse-"));
  server = await startServer(DENO, ["run", "-A", "tests/deno/gateway_server.ts", dir], { ready: /Admin listening on \S+:(\d+)/, timeoutMs: 60_000 });
  base = `http://127.0.0.1:${server.port}`;
  const topic = await fetch(`${base}/api/topics`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ topic: "feed", queueNums: 2 }) });
  expect(topic.status).toBe(201);
}, 90_000);

afterAll(async () => {
  if (server !== undefined) await stop(server);
  rmSync(dir, { recursive: true, force: true });
});

async function post(path: string, body: unknown): Promise<any> {
  const r = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return r.json();
}

/** The TCP state of the server's side of the connection from `clientPort` (01 established), or undefined once it is gone. */
function serverSideState(serverPort: number, clientPort: number): string | undefined {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, "0");
  const local = `0100007F:${hex(serverPort)}`;
  const remote = `0100007F:${hex(clientPort)}`;
  for (const line of readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local && f[2] === remote) return f[3];
  }
  return undefined;
}

describe("HTTP gateway event stream on Deno", () => {
  needs(NO_PROC)("a client that never reads has its connection closed by the server; what it was handed comes back", async () => {
    const body = "x".repeat(60_000);
    const total = 400;
    for (let i = 0; i < total; i += 50) {
      const r = await post("/api/gateway/topics/feed/messages/batch", { messages: Array.from({ length: 50 }, (_, j) => ({ body: `${i + j}:${body}` })) });
      expect(r.results.length).toBe(50);
    }
    const socket: Socket = tcpConnect(server.port, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise<void>((resolve) => socket.on("connect", () => resolve()));
    socket.pause();
    socket.write(`GET /api/gateway/groups/stuck/topics/feed/stream?invisibleTimeMs=2000&maxMessages=8 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    const clientPort = socket.localPort!;
    const established = Date.now();
    while (serverSideState(server.port, clientPort) !== "01") {
      if (Date.now() - established > 5000) throw new Error("The server's side of the stream's connection never showed");
      await Bun.sleep(20);
    }
    // The client reads nothing, ever: its buffers fill, the stream stalls (1 s here) and ends, and
    // the server closes the connection (its side leaves ESTABLISHED) without the client reading.
    const deadline = Date.now() + 20_000;
    let state = serverSideState(server.port, clientPort);
    while (state === "01" && Date.now() < deadline) {
      await Bun.sleep(100);
      state = serverSideState(server.port, clientPort);
    }
    expect(state).not.toBe("01");
    socket.destroy();

    // Everyone else is served, and the stuck client's messages come back to the group.
    const bodies = new Set<string>();
    const until = Date.now() + 30_000;
    while (bodies.size < total && Date.now() < until) {
      const { messages } = await post("/api/gateway/groups/stuck/topics/feed/receive", { maxMessages: 32, waitMs: 3000 }) as { messages: { body: string; receiptHandle: string }[] };
      for (const m of messages) bodies.add(m.body.slice(0, m.body.indexOf(":")));
      if (messages.length > 0) await post("/api/gateway/groups/stuck/topics/feed/ack", { receiptHandles: messages.map((m) => m.receiptHandle) });
    }
    expect(bodies.size).toBe(total);
  }, 90_000);
});
