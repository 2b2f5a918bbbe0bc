/**
 * The dashboard's consumer group views: the list, a group's own view (members and their
 * subscriptions, lag per queue, dead letters, offset reset) and the dead letters of every group
 * (browse, open, re-send).
 *
 * @module
 */

/** JS of these views. Written without template literals, so it can live in one. */
export const GROUP_VIEWS_SCRIPT = String.raw`
route("/groups", {
  title: function () { return "Consumer groups"; },
  mount: function (ctx) {
    ctx.root.appendChild(viewTitle("Consumer groups"));
    var listPanel = panel(null);
    var list = dataList(ctx, {
      label: "group", empty: "No consumer groups yet",
      filters: [{ id: "state", label: "Show", options: [["all", "All groups"], ["online", "With members online"], ["offline", "Without members"], ["lag", "With lag"], ["dead", "With dead letters"]],
        test: function (g, v) { return v === "all" || (v === "online" && g.members > 0) || (v === "offline" && g.members === 0) || (v === "lag" && g.totalLag > 0) || (v === "dead" && g.deadLetters > 0); } }],
      rowKey: function (g) { return g.group; },
      rowHref: function (g) { return href(["groups", g.group]); },
      search: function (g) { return g.group + " " + g.topics.join(" "); },
      columns: [
        { id: "group", label: "Group", value: function (g) { return g.group; }, render: function (g) { return [rowLink(["groups", g.group], g.group), g.inconsistent ? [" ", h("span", { className: "tag bad" }, "inconsistent subscriptions")] : null]; } },
        { id: "members", label: "Members", num: true, value: function (g) { return g.members; }, render: function (g) { return fmtInt(g.members); } },
        { id: "mode", label: "Mode", opt: true, value: function (g) { return g.consumeType ? g.consumeType + " " + g.messageModel : ""; }, render: function (g) { return g.consumeType ? g.consumeType.toLowerCase() + ", " + g.messageModel.toLowerCase() : "–"; } },
        { id: "topics", label: "Topics", opt: true, value: function (g) { return g.topics.join(", "); } },
        { id: "lag", label: "Lag", num: true, value: function (g) { return g.totalLag; }, render: function (g) { return h("span", { className: g.totalLag > 1000 ? "lag-high" : "" }, fmtInt(g.totalLag)); } },
        { id: "dead", label: "Dead letters", num: true, value: function (g) { return g.deadLetters; }, render: function (g) { return g.deadLetters ? h("span", { className: "bad-text" }, fmtInt(g.deadLetters)) : "0"; } },
      ],
    });
    listPanel.appendChild(list.el);
    ctx.root.appendChild(listPanel);
    return {
      refresh: async function () {
        var data = await api("GET", "/api/groups");
        if (!ctx.live()) return;
        list.update(data.groups);
      },
    };
  },
});

var KNOWN_GROUP_FIELDS = ["group", "brokerName", "consumeType", "messageModel", "members", "subscriptions", "inconsistency", "totalLag", "deadLetters", "queues"];

route("/groups/:group", {
  title: function (p) { return "Group " + p.group; },
  mount: function (ctx) {
    var group = ctx.params.group;
    var title = viewTitle(group);
    add(ctx.root, crumbs([[["groups"], "Consumer groups"], group]), title);
    var grid = h("div", { className: "grid2" });
    var about = panel("Settings and figures");
    var aboutBody = h("div", { id: "group-facts" });
    about.appendChild(aboutBody);
    var membersPanel = panel("Members online");
    var membersBody = h("div", { id: "group-members" });
    membersPanel.appendChild(membersBody);
    add(grid, about, membersPanel);
    var queuesPanel = panel("Progress per queue");
    var queues = dataList(ctx, {
      key: "q", label: "queue", empty: "No queues: the group has no offsets and no subscription here", sort: "topic", pageSize: 25,
      rowKey: function (q) { return q.topic + "#" + q.queueId; },
      search: function (q) { return q.topic; },
      columns: [
        { id: "topic", label: "Topic", className: "mono", value: function (q) { return q.topic + "#" + pad(q.queueId, 6); }, render: function (q) { return link(["topics", q.topic], q.topic); } },
        { id: "queue", label: "Queue", num: true, value: function (q) { return q.queueId; } },
        { id: "broker", label: "Broker offset", num: true, opt: true, value: function (q) { return q.brokerOffset; }, render: function (q) { return fmtInt(q.brokerOffset); } },
        { id: "consumer", label: "Consumer offset", num: true, opt: true, value: function (q) { return q.consumerOffset; }, render: function (q) { return q.consumerOffset < 0 ? "none" : fmtInt(q.consumerOffset); } },
        { id: "lag", label: "Lag", num: true, value: function (q) { return q.lag; }, render: function (q) { return h("span", { className: q.lag > 1000 ? "lag-high" : "" }, fmtInt(q.lag)); } },
      ],
    });
    queuesPanel.appendChild(queues.el);
    var resetPanel = panel("Reset the group's offset", "members keep their own offsets: stop them first, or force it");
    var resetTopic = h("select", { name: "topic", id: "reset-topic" });
    var resetTo = h("select", { name: "to", id: "reset-to" }, h("option", { value: "earliest" }, "earliest"), h("option", { value: "latest" }, "latest"), h("option", { value: "time" }, "a time…"));
    var resetTime = h("input", { type: "datetime-local", name: "time", step: "1" });
    var timeBox = h("label", { hidden: true }, "Time (local)", resetTime);
    var force = h("input", { type: "checkbox", name: "force" });
    var resetForm = h("form", { className: "inline", id: "reset-form" }, h("label", null, "Topic", resetTopic), h("label", null, "To", resetTo), timeBox,
      h("label", { className: "check" }, force, "even with members online"), h("button", { type: "submit", className: "secondary" }, "Reset offset"));
    resetTo.addEventListener("change", function () { timeBox.hidden = resetTo.value !== "time"; });
    resetForm.addEventListener("submit", guard(async function () {
      var to = resetTo.value;
      if (to === "time") {
        if (!resetTime.value) throw new Error("Pick a time to reset to");
        to = new Date(resetTime.value).getTime();
      }
      var result = await api("POST", "/api/groups/" + encodeURIComponent(group) + "/reset-offset", { topic: resetTopic.value, to: to, force: force.checked });
      notice("Reset " + plural(result.queues.length, "queue") + " of " + result.topic);
      await refresh();
    }));
    resetPanel.appendChild(resetForm);
    add(ctx.root, grid, queuesPanel, resetPanel);

    async function refresh() {
      var g = await api("GET", "/api/groups/" + encodeURIComponent(group));
      if (!ctx.live()) return;
      put(title, group, " ", h("span", { className: "tag " + (g.members.length ? "ok" : "") }, g.members.length ? "online" : "offline"),
        g.inconsistency ? [" ", h("span", { className: "tag bad" }, "inconsistent subscriptions")] : null);
      var dead = g.deadLetters.total;
      put(aboutBody, facts([
        ["Broker", g.brokerName],
        ["Consume type", g.consumeType || "– (no member online)"],
        ["Message model", g.messageModel || "–"],
        ["Total lag", h("span", { className: "fresh" + (g.totalLag > 1000 ? " lag-high" : "") }, fmtInt(g.totalLag))],
        ["Dead letters", dead === 0 ? "none since the broker started" : [link(["dlq"], plural(dead, "dead letter"), { q: group }), " (" + Object.keys(g.deadLetters.byTopic).map(function (t) { return t + ": " + g.deadLetters.byTopic[t]; }).join(", ") + ")"], dead ? "bad-text" : undefined],
        ["Subscriptions", g.subscriptions.length ? subscriptionText(g.subscriptions) : "–"],
      ].concat(Object.keys(g).filter(function (k) { return KNOWN_GROUP_FIELDS.indexOf(k) < 0; }).map(function (k) { return [humanize(k), anyValue(g[k])]; }))));
      var box = [];
      if (g.members.length === 0) box.push(h("p", { className: "muted" }, "No member online"));
      else {
        box.push(h("div", { className: "table-wrap" }, h("table", null,
          h("thead", null, h("tr", null, h("th", null, "Client"), h("th", { className: "opt" }, "Address"), h("th", null, "Subscribes"), h("th", { className: "opt" }, "Heartbeat"))),
          h("tbody", null, g.members.map(function (m) {
            return h("tr", null, td([h("span", { className: "mono" }, m.clientId), h("span", { className: "sub" }, m.runtime || "unknown runtime")]), td(m.remoteAddress, "mono opt"),
              td(subscriptionText(m.subscriptions)), td(ago(m.lastHeartbeat), "opt"));
          })))));
      }
      if (g.inconsistency) {
        box.push(h("p", { className: "bad-text" }, "Members subscribe differently, so some messages reach no member:"));
        box.push(h("ul", { className: "plain" }, g.inconsistency.conflicts.map(function (c) {
          return h("li", null, c.topic + ": " + c.variants.map(function (v) { return (v.expression === null ? "not subscribed" : v.expression) + " (" + v.clientIds.join(", ") + ")"; }).join("; "));
        })));
      }
      put(membersBody, box);
      queues.update(g.queues);
      var topics = [];
      g.queues.forEach(function (q) { if (topics.indexOf(q.topic) < 0) topics.push(q.topic); });
      syncSelect(resetTopic, topics, false);
    }
    return { refresh: refresh };
  },
});

route("/dlq", {
  title: function () { return "Dead letters"; },
  mount: function (ctx) {
    ctx.root.appendChild(viewTitle("Dead letters", h("span", { className: "hint" }, "messages a consumer group gave up on; the newest 50 of each queue")));
    var listPanel = panel(null);
    var pages = {};
    var list = dataList(ctx, {
      label: "dead letter", empty: "No dead letters", sort: "stored", dir: "desc",
      rowKey: function (m) { return m.msgId; },
      rowHref: function (m) { return href(["messages", m.msgId]); },
      search: function (m) { return m.group + " " + (m.properties.RETRY_TOPIC || "") + " " + m.msgId + " " + (m.uniqueKey || "") + " " + m.keys.join(" ") + " " + (m.tags || ""); },
      columns: [
        { id: "group", label: "Group", value: function (m) { return m.group; }, render: function (m) { return link(["groups", m.group], m.group); } },
        { id: "topic", label: "Original topic", value: function (m) { return m.properties.RETRY_TOPIC || ""; }, render: function (m) { return m.properties.RETRY_TOPIC || h("span", { className: "muted" }, "unknown"); } },
        { id: "id", label: "Message id", className: "mono", opt: true, value: function (m) { return m.msgId; }, render: function (m) { return rowLink(["messages", m.msgId], m.msgId); } },
        { id: "stored", label: "Stored", value: function (m) { return m.storeTimestamp; }, render: function (m) { return timeNode(m.storeTimestamp); } },
        { id: "tries", label: "Tries", num: true, opt: true, value: function (m) { return m.reconsumeTimes; } },
        { id: "body", label: "Body", className: "preview", value: function (m) { return m.body.slice(0, 120); }, render: function (m) { return bodyPreview(m, 120); } },
        { id: "action", label: "", render: function (m) {
          return h("button", { type: "button", className: "secondary small", disabled: !m.properties.RETRY_TOPIC, onclick: guard(async function () {
            var r = await api("POST", "/api/dlq/" + encodeURIComponent(m.group) + "/resend", { msgId: m.msgId });
            notice("Re-sent to " + r.topic + " as " + r.msgId);
          }) }, "Re-send");
        } },
      ],
    });
    listPanel.appendChild(list.el);
    ctx.root.appendChild(listPanel);
    return {
      refresh: async function () {
        var topics = (await api("GET", "/api/topics")).topics.filter(function (t) { return t.kind === "dlq" && t.messages > 0; });
        var rows = [];
        for (var i = 0; i < topics.length; i++) {
          var topic = topics[i].topic;
          var group = topic.slice("%DLQ%".length);
          var status = await api("GET", "/api/topics/" + encodeURIComponent(topic) + "/status");
          for (var j = 0; j < status.queues.length; j++) {
            var q = status.queues[j];
            if (q.messages === 0) continue;
            // A queue's newest page is read again only when the queue changed.
            var key = topic + "#" + q.queueId + "@" + q.minOffset + "-" + q.maxOffset;
            if (!pages[key]) {
              var page = await api("GET", "/api/topics/" + encodeURIComponent(topic) + "/queues/" + q.queueId + "/messages?offset=" + Math.max(q.minOffset, q.maxOffset - 50) + "&limit=50");
              pages[key] = page.messages;
            }
            pages[key].forEach(function (m) { rows.push(Object.assign({ group: group }, m)); });
          }
        }
        if (!ctx.live()) return;
        list.update(rows);
      },
    };
  },
});
`;
