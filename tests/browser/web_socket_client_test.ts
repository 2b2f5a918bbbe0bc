/**
 * The browser build of the client (`dist/browser/rocketmq-ts.js`, built here by the same
 * definition `npm run build:npm` uses) in a real headless Chromium: a page loads it from its own
 * origin, produces and pulls through WebSockets against a real NameServer and broker, and reads
 * what a TCP client sent. A page whose origin is not allowed gets a clear error and no connection.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import { dial } from "../../client/bun/connect.ts";
import { Producer } from "../../client/producer.ts";
import type { MessageQueue } from "../../core/model/message_queue.ts";
import { listen } from "../../server/bun/listen.ts";
import { listenWebSocket } from "../../server/bun/listen_web_socket.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { type Bundle, buildBrowserBundle } from "../../scripts/_edge_bundles.ts";
import { needs } from "../_helpers/skip.ts";

const CHROMIUM = "/usr/bin/chromium";
const NO_CHROMIUM = existsSync(CHROMIUM) ? undefined : `needs Chromium at ${CHROMIUM} (apt-get install chromium)`;

let dir: string;
let system: Standalone;
let bundle: Bundle;
let site: ReturnType<typeof Bun.serve>;
let browser: Browser | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-browser-"));
  bundle = await buildBrowserBundle(join(dir, "bundle"));
  // The page's own origin, which the servers allow (a page on another port of 127.0.0.1 is another origin).
  site = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request) =>
      new URL(request.url).pathname === "/rocketmq-ts.js"
        ? new Response(bundle.bytes, { headers: { "content-type": "text/javascript" } })
        : new Response("<!doctype html><title>rocketmq-ts</title><p>client page</p>", { headers: { "content-type": "text/html" } }),
  });
  const origin = `http://127.0.0.1:${site.port}`;
  system = await startStandalone({
    listen,
    dial,
    listenWebSocket,
    hostname: "127.0.0.1",
    port: 0,
    nameServerPort: 0,
    webSocketPort: 0,
    webSocketAllowedOrigins: [origin],
    nameServer: { webSocketPort: 0, webSocketAllowedOrigins: [origin] },
    dataDir: join(dir, "data"),
    log: () => {},
  });
  if (NO_CHROMIUM !== undefined) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  site?.stop(true);
  await system?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** What the page is told: where the servers are, by TCP address and WebSocket URL. */
function serversFor(host = "127.0.0.1") {
  return {
    nameServer: system.nameServerAddress,
    urls: {
      [system.nameServerAddress]: `ws://${host}:${system.nameServer.webSocketPort}/`,
      [system.brokerAddress]: `ws://${host}:${system.broker.webSocketPort}/`,
    } as Record<string, string>,
  };
}

interface PageResult {
  sent: Array<{ status: string; queue: MessageQueue; offset: number }>;
  pulled: string[];
  fromTcp: string[];
}

describe("the browser build in Chromium", () => {
  needs(NO_CHROMIUM)("a page produces and pulls over WebSockets, and reads what a TCP client sent", async () => {
    const tcp = new Producer({ nameServer: system.nameServerAddress, dial });
    await tcp.start();
    const fromTcp = await tcp.send({ topic: "browser_inbox", body: "sent over TCP" });
    await tcp.shutdown();

    const page = await browser!.newPage();
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    await page.goto(`http://127.0.0.1:${site.port}/`);
    const result = await page.evaluate(async ({ servers, inbox }) => {
      const { Producer, PullConsumer, webSocketDialer } = await import("/rocketmq-ts.js" as string);
      const dial = webSocketDialer({ url: (address: string) => servers.urls[address] });
      const producer = new Producer({ nameServer: servers.nameServer, dial });
      const consumer = new PullConsumer({ nameServer: servers.nameServer, group: "page", dial });
      await producer.start();
      await consumer.start();
      const sent = [];
      for (let i = 0; i < 10; i++) {
        const r = await producer.send({ topic: "browser_orders", body: `from the page ${i}` }, { selector: (queues: unknown[]) => queues[0] });
        sent.push({ status: r.status, queue: r.messageQueue, offset: r.queueOffset });
      }
      const decode = (m: { body: Uint8Array }) => new TextDecoder().decode(m.body);
      const pulled = (await consumer.pull(sent[0]!.queue, sent[0]!.offset, { maxNums: 32 })).messages.map(decode);
      const fromTcp = (await consumer.pull(inbox.queue, inbox.offset, { maxNums: 1 })).messages.map(decode);
      await producer.shutdown();
      await consumer.shutdown();
      return { sent, pulled, fromTcp };
    }, { servers: serversFor(), inbox: { queue: fromTcp.messageQueue, offset: fromTcp.queueOffset } }) as PageResult;
    expect(result.sent.map((s) => s.status)).toEqual(Array(10).fill("SEND_OK"));
    expect(result.pulled).toEqual(Array.from({ length: 10 }, (_, i) => `from the page ${i}`));
    expect(result.fromTcp).toEqual(["sent over TCP"]);
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("a page from an origin that is not allowed cannot connect, and is told why it failed", async () => {
    const page = await browser!.newPage();
    // localhost is another origin than 127.0.0.1, though the same machine.
    await page.goto(`http://localhost:${site.port}/`);
    const outcome = await page.evaluate(async (servers) => {
      const { Producer, webSocketDialer } = await import("/rocketmq-ts.js" as string);
      const producer = new Producer({ nameServer: servers.nameServer, dial: webSocketDialer({ url: (a: string) => servers.urls[a] }), sendTimeoutMs: 3000 });
      await producer.start();
      try {
        await producer.send({ topic: "browser_orders", body: "must not arrive" });
        return { name: "none", message: "sent" };
      } catch (error) {
        return { name: (error as Error).name, message: (error as Error).message };
      } finally {
        await producer.shutdown();
      }
    }, serversFor()) as { name: string; message: string };
    expect(outcome.name).not.toBe("none");
    expect(outcome.message).toContain(system.nameServerAddress);
    expect(outcome.message).toContain("webSocketAllowedOrigins");
    await page.close();
  }, 60_000);
});
