/**
 * The dashboard's topic views: the list (search, kinds, sorting, paging, creating a topic) and a
 * topic's own view (settings, TPS history, queues, consuming groups, test sends, changes).
 *
 * @module
 */

/** JS of these views. Written without template literals, so it can live in one. */
export const TOPIC_VIEWS_SCRIPT = String.raw`
var KIND_FILTER = { id: "kind", label: "Kind", options: [["normal", "User topics"], ["retry", "Retry topics"], ["dlq", "Dead-letter topics"], ["system", "Broker topics"], ["all", "All topics"]],
  test: function (t, value) { return value === "all" || t.kind === value; } };

function retentionText(t) { return t.retentionHours ? t.retentionHours + " h" : "broker default"; }
function typeText(t) { var typed = t.messageType && t.messageType !== "MIXED"; return typed ? t.messageType + (t.order ? ", ordered" : "") : t.order ? "ordered" : "normal"; }

route("/topics", {
  title: function () { return "Topics"; },
  mount: function (ctx) {
    ctx.root.appendChild(viewTitle("Topics"));
    var listPanel = panel(null);
    var list = dataList(ctx, {
      label: "topic", empty: "No topics yet", filters: [KIND_FILTER],
      rowKey: function (t) { return t.topic; },
      rowHref: function (t) { return href(["topics", t.topic]); },
      columns: [
        { id: "topic", label: "Topic", value: function (t) { return t.topic; }, render: function (t) { return [rowLink(["topics", t.topic], t.topic), withSpace(kindTag(t.kind))]; } },
        { id: "type", label: "Type", opt: true, value: typeText },
        { id: "queues", label: "Queues", num: true, value: function (t) { return t.queues; }, render: function (t) { return t.readQueueNums === null ? fmtInt(t.queues) : t.readQueueNums + "/" + t.writeQueueNums; } },
        { id: "perm", label: "Perm", opt: true, value: function (t) { return t.perm; } },
        { id: "retention", label: "Retention", opt: true, value: function (t) { return t.retentionHours || 0; }, render: retentionText },
        { id: "messages", label: "Messages", num: true, className: "messages", value: function (t) { return t.messages; }, render: function (t) { return fmtInt(t.messages); } },
        { id: "in", label: "In/s", num: true, value: function (t) { return t.tps ? t.tps.in : null; }, render: function (t) { return t.tps ? fmtRate(t.tps.in) : "–"; } },
        { id: "out", label: "Out/s", num: true, opt: true, value: function (t) { return t.tps ? t.tps.out : null; }, render: function (t) { return t.tps ? fmtRate(t.tps.out) : "–"; } },
      ],
    });
    listPanel.appendChild(list.el);
    var form = topicForm(null, function (result) {
      notice((result.created ? "Created" : "Updated") + " topic " + result.topic.topic);
      location.hash = href(["topics", result.topic.topic]).slice(1);
    });
    var create = panel("Create a topic");
    create.appendChild(form.el);
    add(ctx.root, listPanel, create);
    return {
      refresh: async function () {
        var data = await api("GET", "/api/topics");
        if (!ctx.live()) return;
        list.update(data.topics);
        form.supportTypes(data.topics.some(function (t) { return t.messageType !== undefined; }));
      },
    };
  },
});

/** The create/update form of a topic; existing fills it for changes. */
function topicForm(existing, done) {
  var form = h("form", { className: "inline", id: existing ? "edit-topic" : "create-topic" });
  var name = h("input", { name: "topic", required: true, placeholder: "orders", maxlength: "127" });
  if (existing) { name.value = existing.topic; name.readOnly = true; }
  var read = h("input", { name: "readQueueNums", type: "number", min: "1", max: "1024", value: String(existing && existing.readQueueNums || 4) });
  var write = h("input", { name: "writeQueueNums", type: "number", min: "1", max: "1024", value: String(existing && existing.writeQueueNums || 4) });
  var perm = h("select", { name: "perm" }, h("option", { value: "rw" }, "read and write"), h("option", { value: "r" }, "read only"), h("option", { value: "w" }, "write only"), h("option", { value: "" }, "none"));
  if (existing && existing.perm) perm.value = existing.perm.replace(/-/g, "");
  var retention = h("input", { name: "retentionHours", type: "number", min: "0", max: "87600", value: String(existing && existing.retentionHours || 0)});
  var order = h("input", { name: "order", type: "checkbox" });
  order.checked = !!(existing && existing.order);
  var type = h("select", { name: "messageType" }, ["MIXED", "NORMAL", "FIFO", "DELAY", "TRANSACTION"].map(function (t) { return h("option", { value: t }, t.charAt(0) + t.slice(1).toLowerCase()); }));
  if (existing && existing.messageType) type.value = existing.messageType;
  var typeLabel = h("label", { hidden: !(existing && existing.messageType) }, "Message type", type);
  var button = h("button", { type: "submit" }, existing ? "Save changes" : "Create");
  add(form, 
    existing ? null : h("label", null, "Name", name),
    h("label", null, "Read queues", read),
    h("label", null, "Write queues", write),
    h("label", null, "Permission", perm),
    h("label", null, "Retention (hours, 0: broker's)", retention),
    typeLabel,
    h("label", { className: "check" }, order, "Ordered"),
    button);
  form.addEventListener("submit", guard(async function () {
    var body = { topic: name.value.trim(), readQueueNums: Number(read.value), writeQueueNums: Number(write.value), perm: perm.value, order: order.checked, retentionHours: Number(retention.value) };
    if (!typeLabel.hidden) body.messageType = type.value;
    button.disabled = true;
    try {
      done(await api("POST", "/api/topics", body));
    } finally {
      button.disabled = false;
    }
  }));
  return { el: form, supportTypes: function (on) { typeLabel.hidden = !on; } };
}

route("/topics/:topic", {
  title: function (p) { return "Topic " + p.topic; },
  mount: function (ctx) {
    var topic = ctx.params.topic;
    var title = viewTitle(topic);
    add(ctx.root, crumbs([[["topics"], "Topics"], topic]), title);
    var grid = h("div", { className: "grid2" });
    var about = panel("Settings and figures");
    var aboutBody = h("div", { id: "topic-facts" });
    about.appendChild(aboutBody);
    var tps = tpsPanel(ctx, "Throughput of " + topic);
    tps.el.id = "topic-tps";
    add(grid, about, tps.el);
    var queues = panel("Queues");
    var queueBody = h("tbody");
    queues.appendChild(h("div", { className: "table-wrap" }, h("table", { id: "queue-table" },
      h("thead", null, h("tr", null, h("th", { className: "num" }, "Queue"), h("th", { className: "num opt" }, "Min offset"), h("th", { className: "num opt" }, "Max offset"), h("th", { className: "num" }, "Messages"), h("th", { className: "opt" }, "Last stored"), h("th", null, ""))),
      queueBody)));
    var groupsPanel = panel("Consumer groups", "groups with offsets on this topic or members subscribing to it");
    var groupsBody = h("div");
    groupsPanel.appendChild(groupsBody);
    var actions = h("div", { className: "grid2" });
    var sendPanel = panel("Send a test message");
    var sendForm = h("form", { id: "send-form" });
    var tags = h("input", { name: "tags", placeholder: "TagA" });
    var keys = h("input", { name: "keys", placeholder: "order-1 order-2" });
    var body = h("textarea", { name: "body", id: "send-body", required: true }, "Hello from the dashboard");
    var sendButton = h("button", { type: "submit", id: "send-button" }, "Send");
    var sendResult = h("span", { id: "send-result", className: "mono", "aria-live": "polite" });
    add(sendForm, h("div", { className: "inline" }, h("label", null, "Tags", tags), h("label", null, "Keys", keys)), h("label", null, "Body", body), h("div", { className: "inline" }, sendButton, sendResult));
    sendForm.addEventListener("submit", guard(async function () {
      var message = { body: body.value };
      if (tags.value.trim()) message.tags = tags.value.trim();
      if (keys.value.trim()) message.keys = keys.value.trim();
      sendButton.disabled = true;
      try {
        var sent = await api("POST", "/api/topics/" + encodeURIComponent(topic) + "/messages", message);
        put(sendResult, "Sent ", link(["messages", sent.msgId], sent.msgId), " to queue " + sent.queueId + " at offset " + sent.queueOffset);
      } finally {
        sendButton.disabled = false;
      }
      await refresh();
    }));
    sendPanel.appendChild(sendForm);
    var changePanel = panel("Change");
    add(actions, sendPanel, changePanel);
    add(ctx.root, grid, queues, groupsPanel, actions);
    var formMade = false;

    async function refresh() {
      var all = await Promise.all([api("GET", "/api/topics"), maybe(api("GET", "/api/topics/" + encodeURIComponent(topic) + "/status")),
        maybe(api("GET", "/api/traffic/topics/" + encodeURIComponent(topic))), maybe(api("GET", "/api/groups"))]);
      if (!ctx.live()) return;
      var t = all[0].topics.filter(function (x) { return x.topic === topic; })[0];
      if (!t) throw new Error("Topic \"" + topic + "\" does not exist (or was deleted)");
      var status = all[1], traffic = all[2], groups = all[3] ? all[3].groups : [];
      put(title, topic, withSpace(kindTag(t.kind)));
      put(aboutBody, facts([
        ["Kind", { normal: "user topic", retry: "retry topic of group " + topic.slice(7), dlq: "dead-letter topic of group " + topic.slice(5), system: "the broker's own topic" }[t.kind]],
        ["Type", typeText(t)],
        ["Queues", t.readQueueNums === null ? fmtInt(t.queues) : t.readQueueNums + " read, " + t.writeQueueNums + " write"],
        ["Permission", t.perm || "–"],
        ["Retention", retentionText(t)],
        ["Messages stored", h("span", { className: "num-inline fresh" }, fmtInt(t.messages))],
        ["Messages ever written", fmtInt(t.maxOffset)],
        ["Last stored", status ? timeNode(status.lastStoreTime) : "–"],
        ["Now", t.tps ? fmtRate(t.tps.in) + " in/s, " + fmtRate(t.tps.out) + " out/s" : "–"],
        ["Brokers", t.brokers.join(", ")],
      ]));
      if (traffic) tps.update(traffic);
      put(queueBody);
      (status ? status.queues : []).forEach(function (q) {
        queueBody.appendChild(h("tr", null, num(q.queueId), num(fmtInt(q.minOffset), "opt"), num(fmtInt(q.maxOffset), "opt"), num(fmtInt(q.messages)), td(timeNode(q.lastStoreTime), "opt"),
          h("td", null, q.messages > 0 ? link(["messages"], "Browse", { mode: "browse", topic: topic, queue: q.queueId }, "button secondary small") : null)));
      });
      if (!status || status.queues.length === 0) queueBody.appendChild(h("tr", null, h("td", { colspan: "6", className: "empty" }, "No queues on this broker")));
      var consuming = groups.filter(function (g) { return g.topics.indexOf(topic) >= 0; });
      put(groupsBody, consuming.length === 0 ? h("p", { className: "muted" }, "No group consumes this topic") : h("div", { className: "table-wrap" }, h("table", null,
        h("thead", null, h("tr", null, h("th", null, "Group"), h("th", { className: "num" }, "Members"), h("th", { className: "num" }, "Lag (all its topics)"))),
        h("tbody", null, consuming.map(function (g) {
          return h("tr", null, td(link(["groups", g.group], g.group)), num(fmtInt(g.members)), num(fmtInt(g.totalLag), g.totalLag > 1000 ? "lag-high" : ""));
        })))));
      sendPanel.hidden = t.kind === "system";
      if (!formMade) {
        formMade = true;
        if (t.kind === "system") {
          changePanel.appendChild(h("p", { className: "muted" }, "The broker's own topics cannot be changed or deleted."));
        } else {
          var form = topicForm(t, function (result) { notice("Updated topic " + result.topic.topic); refresh().catch(function () {}); });
          changePanel.appendChild(form.el);
          changePanel.appendChild(h("p", null, h("button", { type: "button", className: "danger", id: "delete-topic", onclick: guard(async function () {
            if (!confirm("Delete topic " + topic + " and its messages on this broker?")) return;
            await api("DELETE", "/api/topics/" + encodeURIComponent(topic));
            notice("Deleted topic " + topic);
            location.hash = "#/topics";
          }) }, "Delete topic")));
        }
      }
    }
    return { refresh: refresh };
  },
});
`;
