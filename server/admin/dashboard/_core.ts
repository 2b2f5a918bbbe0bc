/**
 * The dashboard script's core (browser JS kept as text, so it is served inline under the page's
 * CSP nonce): DOM building (`textContent` only, so message bodies can never inject markup),
 * formatting, the API client with the "server unreachable" state, the hash router, the list
 * component (search, filters, sorting, paging, rows opened with Enter) and the SVG TPS chart.
 * The views (`_views_*.ts`) call these; `script.ts` puts them in one function scope.
 *
 * @module
 */

/** JS of the core. Written without template literals, so it can live in one. */
export const CORE_SCRIPT = String.raw`
var config = window.RMQ_DASHBOARD || { version: "", tokenRequired: false, acl: false };
var POLL_MS = 3000;
var SVG_NS = "http://www.w3.org/2000/svg";
var state = {
  token: sessionStorage.getItem("rmq-admin-token") || "",
  csrf: sessionStorage.getItem("rmq-admin-csrf") || "",
  running: false,
  lastGoodAt: 0,
  unreachableSince: 0,
  generation: 0,
  view: null,
  pollTimer: 0,
};

function $(id) { return document.getElementById(id); }

function append(el, child) {
  if (child === undefined || child === null || child === false) return;
  if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
  el.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
}

/** Appends children (strings, nodes, arrays; null and false are left out). */
function add(el) {
  for (var i = 1; i < arguments.length; i++) append(el, arguments[i]);
  return el;
}

/** Replaces an element's children. */
function put(el) {
  el.replaceChildren();
  for (var i = 1; i < arguments.length; i++) append(el, arguments[i]);
  return el;
}

/** An element: h("a", { href: "#/", text: "Home", onclick: fn }, child, ...). */
function h(tag, props) {
  var el = document.createElement(tag);
  if (props) {
    for (var name in props) {
      var value = props[name];
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") el.textContent = String(value);
      else if (name === "className") el.className = value;
      else if (name === "dataset") { for (var d in value) el.dataset[d] = value[d]; }
      else if (name.slice(0, 2) === "on") el.addEventListener(name.slice(2), value);
      else if (value === true) el.setAttribute(name, "");
      else el.setAttribute(name, value);
    }
  }
  for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
  return el;
}

function svg(tag, attrs) {
  var el = document.createElementNS(SVG_NS, tag);
  for (var name in attrs || {}) el.setAttribute(name, attrs[name]);
  for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
  return el;
}

function td(content, className) { return h("td", { className: className }, content); }
function num(text, className) { return h("td", { className: "num" + (className ? " " + className : "") }, text); }

// ---- formatting

function fmtInt(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
function fmtRate(n) {
  if (n === null || n === undefined) return "–";
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : String(Math.round(n * 10) / 10);
}
function fmtBytes(n) {
  if (n === null || n === undefined) return "–";
  var units = ["B", "KiB", "MiB", "GiB", "TiB"];
  var i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}
function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "–";
  var s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 60) return s + "s";
  var m = Math.floor(s / 60);
  if (m < 60) return m + "m " + (s % 60) + "s";
  var hours = Math.floor(m / 60);
  if (hours < 48) return hours + "h " + (m % 60) + "m";
  return Math.floor(hours / 24) + "d " + (hours % 24) + "h";
}
function pad(x, n) { x = String(x); while (x.length < (n || 2)) x = "0" + x; return x; }
/** Local time, e.g. 2025-06-01 14:00:00. */
function fmtTime(ms, withMs) {
  if (!ms) return "–";
  var d = new Date(ms);
  return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
    (withMs ? "." + pad(d.getMilliseconds(), 3) : "");
}
function fmtClock(ms) { var d = new Date(ms); return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()); }
/** The local zone as an offset, e.g. UTC+02:00. */
function fmtZone(ms) {
  var off = -new Date(ms).getTimezoneOffset();
  return "UTC" + (off < 0 ? "-" : "+") + pad(Math.floor(Math.abs(off) / 60)) + ":" + pad(Math.abs(off) % 60);
}
/** A <time> showing local time, with ISO 8601 (UTC) as its machine value and tooltip. */
function timeNode(ms, withMs) {
  if (!ms) return "–";
  var iso = new Date(ms).toISOString();
  return h("time", { datetime: iso, title: iso }, fmtTime(ms, withMs));
}
/** Local and ISO time together, for detail views. */
function timeBoth(ms) {
  if (!ms) return "–";
  return h("span", null, h("time", { datetime: new Date(ms).toISOString() }, fmtTime(ms, true) + " " + fmtZone(ms)),
    h("span", { className: "sub mono" }, new Date(ms).toISOString()));
}
function ago(ms, now) { return ms ? fmtDuration((now || Date.now()) - ms) + " ago" : "–"; }
function plural(n, one, many) { return fmtInt(n) + " " + (n === 1 ? one : (many || one + "s")); }

// ---- notices and errors

var noticeTimer;
function notice(text, isError) {
  var el = $("notice");
  el.textContent = text;
  el.className = "show" + (isError ? " error" : "");
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(function () { el.className = ""; }, isError ? 8000 : 4000);
}

// ---- the API and the connection state

function setDot(ok, label) {
  var dot = $("status-dot");
  dot.className = ok ? "ok" : "bad";
  dot.setAttribute("aria-label", label);
  dot.title = label;
}

function showBanner() {
  var banner = $("banner");
  var since = state.unreachableSince;
  banner.textContent = "Server unreachable since " + fmtTime(since) + ". " +
    (state.lastGoodAt ? "The figures below are from " + fmtTime(state.lastGoodAt) + " and are not current." : "No data has arrived yet.") +
    " Retrying every " + (POLL_MS / 1000) + " s.";
  banner.hidden = false;
}

function markReachable() {
  state.lastGoodAt = Date.now();
  if (state.unreachableSince) {
    state.unreachableSince = 0;
    document.body.classList.remove("stale");
    $("banner").hidden = true;
    notice("The server answers again");
  }
  setDot(true, "Connected: last answer at " + fmtClock(state.lastGoodAt));
}

function markUnreachable() {
  if (!state.unreachableSince) state.unreachableSince = Date.now();
  document.body.classList.add("stale");
  setDot(false, "Server unreachable");
  showBanner();
}

/** Calls the admin API; network failures (and gateways' 502/504) mark the server unreachable. */
async function api(method, path, body) {
  var headers = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (state.token) headers.authorization = "Bearer " + state.token;
  if (state.csrf) headers["x-csrf-token"] = state.csrf;
  var response;
  try {
    response = await fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
  } catch (e) {
    markUnreachable();
    var lost = new Error("The server is unreachable");
    lost.unreachable = true;
    throw lost;
  }
  var data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if ((response.status === 502 || response.status === 504) && !(data && data.error)) {
    markUnreachable();
    var gateway = new Error("The server is unreachable (" + response.status + " from a proxy)");
    gateway.unreachable = true;
    throw gateway;
  }
  markReachable();
  if (!response.ok) {
    var error = new Error(data && data.error ? data.error.message : response.status + " " + response.statusText);
    error.status = response.status;
    if (response.status === 401) {
      if (config.acl) signedOut(); else $("token-box").hidden = false;
    }
    throw error;
  }
  return data;
}

/** An event handler running fn; failures become an error notice (the banner speaks for lost connections). */
function guard(fn) {
  return function (event) {
    if (event && event.preventDefault && (event.type === "submit" || event.type === "click")) event.preventDefault();
    Promise.resolve().then(function () { return fn(event); }).catch(function (error) { if (!error.unreachable) notice(error.message, true); });
  };
}

// ---- routing: #/path/segments?query

var ROUTES = [];
/** Registers a view for a path pattern such as "/topics/:topic". */
function route(pattern, view) { ROUTES.push({ parts: pattern.split("/").filter(Boolean), view: view }); }

function parseHash() {
  var hash = location.hash.replace(/^#/, "");
  if (hash.charAt(0) !== "/") hash = "/";
  var q = hash.indexOf("?");
  var path = q < 0 ? hash : hash.slice(0, q);
  var query = new URLSearchParams(q < 0 ? "" : hash.slice(q + 1));
  var parts;
  try { parts = path.split("/").filter(Boolean).map(decodeURIComponent); } catch (e) { parts = ["?"]; }
  for (var i = 0; i < ROUTES.length; i++) {
    var r = ROUTES[i];
    if (r.parts.length !== parts.length) continue;
    var params = {};
    var ok = true;
    for (var j = 0; j < parts.length; j++) {
      if (r.parts[j].charAt(0) === ":") params[r.parts[j].slice(1)] = parts[j];
      else if (r.parts[j] !== parts[j]) { ok = false; break; }
    }
    if (ok) return { view: r.view, params: params, query: query, path: path };
  }
  return { view: NOT_FOUND, params: {}, query: query, path: path };
}

/** "#/a/b?x=1" from ["a", "b"] and { x: 1 } (empty values left out). */
function href(segments, query) {
  var path = "#/" + segments.map(function (s) { return encodeURIComponent(s); }).join("/");
  var qs = new URLSearchParams();
  for (var k in query || {}) if (query[k] !== undefined && query[k] !== null && query[k] !== "") qs.set(k, String(query[k]));
  var text = qs.toString();
  return path + (text ? "?" + text : "");
}

/** Changes the current URL's query without a new history entry (list filters, sorting, paging). */
function replaceQuery(updates) {
  var current = parseHash();
  var query = {};
  current.query.forEach(function (v, k) { query[k] = v; });
  for (var k in updates) query[k] = updates[k];
  var segments = current.path.split("/").filter(Boolean).map(function (s) { try { return decodeURIComponent(s); } catch (e) { return s; } });
  history.replaceState(history.state, "", href(segments, query));
}

function link(segments, text, query, className) { return h("a", { href: href(segments, query), className: className }, text); }

var NOT_FOUND = {
  title: function () { return "Not found"; },
  mount: function (ctx) {
    ctx.root.appendChild(viewTitle("Nothing here"));
    ctx.root.appendChild(h("p", null, "No view answers " + location.hash + ". ", link([], "Go to the overview")));
    return { poll: false };
  },
};

function viewTitle(text, extra) { return h("h1", { className: "view-title", tabindex: "-1" }, text, extra); }
function crumbs(items) {
  var nav = h("nav", { className: "crumbs", "aria-label": "Breadcrumb" });
  items.forEach(function (item, i) {
    if (i > 0) nav.appendChild(document.createTextNode(" / "));
    nav.appendChild(Array.isArray(item) ? link(item[0], item[1]) : h("span", { "aria-current": "page" }, item));
  });
  return nav;
}
function panel(title, hint) {
  var section = h("section", { className: "panel" });
  if (title) section.appendChild(h("h2", null, title, hint ? h("span", { className: "hint" }, hint) : null));
  return section;
}

/** Shows a view's failure in place of stale content, or clears it. */
function viewError(ctx, error) {
  var box = ctx.errorBox;
  if (!box) {
    if (!error) return;
    box = ctx.errorBox = h("div", { className: "error-box", role: "alert" });
    var title = ctx.root.querySelector("h1");
    if (title) title.after(box); else ctx.root.prepend(box);
  }
  box.hidden = !error;
  box.textContent = error ? error.message : "";
}

function renderRoute(focus) {
  if (!state.running) return;
  var r = parseHash();
  state.generation++;
  clearTimeout(state.pollTimer);
  var gen = state.generation;
  var main = $("main");
  put(main);
  var section = r.path.split("/").filter(Boolean)[0] || "overview";
  document.querySelectorAll("#nav a").forEach(function (a) {
    if (a.dataset.nav === section) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  });
  var ctx = { params: r.params, query: r.query, root: main, live: function () { return gen === state.generation && state.running; } };
  document.title = r.view.title(r.params) + " · rocketmq-ts";
  var instance = r.view.mount(ctx) || {};
  state.view = instance;
  if (focus) {
    var title = main.querySelector("h1");
    if (title) title.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
  poll(ctx, instance);
}

/**
 * Refreshes the current view every POLL_MS. A view with poll: false (a message, a search's
 * results) is not reloaded; the server is still asked every POLL_MS whether it is there.
 */
function poll(ctx, instance, later) {
  if (!ctx.live()) return;
  var passive = instance.poll === false;
  if (passive && !later) { state.pollTimer = setTimeout(function () { poll(ctx, instance, true); }, POLL_MS); return; }
  var run = passive ? function () { return api("GET", "/api/session"); } : instance.refresh;
  Promise.resolve().then(run).then(function () {
    if (ctx.live() && !passive) viewError(ctx, null);
  }, function (error) {
    if (ctx.live() && !passive && !error.unreachable) viewError(ctx, error);
  }).then(function () {
    if (ctx.live()) state.pollTimer = setTimeout(function () { poll(ctx, instance, true); }, POLL_MS);
  });
}

/** A promise's value, or null when the API refuses (a NameServer-only process has no broker); unreachable stays an error. */
function maybe(promise) {
  return promise.catch(function (error) { if (error.unreachable) throw error; return null; });
}

// ---- lists: search, filters, sorting, paging; rows open with Enter

/**
 * A list of rows. options: key (prefix of its URL query parameters), label (what a row is),
 * columns [{ id, label, num, opt (hidden on narrow screens), value(row) (sorting, default text),
 * render(row) }], rowKey(row), rowHref(row), search(row) (text the search box matches),
 * filters [{ id, label, options: [[value, label]], test(row, value) }], sort, dir, pageSize, empty.
 */
function dataList(ctx, options) {
  var p = options.key ? options.key + "." : "";
  var q = ctx.query;
  var st = {
    text: q.get(p + "q") || "",
    sort: q.get(p + "sort") || options.sort || options.columns[0].id,
    dir: q.get(p + "dir") || options.dir || "asc",
    page: Math.max(1, Number(q.get(p + "page")) || 1),
    filters: {},
  };
  var rows = [];
  var shown = "";
  var el = h("div", { className: "list" });
  var tools = h("div", { className: "list-tools" });
  var search = h("input", { type: "search", placeholder: "Search " + options.label + "s", "aria-label": "Search " + options.label + "s", value: st.text });
  search.value = st.text;
  search.addEventListener("input", function () { st.text = search.value; st.page = 1; save(); draw(); });
  tools.appendChild(search);
  (options.filters || []).forEach(function (f) {
    st.filters[f.id] = q.get(p + f.id) || f.options[0][0];
    var select = h("select", { "aria-label": f.label }, f.options.map(function (o) { return h("option", { value: o[0] }, o[1]); }));
    select.value = st.filters[f.id];
    select.addEventListener("change", function () { st.filters[f.id] = select.value; st.page = 1; save(); draw(); });
    tools.appendChild(h("label", { className: "field" }, f.label, select));
  });
  var count = h("span", { className: "count", "aria-live": "polite" });
  tools.appendChild(count);
  var table = h("table", { className: "data" });
  if (options.caption) table.appendChild(h("caption", { className: "muted" }, options.caption));
  var headRow = h("tr");
  options.columns.forEach(function (c) {
    var th = h("th", { scope: "col", className: (c.num ? "num" : "") + (c.opt ? " opt" : "") });
    if (c.value) {
      th.appendChild(h("button", { type: "button", className: "sort", onclick: function () {
        if (st.sort === c.id) st.dir = st.dir === "asc" ? "desc" : "asc"; else { st.sort = c.id; st.dir = c.num ? "desc" : "asc"; }
        save(); draw();
      } }, c.label));
    } else th.textContent = c.label;
    c.th = th;
    headRow.appendChild(th);
  });
  table.appendChild(h("thead", null, headRow));
  var tbody = h("tbody");
  table.appendChild(tbody);
  el.appendChild(tools);
  el.appendChild(h("div", { className: "table-wrap" }, table));
  var pager = h("div", { className: "pager" });
  var prev = h("button", { type: "button", className: "secondary small", onclick: function () { st.page--; save(); draw(); } }, "◀ Previous");
  var pageText = h("span");
  var next = h("button", { type: "button", className: "secondary small", onclick: function () { st.page++; save(); draw(); } }, "Next ▶");
  add(pager, prev, pageText, next);
  el.appendChild(pager);

  function save() {
    var updates = {};
    updates[p + "q"] = st.text;
    updates[p + "sort"] = st.sort === (options.sort || options.columns[0].id) ? "" : st.sort;
    updates[p + "dir"] = st.dir === (options.dir || "asc") ? "" : st.dir;
    updates[p + "page"] = st.page > 1 ? st.page : "";
    (options.filters || []).forEach(function (f) { updates[p + f.id] = st.filters[f.id] === f.options[0][0] ? "" : st.filters[f.id]; });
    replaceQuery(updates);
  }

  function draw() {
    var needle = st.text.trim().toLowerCase();
    var filtered = rows.filter(function (row) {
      for (var i = 0; i < (options.filters || []).length; i++) {
        var f = options.filters[i];
        if (!f.test(row, st.filters[f.id])) return false;
      }
      return true;
    });
    var matching = filtered.filter(function (row) {
      if (!needle) return true;
      var hay = options.search ? options.search(row) : options.columns.map(function (c) { return c.value ? c.value(row) : ""; }).join(" ");
      return String(hay).toLowerCase().indexOf(needle) >= 0;
    });
    var column = options.columns.filter(function (c) { return c.id === st.sort && c.value; })[0];
    if (column) {
      var sign = st.dir === "desc" ? -1 : 1;
      matching.sort(function (a, b) {
        var x = column.value(a), y = column.value(b);
        if (x === y) return 0;
        if (x === null || x === undefined) return 1;
        if (y === null || y === undefined) return -1;
        return (typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y))) * sign;
      });
    }
    options.columns.forEach(function (c) {
      if (c === column) c.th.setAttribute("aria-sort", st.dir === "desc" ? "descending" : "ascending"); else c.th.removeAttribute("aria-sort");
    });
    var size = options.pageSize || 20;
    var pages = Math.max(1, Math.ceil(matching.length / size));
    if (st.page > pages) st.page = pages;
    var page = matching.slice((st.page - 1) * size, st.page * size);
    count.textContent = (matching.length === filtered.length ? "" : fmtInt(matching.length) + " of ") + plural(filtered.length, options.label) +
      (filtered.length === rows.length ? "" : " (" + fmtInt(rows.length) + " in all)");
    pager.hidden = pages <= 1;
    prev.disabled = st.page <= 1;
    next.disabled = st.page >= pages;
    pageText.textContent = "Page " + st.page + " of " + pages;
    // Polls redraw only what changed, and keep the focused row focused.
    var signature = JSON.stringify(page) + "|" + matching.length + "|" + st.page;
    if (signature === shown) return;
    shown = signature;
    var focusedKey = document.activeElement && document.activeElement.closest && tbody.contains(document.activeElement) ? document.activeElement.closest("tr").dataset.key : undefined;
    put(tbody);
    if (page.length === 0) {
      tbody.appendChild(h("tr", null, h("td", { colspan: String(options.columns.length), className: "empty" }, rows.length === 0 ? options.empty : "No " + options.label + " matches")));
      return;
    }
    page.forEach(function (row) {
      var target = options.rowHref ? options.rowHref(row) : null;
      var tr = h("tr", { dataset: { key: options.rowKey(row) } });
      if (target) {
        tr.className = "row-link";
        tr.tabIndex = 0;
        tr.addEventListener("click", function (event) {
          if (event.target.closest("a, button, input, select, textarea")) return;
          location.hash = target.slice(1);
        });
        tr.addEventListener("keydown", function (event) {
          if (event.target !== tr) return;
          if (event.key === "Enter") { event.preventDefault(); location.hash = target.slice(1); }
          else if (event.key === "ArrowDown" && tr.nextElementSibling) { event.preventDefault(); tr.nextElementSibling.focus(); }
          else if (event.key === "ArrowUp" && tr.previousElementSibling) { event.preventDefault(); tr.previousElementSibling.focus(); }
        });
      }
      options.columns.forEach(function (c) {
        var content = c.render ? c.render(row) : c.value(row);
        var cell = h("td", { className: (c.num ? "num" : "") + (c.opt ? " opt" : "") + (c.className ? " " + c.className : "") }, content === null || content === undefined ? "–" : content);
        tr.appendChild(cell);
      });
      if (target) tr.setAttribute("aria-label", "Open " + options.label + " " + options.rowKey(row));
      tbody.appendChild(tr);
    });
    if (focusedKey !== undefined) {
      var again = tbody.querySelector('tr[data-key="' + CSS.escape(focusedKey) + '"]');
      if (again) again.focus({ preventScroll: true });
    }
  }

  return {
    el: el,
    update: function (list) { rows = list; draw(); },
  };
}

/** A link inside a list row that the row's own Enter/click already opens: out of the tab order. */
function rowLink(segments, text, query) {
  return h("a", { href: href(segments, query), className: "primary", tabindex: "-1" }, text);
}

/** A definition list of [label, value] pairs (values left out when undefined). */
function facts(pairs) {
  var dl = h("dl", { className: "facts" });
  pairs.forEach(function (pair) {
    if (pair[1] === undefined) return;
    dl.appendChild(h("dt", null, pair[0]));
    dl.appendChild(h("dd", { className: pair[2] }, pair[1] === null ? "–" : pair[1]));
  });
  return dl;
}

/** A field name as words: "scanFrom" → "Scan from". */
function humanize(name) {
  var words = String(name).replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/_/g, " ").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A value of unknown shape (fields an API added later): text, a list's items, or an object's fields as a nested list. */
function anyValue(value) {
  if (value === null || value === undefined) return "–";
  if (Array.isArray(value)) return value.length === 0 ? "none" : value.map(function (x) { return typeof x === "object" && x !== null ? JSON.stringify(x) : String(x); }).join(", ");
  if (typeof value === "object") return facts(Object.keys(value).map(function (k) { return [humanize(k), anyValue(value[k])]; }));
  return String(value);
}

function card(label, value, target, bad) {
  var body = [h("div", { className: "label" }, label), h("div", { className: "value" }, value)];
  return target ? h("a", { className: "card" + (bad ? " bad" : ""), href: target }, body) : h("div", { className: "card" + (bad ? " bad" : "") }, body);
}

/** A node after a space, or nothing. */
function withSpace(node) { return node ? [" ", node] : null; }

function kindTag(kind) {
  var labels = { normal: null, retry: "retry", dlq: "dead letters", system: "system" };
  return labels[kind] ? h("span", { className: "tag " + kind }, labels[kind]) : null;
}

/** Keeps a <select>'s options in step with a list of values, keeping the choice. */
function syncSelect(select, values, withEmpty, emptyLabel) {
  var current = select.value;
  put(select);
  if (withEmpty) select.appendChild(h("option", { value: "" }, emptyLabel || "—"));
  values.forEach(function (value) { select.appendChild(h("option", { value: value }, value)); });
  if (values.indexOf(current) >= 0 || (withEmpty && current === "")) select.value = current;
}

// ---- the TPS chart (inline SVG from the broker's kept history)

/** A chart of messages in and out per second; update({ in, out, start, intervalMs }). */
function tpsChart(label) {
  var figure = h("figure", { className: "chart" });
  var last = null;
  var legend = h("div", { className: "legend" });
  figure.appendChild(legend);
  var holder = h("div");
  figure.appendChild(holder);
  function niceMax(x) {
    if (x <= 1) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(x)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= x) return steps[i] * p;
    return 10 * p;
  }
  function draw() {
    var series = last;
    if (!series) return;
    var width = Math.max(280, holder.clientWidth || 600);
    var height = width < 500 ? 160 : 190;
    var left = 46, right = 10, top = 10, bottom = 24;
    var n = series.in.length;
    var peak = 0;
    for (var i = 0; i < n; i++) peak = Math.max(peak, series.in[i], series.out[i]);
    var max = niceMax(peak);
    var plotW = width - left - right, plotH = height - top - bottom;
    var span = series.intervalMs * Math.max(1, n - 1);
    var x = function (k) { return left + (n <= 1 ? plotW : k * plotW / (n - 1)); };
    var y = function (v) { return top + plotH - v * plotH / max; };
    var lastIn = n ? series.in[n - 1] : 0, lastOut = n ? series.out[n - 1] : 0;
    var text = label + ": " + (n === 0 ? "no points yet" : "in " + fmtRate(lastIn) + "/s, out " + fmtRate(lastOut) + "/s now; peak " + fmtRate(peak) + "/s over " + fmtDuration(span));
    var chart = svg("svg", { viewBox: "0 0 " + width + " " + height, role: "img", "aria-label": text, "data-points": String(n) }, svg("title", null, text));
    [0, 0.5, 1].forEach(function (f) {
      var yy = y(max * f);
      chart.appendChild(svg("line", { x1: left, x2: width - right, y1: yy, y2: yy, class: "grid" }));
      chart.appendChild(svg("text", { x: left - 6, y: yy + 4, "text-anchor": "end", class: "axis" }, fmtRate(max * f)));
    });
    if (n === 0) {
      chart.appendChild(svg("text", { x: left + plotW / 2, y: top + plotH / 2, "text-anchor": "middle", class: "empty" }, "Collecting: the first point appears after " + (series.intervalMs / 1000) + " s"));
    } else {
      var ticks = n === 1 ? [0] : [0, Math.floor((n - 1) / 2), n - 1];
      ticks.forEach(function (k, j) {
        var anchor = j === ticks.length - 1 ? "end" : j === 0 ? "start" : "middle";
        chart.appendChild(svg("text", { x: x(k), y: height - 6, "text-anchor": anchor, class: "axis" }, fmtClock(series.start + k * series.intervalMs)));
      });
      if (n === 1) {
        chart.appendChild(svg("circle", { cx: x(0), cy: y(series.in[0]), r: 3, class: "in" }));
        chart.appendChild(svg("circle", { cx: x(0), cy: y(series.out[0]), r: 3, class: "out" }));
      }
      var inPoints = [], outPoints = [];
      for (var k = 0; k < n; k++) {
        inPoints.push(x(k).toFixed(1) + "," + y(series.in[k]).toFixed(1));
        outPoints.push(x(k).toFixed(1) + "," + y(series.out[k]).toFixed(1));
      }
      if (n > 1) chart.appendChild(svg("polygon", { points: x(0).toFixed(1) + "," + y(0) + " " + inPoints.join(" ") + " " + x(n - 1).toFixed(1) + "," + y(0), class: "in-area" }));
      chart.appendChild(svg("polyline", { points: inPoints.join(" "), class: "in" }));
      chart.appendChild(svg("polyline", { points: outPoints.join(" "), class: "out" }));
    }
    put(holder, chart);
    put(legend, 
      h("span", null, h("span", { className: "swatch in" }), "in ", h("b", { className: "fresh", dataset: { series: "in" } }, fmtRate(lastIn)), "/s"),
      h("span", null, h("span", { className: "swatch out" }), "out ", h("b", { className: "fresh", dataset: { series: "out" } }, fmtRate(lastOut)), "/s"),
      h("span", null, "peak " + fmtRate(peak) + "/s"),
      n ? h("span", null, fmtClock(series.start) + " – " + fmtClock(series.start + (n - 1) * series.intervalMs) + " " + fmtZone(series.start)) : null);
  }
  window.addEventListener("resize", function () { if (figure.isConnected) draw(); });
  return { el: figure, update: function (series) { last = series; draw(); } };
}

/** A panel with the TPS chart of a history route, 5 minutes or 1 hour (kept in the URL's "res"). */
function tpsPanel(ctx, title) {
  var section = panel(title, "messages per second, kept by the broker");
  var res = ctx.query.get("res") === "hour" ? "hour" : "min";
  var chart = tpsChart(title);
  var buttons = {};
  var group = h("span", { className: "segmented", role: "group", "aria-label": "Time span" });
  [["min", "5 minutes"], ["hour", "1 hour"]].forEach(function (choice) {
    var b = h("button", { type: "button", "aria-pressed": String(res === choice[0]), onclick: function () {
      res = choice[0];
      replaceQuery({ res: res === "hour" ? "hour" : "" });
      Object.keys(buttons).forEach(function (k) { buttons[k].setAttribute("aria-pressed", String(k === res)); });
      if (lastData) chart.update(res === "hour" ? lastData.coarse : lastData.fine);
    } }, choice[1]);
    buttons[choice[0]] = b;
    group.appendChild(b);
  });
  section.querySelector("h2").appendChild(group);
  section.appendChild(chart.el);
  var lastData = null;
  return {
    el: section,
    update: function (data) { lastData = data; chart.update(res === "hour" ? data.coarse : data.fine); },
  };
}
`;
