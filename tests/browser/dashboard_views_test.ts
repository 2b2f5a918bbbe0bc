/**
 * Every view of the dashboard in a real headless Chromium against a real broker holding what an
 * operator looks at (topics past a page, groups online and lagging, dead letters, a pending
 * transaction, timers, traffic): each view shows the broker's figures, deep links survive a reload,
 * back and forward move between views, lists keep their search, sorting and page in the URL, the
 * page works at 360 px and by keyboard alone, and a server that stops answering shows a banner
 * with the time of the last good data. Screenshots of each view go to tests/browser/artifacts/.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import type { HttpServer } from "../../server/admin/serve_types.ts";
import { adminUrl, startAdminServer } from "../../server/admin/start_admin.ts";
import { dial } from "../../server/bun/connect.ts";
import { listen } from "../../server/bun/listen.ts";
import { serve } from "../../server/bun/serve.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { needs } from "../_helpers/skip.ts";
import { type DashboardData, populate } from "./_dashboard_data.ts";

const CHROMIUM = "/usr/bin/chromium";
const NO_CHROMIUM = existsSync(CHROMIUM) ? undefined : `needs Chromium at ${CHROMIUM} (apt-get install chromium)`;
const ARTIFACTS = join(import.meta.dir, "artifacts");
const WAIT = { timeout: 15_000 };

let dir: string;
let system: Standalone;
let admin: HttpServer;
let base: string;
let data: DashboardData;
let browser: Browser | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-dashboard-views-"));
  system = await startStandalone({
    listen, dial, hostname: "127.0.0.1", port: 0, nameServerPort: 0, dataDir: dir, commitLogSegmentSize: 1024 * 1024, log: () => {},
    // Trace records of the broker (dead letters), and retries back at once.
    traceTopicEnable: true, messageDelayLevel: "100ms 100ms 100ms 100ms 100ms 100ms",
  });
  admin = await startAdminServer({ serve, hostname: "127.0.0.1", port: 0, broker: system.broker, nameServer: system.nameServer, dataDir: dir });
  base = adminUrl(admin);
  data = await populate(system, base);
  mkdirSync(ARTIFACTS, { recursive: true });
  if (existsSync(CHROMIUM)) {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"] });
  }
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await data?.close();
  await admin?.close();
  await system?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A page that collects script errors; `check()` fails the test on any. */
async function open(width = 1280, height = 900): Promise<Page & { problems: string[] }> {
  const page = await browser!.newPage({ viewport: { width, height } }) as Page & { problems: string[] };
  page.problems = [];
  page.on("pageerror", (error) => page.problems.push(`page error: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") page.problems.push(`console: ${message.text()}`);
  });
  return page;
}

async function shot(page: Page, name: string): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** The text of the cell of `column` in the list row keyed `key`. */
function cell(page: Page, key: string, column: number) {
  return page.locator(`tr[data-key="${key}"] td`).nth(column);
}

/** The value of an overview or summary card. */
function cardValue(page: Page, label: string) {
  return page.locator(".card", { has: page.locator(".label", { hasText: new RegExp(`^${label}$`) }) }).locator(".value");
}

/** The value of a facts list entry. */
function fact(page: Page, label: string) {
  return page.locator(`dl.facts dt:text-is("${label}") + dd`);
}

describe("dashboard views in Chromium", () => {
  needs(NO_CHROMIUM)("the overview shows the broker's figures, the kept TPS history and what needs attention", async () => {
    const page = await open();
    await page.goto(base);
    await expect(cardValue(page, "Pending transactions").textContent(WAIT)).resolves.toBe("1");
    await page.waitForFunction(() => document.querySelector("#cards .card .value")?.textContent !== "", undefined, WAIT);
    expect(await cardValue(page, "Dead letters").textContent()).toBe("6");
    expect(await cardValue(page, "Pending timers").textContent()).toBe("1");
    expect(await cardValue(page, "Consumer groups").textContent()).toBe("3");
    // audit read 2 of each queue of orders: its lag is the rest.
    const orders = system.broker.context.store;
    let ordersStored = 0;
    for (let q = 0; q < 4; q++) ordersStored += orders.getMaxOffset("orders", q);
    await page.waitForFunction((min) => Number(document.querySelector("#cards")!.textContent!.match(/Total lag([\d,]+)/)![1]!.replace(/,/g, "")) >= min, ordersStored - 8, WAIT);
    await page.locator("#brokers td", { hasText: system.broker.address }).waitFor(WAIT);
    await page.locator("#attention li", { hasText: "fragile: 6 dead letters since the broker started" }).waitFor(WAIT);
    await page.locator("#attention li", { hasText: "dashboard_tx on tx_orders" }).waitFor(WAIT);
    // The chart is drawn from the broker's history: its points are there at once, not gathered by the page.
    const points = Number(await page.locator("#overview-tps svg").getAttribute("data-points", WAIT));
    expect(points).toBeGreaterThan(0);
    const history = await (await fetch(`${base}api/traffic`)).json() as { fine: { in: number[] } };
    expect(Math.abs(history.fine.in.length - points)).toBeLessThanOrEqual(3);
    expect(await page.locator("#status-dot").getAttribute("class")).toBe("ok");
    await shot(page, "view-overview");
    expect(page.problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("topics: search, kind filter, sorting and paging; a topic's view shows its queues, groups and history and takes a test message", async () => {
    const page = await open();
    await page.goto(`${base}#/topics`);
    await page.locator('tr[data-key="audit-log"]').waitFor(WAIT);
    // 28 user topics (tx_orders too) at 20 a page.
    await page.locator(".pager", { hasText: "Page 1 of 2" }).waitFor(WAIT);
    expect(await page.locator("tbody tr").count()).toBe(20);
    expect(await cell(page, "audit-log", 1).textContent()).toBe("ordered");
    expect(await cell(page, "audit-log", 3).textContent()).toBe("r-");
    await page.click(".pager button:text('Next')");
    await page.locator(".pager", { hasText: "Page 2 of 2" }).waitFor();
    expect(await page.locator("tbody tr").count()).toBe(8);
    await page.fill('input[type="search"]', "pay");
    await page.locator(".list-tools .count", { hasText: "1 of 28 topics" }).waitFor();
    expect(await page.locator("tbody tr").count()).toBe(1);
    expect(await cell(page, "payments", 4).textContent()).toBe("48 h");
    await page.fill('input[type="search"]', "");
    await page.selectOption('select[aria-label="Kind"]', "dlq");
    await page.locator('tr[data-key="%DLQ%fragile"]').waitFor();
    expect(await cell(page, "%DLQ%fragile", 5).textContent()).toBe("6");
    await page.selectOption('select[aria-label="Kind"]', "normal");
    await page.click("th button:text('Messages')");
    await page.waitForFunction(() => document.querySelector("tbody tr")?.getAttribute("data-key") === "orders", undefined, WAIT);
    expect(await page.locator("th[aria-sort]").textContent()).toBe("Messages");
    expect(await page.locator("th[aria-sort]").getAttribute("aria-sort")).toBe("descending");
    await shot(page, "view-topics");

    await page.locator('tr[data-key="orders"]').click();
    await page.waitForURL(/#\/topics\/orders$/);
    await page.locator("#queue-table tbody tr").nth(3).waitFor(WAIT);
    const stored = Number((await fact(page, "Messages stored").textContent(WAIT))!.replace(/,/g, ""));
    expect(stored).toBeGreaterThan(40);
    expect(await page.locator("h1").textContent()).toBe("orders");
    await page.locator("section", { hasText: "Consumer groups" }).locator("td a", { hasText: "billing" }).waitFor(WAIT);
    await page.locator("section", { hasText: "Consumer groups" }).locator("td a", { hasText: "audit" }).waitFor(WAIT);
    await page.waitForFunction(() => Number(document.querySelector("#topic-tps svg")?.getAttribute("data-points")) > 0, undefined, WAIT);
    await page.fill("#send-body", "sent from the topic view");
    await page.fill('#send-form input[name="keys"]', "browser-key");
    await page.click("#send-button");
    await page.locator("#send-result", { hasText: "Sent " }).waitFor(WAIT);
    await page.waitForFunction((n) => {
      const match = document.querySelector("#topic-facts")!.textContent!.match(/Messages stored([\d,]+)/);
      return match !== null && Number(match[1]!.replace(/,/g, "")) > n;
    }, stored, WAIT);
    await shot(page, "view-topic");
    expect(page.problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("consumer groups: the list filters by state; a group's view shows members, subscriptions and lag per queue", async () => {
    const page = await open();
    await page.goto(`${base}#/groups`);
    await page.locator('tr[data-key="billing"]').waitFor(WAIT);
    expect(await cell(page, "billing", 1).textContent()).toBe("1");
    expect(await cell(page, "fragile", 5).textContent()).toBe("6");
    await page.selectOption('select[aria-label="Show"]', "offline");
    await page.locator(".list-tools .count", { hasText: "1 group (3 in all)" }).waitFor();
    expect(await page.locator("tbody tr").getAttribute("data-key")).toBe("audit");
    await shot(page, "view-groups");
    await page.locator('tr[data-key="audit"]').click();
    await page.waitForURL(/#\/groups\/audit$/);
    await page.locator("h1 .tag", { hasText: "offline" }).waitFor(WAIT);
    await page.locator('tr[data-key="orders#0"]').waitFor(WAIT);
    expect(await cell(page, "orders#0", 3).textContent()).toBe("2");

    await page.goto(`${base}#/groups/billing`);
    await page.locator("h1 .tag", { hasText: "online" }).waitFor(WAIT);
    await page.locator("#group-members td", { hasText: "orders [*]" }).waitFor(WAIT);
    expect(await fact(page, "Consume type").textContent()).toBe("PUSH");
    await shot(page, "view-group");
    expect(page.problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("messages: found by key in a time range and by browsing; one message formatted with local and ISO times, properties, body as JSON, text or hex, its trace", async () => {
    const page = await open();
    await page.goto(`${base}#/messages`);
    await page.selectOption("#key-topic", "orders", WAIT);
    await page.fill("#key-input", "order-7");
    await page.click('#key-form button[type="submit"]');
    await page.waitForURL(/mode=key/);
    await page.locator("#results-info", { hasText: '2 messages with key "order-7" in orders' }).waitFor(WAIT);
    expect(await page.locator(`tr[data-key="${data.json.msgId}"]`).count()).toBe(1);
    await shot(page, "view-messages");
    // A time range that ends before the messages were stored finds none.
    await page.goto(`${base}#/messages?mode=key&topic=orders&key=order-7&end=1000`);
    await page.locator("#results-info", { hasText: "0 messages" }).waitFor(WAIT);
    // Browsing a queue page by page.
    const at = data.json.queueOffset;
    await page.goto(`${base}#/messages?mode=browse&topic=orders&queue=${data.json.queueId}&offset=${at - 2}&limit=2`);
    await page.locator("#results-info", { hasText: `orders, queue ${data.json.queueId}: offsets ${at - 2} – ${at - 1} of 0 – ` }).waitFor(WAIT);
    await page.locator(".button", { hasText: "Newer" }).click();
    await page.waitForURL(new RegExp(`offset=${at}&`));
    await page.locator("#results-info", { hasText: `orders, queue ${data.json.queueId}: offsets ${at} – ` }).waitFor(WAIT);
    await page.locator(".button", { hasText: "Older" }).waitFor();

    await page.locator(`tr[data-key="${data.json.msgId}"]`).click();
    await page.waitForURL(new RegExp(`#/messages/${data.json.msgId}`));
    await page.locator("#message-body").waitFor(WAIT);
    expect(await page.locator("#message-body").getAttribute("data-mode")).toBe("json");
    expect(await page.locator("#message-body").textContent()).toContain('  "customer": "Ada",\n');
    expect(await page.locator("#property-table td", { hasText: /^region$/ }).count()).toBe(1);
    expect(await page.locator("#property-table tr", { hasText: "region" }).locator("td").nth(1).textContent()).toBe("eu");
    const stored = fact(page, "Stored");
    const iso = await stored.locator("time").getAttribute("datetime");
    expect(await stored.textContent()).toContain(iso!);
    expect(await stored.textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC[+-]\d\d:\d\d/);
    // Sent through the admin API and consumed by an untraced group: no trace.
    expect(await page.locator("#trace-none").textContent(WAIT)).toContain("No trace recorded for this message. Clients record their sends and deliveries only with enableTrace: true");
    await page.click('button[data-mode="hex"]');
    expect(await page.locator("#message-body").textContent()).toMatch(/^00000000 {2}7b 22 69 64 22 3a 37 2c/);
    await page.click('button[data-mode="text"]');
    expect(await page.locator("#message-body").textContent()).toBe('{"id":7,"customer":"Ada","items":[{"sku":"X-1","qty":2}],"total":19.9}');
    await shot(page, "view-message");

    // A binary body opens as hex; a unique key is looked up through the key index.
    await page.goto(`${base}#/messages/${data.binary.uniqueKey}`);
    await page.locator("#lookup-note", { hasText: "Found by unique key: 1 stored copy" }).waitFor(WAIT);
    expect(await page.locator("#message-body").getAttribute("data-mode")).toBe("hex");
    expect(await page.locator("#message-body").textContent()).toContain("00 9f 92 96 ff 01 02 03");
    expect(await page.locator('button[data-mode="json"]').isDisabled()).toBe(true);
    await shot(page, "view-message-binary");
    expect(page.problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("a traced message's view draws its trace: sent, delivered and failed twice, dead-lettered, each with its time, group, client, attempt, cost and host", async () => {
    const page = await open();
    await page.goto(`${base}#/messages/${data.traced.msgId}`);
    await page.locator("#trace-timeline li").nth(5).waitFor(WAIT);
    const steps = await page.locator("#trace-timeline li").evaluateAll((items) => items.map((li) => {
      const field = (name: string) => li.querySelector(`[data-field="${name}"] > span:last-child`)?.textContent ?? null;
      return {
        step: (li as HTMLElement).dataset.step, tag: li.querySelector(".tag")!.textContent, group: field("group"), client: field("client"),
        attempt: field("attempt"), cost: field("cost"), host: field("host"),
        local: li.querySelector("time")!.textContent, iso: li.querySelector("time")!.getAttribute("datetime"), isoShown: li.querySelector(".trace-head .sub")!.textContent,
      };
    }));
    expect(steps.map((s) => [s.step, s.tag, s.group, s.attempt])).toEqual([
      ["sent", "sent", "dashboard_orders", null],
      ["delivered", "delivered", "fragile", "1"],
      ["consume failed", "consume failed", "fragile", "1"],
      ["delivered", "delivered", "fragile", "2"],
      ["consume failed", "consume failed", "fragile", "2"],
      ["dead-lettered", "dead-lettered", "fragile", "2"],
    ]);
    const broker = system.broker.address;
    expect(steps[0]!.host).toBe(broker);
    expect(steps[0]!.cost).toMatch(/^\d+ ms$/);
    expect(steps[2]!.cost).toMatch(/^\d+ ms$/);
    expect(steps[5]!.client).toBe("broker");
    expect(steps[5]!.host).toBe(broker);
    for (const s of steps.slice(0, 5)) expect(s.client).toMatch(/^\S+@\S+$/);
    for (const s of steps) {
      expect(s.isoShown).toBe(s.iso!);
      expect(s.local).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC[+-]\d\d:\d\d$/);
      expect(new Date(s.iso!).getTime()).toBeGreaterThan(Date.now() - 300_000);
    }
    // Oldest first.
    const times = steps.map((s) => new Date(s.iso!).getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(await page.locator("#trace-summary").textContent()).toStartWith("6 steps recorded in RMQ_SYS_TRACE_TOPIC, oldest first.");
    expect(await page.locator("#trace-timeline li.bad").count()).toBe(1);
    await shot(page, "view-message-trace");

    // The dead letter the trace names opens, and shows the same trace (it is traced by its unique key, as a message of payments).
    await page.click("a.trace-dlq");
    await page.waitForURL(/#\/messages\/[0-9A-F]+$/);
    await page.locator("dl.facts a", { hasText: "%DLQ%fragile" }).waitFor(WAIT);
    await page.locator("#trace-timeline li").nth(5).waitFor(WAIT);
    expect(await page.locator("#trace-timeline li").evaluateAll((items) => items.map((li) => (li as HTMLElement).dataset.step))).toEqual(steps.map((s) => s.step));
    expect(page.problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("a message is sent again to one consumer group only, and a dead letter back to its topic", async () => {
    const page = await open();
    const before = data.billingReceived();
    const ordersEnd = system.broker.context.store.getMaxOffset("orders", data.json.queueId);
    await page.goto(`${base}#/messages/${data.json.msgId}`);
    await page.selectOption("#resend-group", "billing", WAIT);
    await page.click("#resend-button");
    await page.locator("#resend-result", { hasText: "Stored for group billing as" }).waitFor(WAIT);
    // billing's online member gets it again; orders itself did not grow, so audit gets nothing new.
    const deadline = Date.now() + 15_000;
    while (data.billingReceived() === before && Date.now() < deadline) await Bun.sleep(20);
    expect(data.billingReceived()).toBe(before + 1);
    expect(system.broker.context.store.getMaxOffset("orders", data.json.queueId)).toBe(ordersEnd);
    expect(system.broker.context.store.getMaxOffset("%RETRY%billing", 0)).toBeGreaterThan(0);

    await page.goto(`${base}#/dlq`);
    await page.locator(`tr[data-key="${data.deadLetterId}"]`).waitFor(WAIT);
    expect(await page.locator("tbody tr").count()).toBe(6);
    expect(await cell(page, data.deadLetterId, 1).textContent()).toBe("payments");
    await shot(page, "view-dlq");
    const payments = system.broker.context.store;
    const paymentsBefore = payments.getMaxOffset("payments", 0) + payments.getMaxOffset("payments", 1);
    await page.locator(`tr[data-key="${data.deadLetterId}"] button`, { hasText: "Re-send" }).click();
    await page.locator("#notice", { hasText: "Re-sent to payments as" }).waitFor(WAIT);
    expect(payments.getMaxOffset("payments", 0) + payments.getMaxOffset("payments", 1)).toBe(paymentsBefore + 1);
    // The row opens the dead letter, which offers both ways back.
    await page.locator(`tr[data-key="${data.deadLetterId}"]`).click();
    await page.locator("#dlq-resend", { hasText: "Re-send to payments (every group)" }).waitFor(WAIT);
    expect(await page.locator("#resend-group option").allTextContents()).toEqual(["fragile"]);
    expect(page.problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("transactions, timers, connections, cluster and store recovery each show the broker's state", async () => {
    const page = await open();
    await page.goto(`${base}#/transactions`);
    await page.locator('tr[data-key="tx_orders|dashboard_tx"]').waitFor(WAIT);
    expect(await cell(page, "tx_orders|dashboard_tx", 2).textContent()).toBe("1");
    await page.locator('tr[data-key="tx_orders|dashboard_tx"]').click();
    await page.waitForURL(/topic=tx_orders&group=dashboard_tx/);
    await page.locator("#txn-halves tbody tr").waitFor(WAIT);
    expect(await page.locator("#txn-halves tbody tr").count()).toBe(1);
    await shot(page, "view-transactions");

    await page.goto(`${base}#/timers`);
    await expect(cardValue(page, "Pending").textContent(WAIT)).resolves.toBe("1");
    expect(Number(await cardValue(page, "Delivered \\(fired\\)").textContent())).toBeGreaterThanOrEqual(1);
    await shot(page, "view-timers");

    await page.goto(`${base}#/connections`);
    await page.locator(".list", { hasText: "producer" }).locator("td", { hasText: "dashboard_tx" }).waitFor(WAIT);
    await page.locator('tr[data-key^="billing/"]').waitFor(WAIT);
    await page.locator('tr[data-key^="fragile/"]').waitFor(WAIT);
    expect(await page.locator('tr[data-key^="fragile/"] td').nth(4).textContent()).toContain("payments [*]");
    await shot(page, "view-connections");

    await page.goto(`${base}#/cluster`);
    await page.locator(`tr[data-key="${system.broker.address}"]`).waitFor(WAIT);
    expect(await cell(page, system.broker.address, 2).textContent()).toBe("master (ASYNC_MASTER)");
    await page.locator("h2", { hasText: "Broker broker-a #0" }).waitFor(WAIT);
    expect(await fact(page, "Port").textContent()).toBe(String(system.nameServer.port));
    await shot(page, "view-cluster");

    await page.goto(`${base}#/store`);
    await page.locator("#recovery-summary", { hasText: "Store recovered" }).waitFor(WAIT);
    expect(await fact(page, "Checkpoint").textContent()).toBe("none");
    await shot(page, "view-store");
    expect(page.problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("deep links survive a reload, back and forward move between views, and a list keeps its search and page in the URL", async () => {
    const page = await open();
    await page.goto(`${base}#/topics/payments`);
    await page.locator("#queue-table tbody tr").nth(1).waitFor(WAIT);
    await page.reload();
    expect(await page.locator("h1").textContent(WAIT)).toBe("payments");
    await page.locator("#queue-table tbody tr").nth(1).waitFor(WAIT);
    await page.locator("section", { hasText: "Consumer groups" }).locator("a", { hasText: "fragile" }).click();
    await page.waitForURL(/#\/groups\/fragile$/);
    await page.locator("h1", { hasText: "fragile" }).waitFor(WAIT);
    await page.goBack();
    await page.waitForURL(/#\/topics\/payments$/);
    await page.locator("h1", { hasText: "payments" }).waitFor(WAIT);
    expect(await page.locator("nav#nav a[aria-current=page]").textContent()).toBe("Topics");
    await page.goForward();
    await page.locator("h1", { hasText: "fragile" }).waitFor(WAIT);
    expect(await page.locator("nav#nav a[aria-current=page]").textContent()).toBe("Consumer groups");

    await page.click("nav#nav a:text('Topics')");
    await page.locator('tr[data-key="audit-log"]').waitFor(WAIT);
    await page.fill('input[type="search"]', "load-");
    await page.click(".pager button:text('Next')");
    await page.waitForURL(/#\/topics\?q=load-&page=2$/);
    await page.reload();
    await page.locator(".pager", { hasText: "Page 2 of 2" }).waitFor(WAIT);
    expect(await page.inputValue('input[type="search"]')).toBe("load-");
    expect(await page.locator("tbody tr").first().getAttribute("data-key")).toBe("load-20");
    // Filters replace the URL instead of piling up history: back leaves the list.
    await page.goBack();
    await page.locator("h1", { hasText: "fragile" }).waitFor(WAIT);
    expect(page.problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("works by keyboard alone: a skip link, visible focus, the nav in tab order and rows opened with Enter", async () => {
    const page = await open();
    await page.goto(`${base}#/groups`);
    await page.locator('tr[data-key="billing"]').waitFor(WAIT);
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).top)).toBe("8px");
    await page.keyboard.press("Enter");
    expect(await page.evaluate(() => document.activeElement?.tagName + " " + document.activeElement?.textContent)).toBe("H1 Consumer groups");
    expect(page.url()).toMatch(/#\/groups$/);
    // From the heading, Tab reaches the search box, the filter and the sort buttons, then the rows.
    for (let i = 0; i < 30; i++) {
      await page.keyboard.press("Tab");
      if (await page.evaluate(() => document.activeElement?.tagName === "TR")) break;
    }
    const focused = await page.evaluate(() => ({ key: (document.activeElement as HTMLElement).dataset.key, outline: getComputedStyle(document.activeElement!).outlineStyle }));
    expect(focused).toEqual({ key: "audit", outline: "solid" });
    await page.keyboard.press("ArrowDown");
    expect(await page.evaluate(() => (document.activeElement as HTMLElement).dataset.key)).toBe("billing");
    await page.keyboard.press("Enter");
    await page.waitForURL(/#\/groups\/billing$/);
    await page.locator("h1", { hasText: "billing" }).waitFor(WAIT);
    // After a route change focus is on the new view's heading.
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe("H1");
    // The sections follow the skip link and the home link in tab order.
    await page.evaluate(() => document.getElementById("skip")!.focus());
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press("Tab");
      if (await page.evaluate(() => document.activeElement?.textContent === "Dead letters")) break;
    }
    expect(await page.evaluate(() => document.activeElement?.closest("nav")?.id)).toBe("nav");
    await page.keyboard.press("Enter");
    await page.waitForURL(/#\/dlq$/);
    await page.locator(`tr[data-key="${data.deadLetterId}"]`).waitFor(WAIT);
    await shot(page, "keyboard-dlq");
    expect(page.problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("at 360 px wide no view is wider than the screen; tables scroll in their panels", async () => {
    const page = await open(360, 740);
    const views: [string, string, string][] = [
      ["", "#cards .card", "narrow-overview"],
      ["topics", 'tr[data-key="audit-log"]', "narrow-topics"],
      ["topics/orders", "#queue-table tbody tr", "narrow-topic"],
      ["groups/billing", "#group-members td", "narrow-group"],
      [`messages/${data.json.msgId}`, "#message-body", "narrow-message"],
      [`messages/${data.traced.msgId}`, "#trace-timeline li", "narrow-message-trace"],
      ["messages?mode=key&topic=orders&key=order-7", `tr[data-key="${data.json.msgId}"]`, "narrow-messages"],
      ["dlq", `tr[data-key="${data.deadLetterId}"]`, "narrow-dlq"],
      ["transactions", 'tr[data-key="tx_orders|dashboard_tx"]', "narrow-transactions"],
      ["timers", "#timer-cards .card", "narrow-timers"],
      ["connections", 'tr[data-key^="billing/"]', "narrow-connections"],
      ["cluster", `tr[data-key="${system.broker.address}"]`, "narrow-cluster"],
      ["store", "#recovery-summary p", "narrow-store"],
    ];
    for (const [route, ready, name] of views) {
      await page.goto(`${base}#/${route}`);
      await page.locator(ready).first().waitFor(WAIT);
      const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, body: document.body.scrollWidth }));
      expect({ route, ...widths }).toEqual({ route, page: 360, body: 360 });
      await shot(page, name);
    }
    // The navigation scrolls sideways inside itself.
    expect(await page.evaluate(() => document.querySelector("nav#nav")!.scrollWidth > 360)).toBe(true);
    expect(page.problems).toEqual([]);
    await page.close();
  }, 90_000);

  needs(NO_CHROMIUM)("a server that stops answering shows a banner with the time of the last good data and greys the figures; it clears once the server is back", async () => {
    const second = await startAdminServer({ serve, hostname: "127.0.0.1", port: 0, broker: system.broker, nameServer: system.nameServer, dataDir: dir });
    const port = second.port;
    const page = await open();
    await page.goto(`${adminUrl(second)}#/`);
    await expect(cardValue(page, "Pending transactions").textContent(WAIT)).resolves.toBe("1");
    expect(await page.locator("#banner").isHidden()).toBe(true);
    const goodColor = await cardValue(page, "Pending transactions").evaluate((el) => getComputedStyle(el).color);
    expect(goodColor).not.toBe("rgb(154, 160, 171)");
    await second.close();
    await page.locator("#banner").waitFor({ state: "visible", timeout: 15_000 });
    const text = (await page.locator("#banner").textContent())!;
    expect(text).toMatch(/^Server unreachable since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\. The figures below are from \d{4}-\d\d-\d\d \d\d:\d\d:\d\d and are not current\. Retrying every 3 s\.$/);
    expect(await page.evaluate(() => document.body.classList.contains("stale"))).toBe(true);
    expect(await cardValue(page, "Pending transactions").evaluate((el) => getComputedStyle(el).color)).toBe("rgb(154, 160, 171)");
    expect(await page.locator("#status-dot").getAttribute("class")).toBe("bad");
    // The figures stay (greyed), rather than being wiped or replaced by zeros.
    expect(await cardValue(page, "Pending transactions").textContent()).toBe("1");
    await shot(page, "unreachable");
    // Another view while the server is gone keeps the banner.
    await page.evaluate(() => { location.hash = "#/topics"; });
    await page.waitForFunction(() => document.title.startsWith("Topics"), undefined, WAIT);
    expect(await page.locator("#banner").isVisible()).toBe(true);

    const back = await startAdminServer({ serve, hostname: "127.0.0.1", port, broker: system.broker, nameServer: system.nameServer, dataDir: dir });
    try {
      await page.locator("#banner").waitFor({ state: "hidden", timeout: 15_000 });
      expect(await page.evaluate(() => document.body.classList.contains("stale"))).toBe(false);
      await page.locator('tr[data-key="audit-log"]').waitFor(WAIT);
    } finally {
      await back.close();
    }
    expect(page.problems.filter((p) => !p.includes("Failed to load resource") && !p.includes("ERR_CONNECTION_REFUSED"))).toEqual([]);
    await page.close();
  }, 60_000);
});
