/**
 * The dashboard's message views: finding messages (by id or unique key, by key in a time range,
 * browsing a queue), one message formatted (times local and ISO, properties as a table, the body
 * as text, JSON or hex, its trace, sending it again to one group), and pending transactions.
 *
 * @module
 */

/** JS of these views. Written without template literals, so it can live in one. */
export const MESSAGE_VIEWS_SCRIPT = String.raw`
var HEX_LIMIT = 65536;

function bodyPreview(m, length) {
  var text = m.bodyEncoding === "base64" ? "[binary, " + fmtBytes(m.bodySize) + "]" : m.body.slice(0, length) + (m.body.length > length || m.bodyTruncated ? "…" : "");
  return h("span", { className: "preview" }, text);
}

function bodyBytes(m) {
  if (m.bodyEncoding === "base64") {
    var binary = atob(m.body);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }
  return new TextEncoder().encode(m.body);
}

function hexDump(bytes) {
  var lines = [];
  var n = Math.min(bytes.length, HEX_LIMIT);
  for (var at = 0; at < n; at += 16) {
    var hex = "", chars = "";
    for (var i = 0; i < 16; i++) {
      if (at + i < n) {
        var b = bytes[at + i];
        hex += (b < 16 ? "0" : "") + b.toString(16) + " ";
        chars += b >= 32 && b < 127 ? String.fromCharCode(b) : ".";
      } else hex += "   ";
      if (i === 7) hex += " ";
    }
    lines.push(pad(at.toString(16), 8) + "  " + hex + " |" + chars + "|");
  }
  if (bytes.length > n) lines.push("… " + fmtInt(bytes.length - n) + " more bytes");
  return lines.join("\n");
}

function messageColumns() {
  return [
    { id: "queue", label: "Queue", num: true, value: function (m) { return m.queueId; } },
    { id: "offset", label: "Offset", num: true, value: function (m) { return m.queueOffset; } },
    { id: "id", label: "Message id", className: "mono", opt: true, value: function (m) { return m.msgId; }, render: function (m) { return rowLink(["messages", m.msgId], m.msgId); } },
    { id: "tags", label: "Tags", value: function (m) { return m.tags || ""; } },
    { id: "keys", label: "Keys", opt: true, value: function (m) { return m.keys.join(" "); } },
    { id: "stored", label: "Stored", value: function (m) { return m.storeTimestamp; }, render: function (m) { return timeNode(m.storeTimestamp); } },
    { id: "body", label: "Body", value: function (m) { return m.body.slice(0, 200); }, render: function (m) { return bodyPreview(m, 200); } },
  ];
}

/** Local datetime-local text of ms, and back. */
function toLocalInput(ms) { var d = new Date(ms); return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()); }

route("/messages", {
  title: function () { return "Messages"; },
  mount: function (ctx) {
    var q = ctx.query;
    var mode = q.get("mode") || "";
    ctx.root.appendChild(viewTitle("Messages"));
    var forms = h("div", { className: "grid2" });

    var byId = panel("Find by id", "an offset message id, or a unique key (what RocketMQ clients show as the message id)");
    var idInput = h("input", { name: "id", id: "find-id", size: "36", required: true, placeholder: "7F000001000027AB…", pattern: "[0-9a-fA-F]{32}|[0-9a-fA-F]{56}", title: "32 or 56 hexadecimal characters" });
    var idForm = h("form", { className: "inline", id: "find-form" }, h("label", null, "Message id or unique key", idInput), h("button", { type: "submit" }, "Open"));
    idForm.addEventListener("submit", guard(function () { location.hash = href(["messages", idInput.value.trim()]).slice(1); }));
    byId.appendChild(idForm);

    var byKey = panel("Find by key", "the key index of a topic, optionally in a time range (local time)");
    var keyTopic = h("select", { name: "topic", id: "key-topic", required: true });
    var keyInput = h("input", { name: "key", id: "key-input", required: true, placeholder: "order-1" });
    var begin = h("input", { type: "datetime-local", name: "begin", step: "1" });
    var end = h("input", { type: "datetime-local", name: "end", step: "1" });
    var keyForm = h("form", { className: "inline", id: "key-form" }, h("label", null, "Topic", keyTopic), h("label", null, "Key", keyInput),
      h("label", null, "From", begin), h("label", null, "To", end), h("button", { type: "submit" }, "Search"));
    keyForm.addEventListener("submit", guard(function () {
      location.hash = href(["messages"], { mode: "key", topic: keyTopic.value, key: keyInput.value.trim(), begin: begin.value ? new Date(begin.value).getTime() : "", end: end.value ? new Date(end.value).getTime() : "" }).slice(1);
    }));
    byKey.appendChild(keyForm);

    var browsePanel = panel("Browse a queue", "a page of a queue, by offset (empty: the newest page)");
    var browseTopic = h("select", { name: "topic", id: "browse-topic", required: true });
    var browseQueue = h("select", { name: "queue", id: "browse-queue" });
    var browseOffset = h("input", { name: "offset", id: "browse-offset", type: "number", min: "0", placeholder: "newest" });
    var browseLimit = h("input", { name: "limit", type: "number", min: "1", max: "100", value: q.get("limit") || "20" });
    var browseForm = h("form", { className: "inline", id: "browse-form" }, h("label", null, "Topic", browseTopic), h("label", null, "Queue", browseQueue),
      h("label", null, "Offset", browseOffset), h("label", null, "Page size", browseLimit), h("button", { type: "submit" }, "Browse"));
    browseForm.addEventListener("submit", guard(function () {
      location.hash = href(["messages"], { mode: "browse", topic: browseTopic.value, queue: browseQueue.value, offset: browseOffset.value, limit: browseLimit.value === "20" ? "" : browseLimit.value }).slice(1);
    }));
    browseTopic.addEventListener("change", guard(function () { return loadQueues(browseTopic.value); }));
    browsePanel.appendChild(browseForm);
    add(forms, byId, byKey);
    add(ctx.root, forms, browsePanel);

    var results = panel("Results");
    var info = h("p", { id: "results-info", className: "muted", "aria-live": "polite" });
    var paging = h("div", { className: "inline" });
    var list = dataList(ctx, {
      key: "r", label: "message", empty: "No messages", sort: mode === "browse" ? "offset" : "stored", dir: mode === "browse" ? "asc" : "desc",
      rowKey: function (m) { return m.msgId; },
      rowHref: function (m) { return href(["messages", m.msgId], { topic: m.topic }); },
      columns: messageColumns(),
    });
    add(results, info, paging, list.el);
    results.hidden = mode !== "key" && mode !== "browse";
    results.querySelector("h2").id = "results";
    ctx.root.appendChild(results);

    async function loadQueues(topic, chosen) {
      if (!topic) { syncSelect(browseQueue, [], false); return; }
      var status = await api("GET", "/api/topics/" + encodeURIComponent(topic) + "/status");
      syncSelect(browseQueue, status.queues.map(function (x) { return String(x.queueId); }), false);
      if (chosen !== null && chosen !== undefined) browseQueue.value = chosen;
    }

    async function load() {
      var topics = (await api("GET", "/api/topics")).topics;
      if (!ctx.live()) return;
      var order = { normal: 0, retry: 1, dlq: 2, system: 3 };
      var names = topics.slice().sort(function (a, b) { return order[a.kind] - order[b.kind] || a.topic.localeCompare(b.topic); }).map(function (t) { return t.topic; });
      syncSelect(keyTopic, names, false);
      syncSelect(browseTopic, names, false);
      if (q.get("topic")) { keyTopic.value = q.get("topic"); browseTopic.value = q.get("topic"); }
      if (q.get("key")) keyInput.value = q.get("key");
      if (q.get("begin")) begin.value = toLocalInput(Number(q.get("begin")));
      if (q.get("end")) end.value = toLocalInput(Number(q.get("end")));
      if (q.get("offset")) browseOffset.value = q.get("offset");
      await loadQueues(browseTopic.value, q.get("queue"));
      if (mode === "key") await searchKey();
      else if (mode === "browse") await browse();
    }

    async function searchKey() {
      var query = "/api/messages?topic=" + encodeURIComponent(q.get("topic") || "") + "&key=" + encodeURIComponent(q.get("key") || "");
      if (q.get("begin")) query += "&begin=" + encodeURIComponent(q.get("begin"));
      if (q.get("end")) query += "&end=" + encodeURIComponent(q.get("end"));
      var result = await api("GET", query);
      if (!ctx.live()) return;
      info.textContent = plural(result.matched, "message") + " with key \"" + result.key + "\" in " + result.topic +
        (q.get("begin") || q.get("end") ? " stored " + (q.get("begin") ? "from " + fmtTime(Number(q.get("begin"))) + " " : "") + (q.get("end") ? "to " + fmtTime(Number(q.get("end"))) : "") : "") + ". " + result.note;
      list.update(result.messages);
    }

    async function browse() {
      var topic = q.get("topic");
      var queueId = Number(q.get("queue") || 0);
      var limit = Number(q.get("limit") || 20);
      var offset = q.get("offset");
      if (offset === null || offset === "") {
        var status = await api("GET", "/api/topics/" + encodeURIComponent(topic) + "/status");
        var queue = status.queues.filter(function (x) { return x.queueId === queueId; })[0];
        offset = queue ? Math.max(queue.minOffset, queue.maxOffset - limit) : 0;
      }
      var page = await api("GET", "/api/topics/" + encodeURIComponent(topic) + "/queues/" + queueId + "/messages?offset=" + offset + "&limit=" + limit);
      if (!ctx.live()) return;
      info.textContent = topic + ", queue " + queueId + ": offsets " + fmtInt(page.offset) + " – " + fmtInt(Math.max(page.offset, page.nextOffset - 1)) + " of " + fmtInt(page.minOffset) + " – " + fmtInt(Math.max(page.minOffset, page.maxOffset - 1));
      var base = { mode: "browse", topic: topic, queue: queueId, limit: limit === 20 ? "" : limit };
      put(paging, 
        page.offset > page.minOffset ? link(["messages"], "◀ Older", Object.assign({ offset: Math.max(page.minOffset, page.offset - limit) }, base), "button secondary small") : null,
        page.nextOffset < page.maxOffset ? link(["messages"], "Newer ▶", Object.assign({ offset: page.nextOffset }, base), "button secondary small") : null);
      list.update(page.messages);
    }

    load().catch(function (error) { if (!error.unreachable) viewError(ctx, error); });
    return { poll: false };
  },
});

/** Notes on properties the broker or clients set. */
var PROPERTY_NOTES = {
  UNIQ_KEY: "unique key, set by the producer", KEYS: "keys, indexed", TAGS: "tags", RETRY_TOPIC: "the topic it was first sent to",
  ORIGIN_MESSAGE_ID: "the first message's id", REAL_TOPIC: "destination after a delay", REAL_QID: "queue after a delay", DELAY: "delay level",
  TIMER_DELIVER_MS: "delivery time", TIMER_OUT_MS: "due time", TRAN_MSG: "transactional", PGROUP: "producer group", RECONSUME_TIME: "delivery attempts",
  MAX_OFFSET: "queue end when pulled", MIN_OFFSET: "queue start when pulled", WAIT: "wait for the store", MSG_TYPE: "message type",
};

route("/messages/:id", {
  title: function (p) { return "Message " + p.id; },
  mount: function (ctx) {
    var id = ctx.params.id;
    var topicHint = ctx.query.get("topic");
    var title = viewTitle("Message", h("span", { className: "mono" }, id));
    add(ctx.root, crumbs([[["messages"], "Messages"], id]), title);
    var holder = h("div", { id: "message-view" }, h("p", { className: "muted" }, "Loading…"));
    ctx.root.appendChild(holder);

    async function load() {
      var data = await api("GET", "/api/messages/" + encodeURIComponent(id) + (topicHint ? "?topic=" + encodeURIComponent(topicHint) : ""));
      if (!ctx.live()) return;
      var m = data.message;
      var lookup = data.lookup || {};
      var parts = [];
      if (lookup.by === "uniqueKey") {
        parts.push(h("p", { className: "muted", id: "lookup-note" }, "Found by unique key: " + plural(lookup.matches, "stored copy", "stored copies") + " (retries, re-sends); the first stored in a user topic is shown" + (lookup.complete === false ? ", among the index entries read" : "") + "."));
      }
      var grid = h("div", { className: "grid2" });
      var about = panel("Message");
      var original = m.properties.RETRY_TOPIC;
      about.appendChild(facts([
        ["Topic", [link(["topics", m.topic], m.topic), withSpace(kindTag(m.topic.indexOf("%RETRY%") === 0 ? "retry" : m.topic.indexOf("%DLQ%") === 0 ? "dlq" : "normal"))]],
        ["Original topic", original ? link(["topics", original], original) : undefined],
        ["Queue, offset", [link(["messages"], "queue " + m.queueId + ", offset " + fmtInt(m.queueOffset), { mode: "browse", topic: m.topic, queue: m.queueId, offset: m.queueOffset })]],
        ["Message id", h("span", { className: "mono" }, m.msgId)],
        ["Unique key", m.uniqueKey ? h("span", { className: "mono" }, m.uniqueKey) : "none"],
        ["Tags", m.tags || "none"],
        ["Keys", m.keys.length ? m.keys.map(function (k) { return link(["messages"], k, { mode: "key", topic: m.topic, key: k }); }).reduce(function (a, b) { return a.length ? a.concat([" ", b]) : [b]; }, []) : "none"],
        ["Born", timeBoth(m.bornTimestamp)],
        ["Stored", timeBoth(m.storeTimestamp)],
        ["Born to stored", fmtInt(m.storeTimestamp - m.bornTimestamp) + " ms"],
        ["Born host", h("span", { className: "mono" }, m.bornHost)],
        ["Store host", h("span", { className: "mono" }, m.storeHost)],
        ["Size", fmtBytes(m.storeSize) + " stored, body " + fmtBytes(m.bodySize)],
        ["Delivery attempts", fmtInt(m.reconsumeTimes)],
        ["Flag, sysflag", m.flag + ", " + m.sysFlag],
        ["First message", m.properties.ORIGIN_MESSAGE_ID ? link(["messages", m.properties.ORIGIN_MESSAGE_ID], m.properties.ORIGIN_MESSAGE_ID, null, "mono") : undefined],
      ]));
      var props = panel("Properties");
      var names = Object.keys(m.properties).sort();
      props.appendChild(names.length === 0 ? h("p", { className: "muted" }, "No properties") : h("div", { className: "table-wrap" }, h("table", { id: "property-table" },
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Name"), h("th", { scope: "col" }, "Value"))),
        h("tbody", null, names.map(function (name) {
          return h("tr", null, td([h("span", { className: "mono" }, name), PROPERTY_NOTES[name] ? h("span", { className: "sub" }, PROPERTY_NOTES[name]) : null]), td(m.properties[name], "mono"));
        })))));
      add(grid, about, props);
      parts.push(grid);
      parts.push(bodyPanel(m));
      parts.push(tracePanel(m));
      parts.push(await resendPanel(m));
      put(holder, parts);
    }
    load().catch(function (error) {
      if (error.unreachable) return;
      put(holder);
      viewError(ctx, error);
    });
    return { poll: false };
  },
});

function bodyPanel(m) {
  var section = panel("Body", fmtBytes(m.bodySize) + (m.bodyEncoding === "base64" ? ", not UTF-8 text" : ", UTF-8 text"));
  var bytes = bodyBytes(m);
  var text = m.bodyEncoding === "utf8" ? m.body : null;
  var json = null;
  if (text !== null) { try { json = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { json = null; } }
  var pre = h("pre", { className: "body", id: "message-body", tabindex: "0" });
  var modes = { text: text, json: json, hex: hexDump(bytes) };
  var current = json !== null ? "json" : text !== null ? "text" : "hex";
  var buttons = {};
  var group = h("span", { className: "segmented", role: "group", "aria-label": "Show the body as" });
  [["text", "Text"], ["json", "JSON"], ["hex", "Hex"]].forEach(function (choice) {
    var b = h("button", { type: "button", dataset: { mode: choice[0] }, disabled: modes[choice[0]] === null, title: modes[choice[0]] === null ? (choice[0] === "json" ? "The body is not JSON" : "The body is not UTF-8 text") : null,
      onclick: function () { show(choice[0]); } }, choice[1]);
    buttons[choice[0]] = b;
    group.appendChild(b);
  });
  function show(mode) {
    current = mode;
    pre.textContent = modes[mode];
    pre.className = "body" + (mode === "hex" ? " hex" : "");
    pre.dataset.mode = mode;
    Object.keys(buttons).forEach(function (k) { buttons[k].setAttribute("aria-pressed", String(k === mode)); });
  }
  section.querySelector("h2").appendChild(group);
  section.appendChild(pre);
  if (m.bodyTruncated) section.appendChild(h("p", { className: "muted" }, "The body was cut for this view."));
  show(current);
  return section;
}

/** How each step of a trace looks: its tag's class. */
var TRACE_STEP_CLASS = {
  "sent": "ok", "consumed": "ok", "committed": "ok", "delivered": "", "send failed": "bad", "consume failed": "warn", "rolled back": "warn", "dead-lettered": "bad",
};

/** The message's trace: every recorded step, from GET /api/messages/:id/trace, oldest first. */
function tracePanel(m) {
  var section = panel("Trace", "every recorded step: sent, delivered, consumed or failed, committed or rolled back, dead-lettered");
  section.id = "trace";
  var body = h("div", { id: "trace-body", "aria-live": "polite" }, h("p", { className: "muted" }, "Loading the trace…"));
  section.appendChild(body);
  // A retry or dead letter is traced as the message of its original topic, by its unique key.
  var topic = m.properties.RETRY_TOPIC || m.topic;
  var id = m.uniqueKey || m.msgId;
  api("GET", "/api/messages/" + encodeURIComponent(id) + "/trace?topic=" + encodeURIComponent(topic)).then(function (answer) {
    put(body, traceTimeline(answer));
  }, function (error) {
    if (error.unreachable) return;
    put(body, h("p", { className: "error-box", id: "trace-error", role: "alert" }, "The trace could not be read: " + error.message));
  });
  return section;
}

/** A link to the stored message a step names: the dead letter it became. */
function traceCopyLink(e) {
  return e.type === "DeadLetter" && e.record.offsetMsgId ? [" ", link(["messages", e.record.offsetMsgId], "open the dead letter", null, "trace-dlq")] : null;
}

/** The timeline of a trace answer, or why there is none. */
function traceTimeline(answer) {
  if (answer.events.length === 0) {
    return h("p", { className: "muted", id: "trace-none" }, "No trace recorded for this message. Clients record their sends and deliveries only with enableTrace: true, " +
      "and the broker its commits, rollbacks and dead letters only with traceTopicEnable (see docs/TRACE.md).");
  }
  var several = answer.messages.length > 1;
  var summary = h("p", { className: "muted", id: "trace-summary" }, plural(answer.events.length, "step") + (several ? " of " + plural(answer.messages.length, "message") : "") +
    " recorded in " + answer.traceTopic + ", oldest first. " + answer.note + (answer.complete ? "" : " (cut short)"));
  return [summary, h("ol", { className: "timeline", id: "trace-timeline" }, answer.events.map(function (e) {
    var meta = [
      ["group", e.group],
      ["client", e.clientId === null ? "broker" : e.clientId],
      ["attempt", e.attempt === null ? null : String(e.attempt)],
      ["cost", e.costMs === null ? null : fmtInt(e.costMs) + " ms"],
      ["host", e.storeHost],
      ["message", several ? e.msgId : null],
    ].filter(function (x) { return x[1] !== null && x[1] !== ""; });
    return h("li", { className: TRACE_STEP_CLASS[e.step] || "", dataset: { step: e.step, type: e.type } },
      h("div", { className: "trace-head" }, h("span", { className: "tag " + (TRACE_STEP_CLASS[e.step] || "") }, e.step), " ",
        h("time", { datetime: e.isoTime }, fmtTime(e.time, true) + " " + fmtZone(e.time)), h("span", { className: "sub mono" }, e.isoTime)),
      h("div", { className: "trace-meta" }, meta.map(function (x) {
        return h("span", { dataset: { field: x[0] } }, h("span", { className: "muted" }, x[0] + " "), h("span", { className: x[0] === "client" || x[0] === "host" || x[0] === "message" ? "mono" : "" }, x[1]));
      })),
      e.detail ? h("p", { className: "trace-detail" }, e.detail, traceCopyLink(e)) : null);
  }))];
}

/** Sending the message again: to one consumer group (its retry topic), or a dead letter to its original topic. */
async function resendPanel(m) {
  var section = panel("Send again");
  var kind = m.topic.indexOf("%DLQ%") === 0 ? "dlq" : m.topic.indexOf("%RETRY%") === 0 ? "retry" : "normal";
  var topic = kind === "normal" ? m.topic : m.properties.RETRY_TOPIC;
  var ownGroup = kind === "dlq" ? m.topic.slice(5) : kind === "retry" ? m.topic.slice(7) : null;
  var groups = (await maybe(api("GET", "/api/groups"))) || { groups: [] };
  var names = groups.groups.filter(function (g) { return topic && g.topics.indexOf(topic) >= 0 && (ownGroup === null || g.group === ownGroup); }).map(function (g) { return g.group; });
  if (ownGroup !== null && names.indexOf(ownGroup) < 0 && topic) names.push(ownGroup);
  var select = h("select", { id: "resend-group", name: "group" });
  syncSelect(select, names, false);
  var button = h("button", { type: "submit", id: "resend-button", disabled: names.length === 0 }, "Send to this group only");
  var result = h("p", { id: "resend-result", "aria-live": "polite" });
  var form = h("form", { className: "inline", id: "resend-form" }, h("label", null, "Consumer group", select), button);
  form.addEventListener("submit", guard(async function () {
    button.disabled = true;
    try {
      var r = await api("POST", "/api/groups/" + encodeURIComponent(select.value) + "/resend", { msgId: m.msgId });
      put(result, "Stored for group " + r.group + " as ", link(["messages", r.msgId], r.msgId), " in " + r.topic + ": only its members get it.");
      notice("Sent to group " + r.group);
    } finally {
      button.disabled = false;
    }
  }));
  section.appendChild(h("p", { className: "muted" }, "Stores a copy in the group's retry topic, as a failed message comes back: its members consume it as a message of " + (topic || "its topic") + ", other groups do not."));
  section.appendChild(names.length ? form : h("p", { className: "muted" }, topic ? "No consumer group consumes " + topic + "." : "The message does not name its original topic."));
  section.appendChild(result);
  if (kind === "dlq") {
    section.appendChild(h("p", null, h("button", { type: "button", className: "secondary", id: "dlq-resend", disabled: !topic, onclick: guard(async function () {
      var r = await api("POST", "/api/dlq/" + encodeURIComponent(ownGroup) + "/resend", { msgId: m.msgId });
      put(result, "Re-sent to " + r.topic + " as ", link(["messages", r.msgId], r.msgId), ": every group consuming it gets it.");
    }) }, "Re-send to " + (topic || "its original topic") + " (every group)")));
  }
  return section;
}

route("/transactions", {
  title: function () { return "Transactions"; },
  mount: function (ctx) {
    var topic = ctx.query.get("topic"), group = ctx.query.get("group");
    ctx.root.appendChild(viewTitle("Transactions", h("span", { className: "hint" }, "half messages waiting for their producer's commit or rollback")));
    var top = panel(null);
    var cards = h("div", { className: "cards", id: "txn-cards" });
    top.appendChild(cards);
    var settings = h("p", { className: "muted", id: "txn-settings" });
    top.appendChild(settings);
    var pendingPanel = panel("Pending per topic and producer group", "open a row for its half messages");
    var pending = dataList(ctx, {
      key: "t", label: "pending pair", empty: "No transaction pending", sort: "pending", dir: "desc",
      rowKey: function (r) { return r.topic + "|" + r.producerGroup; },
      rowHref: function (r) { return href(["transactions"], { topic: r.topic, group: r.producerGroup }); },
      columns: [
        { id: "topic", label: "Topic", value: function (r) { return r.topic; }, render: function (r) { return rowLink(["transactions"], r.topic, { topic: r.topic, group: r.producerGroup }); } },
        { id: "group", label: "Producer group", value: function (r) { return r.producerGroup; } },
        { id: "pending", label: "Pending", num: true, value: function (r) { return r.pending; }, render: function (r) { return fmtInt(r.pending); } },
        { id: "oldest", label: "Oldest", num: true, value: function (r) { return r.oldestAgeMs; }, render: function (r) { return h("span", { className: r.oldestAgeMs > r.timeoutMs ? "lag-high" : "" }, fmtDuration(r.oldestAgeMs)); } },
        { id: "checks", label: "Checks", num: true, opt: true, value: function (r) { return r.maxCheckTimes; } },
        { id: "next", label: "Next check", opt: true, value: function (r) { return r.nextCheckAt; }, render: function (r) { return r.nextCheckAt > Date.now() ? "in " + fmtDuration(r.nextCheckAt - Date.now()) : "due"; } },
      ],
    });
    pendingPanel.appendChild(pending.el);
    var halvesPanel = panel(topic ? "Half messages of " + group + " on " + topic : null, "oldest first");
    halvesPanel.hidden = !topic || !group;
    halvesPanel.id = "txn-halves";
    var halvesBody = h("div");
    halvesPanel.appendChild(halvesBody);
    var producersPanel = panel("Producers taking check-backs");
    var producersBody = h("div");
    producersPanel.appendChild(producersBody);
    add(ctx.root, top, pendingPanel, halvesPanel, producersPanel);
    return {
      refresh: async function () {
        var data = await api("GET", "/api/transactions" + (topic && group ? "?topic=" + encodeURIComponent(topic) + "&group=" + encodeURIComponent(group) : ""));
        if (!ctx.live()) return;
        var c = data.counters;
        put(cards, card("Pending", fmtInt(data.totalPending)), card("Half messages", fmtInt(c.halfMessages)), card("Committed", fmtInt(c.committed)),
          card("Rolled back", fmtInt(c.rolledBack)), card("Checks sent", fmtInt(c.checks)), card("Resolved by policy", fmtInt(c.resolvedByPolicy), null, c.resolvedByPolicy > 0));
        var s = data.settings;
        settings.textContent = "Since the broker started. A half message unresolved for " + fmtDuration(s.transactionTimeoutMs) + " is checked back with its producer group every " +
          fmtDuration(s.transactionCheckIntervalMs) + "; after " + s.transactionCheckMax + " checks it is " + (s.transactionCheckMaxPolicy === "commit" ? "committed" : "rolled back") + ".";
        pending.update(data.pending.map(function (r) { return Object.assign({ timeoutMs: s.transactionTimeoutMs }, r); }));
        if (data.halves) {
          put(halvesBody, data.halves.length === 0 ? h("p", { className: "muted" }, "None pending any more") : h("div", { className: "table-wrap" }, h("table", null,
            h("thead", null, h("tr", null, h("th", null, "Transaction id"), h("th", { className: "num" }, "Queue"), h("th", { className: "num opt" }, "Half offset"), h("th", null, "Stored"), h("th", { className: "num" }, "Checks"), h("th", { className: "opt" }, "Next check"))),
            h("tbody", null, data.halves.map(function (x) {
              return h("tr", null, td(x.transactionId, "mono"), num(x.queueId), num(fmtInt(x.halfQueueOffset), "opt"), td(timeNode(x.storeTimestamp)), num(x.checkTimes), td(timeNode(x.nextCheckAt), "opt"));
            })))));
        }
        put(producersBody, data.producers.filter(function (p) { return p.groups.length; }).length === 0 ? h("p", { className: "muted" }, "No producer takes check-backs: pending transactions wait for one") :
          h("ul", { className: "plain" }, data.producers.filter(function (p) { return p.groups.length; }).map(function (p) {
            return h("li", null, h("span", { className: "mono" }, p.clientId), " (" + p.groups.join(", ") + ") from " + p.remoteAddress + ", heartbeat " + ago(p.lastHeartbeat));
          })));
      },
    };
  },
});
`;
