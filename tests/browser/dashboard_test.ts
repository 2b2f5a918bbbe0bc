/**
 * The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
 * it shows a topic with its message count, sends a message from the page and sees the count change.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium } from "playwright-core";
import type { HttpServer } from "../../server/admin/serve_types.ts";
import { adminUrl, startAdminServer } from "../../server/admin/start_admin.ts";
import { dial } from "../../server/bun/connect.ts";
import { listen } from "../../server/bun/listen.ts";
import { serve } from "../../server/bun/serve.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(import.meta.dir, "artifacts");

let dir: string;
let system: Standalone;
let admin: HttpServer;
let browser: Browser | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-dashboard-"));
  system = await startStandalone({
    listen,
    dial,
    hostname: "127.0.0.1",
    port: 0,
    nameServerPort: 0,
    dataDir: dir,
    commitLogSegmentSize: 1024 * 1024,
    log: () => {},
  });
  admin = await startAdminServer({ serve, hostname: "127.0.0.1", port: 0, broker: system.broker, nameServer: system.nameServer, dataDir: dir });
  if (!existsSync(CHROMIUM)) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

afterAll(async () => {
  await browser?.close();
  await admin?.close();
  await system?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("dashboard in Chromium", () => {
  test.skipIf(!existsSync(CHROMIUM))("shows a topic's message count, sends a message and sees the count change", async () => {
    const base = adminUrl(admin);
    await fetch(`${base}api/topics`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ topic: "orders", queueNums: 2 }) });
    for (const body of ["first", "second"]) {
      const r = await fetch(`${base}api/topics/orders/messages`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ body, keys: "k1" }) });
      expect(r.status).toBe(201);
    }

    const page = await browser!.newPage({ viewport: { width: 1400, height: 1000 } });
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    page.on("console", (message) => {
      if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    await page.goto(base);

    const count = page.locator('#topic-table tr[data-topic="orders"] td.messages');
    await expect(count.textContent({ timeout: 10_000 })).resolves.toBe("2");
    // The cluster poll fills the broker table and the chart's legend.
    await page.locator("#brokers tbody tr td", { hasText: system.broker.address }).waitFor({ timeout: 10_000 });
    expect(await page.locator("#status-dot").getAttribute("class")).toBe("ok");

    await page.fill("#send-topic", "orders");
    await page.fill("#send-body", "sent from the dashboard");
    await page.fill('#send-form input[name="keys"]', "browser-key");
    await page.click("#send-button");
    await page.locator("#send-result", { hasText: "Sent " }).waitFor({ timeout: 10_000 });
    await page.waitForFunction(
      () => document.querySelector('#topic-table tr[data-topic="orders"] td.messages')?.textContent === "3",
      undefined,
      { timeout: 10_000 },
    );
    expect(system.broker.context.stats.messagesIn).toBe(3);

    // System topics are listed on request, without a Delete button (the broker refuses to delete them).
    await page.check("#show-system");
    await page.locator('#topic-table tr[data-topic="TBW102"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#topic-table tr[data-topic="TBW102"] button').count()).toBe(0);
    expect(await page.locator('#topic-table tr[data-topic="orders"] button', { hasText: "Delete" }).count()).toBe(1);
    await page.uncheck("#show-system");

    // Browse the topic: the newest page of a queue shows stored bodies.
    await page.locator('#topic-table tr[data-topic="orders"]').click();
    await page.locator("#queue-table tbody tr").first().waitFor();
    await page.selectOption("#browse-topic", "orders");
    await page.locator("#search-form input[name=key]").fill("browser-key");
    await page.click("#search-key");
    await page.locator("#message-table td", { hasText: "sent from the dashboard" }).waitFor({ timeout: 10_000 });

    // Let the TPS chart gather a few points, then keep a picture of the page.
    await page.waitForFunction(() => Number(document.getElementById("tps-in")?.textContent) > 0, undefined, { timeout: 10_000 });
    await page.waitForFunction(() => Number(document.getElementById("tps-chart")?.dataset.points) >= 4, undefined, { timeout: 10_000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);
});
