/**
 * `GET /`: the dashboard, one self-contained page (HTML, CSS and vanilla JS served inline under a
 * per-response CSP nonce) that polls the JSON API.
 *
 * @module
 */
import { Hono } from "hono";
import { DASHBOARD_SCRIPT } from "./_dashboard_script.ts";
import { DASHBOARD_CSS } from "./_dashboard_style.ts";
import type { AdminState } from "./_state.ts";

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function nonce(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes));
}

/**
 * The page.
 *
 * @param options What the page says about the server: version, whether changes need a token, and
 *   whether ACL is on (the page then signs in with an account first).
 * @param cspNonce The nonce of the inline style and script.
 * @returns The HTML.
 */
export function dashboardHtml(options: { version: string; tokenRequired: boolean; acl: boolean }, cspNonce: string): string {
  const config = JSON.stringify(options).replace(/</g, "\\u003c");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rocketmq-ts dashboard</title>
<link rel="icon" href="data:,">
<style nonce="${cspNonce}">${DASHBOARD_CSS}</style>
</head>
<body>
<header>
  <span id="status-dot" title="Connection to the admin API"></span>
  <h1>rocketmq-ts</h1>
  <span class="version">v${escapeHtml(options.version)}</span>
  <span class="spacer"></span>
  <label id="token-box" hidden>Token <input id="token" type="password" autocomplete="off" placeholder="admin token"></label>
  <span id="who" hidden></span>
  <button type="button" id="sign-out" class="secondary" hidden>Sign out</button>
</header>
<section class="panel signin" id="signin" hidden>
  <h2>Sign in <span class="hint">ACL is on: use an account of the ACL file</span></h2>
  <form class="inline" id="signin-form">
    <label>Access key <input name="accessKey" id="signin-access-key" autocomplete="username" required></label>
    <label>Secret key <input name="secretKey" id="signin-secret-key" type="password" autocomplete="current-password" required></label>
    <button type="submit" id="signin-button">Sign in</button>
  </form>
</section>
<nav id="nav">
  <a href="#overview" class="active">Overview</a>
  <a href="#topics">Topics</a>
  <a href="#groups">Consumer groups</a>
  <a href="#messages">Messages</a>
  <a href="#dlq">Dead letters</a>
  <a href="#transactions">Transactions</a>
</nav>
<main id="main">
  <section class="panel" id="overview">
    <h2>Cluster <span class="hint" id="cluster-hint"></span></h2>
    <div class="cards" id="cards"></div>
  </section>
  <section class="panel">
    <h2>Throughput <span class="hint">messages per second, polled every second</span></h2>
    <div class="legend"><span><span class="swatch in"></span>in <b id="tps-in">0</b></span><span><span class="swatch out"></span>out <b id="tps-out">0</b></span></div>
    <canvas id="tps-chart" width="900" height="180"></canvas>
  </section>
  <section class="panel">
    <h2>Brokers</h2>
    <table id="brokers"><thead><tr><th>Broker</th><th>Role</th><th>Address</th><th class="num">Uptime</th><th class="num">Store size</th><th class="num">Disk free</th><th class="num">TPS in</th><th class="num">TPS out</th><th class="num">Connections</th><th class="num">Long polls</th></tr></thead><tbody></tbody></table>
  </section>
  <div class="split">
    <section class="panel" id="topics">
      <h2>Topics <span class="hint"><label><input type="checkbox" id="show-system"> show retry, DLQ and system topics</label></span></h2>
      <table id="topic-table"><thead><tr><th>Topic</th><th class="num">Queues</th><th>Perm</th><th class="num">Messages</th><th></th></tr></thead><tbody></tbody></table>
      <div id="topic-detail" hidden>
        <h2 id="topic-detail-title"></h2>
        <table id="queue-table"><thead><tr><th class="num">Queue</th><th class="num">Min offset</th><th class="num">Max offset</th><th class="num">Messages</th><th>Last stored</th><th></th></tr></thead><tbody></tbody></table>
      </div>
      <form class="inline" id="create-topic">
        <label>New topic <input name="topic" required placeholder="orders"></label>
        <label>Queues <input name="queueNums" type="number" min="1" max="1024" value="4"></label>
        <label>Perm <select name="perm"><option value="rw">rw</option><option value="r">r</option><option value="w">w</option></select></label>
        <button type="submit">Create / update</button>
      </form>
    </section>
    <section class="panel" id="send">
      <h2>Send a test message</h2>
      <form id="send-form">
        <div class="inline">
          <label>Topic <input name="topic" id="send-topic" list="topic-names" required placeholder="orders"></label>
          <label>Tags <input name="tags" placeholder="TagA"></label>
          <label>Keys <input name="keys" placeholder="order-1 order-2"></label>
        </div>
        <label class="muted">Body<textarea name="body" id="send-body" required>Hello from the dashboard</textarea></label>
        <div class="inline"><button type="submit" id="send-button">Send</button><span id="send-result" class="mono"></span></div>
      </form>
      <datalist id="topic-names"></datalist>
    </section>
  </div>
  <section class="panel" id="groups">
    <h2>Consumer groups</h2>
    <table id="group-table"><thead><tr><th>Group</th><th class="num">Members</th><th>Model</th><th>Topics</th><th class="num">Lag</th></tr></thead><tbody></tbody></table>
    <div id="group-detail" hidden>
      <h2 id="group-detail-title"></h2>
      <div id="group-members"></div>
      <table id="group-queues"><thead><tr><th>Topic</th><th class="num">Queue</th><th class="num">Broker offset</th><th class="num">Consumer offset</th><th class="num">Lag</th></tr></thead><tbody></tbody></table>
      <form class="inline" id="reset-form">
        <label>Reset topic <select name="topic" id="reset-topic"></select></label>
        <label>To <select name="to" id="reset-to"><option value="earliest">earliest</option><option value="latest">latest</option><option value="time">time…</option></select></label>
        <label id="reset-time-box" hidden>Time <input type="datetime-local" name="time" step="1"></label>
        <label><span><input type="checkbox" name="force"> even with online members</span></label>
        <button type="submit" class="secondary">Reset offset</button>
      </form>
    </div>
  </section>
  <section class="panel" id="messages">
    <h2>Messages</h2>
    <form class="inline" id="browse-form">
      <label>Topic <select name="topic" id="browse-topic"></select></label>
      <label>Queue <select name="queueId" id="browse-queue"></select></label>
      <label>Offset <input name="offset" id="browse-offset" type="number" min="0" placeholder="newest"></label>
      <label>Page size <input name="limit" type="number" min="1" max="100" value="20"></label>
      <button type="submit">Browse</button>
      <button type="button" class="secondary" id="browse-prev">◀ Older</button>
      <button type="button" class="secondary" id="browse-next">Newer ▶</button>
    </form>
    <form class="inline" id="search-form">
      <label>Message id or unique key <input name="msgId" size="36" placeholder="7F0000010000…"></label>
      <button type="submit" class="secondary">Find by id</button>
      <label>Key <input name="key" placeholder="order-1"></label>
      <button type="button" class="secondary" id="search-key">Find by key in topic</button>
    </form>
    <div class="muted" id="browse-info"></div>
    <table id="message-table"><thead><tr><th class="num">Queue</th><th class="num">Offset</th><th>Message id</th><th>Tags</th><th>Keys</th><th>Stored</th><th>Body</th></tr></thead><tbody></tbody></table>
    <pre class="detail" id="message-detail" hidden></pre>
  </section>
  <section class="panel" id="transactions">
    <h2>Transactions <span class="hint">half messages waiting for their producer's commit or rollback, per topic and producer group</span></h2>
    <div class="muted" id="txn-counters"></div>
    <table id="txn-table"><thead><tr><th>Topic</th><th>Producer group</th><th class="num">Pending</th><th class="num">Oldest</th><th class="num">Checks</th><th>Next check</th></tr></thead><tbody></tbody></table>
  </section>
  <section class="panel" id="dlq">
    <h2>Dead letters <span class="hint">messages a consumer group gave up on; re-send puts one back on its original topic</span></h2>
    <table id="dlq-table"><thead><tr><th>Group</th><th class="num">Offset</th><th>Message id</th><th>Original topic</th><th>Stored</th><th>Body</th><th></th></tr></thead><tbody></tbody></table>
  </section>
</main>
<div id="notice" role="status"></div>
<script nonce="${cspNonce}">window.RMQ_DASHBOARD = ${config};</script>
<script nonce="${cspNonce}">${DASHBOARD_SCRIPT}</script>
</body>
</html>
`;
}

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/`.
 */
export function dashboardRoutes(state: AdminState): Hono {
  const app = new Hono();
  app.get("/", (c) => {
    const cspNonce = nonce();
    c.header(
      "Content-Security-Policy",
      `default-src 'none'; script-src 'nonce-${cspNonce}'; style-src 'nonce-${cspNonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    );
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Referrer-Policy", "no-referrer");
    c.header("Cache-Control", "no-store");
    const acl = state.options.acl !== undefined;
    return c.html(dashboardHtml({ version: state.options.version, tokenRequired: !acl && state.options.token !== undefined, acl }, cspNonce));
  });
  return app;
}
