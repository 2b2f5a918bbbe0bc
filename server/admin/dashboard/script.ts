/**
 * The dashboard's script: the core (`_core.ts`), the views (`_views_*.ts`) and the wiring below
 * (signing in, the token, routing on `hashchange`) in one function scope, served inline under the
 * page's CSP nonce. With ACL on it signs in first: the session cookie is HttpOnly, and the CSRF
 * token the sign-in answers stays in this tab's sessionStorage and goes with every request.
 *
 * @module
 */
import { CORE_SCRIPT } from "./_core.ts";
import { CLUSTER_VIEWS_SCRIPT } from "./_views_cluster.ts";
import { GROUP_VIEWS_SCRIPT } from "./_views_groups.ts";
import { MESSAGE_VIEWS_SCRIPT } from "./_views_messages.ts";
import { TOPIC_VIEWS_SCRIPT } from "./_views_topics.ts";

const WIRING = String.raw`
function start() {
  if (state.running) return;
  state.running = true;
  renderRoute(false);
}

function signedIn(who) {
  $("signin").hidden = true;
  $("main").hidden = false;
  $("nav").hidden = false;
  $("who").textContent = "Signed in as " + who.accessKey + (who.admin ? " (admin)" : "");
  $("who").hidden = false;
  $("sign-out").hidden = false;
  start();
}

function signedOut() {
  state.running = false;
  state.generation++;
  clearTimeout(state.pollTimer);
  state.csrf = "";
  sessionStorage.removeItem("rmq-admin-csrf");
  $("main").hidden = true;
  put($("main"));
  $("nav").hidden = true;
  $("who").hidden = true;
  $("sign-out").hidden = true;
  $("signin").hidden = false;
  $("signin-access-key").focus();
}

async function signIn() {
  var form = $("signin-form");
  $("signin-button").disabled = true;
  try {
    var who = await api("POST", "/api/session", { accessKey: form.accessKey.value.trim(), secretKey: form.secretKey.value });
    form.secretKey.value = "";
    state.csrf = who.csrfToken;
    sessionStorage.setItem("rmq-admin-csrf", state.csrf);
    signedIn(who);
  } finally {
    $("signin-button").disabled = false;
  }
}

function init() {
  if (config.tokenRequired) $("token-box").hidden = false;
  $("token").value = state.token;
  $("token").addEventListener("change", function (event) {
    state.token = event.target.value.trim();
    sessionStorage.setItem("rmq-admin-token", state.token);
  });
  // The skip link moves focus without changing the route in the hash.
  $("skip").addEventListener("click", function (event) {
    event.preventDefault();
    var title = $("main").querySelector("h1");
    (title || $("main")).focus();
  });
  window.addEventListener("hashchange", function () { renderRoute(true); });
  $("signin-form").addEventListener("submit", guard(signIn));
  $("sign-out").addEventListener("click", guard(async function () {
    try { await api("DELETE", "/api/session"); } finally { signedOut(); }
  }));
  if (!config.acl) { start(); return; }
  if (!state.csrf) { signedOut(); return; }
  api("GET", "/api/session").then(signedIn, function (error) { if (!error.unreachable) signedOut(); else start(); });
}

init();
`;

/** JS of the dashboard page. */
export const DASHBOARD_SCRIPT: string = [
  "(function () {",
  '"use strict";',
  CORE_SCRIPT,
  CLUSTER_VIEWS_SCRIPT,
  TOPIC_VIEWS_SCRIPT,
  GROUP_VIEWS_SCRIPT,
  MESSAGE_VIEWS_SCRIPT,
  WIRING,
  "})();",
].join("\n");
