/**
 * The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by playwright-core):
 * it shows a topic with its message count, sends a message from the page and sees the count change
 * (every view is covered by dashboard_views_test.ts).
 * With ACL on it signs in with a session cookie, and a page of another loopback origin that rides
 * on that session (form post, no-cors and CORS fetches) changes nothing; a page reached through a
 * rebound host name gets nothing.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium } from "playwright-core";
import { AclGuard } from "../../server/acl/acl_guard.ts";
import { AclRules } from "../../server/acl/acl_rules.ts";
import type { HttpServer, Serve } from "../../server/admin/serve_types.ts";
import { adminUrl, startAdminServer } from "../../server/admin/start_admin.ts";
import { dial } from "../../server/bun/connect.ts";
import { listen } from "../../server/bun/listen.ts";
import { serve } from "../../server/bun/serve.ts";
import { type Standalone, startStandalone } from "../../server/standalone.ts";
import { needs } from "../_helpers/skip.ts";
import { Producer } from "../../client/producer.ts";

const CHROMIUM = "/usr/bin/chromium";
const NO_CHROMIUM = existsSync(CHROMIUM) ? undefined : `needs Chromium at ${CHROMIUM} (apt-get install chromium)`;
const ARTIFACTS = join(import.meta.dir, "artifacts");

let dir: string;
let system: Standalone;
let admin: HttpServer;
let browser: Browser | undefined;
/** Serves `attackPage` for the admin server named by `?target=`, from its own loopback port. */
let attackerSite: ReturnType<typeof Bun.serve>;
const answeredOpen: Answered[] = [];

/** What an admin server answered, for checking that forged requests arrived and were refused. */
interface Answered {
  method: string;
  path: string;
  status: number;
  cookie: string;
  origin: string | null;
}

/** The Bun adapter, recording each answer in `log`. */
function recording(log: Answered[]): Serve {
  return (options, fetch) =>
    serve(options, async (request) => {
      const response = await fetch(request);
      log.push({
        method: request.method,
        path: new URL(request.url).pathname,
        status: response.status,
        cookie: request.headers.get("cookie") ?? "",
        origin: request.headers.get("origin"),
      });
      return response;
    });
}

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
  admin = await startAdminServer({ serve: recording(answeredOpen), hostname: "127.0.0.1", port: 0, broker: system.broker, nameServer: system.nameServer, dataDir: dir });
  // Another origin on the same loopback address: same-site, so even SameSite=Strict cookies go along.
  attackerSite = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request) => {
      const target = new URL(request.url).searchParams.get("target");
      return target === null ? new Response("Not found", { status: 404 }) : new Response(attackPage(target), { headers: { "content-type": "text/html" } });
    },
  });
  if (!existsSync(CHROMIUM)) return;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // rebind.test resolves to loopback, as a DNS-rebinding attacker's name would.
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--host-resolver-rules=MAP rebind.test 127.0.0.1"],
  });
});

afterAll(async () => {
  await browser?.close();
  attackerSite?.stop(true);
  await admin?.close();
  await system?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("dashboard in Chromium", () => {
  needs(NO_CHROMIUM)("shows a topic's message count, sends a message and sees the count change", async () => {
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
    // The overview fills the broker table.
    await page.locator("#brokers tbody tr td", { hasText: system.broker.address }).waitFor({ timeout: 10_000 });
    expect(await page.locator("#status-dot").getAttribute("class")).toBe("ok");

    await page.click("nav#nav a:text('Topics')");
    const count = page.locator('tr[data-key="orders"] td.messages');
    await expect(count.textContent({ timeout: 10_000 })).resolves.toBe("2");

    await page.locator('tr[data-key="orders"]').click();
    await page.fill("#send-body", "sent from the dashboard");
    await page.fill('#send-form input[name="keys"]', "browser-key");
    await page.click("#send-button");
    await page.locator("#send-result", { hasText: "Sent " }).waitFor({ timeout: 10_000 });
    await page.waitForFunction(() => /Messages stored3/.test(document.querySelector("#topic-facts")?.textContent ?? ""), undefined, { timeout: 10_000 });
    expect(system.broker.context.stats.messagesIn).toBe(3);
    expect(await page.locator("#delete-topic").count()).toBe(1);

    // System topics are listed on request; their view offers no Delete (the broker refuses to delete them).
    await page.goto(`${base}#/topics?kind=system`);
    await page.locator('tr[data-key="TBW102"]').click();
    await page.locator("#topic-facts", { hasText: "the broker's own topic" }).waitFor({ timeout: 10_000 });
    expect(await page.locator("#delete-topic").count()).toBe(0);

    // The key index finds the message sent from the page.
    await page.goto(`${base}#/messages?mode=key&topic=orders&key=browser-key`);
    await page.locator("tbody td", { hasText: "sent from the dashboard" }).waitFor({ timeout: 10_000 });

    // The overview's TPS chart is drawn from the broker's kept history.
    await page.goto(base);
    await page.waitForFunction(() => Number(document.querySelector("#overview-tps svg")?.getAttribute("data-points")) >= 1, undefined, { timeout: 10_000 });
    await page.evaluate(() => window.scrollTo(0, 0));
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard.png"), fullPage: true });
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("shows pending transactions per topic and producer group", async () => {
    const producer = new Producer({
      nameServer: system.nameServerAddress,
      dial,
      group: "dashboard_tx",
      log: () => {},
      transactionListener: { executeLocalTransaction: () => "UNKNOWN", checkLocalTransaction: () => "UNKNOWN" },
    });
    await producer.start();
    try {
      await producer.sendMessageInTransaction({ topic: "tx_orders", body: "pending" });
      const page = await browser!.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(`${adminUrl(admin)}#/transactions`);
      const row = page.locator('tr[data-key="tx_orders|dashboard_tx"]');
      await row.waitFor({ timeout: 10_000 });
      expect(await row.locator("td").allTextContents()).toEqual(["tx_orders", "dashboard_tx", "1", expect.stringMatching(/^\d+m?s$/), "0", expect.stringMatching(/^(in \d+m?s|due)$/)]);
      await page.locator("#txn-cards", { hasText: "Pending1Half messages1Committed0" }).waitFor({ timeout: 10_000 });
      await page.close();
    } finally {
      await producer.shutdown();
    }
  }, 60_000);
});

const ADMIN = { accessKey: "admin-ak", secretKey: "admin-secret-1" };

/** Opens the attack page against an admin server and waits until each of its attempts settled. */
async function runAttack(context: BrowserContext, target: string): Promise<Record<string, string>> {
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${attackerSite.port}/?target=${encodeURIComponent(target)}`);
  await page.waitForFunction(() => {
    const results = (window as unknown as { results: Record<string, string> }).results;
    return results.form !== undefined && results.noCors !== undefined && results.cors !== undefined && results.corsDelete !== undefined;
  }, undefined, { timeout: 10_000 });
  const results = await page.evaluate(() => (window as unknown as { results: Record<string, string> }).results);
  await page.close();
  return results;
}

describe("forged changes without ACL, in Chromium", () => {
  needs(NO_CHROMIUM)("a page of another loopback origin cannot change anything", async () => {
    const context = await browser!.newContext();
    const results = await runAttack(context, adminUrl(admin));
    await context.close();
    // The browser refuses to send what needs a CORS preflight: the API approves none.
    expect([results.cors, results.corsDelete]).toEqual(["blocked", "blocked"]);
    // What a browser sends without asking (a form post, a no-cors fetch) arrives and is refused.
    const forged = answeredOpen.filter((a) => a.origin === `http://127.0.0.1:${attackerSite.port}` && a.method === "POST");
    expect(forged.map((a) => a.status)).toEqual([403, 403]);
    for (const name of ["csrf_form", "csrf_no_cors", "csrf_cors"]) expect(system.broker.context.topics.get(name)).toBeUndefined();
  }, 30_000);
});

describe("dashboard with ACL on, in Chromium", () => {
  let aclDir: string;
  let aclSystem: Standalone;
  let aclAdmin: HttpServer;
  let context: BrowserContext;
  const answered: Answered[] = [];
  const rules = AclRules.parse({ accounts: [{ ...ADMIN, admin: true }] });

  beforeAll(async () => {
    aclDir = mkdtempSync(join(tmpdir(), "rmq-dashboard-acl-"));
    aclSystem = await startStandalone({
      listen,
      dial,
      hostname: "127.0.0.1",
      port: 0,
      nameServerPort: 0,
      dataDir: aclDir,
      commitLogSegmentSize: 1024 * 1024,
      acl: new AclGuard({ rules: () => rules }),
      nameServerCredentials: () => ADMIN,
      log: () => {},
    });
    aclAdmin = await startAdminServer({
      serve: recording(answered),
      hostname: "127.0.0.1",
      port: 0,
      broker: aclSystem.broker,
      nameServer: aclSystem.nameServer,
      dataDir: aclDir,
      acl: () => rules,
    });
    if (browser !== undefined) context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  });

  afterAll(async () => {
    await context?.close();
    await aclAdmin?.close();
    await aclSystem?.close();
    rmSync(aclDir, { recursive: true, force: true });
  });

  needs(NO_CHROMIUM)("signs in with the form; the session cookie is HttpOnly and SameSite=Strict", async () => {
    const page = await context.newPage();
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
    await page.goto(adminUrl(aclAdmin));
    await page.locator("#signin").waitFor({ state: "visible" });
    expect(await page.locator("#main").isHidden()).toBe(true);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-signin.png") });

    await page.fill("#signin-access-key", ADMIN.accessKey);
    await page.fill("#signin-secret-key", "not-the-secret");
    await page.click("#signin-button");
    await page.locator("#notice", { hasText: "The access key or secret key is wrong" }).waitFor();
    await page.fill("#signin-secret-key", ADMIN.secretKey);
    await page.click("#signin-button");
    await page.locator("#who", { hasText: "Signed in as admin-ak (admin)" }).waitFor();
    await page.locator("#brokers tbody tr td", { hasText: aclSystem.broker.address }).waitFor({ timeout: 10_000 });

    const cookies = await context.cookies(adminUrl(aclAdmin));
    expect(cookies.map((c) => ({ name: c.name, httpOnly: c.httpOnly, sameSite: c.sameSite }))).toEqual([
      { name: `rmq_session_${aclAdmin.port}`, httpOnly: true, sameSite: "Strict" },
    ]);
    expect(await page.evaluate(() => document.cookie)).toBe("");

    await page.click("nav#nav a:text('Topics')");
    await page.fill('#create-topic input[name="topic"]', "orders");
    await page.click('#create-topic button[type="submit"]');
    await page.waitForURL(/#\/topics\/orders$/);
    await page.locator("#queue-table tbody tr").first().waitFor({ timeout: 10_000 });
    await page.reload();
    await page.locator("#who", { hasText: "Signed in as admin-ak" }).waitFor();
    await page.locator("#queue-table tbody tr").first().waitFor({ timeout: 10_000 });
    expect(await page.locator("h1").textContent()).toBe("orders");
    await page.screenshot({ path: join(ARTIFACTS, "dashboard-acl.png") });
    expect(problems).toEqual([]);
    await page.close();
  }, 60_000);

  needs(NO_CHROMIUM)("a page of another loopback origin cannot make changes with the admin's session", async () => {
    expect((await context.cookies(adminUrl(aclAdmin))).length).toBe(1);
    const results = await runAttack(context, adminUrl(aclAdmin));
    expect([results.cors, results.corsDelete]).toEqual(["blocked", "blocked"]);
    // What a browser sends without asking, the API refuses, although the session cookie went along.
    const forged = answered.filter((a) => a.origin === `http://127.0.0.1:${attackerSite.port}` && a.method === "POST");
    expect(forged.map((a) => a.status).sort()).toEqual([403, 403]);
    for (const request of forged) expect(request.cookie).toContain(`rmq_session_${aclAdmin.port}=`);
    const topics = aclSystem.broker.context.topics;
    for (const name of ["csrf_form", "csrf_no_cors", "csrf_cors"]) expect(topics.get(name)).toBeUndefined();
    expect(topics.get("orders")).toBeDefined();
  }, 30_000);

  needs(NO_CHROMIUM)("a page reached through a rebound host name is refused", async () => {
    const page = await context.newPage();
    for (const path of ["/", "/api/topics", "/api/session"]) {
      const response = await page.goto(`http://rebind.test:${aclAdmin.port}${path}`);
      expect({ path, status: response?.status() }).toEqual({ path, status: 421 });
    }
    expect(await page.textContent("body")).toContain('Host \\"rebind.test:');
    await page.close();
  }, 30_000);
});

/** A page that tries, with the visitor's cookies, every change a browser lets a foreign page attempt. */
function attackPage(target: string): string {
  const api = JSON.stringify(new URL("/api/topics", target).href);
  return `<!doctype html><html><body>
<form id="forged" method="POST" action=${api} enctype="text/plain" target="sink">
  <input name='{"topic":"csrf_form","pad":"' value='"}'>
</form>
<iframe name="sink" id="sink"></iframe>
<script>
  window.results = {};
  var sink = document.getElementById("sink");
  sink.addEventListener("load", function () { window.results.form = "submitted"; });
  document.getElementById("forged").submit();
  fetch(${api}, { method: "POST", mode: "no-cors", credentials: "include", body: JSON.stringify({ topic: "csrf_no_cors" }) })
    .then(function () { window.results.noCors = "sent"; }, function () { window.results.noCors = "blocked"; });
  fetch(${api}, { method: "POST", credentials: "include", headers: { "content-type": "application/json" }, body: JSON.stringify({ topic: "csrf_cors" }) })
    .then(function () { window.results.cors = "sent"; }, function () { window.results.cors = "blocked"; });
  fetch(${api} + "/orders", { method: "DELETE", credentials: "include" })
    .then(function () { window.results.corsDelete = "sent"; }, function () { window.results.corsDelete = "blocked"; });
</script></body></html>`;
}
