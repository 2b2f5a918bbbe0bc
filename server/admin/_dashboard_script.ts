/**
 * The dashboard's script: vanilla JS that polls the admin API and renders with DOM calls
 * (`textContent` only, so message bodies can never inject markup). With ACL on it signs in first:
 * the session cookie is HttpOnly, and the CSRF token the sign-in answers stays in this tab's
 * sessionStorage and goes with every request.
 *
 * @module
 */

/** JS of the dashboard page. Written without template literals, so it can live in this one. */
export const DASHBOARD_SCRIPT = String.raw`
(function () {
  "use strict";
  var config = window.RMQ_DASHBOARD || { version: "", tokenRequired: false, acl: false };
  var state = {
    token: sessionStorage.getItem("rmq-admin-token") || "",
    csrf: sessionStorage.getItem("rmq-admin-csrf") || "",
    running: false,
    topics: [],
    tps: [],
    selectedTopic: null,
    selectedGroup: null,
    browse: null,
  };
  var TPS_POINTS = 90;

  function $(id) { return document.getElementById(id); }

  function h(tag, props) {
    var el = document.createElement(tag);
    if (props) {
      for (var name in props) {
        var value = props[name];
        if (value === undefined || value === null) continue;
        if (name === "text") el.textContent = String(value);
        else if (name === "className") el.className = value;
        else if (name === "dataset") { for (var d in value) el.dataset[d] = value[d]; }
        else if (name.slice(0, 2) === "on") el.addEventListener(name.slice(2), value);
        else el.setAttribute(name, value);
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === undefined || child === null || child === false) continue;
      el.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
    }
    return el;
  }

  function td(text, className) { return h("td", { text: text, className: className }); }
  function num(text) { return td(text, "num"); }

  function fill(tbody, rows, emptyText, columns) {
    tbody.replaceChildren();
    if (rows.length === 0) {
      tbody.appendChild(h("tr", null, h("td", { colspan: String(columns), className: "empty", text: emptyText })));
      return;
    }
    rows.forEach(function (row) { tbody.appendChild(row); });
  }

  function fmtInt(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
  function fmtRate(n) { return n === null || n === undefined ? "–" : (n >= 100 ? Math.round(n).toLocaleString("en-US") : (Math.round(n * 10) / 10).toString()); }
  function fmtBytes(n) {
    if (n === null || n === undefined) return "–";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
  }
  function fmtDuration(ms) {
    var s = Math.floor(ms / 1000);
    if (s < 60) return s + "s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + "m " + (s % 60) + "s";
    var hours = Math.floor(m / 60);
    if (hours < 48) return hours + "h " + (m % 60) + "m";
    return Math.floor(hours / 24) + "d " + (hours % 24) + "h";
  }
  function fmtTime(ms) {
    if (!ms) return "–";
    var d = new Date(ms);
    var pad = function (x) { return (x < 10 ? "0" : "") + x; };
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  var noticeTimer;
  function notice(text, isError) {
    var el = $("notice");
    el.textContent = text;
    el.className = "show" + (isError ? " error" : "");
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { el.className = ""; }, isError ? 8000 : 4000);
  }

  async function api(method, path, body) {
    var headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (state.token) headers.authorization = "Bearer " + state.token;
    if (state.csrf) headers["x-csrf-token"] = state.csrf;
    var response = await fetch(path, { method: method, headers: headers, body: body === undefined ? undefined : JSON.stringify(body) });
    var data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      var message = data && data.error ? data.error.message : response.status + " " + response.statusText;
      var error = new Error(message);
      error.status = response.status;
      if (response.status === 401) {
        if (config.acl) signedOut(); else $("token-box").hidden = false;
      }
      throw error;
    }
    return data;
  }

  function guard(fn) {
    return function (event) {
      if (event && event.preventDefault) event.preventDefault();
      Promise.resolve().then(function () { return fn(event); }).catch(function (error) { notice(error.message, true); });
    };
  }

  // ---- cluster and TPS chart

  function card(label, value, id) {
    return h("div", { className: "card" }, h("div", { className: "label", text: label }), h("div", { className: "value", text: value, id: id }));
  }

  function renderCluster(cluster) {
    var local = cluster.brokers.filter(function (b) { return b.local; })[0];
    var totalMessages = state.topics.filter(function (t) { return t.kind === "normal"; }).reduce(function (n, t) { return n + t.messages; }, 0);
    var cards = [
      card("Brokers", fmtInt(cluster.brokers.length)),
      card("Topics", fmtInt(state.topics.filter(function (t) { return t.kind === "normal"; }).length), "card-topics"),
      card("Stored messages", fmtInt(totalMessages), "card-messages"),
      card("TPS in", local ? fmtRate(local.tps.in) : "–", "card-tps-in"),
      card("TPS out", local ? fmtRate(local.tps.out) : "–"),
      card("Store size", local ? fmtBytes(local.storeSize) : "–"),
      card("Disk free", local ? fmtBytes(local.diskFree) : "–"),
      card("Uptime", fmtDuration(cluster.uptimeMs)),
    ];
    $("cards").replaceChildren.apply($("cards"), cards);
    $("cluster-hint").textContent = cluster.nameServer ? "NameServer on port " + cluster.nameServer.port + ", " + cluster.nameServer.brokers + " live broker(s)" : "";
    fill($("brokers").tBodies[0], cluster.brokers.map(function (b) {
      return h("tr", null,
        td(b.brokerName + (b.brokerId ? " #" + b.brokerId : "")), td(b.role), td(b.address, "mono"),
        num(b.uptimeMs === undefined ? "–" : fmtDuration(b.uptimeMs)), num(fmtBytes(b.storeSize)), num(fmtBytes(b.diskFree)),
        num(b.tps ? fmtRate(b.tps.in) : "–"), num(b.tps ? fmtRate(b.tps.out) : "–"),
        num(b.connections === undefined ? "–" : fmtInt(b.connections)), num(b.pendingLongPolls === undefined ? "–" : fmtInt(b.pendingLongPolls)));
    }), "No broker", 10);
    if (local) {
      state.tps.push({ at: cluster.now, in: local.tps.in, out: local.tps.out });
      if (state.tps.length > TPS_POINTS) state.tps.shift();
      $("tps-in").textContent = fmtRate(local.tps.in);
      $("tps-out").textContent = fmtRate(local.tps.out);
    }
    drawChart();
  }

  function drawChart() {
    var canvas = $("tps-chart");
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth || 900;
    var height = canvas.clientHeight || 180;
    if (canvas.width !== Math.round(width * ratio)) { canvas.width = Math.round(width * ratio); canvas.height = Math.round(height * ratio); }
    var g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    var left = 48, right = 8, top = 8, bottom = 20;
    var plotW = width - left - right, plotH = height - top - bottom;
    var max = 1;
    state.tps.forEach(function (p) { max = Math.max(max, p.in, p.out); });
    var step = Math.pow(10, Math.floor(Math.log10(max)));
    max = Math.ceil(max / step) * step;
    var styles = getComputedStyle(document.documentElement);
    g.strokeStyle = styles.getPropertyValue("--line") || "#e2e5eb";
    g.fillStyle = styles.getPropertyValue("--muted") || "#6b7385";
    g.font = "11px system-ui, sans-serif";
    g.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var y = top + plotH - (plotH * i) / 4;
      g.beginPath(); g.moveTo(left, y + 0.5); g.lineTo(left + plotW, y + 0.5); g.stroke();
      g.fillText(fmtRate((max * i) / 4), 4, y + 4);
    }
    g.fillText(TPS_POINTS + "s ago", left, height - 4);
    g.fillText("now", left + plotW - 22, height - 4);
    function line(key, color) {
      var n = state.tps.length;
      if (n === 0) return;
      g.strokeStyle = color; g.lineWidth = 2; g.beginPath();
      state.tps.forEach(function (p, j) {
        var x = left + plotW - ((n - 1 - j) * plotW) / (TPS_POINTS - 1);
        var yy = top + plotH - (p[key] / max) * plotH;
        if (j === 0) g.moveTo(x, yy); else g.lineTo(x, yy);
      });
      g.stroke();
      var last = state.tps[n - 1];
      g.fillStyle = color;
      g.beginPath();
      g.arc(left + plotW, top + plotH - (last[key] / max) * plotH, 3, 0, 2 * Math.PI);
      g.fill();
    }
    canvas.dataset.points = String(state.tps.length);
    line("in", (styles.getPropertyValue("--in") || "#2f6fde").trim());
    line("out", (styles.getPropertyValue("--out") || "#17a673").trim());
  }

  var clusterFailures = 0;
  async function pollCluster() {
    if (!state.running) return;
    try {
      var cluster = await api("GET", "/api/cluster");
      clusterFailures = 0;
      $("status-dot").className = "ok";
      renderCluster(cluster);
    } catch (error) {
      clusterFailures++;
      $("status-dot").className = "bad";
      if (clusterFailures === 3 && state.running) notice("Cannot reach the admin API: " + error.message, true);
    }
    if (state.running) setTimeout(pollCluster, 1000);
  }

  // ---- topics

  function kindTag(kind) { return kind === "normal" ? null : h("span", { className: "tag " + kind, text: kind }); }

  function renderTopics() {
    var showSystem = $("show-system").checked;
    var visible = state.topics.filter(function (t) { return showSystem || t.kind === "normal"; });
    fill($("topic-table").tBodies[0], visible.map(function (t) {
      var row = h("tr", { className: "clickable" + (t.topic === state.selectedTopic ? " selected" : ""), dataset: { topic: t.topic }, onclick: guard(function () { return selectTopic(t.topic); }) },
        h("td", null, h("span", { className: "mono", text: t.topic }), " ", kindTag(t.kind)),
        num(fmtInt(t.queues)), td(t.perm === null ? "–" : t.perm),
        h("td", { className: "num messages", text: fmtInt(t.messages) }),
        // The broker refuses to delete its system topics: no button to press.
        h("td", null, t.kind === "system" ? null : h("button", { className: "danger", type: "button", text: "Delete", onclick: guard(function (event) {
          event.stopPropagation();
          if (!confirm("Delete topic \"" + t.topic + "\" and its queues?")) return;
          return api("DELETE", "/api/topics/" + encodeURIComponent(t.topic)).then(function () {
            notice("Deleted topic " + t.topic);
            if (state.selectedTopic === t.topic) { state.selectedTopic = null; $("topic-detail").hidden = true; }
            return refreshTopics();
          });
        }) })));
      return row;
    }), "No topics yet: send a message or create one", 5);
    var names = state.topics.map(function (t) { return t.topic; });
    $("topic-names").replaceChildren.apply($("topic-names"), names.filter(function (n) { return n.charAt(0) !== "%"; }).map(function (n) { return h("option", { value: n }); }));
    syncSelect($("browse-topic"), names, true);
    var messages = $("card-messages");
    if (messages) messages.textContent = fmtInt(state.topics.filter(function (t) { return t.kind === "normal"; }).reduce(function (n, t) { return n + t.messages; }, 0));
    var count = $("card-topics");
    if (count) count.textContent = fmtInt(state.topics.filter(function (t) { return t.kind === "normal"; }).length);
  }

  function syncSelect(select, values, keepEmpty) {
    var current = select.value;
    var options = values.map(function (v) { return h("option", { value: v, text: v }); });
    if (keepEmpty) options.unshift(h("option", { value: "", text: "—" }));
    select.replaceChildren.apply(select, options);
    if (values.indexOf(current) >= 0) select.value = current;
  }

  async function refreshTopics() {
    var data = await api("GET", "/api/topics");
    state.topics = data.topics;
    renderTopics();
    renderDlqSoon();
    if (state.selectedTopic) await showTopicStatus(state.selectedTopic);
  }

  async function selectTopic(topic) {
    state.selectedTopic = topic;
    renderTopics();
    await showTopicStatus(topic);
  }

  async function showTopicStatus(topic) {
    var status;
    try { status = await api("GET", "/api/topics/" + encodeURIComponent(topic) + "/status"); }
    catch (error) { if (error.status === 404) { $("topic-detail").hidden = true; return; } throw error; }
    $("topic-detail").hidden = false;
    $("topic-detail-title").textContent = topic + " — " + fmtInt(status.messages) + " messages, last stored " + fmtTime(status.lastStoreTime);
    fill($("queue-table").tBodies[0], status.queues.map(function (q) {
      return h("tr", null, num(q.queueId), num(fmtInt(q.minOffset)), num(fmtInt(q.maxOffset)), num(fmtInt(q.messages)), td(fmtTime(q.lastStoreTime)),
        h("td", null, h("button", { className: "secondary", type: "button", text: "Browse", onclick: guard(function () {
          $("browse-topic").value = topic;
          return loadQueues(topic).then(function () {
            $("browse-queue").value = String(q.queueId);
            $("browse-offset").value = "";
            location.hash = "#messages";
            return browse(topic, q.queueId, null, pageSize());
          });
        }) })));
    }), "No queues", 6);
  }

  // ---- send and create

  async function sendTest(event) {
    var form = event.target;
    var topic = form.topic.value.trim();
    var body = { body: form.body.value };
    if (form.tags.value.trim()) body.tags = form.tags.value.trim();
    if (form.keys.value.trim()) body.keys = form.keys.value.trim();
    $("send-button").disabled = true;
    try {
      var sent = await api("POST", "/api/topics/" + encodeURIComponent(topic) + "/messages", body);
      $("send-result").textContent = "Sent " + sent.msgId + " to queue " + sent.queueId + " at offset " + sent.queueOffset;
      notice("Message sent to " + topic);
    } finally {
      $("send-button").disabled = false;
    }
    await refreshTopics();
  }

  async function createTopic(event) {
    var form = event.target;
    var result = await api("POST", "/api/topics", { topic: form.topic.value.trim(), queueNums: Number(form.queueNums.value), perm: form.perm.value });
    notice((result.created ? "Created" : "Updated") + " topic " + result.topic.topic);
    form.topic.value = "";
    await refreshTopics();
  }

  // ---- groups

  async function refreshGroups() {
    var data = await api("GET", "/api/groups");
    fill($("group-table").tBodies[0], data.groups.map(function (g) {
      return h("tr", { className: "clickable" + (g.group === state.selectedGroup ? " selected" : ""), dataset: { group: g.group }, onclick: guard(function () { return selectGroup(g.group); }) },
        h("td", null, h("span", { className: "mono", text: g.group }), g.inconsistent ? h("span", { className: "tag dlq", text: "inconsistent subscriptions" }) : null),
        num(fmtInt(g.members)), td(g.messageModel || "–"), td(g.topics.join(", ")),
        h("td", { className: "num" + (g.totalLag > 1000 ? " lag-high" : ""), text: fmtInt(g.totalLag) }));
    }), "No consumer groups yet", 5);
    if (state.selectedGroup) await showGroup(state.selectedGroup);
  }

  async function selectGroup(group) {
    state.selectedGroup = group;
    await refreshGroups();
  }

  async function showGroup(group) {
    var g;
    try { g = await api("GET", "/api/groups/" + encodeURIComponent(group)); }
    catch (error) { if (error.status === 404) { $("group-detail").hidden = true; return; } throw error; }
    $("group-detail").hidden = false;
    $("group-detail-title").textContent = group + " — total lag " + fmtInt(g.totalLag);
    var members = g.members.map(function (m) {
      return h("li", null, h("span", { className: "mono", text: m.clientId }), " from " + m.remoteAddress + " (" + (m.runtime || "unknown runtime") + "), subscribes " +
        m.subscriptions.map(function (s) { return s.topic + " [" + (s.expressionType === "SQL92" ? "SQL92: " : "") + s.expression + "]"; }).join(", "));
    });
    var box = $("group-members");
    box.replaceChildren(members.length ? h("ul", null) : h("div", { className: "empty", text: "No member online" }));
    if (members.length) members.forEach(function (li) { box.firstChild.appendChild(li); });
    if (g.inconsistency) box.appendChild(h("div", { className: "lag-high", text: "Members subscribe differently: " + JSON.stringify(g.inconsistency.conflicts) }));
    fill($("group-queues").tBodies[0], g.queues.map(function (q) {
      return h("tr", null, td(q.topic, "mono"), num(q.queueId), num(fmtInt(q.brokerOffset)), num(q.consumerOffset < 0 ? "none" : fmtInt(q.consumerOffset)),
        h("td", { className: "num" + (q.lag > 1000 ? " lag-high" : ""), text: fmtInt(q.lag) }));
    }), "No queues", 5);
    var topics = [];
    g.queues.forEach(function (q) { if (topics.indexOf(q.topic) < 0) topics.push(q.topic); });
    syncSelect($("reset-topic"), topics, false);
  }

  async function resetOffset(event) {
    var form = event.target;
    var to = form.to.value;
    if (to === "time") {
      if (!form.time.value) throw new Error("Pick a time to reset to");
      to = new Date(form.time.value).getTime();
    }
    var result = await api("POST", "/api/groups/" + encodeURIComponent(state.selectedGroup) + "/reset-offset", { topic: form.topic.value, to: to, force: form.force.checked });
    notice("Reset " + result.queues.length + " queue(s) of " + result.topic);
    await refreshGroups();
  }

  // ---- messages

  function pageSize() { return Number($("browse-form").limit.value) || 20; }

  async function loadQueues(topic) {
    if (!topic) { syncSelect($("browse-queue"), [], false); return; }
    var status = await api("GET", "/api/topics/" + encodeURIComponent(topic) + "/status");
    syncSelect($("browse-queue"), status.queues.map(function (q) { return String(q.queueId); }), false);
  }

  function messageRows(messages) {
    return messages.map(function (m) {
      return h("tr", { className: "clickable", onclick: guard(function () { return showMessage(m.msgId); }) },
        num(m.queueId), num(m.queueOffset), td(m.msgId, "mono"), td(m.tags || ""), td(m.keys.join(" ")), td(fmtTime(m.storeTimestamp)),
        h("td", { className: "body-preview", text: (m.bodyEncoding === "base64" ? "[base64] " : "") + m.body.slice(0, 200) + (m.body.length > 200 || m.bodyTruncated ? "…" : "") }));
    });
  }

  async function browse(topic, queueId, offset, limit) {
    if (!topic) throw new Error("Pick a topic to browse");
    if (offset === null) {
      var status = await api("GET", "/api/topics/" + encodeURIComponent(topic) + "/status");
      var queue = status.queues.filter(function (q) { return q.queueId === queueId; })[0];
      offset = queue ? Math.max(queue.minOffset, queue.maxOffset - limit) : 0;
    }
    var page = await api("GET", "/api/topics/" + encodeURIComponent(topic) + "/queues/" + queueId + "/messages?offset=" + offset + "&limit=" + limit);
    state.browse = { topic: topic, queueId: queueId, offset: page.offset, nextOffset: page.nextOffset, limit: limit, minOffset: page.minOffset, maxOffset: page.maxOffset };
    $("browse-offset").value = String(page.offset);
    $("browse-info").textContent = topic + " queue " + queueId + ": offsets " + page.offset + "–" + (page.nextOffset - 1) + " of " + page.minOffset + "–" + (page.maxOffset - 1);
    fill($("message-table").tBodies[0], messageRows(page.messages), "No messages at this offset", 7);
  }

  async function showMessage(msgId) {
    var data = await api("GET", "/api/messages/" + encodeURIComponent(msgId));
    var detail = $("message-detail");
    detail.hidden = false;
    // A unique key may have several stored copies (retries, re-sends): say which one this is.
    var lookup = data.lookup || {};
    var note = lookup.by === "uniqueKey" ? "Found by unique key: " + lookup.matches + " stored cop" + (lookup.matches === 1 ? "y" : "ies") + ", the first stored is shown\n\n" : "";
    detail.textContent = note + JSON.stringify(data.message, null, 2);
  }

  async function searchKey() {
    var topic = $("browse-topic").value;
    var key = $("search-form").key.value.trim();
    if (!topic) throw new Error("Pick the topic to search in");
    if (!key) throw new Error("Type a key to search for");
    var result = await api("GET", "/api/messages?topic=" + encodeURIComponent(topic) + "&key=" + encodeURIComponent(key));
    $("browse-info").textContent = result.matched + " match(es) for key \"" + key + "\" in " + topic + ". " + result.note;
    fill($("message-table").tBodies[0], messageRows(result.messages), "No message with this key", 7);
  }

  // ---- dead letters

  var dlqTimer;
  function renderDlqSoon() { clearTimeout(dlqTimer); dlqTimer = setTimeout(function () { refreshDlq().catch(function (e) { notice(e.message, true); }); }, 0); }

  async function refreshDlq() {
    var dlqTopics = state.topics.filter(function (t) { return t.kind === "dlq" && t.messages > 0; });
    var rows = [];
    for (var i = 0; i < dlqTopics.length; i++) {
      var topic = dlqTopics[i].topic;
      var group = topic.slice("%DLQ%".length);
      var status = await api("GET", "/api/topics/" + encodeURIComponent(topic) + "/status");
      for (var j = 0; j < status.queues.length; j++) {
        var q = status.queues[j];
        if (q.messages === 0) continue;
        var page = await api("GET", "/api/topics/" + encodeURIComponent(topic) + "/queues/" + q.queueId + "/messages?offset=" + Math.max(q.minOffset, q.maxOffset - 50) + "&limit=50");
        page.messages.slice().reverse().forEach(function (m) { rows.push(dlqRow(group, m)); });
      }
    }
    fill($("dlq-table").tBodies[0], rows, "No dead letters", 7);
  }

  function dlqRow(group, m) {
    return h("tr", null, td(group, "mono"), num(m.queueOffset), td(m.msgId, "mono"), td(m.properties.RETRY_TOPIC || "unknown"), td(fmtTime(m.storeTimestamp)),
      h("td", { className: "body-preview", text: m.body.slice(0, 120) }),
      h("td", null, h("button", { className: "secondary", type: "button", text: "Re-send", disabled: m.properties.RETRY_TOPIC ? null : "disabled", onclick: guard(function () {
        return api("POST", "/api/dlq/" + encodeURIComponent(group) + "/resend", { msgId: m.msgId }).then(function (r) {
          notice("Re-sent to " + r.topic + " as " + r.msgId);
          return refreshTopics();
        });
      }) })));
  }

  // ---- transactions

  async function refreshTransactions() {
    var data = await api("GET", "/api/transactions");
    var c = data.counters;
    $("txn-counters").textContent = fmtInt(data.totalPending) + " pending; since start " + fmtInt(c.halfMessages) + " half messages, " +
      fmtInt(c.committed) + " committed, " + fmtInt(c.rolledBack) + " rolled back, " + fmtInt(c.checks) + " checks, " +
      fmtInt(c.resolvedByPolicy) + " resolved by policy (" + data.settings.transactionCheckMaxPolicy + " after " + data.settings.transactionCheckMax + " checks)";
    var now = Date.now();
    fill($("txn-table").tBodies[0], data.pending.map(function (row) {
      return h("tr", null, td(row.topic, "mono"), td(row.producerGroup, "mono"), num(fmtInt(row.pending)),
        h("td", { className: "num" + (row.oldestAgeMs > data.settings.transactionTimeoutMs ? " lag-high" : ""), text: fmtDuration(row.oldestAgeMs) }),
        num(fmtInt(row.maxCheckTimes)), td(row.nextCheckAt > now ? "in " + fmtDuration(row.nextCheckAt - now) : "due"));
    }), "No transaction pending", 6);
  }

  // ---- signing in (ACL on)

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
    state.csrf = "";
    sessionStorage.removeItem("rmq-admin-csrf");
    $("main").hidden = true;
    $("nav").hidden = true;
    $("who").hidden = true;
    $("sign-out").hidden = true;
    $("signin").hidden = false;
    $("signin-access-key").focus();
  }

  async function signIn(event) {
    var form = event.target;
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

  async function signOut() {
    try { await api("DELETE", "/api/session"); } finally { signedOut(); }
  }

  // ---- wiring

  function start() {
    if (state.running) return;
    state.running = true;
    clusterFailures = 0;
    pollCluster();
    var slow = function () {
      if (!state.running) return;
      Promise.all([refreshTopics(), refreshGroups(), refreshTransactions()]).catch(function (error) { if (state.running) notice(error.message, true); }).then(function () {
        if (state.running) setTimeout(slow, 3000);
      });
    };
    slow();
  }

  function init() {
    if (config.tokenRequired) $("token-box").hidden = false;
    $("token").value = state.token;
    $("token").addEventListener("change", function (event) {
      state.token = event.target.value.trim();
      sessionStorage.setItem("rmq-admin-token", state.token);
    });
    $("show-system").addEventListener("change", renderTopics);
    $("send-form").addEventListener("submit", guard(sendTest));
    $("create-topic").addEventListener("submit", guard(createTopic));
    $("reset-form").addEventListener("submit", guard(resetOffset));
    $("reset-to").addEventListener("change", function (event) { $("reset-time-box").hidden = event.target.value !== "time"; });
    $("browse-topic").addEventListener("change", guard(function (event) { return loadQueues(event.target.value); }));
    $("browse-form").addEventListener("submit", guard(function (event) {
      var form = event.target;
      var offset = form.offset.value === "" ? null : Number(form.offset.value);
      return browse(form.topic.value, Number(form.queueId.value), offset, pageSize());
    }));
    $("browse-prev").addEventListener("click", guard(function () {
      var b = state.browse;
      if (!b) throw new Error("Browse a queue first");
      return browse(b.topic, b.queueId, Math.max(b.minOffset, b.offset - b.limit), b.limit);
    }));
    $("browse-next").addEventListener("click", guard(function () {
      var b = state.browse;
      if (!b) throw new Error("Browse a queue first");
      return browse(b.topic, b.queueId, b.nextOffset, b.limit);
    }));
    $("search-form").addEventListener("submit", guard(function (event) {
      var id = event.target.msgId.value.trim();
      if (!id) throw new Error("Type a message id");
      return showMessage(id);
    }));
    $("search-key").addEventListener("click", guard(searchKey));
    document.querySelectorAll("nav a").forEach(function (a) {
      a.addEventListener("click", function () {
        document.querySelectorAll("nav a").forEach(function (x) { x.classList.toggle("active", x === a); });
      });
    });
    window.addEventListener("resize", drawChart);
    $("signin-form").addEventListener("submit", guard(signIn));
    $("sign-out").addEventListener("click", guard(signOut));
    if (!config.acl) { start(); return; }
    if (!state.csrf) { signedOut(); return; }
    api("GET", "/api/session").then(signedIn, signedOut);
  }

  init();
})();
`;
