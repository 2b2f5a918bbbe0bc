/**
 * The dashboard's HTML: one self-contained page whose inline style and script carry a per-response
 * CSP nonce. The script routes on the URL's hash (`#/topics/orders`), so every view has its own
 * address, deep links survive a reload and the back button works, with no route on the server
 * but `/`.
 *
 * @module
 */
import { DASHBOARD_SCRIPT } from "./script.ts";
import { DASHBOARD_CSS } from "./_style.ts";

/** What the page is told about the server. */
export interface DashboardPageOptions {
  /** The rocketmq-ts version. */
  version: string;
  /** Changes need the admin token (ACL off, a token configured). */
  tokenRequired: boolean;
  /** ACL is on: the page signs in with an account first. */
  acl: boolean;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** The sections of the navigation: route, label. */
const SECTIONS: readonly (readonly [string, string])[] = [
  ["", "Overview"],
  ["cluster", "Cluster"],
  ["topics", "Topics"],
  ["groups", "Consumer groups"],
  ["messages", "Messages"],
  ["dlq", "Dead letters"],
  ["transactions", "Transactions"],
  ["timers", "Timers"],
  ["connections", "Connections"],
  ["store", "Store"],
];

/**
 * The page.
 *
 * @param options What the page says about the server.
 * @param cspNonce The nonce of the inline style and script.
 * @returns The HTML.
 */
export function dashboardHtml(options: DashboardPageOptions, cspNonce: string): string {
  const config = JSON.stringify(options).replace(/</g, "\\u003c");
  const nav = SECTIONS.map(([path, label]) => `<li><a href="#/${path}" data-nav="${path || "overview"}">${label}</a></li>`).join("");
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
<a class="skip" id="skip" href="#main">Skip to content</a>
<header id="top">
  <div class="bar">
    <span id="status-dot" role="img" aria-label="Connecting to the admin API" title="Connecting to the admin API"></span>
    <a class="brand" href="#/">rocketmq-ts</a>
    <span class="version">v${escapeHtml(options.version)}</span>
    <span class="spacer"></span>
    <label id="token-box" hidden>Token <input id="token" type="password" autocomplete="off" placeholder="admin token"></label>
    <span id="who" hidden></span>
    <button type="button" id="sign-out" class="secondary small" hidden>Sign out</button>
  </div>
  <nav id="nav" aria-label="Sections"><ul>${nav}</ul></nav>
  <div id="banner" role="alert" hidden></div>
</header>
<section class="panel signin" id="signin" hidden>
  <h2>Sign in <span class="hint">ACL is on: use an account of the ACL file</span></h2>
  <form class="inline" id="signin-form">
    <label>Access key <input name="accessKey" id="signin-access-key" autocomplete="username" required></label>
    <label>Secret key <input name="secretKey" id="signin-secret-key" type="password" autocomplete="current-password" required></label>
    <button type="submit" id="signin-button">Sign in</button>
  </form>
</section>
<main id="main" tabindex="-1"></main>
<div id="notice" role="status" aria-live="polite"></div>
<script nonce="${cspNonce}">window.RMQ_DASHBOARD = ${config};</script>
<script nonce="${cspNonce}">${DASHBOARD_SCRIPT}</script>
</body>
</html>
`;
}
