/**
 * The dashboard's views of the system as a whole: the overview (figures, the broker's TPS history,
 * what needs attention), the cluster (brokers, roles, replication), timers, the store's recovery
 * report and the client connections.
 *
 * @module
 */

/** JS of these views. Written without template literals, so it can live in one. */
export const CLUSTER_VIEWS_SCRIPT = String.raw`
function localBroker(cluster) { return cluster.brokers.filter(function (b) { return b.local; })[0]; }

function roleText(b) { return b.role + (b.brokerRole && b.brokerRole.toLowerCase().replace("_", " ") !== b.role ? " (" + b.brokerRole + ")" : ""); }

/** Bytes a slave is behind, or the largest lag of a master's slaves. */
function replicationLag(b) {
  var r = b.replication;
  if (!r) return null;
  if (r.role === "SLAVE") return r.link ? r.link.lagBytes : null;
  if (!r.slaves || r.slaves.length === 0) return null;
  return r.slaves.reduce(function (m, s) { return Math.max(m, s.lagBytes); }, 0);
}

route("/", {
  title: function () { return "Overview"; },
  mount: function (ctx) {
    ctx.root.appendChild(viewTitle("Overview"));
    var cards = h("div", { className: "cards", id: "cards" });
    var top = panel(null);
    top.appendChild(cards);
    ctx.root.appendChild(top);
    var tps = tpsPanel(ctx, "Throughput of the broker");
    tps.el.id = "overview-tps";
    ctx.root.appendChild(tps.el);
    var grid = h("div", { className: "grid2" });
    var attention = panel("Needs attention");
    var attentionList = h("ul", { className: "plain", id: "attention" });
    attention.appendChild(attentionList);
    var brokers = panel("Brokers", "this process's view");
    var tbody = h("tbody");
    brokers.appendChild(h("div", { className: "table-wrap" }, h("table", { id: "brokers" },
      h("thead", null, h("tr", null, h("th", null, "Broker"), h("th", null, "Role"), h("th", { className: "opt" }, "Address"), h("th", { className: "num" }, "In/s"), h("th", { className: "num" }, "Out/s"), h("th", { className: "num opt" }, "Uptime"))),
      tbody)));
    add(grid, attention, brokers);
    ctx.root.appendChild(grid);
    return {
      refresh: async function () {
        var all = await Promise.all([api("GET", "/api/cluster"), maybe(api("GET", "/api/topics")), maybe(api("GET", "/api/groups")), maybe(api("GET", "/api/traffic")), maybe(api("GET", "/api/transactions"))]);
        if (!ctx.live()) return;
        var cluster = all[0], topics = all[1] ? all[1].topics : [], groups = all[2] ? all[2].groups : [], traffic = all[3], txn = all[4];
        var local = localBroker(cluster);
        var userTopics = topics.filter(function (t) { return t.kind === "normal"; });
        var stored = userTopics.reduce(function (n, t) { return n + t.messages; }, 0);
        var lag = groups.reduce(function (n, g) { return n + g.totalLag; }, 0);
        var dead = groups.reduce(function (n, g) { return n + (g.deadLetters || 0); }, 0);
        put(cards, 
          card("Brokers", fmtInt(cluster.brokers.length), "#/cluster"),
          card("Topics", fmtInt(userTopics.length), "#/topics"),
          card("Messages stored", fmtInt(stored), "#/topics"),
          card("Consumer groups", fmtInt(groups.length), "#/groups"),
          card("Total lag", fmtInt(lag), "#/groups?sort=lag&dir=desc", lag > 1000),
          card("Messages in/s", local ? fmtRate(local.tps.in) : "–", "#/topics?sort=in&dir=desc"),
          card("Messages out/s", local ? fmtRate(local.tps.out) : "–", "#/topics?sort=out&dir=desc"),
          card("Connections", local ? fmtInt(local.connections) : "–", "#/connections"),
          card("Pending transactions", txn ? fmtInt(txn.totalPending) : "–", "#/transactions"),
          card("Pending timers", local && local.timers ? fmtInt(local.timers.pending) : "–", "#/timers"),
          card("Dead letters", fmtInt(dead), "#/dlq", dead > 0),
          card("Uptime", fmtDuration(cluster.uptimeMs), "#/cluster"));
        if (traffic) tps.update(traffic);
        put(tbody);
        cluster.brokers.forEach(function (b) {
          tbody.appendChild(h("tr", null, td(b.brokerName + (b.brokerId ? " #" + b.brokerId : "")), td(roleText(b)), td(b.address, "mono opt"),
            num(b.tps ? fmtRate(b.tps.in) : "–"), num(b.tps ? fmtRate(b.tps.out) : "–"), num(b.uptimeMs === undefined ? "–" : fmtDuration(b.uptimeMs), "opt")));
        });
        if (cluster.brokers.length === 0) tbody.appendChild(h("tr", null, h("td", { colspan: "6", className: "empty" }, "No broker registered")));
        var items = [];
        if (local && local.writeFailure) items.push(h("li", { className: "bad-text" }, "The store cannot write: " + local.writeFailure));
        groups.filter(function (g) { return g.inconsistent; }).forEach(function (g) {
          items.push(h("li", null, link(["groups", g.group], g.group), ": members subscribe differently, some messages are not consumed"));
        });
        groups.filter(function (g) { return g.totalLag > 1000; }).forEach(function (g) {
          items.push(h("li", null, link(["groups", g.group], g.group), ": lag " + fmtInt(g.totalLag)));
        });
        groups.filter(function (g) { return g.deadLetters > 0; }).forEach(function (g) {
          items.push(h("li", null, link(["dlq"], g.group, { group: g.group }), ": " + plural(g.deadLetters, "dead letter") + " since the broker started"));
        });
        if (txn) {
          txn.pending.filter(function (row) { return row.oldestAgeMs > txn.settings.transactionTimeoutMs; }).forEach(function (row) {
            items.push(h("li", null, link(["transactions"], row.producerGroup + " on " + row.topic, { topic: row.topic, group: row.producerGroup }), ": " + plural(row.pending, "transaction") + " unresolved for " + fmtDuration(row.oldestAgeMs)));
          });
        }
        if (local && local.timers && local.timers.lastError) items.push(h("li", { className: "bad-text" }, "Timers: " + local.timers.lastError));
        if (items.length === 0) items.push(h("li", { className: "muted" }, "Nothing: no lag above 1,000, no dead letters, no inconsistent group, no overdue transaction"));
        put(attentionList, items);
      },
    };
  },
});

route("/cluster", {
  title: function () { return "Cluster"; },
  mount: function (ctx) {
    ctx.root.appendChild(viewTitle("Cluster"));
    var nameServer = panel("NameServer");
    var nsBody = h("div");
    nameServer.appendChild(nsBody);
    var brokersPanel = panel("Brokers", "every broker this process knows: its own, and those registered with its NameServer");
    var list = dataList(ctx, {
      key: "b", label: "broker", empty: "No broker registered",
      rowKey: function (b) { return b.address; },
      columns: [
        { id: "name", label: "Broker", value: function (b) { return b.brokerName; }, render: function (b) { return [b.brokerName, b.local ? h("span", { className: "sub" }, "this process") : null]; } },
        { id: "id", label: "Id", num: true, value: function (b) { return b.brokerId; } },
        { id: "role", label: "Role", value: function (b) { return roleText(b); } },
        { id: "address", label: "Address", opt: true, className: "mono", value: function (b) { return b.address; } },
        { id: "uptime", label: "Uptime", num: true, opt: true, value: function (b) { return b.uptimeMs; }, render: function (b) { return b.uptimeMs === undefined ? (b.lastHeartbeatAt ? "heartbeat " + ago(b.lastHeartbeatAt) : "–") : fmtDuration(b.uptimeMs); } },
        { id: "store", label: "Store", num: true, opt: true, value: function (b) { return b.storeSize; }, render: function (b) { return fmtBytes(b.storeSize); } },
        { id: "disk", label: "Disk free", num: true, opt: true, value: function (b) { return b.diskFree; }, render: function (b) { return fmtBytes(b.diskFree); } },
        { id: "in", label: "In/s", num: true, value: function (b) { return b.tps ? b.tps.in : null; }, render: function (b) { return b.tps ? fmtRate(b.tps.in) : "–"; } },
        { id: "out", label: "Out/s", num: true, value: function (b) { return b.tps ? b.tps.out : null; }, render: function (b) { return b.tps ? fmtRate(b.tps.out) : "–"; } },
        { id: "lag", label: "Replication lag", num: true, value: function (b) { return replicationLag(b); }, render: function (b) { var l = replicationLag(b); return l === null ? "–" : fmtBytes(l); } },
      ],
    });
    brokersPanel.appendChild(list.el);
    var controllerBody = h("div");
    var controllerPanel = panel("Controller", "controller mode: each group's master, epoch, in-sync set and replica lag");
    controllerPanel.appendChild(controllerBody);
    var details = h("div");
    add(ctx.root, nameServer, brokersPanel, controllerPanel, details);
    return {
      refresh: async function () {
        var cluster = await api("GET", "/api/cluster");
        if (!ctx.live()) return;
        put(nsBody, cluster.nameServer
          ? facts([["Port", String(cluster.nameServer.port)], ["Registered brokers", fmtInt(cluster.nameServer.brokers)], ["Topics with routes", fmtInt(cluster.nameServer.topics)]])
          : h("p", { className: "muted" }, "This process runs no NameServer: the brokers below are the ones it runs itself."));
        list.update(cluster.brokers);
        controllerPanel.hidden = !cluster.controller;
        if (cluster.controller) put(controllerBody, controllerTable(cluster.controller));
        put(details, cluster.brokers.filter(function (b) { return b.local; }).map(brokerDetails));
      },
    };
  },
});

/** The controller's groups: one row per live replica, or why the controller could not be read. */
function controllerTable(view) {
  if (view.error) return h("p", { className: "bad-text" }, view.error);
  var tbody = h("tbody");
  view.groups.forEach(function (g) {
    if (g.replicas.length === 0) tbody.appendChild(h("tr", null, td(g.brokerName), num(g.epoch === null ? "–" : String(g.epoch)), td("[" + g.inSync.join(",") + "]"), h("td", { colspan: "4", className: "empty" }, "No live replica")));
    g.replicas.forEach(function (r) {
      var role = r.role + (r.inSync ? "" : ", out of sync") + (r.fenced ? " (fenced)" : "") + (g.switchingTo === r.brokerId ? " (taking over)" : "");
      tbody.appendChild(h("tr", null, td(g.clusterName + " / " + g.brokerName), num(g.epoch === null ? "–" : String(g.epoch)), td("[" + g.inSync.join(",") + "]"),
        num("#" + r.brokerId), td(role), td(r.address, "mono opt"), num(r.lagBytes === null ? "–" : fmtBytes(r.lagBytes))));
    });
  });
  return h("div", { className: "table-wrap" }, h("table", { id: "controller-groups" },
    h("thead", null, h("tr", null, h("th", null, "Group"), h("th", { className: "num" }, "Epoch"), h("th", null, "In-sync set"), h("th", { className: "num" }, "Replica"), h("th", null, "Role"), h("th", { className: "opt" }, "Address"), h("th", { className: "num" }, "Lag"))),
    tbody));
}

var KNOWN_BROKER_FIELDS = ["clusterName", "brokerName", "brokerId", "role", "brokerRole", "address", "local", "alive", "version", "startedAt", "uptimeMs", "storeSize", "diskFree",
  "commitLog", "writeFailure", "tps", "totals", "connections", "pendingLongPolls", "replication", "timers", "dedup", "lastHeartbeatAt"];

function brokerDetails(b) {
  var section = panel("Broker " + b.brokerName + " #" + b.brokerId, roleText(b) + " at " + b.address);
  var grid = h("div", { className: "grid2" });
  var left = h("div");
  left.appendChild(facts([
    ["Cluster", b.clusterName],
    ["Version", b.version],
    ["Started", timeNode(b.startedAt)],
    ["Store size", fmtBytes(b.storeSize)],
    ["Disk free", fmtBytes(b.diskFree)],
    ["CommitLog", b.commitLog ? fmtInt(b.commitLog.minOffset) + " – " + fmtInt(b.commitLog.maxOffset) + " (" + plural(b.commitLog.segments, "segment") + ")" : undefined],
    ["Flushed / visible", b.commitLog ? fmtInt(b.commitLog.flushedOffset) + " / " + fmtInt(b.commitLog.visibleOffset) : undefined],
    ["Write failure", b.writeFailure === null ? "none" : b.writeFailure, b.writeFailure ? "bad-text" : undefined],
    ["Messages in / out", b.totals ? fmtInt(b.totals.messagesIn) + " / " + fmtInt(b.totals.messagesOut) : undefined],
    ["Bytes in / out", b.totals ? fmtBytes(b.totals.bytesIn) + " / " + fmtBytes(b.totals.bytesOut) : undefined],
    ["Send errors", b.totals ? fmtInt(b.totals.sendErrors) : undefined],
    ["Connections", fmtInt(b.connections)],
    ["Long polls held", fmtInt(b.pendingLongPolls)],
  ].concat(Object.keys(b).filter(function (k) { return KNOWN_BROKER_FIELDS.indexOf(k) < 0; }).map(function (k) { return [humanize(k), anyValue(b[k])]; }))));
  var right = h("div");
  right.appendChild(h("h3", null, "Replication"));
  var r = b.replication || {};
  if (r.role === "SLAVE") {
    var l = r.link || {};
    right.appendChild(facts([
      ["Master", l.masterAddress || l.masterHaAddress || "unknown"],
      ["Link", l.connected ? "connected" : "not connected", l.connected ? undefined : "bad-text"],
      ["Offset / master's", fmtInt(l.offset) + " / " + fmtInt(l.masterOffset)],
      ["Behind", fmtBytes(l.lagBytes)],
      ["Last error", l.lastError || "none"],
    ].concat(Object.keys(r).filter(function (k) { return ["role", "link"].indexOf(k) < 0; }).map(function (k) { return [humanize(k), anyValue(r[k])]; }))));
  } else {
    right.appendChild(facts([["HA address", r.haAddress || "not listening"]].concat(
      Object.keys(r).filter(function (k) { return ["role", "haAddress", "slaves"].indexOf(k) < 0; }).map(function (k) { return [humanize(k), anyValue(r[k])]; }))));
    var slaves = r.slaves || [];
    right.appendChild(slaves.length === 0 ? h("p", { className: "muted" }, "No slave connected") : h("div", { className: "table-wrap" }, h("table", null,
      h("thead", null, h("tr", null, h("th", null, "Slave"), h("th", null, "Address"), h("th", { className: "num" }, "Acknowledged"), h("th", { className: "num" }, "Behind"), h("th", { className: "opt" }, "Since"))),
      h("tbody", null, slaves.map(function (s) {
        return h("tr", null, td("#" + s.brokerId), td(s.address, "mono"), num(fmtInt(s.ackOffset)), num(fmtBytes(s.lagBytes), s.lagBytes > 1048576 ? "lag-high" : ""), td(timeNode(s.connectedAt), "opt"));
      })))));
  }
  add(grid, left, right);
  section.appendChild(grid);
  return section;
}

route("/timers", {
  title: function () { return "Timers"; },
  mount: function (ctx) {
    ctx.root.appendChild(viewTitle("Timers", h("span", { className: "hint" }, "messages with a delivery time, kept on disk by the timer wheel")));
    var cards = h("div", { className: "cards", id: "timer-cards" });
    var top = panel(null);
    top.appendChild(cards);
    var more = h("div", { className: "below-cards" });
    var lateness = panel("Lateness", "delivery store time minus due time, since the broker started");
    var latenessBody = h("div");
    lateness.appendChild(latenessBody);
    var dedup = panel("Idempotent sends", "the dedup window of send ids");
    var dedupBody = h("div");
    dedup.appendChild(dedupBody);
    top.appendChild(more);
    add(ctx.root, top, h("div", { className: "grid2" }, lateness, dedup));
    return {
      refresh: async function () {
        var cluster = await api("GET", "/api/cluster");
        if (!ctx.live()) return;
        var b = localBroker(cluster);
        if (!b) throw new Error("This process runs no broker: open a broker's dashboard for its timers");
        var t = b.timers;
        if (!t) {
          put(cards, h("p", { className: "muted" }, "This broker keeps no timers (a slave: its master delivers them)"));
        } else {
          put(cards, 
            card("Pending", fmtInt(t.pending)),
            card("Delivered (fired)", fmtInt(t.delivered)),
            card("Recalled", fmtInt(t.recalled)),
            card("Carried forward", fmtInt(t.rolled)),
            card("Loaded in memory", fmtInt(t.loaded)),
            card("Timer log entries", fmtInt(t.logEntries)),
            card("Not yet enqueued", fmtInt(Math.max(0, t.enqueueMax - t.enqueueOffset)), null, t.enqueueMax - t.enqueueOffset > 1000));
          put(more, facts([
            ["Wheel reads second", timeNode(t.readSecond * 1000)],
            ["Timer topic", fmtInt(t.enqueueOffset) + " of " + fmtInt(t.enqueueMax) + " enqueued"],
            ["Last error", t.lastError || "none", t.lastError ? "bad-text" : undefined],
          ]));
          var late = t.lateness;
          var rows = late.counts.map(function (count, i) {
            var label = i < late.bounds.length ? "≤ " + late.bounds[i] + " ms" : "> " + late.bounds[late.bounds.length - 1] + " ms";
            return h("tr", null, td(label), num(fmtInt(count)), h("td", null, h("meter", { min: "0", max: String(Math.max(1, late.count)), value: String(count), "aria-label": label })));
          });
          put(latenessBody, late.count === 0 ? h("p", { className: "muted" }, "No timer delivered yet") : h("div", { className: "table-wrap" }, h("table", null,
            h("thead", null, h("tr", null, h("th", null, "Late by"), h("th", { className: "num" }, "Timers"), h("th", null, "Share"))), h("tbody", null, rows))),
            late.count === 0 ? null : h("p", { className: "muted" }, "Average " + (Math.round(late.sum / late.count * 10) / 10) + " ms over " + plural(late.count, "delivery", "deliveries")));
        }
        var d = b.dedup;
        put(dedupBody, d ? facts([["Ids remembered", fmtInt(d.ids)], ["Repeats answered", fmtInt(d.duplicates)], ["Forgotten early", fmtInt(d.evicted)], ["Window", d.windowMs ? fmtDuration(d.windowMs) : "off"]]) : h("p", { className: "muted" }, "No dedup window"));
      },
    };
  },
});

route("/store", {
  title: function () { return "Store"; },
  mount: function (ctx) {
    ctx.root.appendChild(viewTitle("Store recovery", h("span", { className: "hint" }, "what the store found and did when the broker started")));
    var summary = panel("Summary");
    var summaryBody = h("div", { id: "recovery-summary" });
    summary.appendChild(summaryBody);
    var details = panel("Details");
    var detailsBody = h("div");
    details.appendChild(detailsBody);
    var quarantine = panel("Quarantine", "copies of damaged stretches, kept for inspection");
    var quarantineBody = h("div");
    quarantine.appendChild(quarantineBody);
    add(ctx.root, summary, h("div", { className: "grid2" }, details, quarantine));
    return {
      refresh: async function () {
        var data = await api("GET", "/api/store/recovery");
        if (!ctx.live()) return;
        put(summaryBody, h("p", null, data.summary),
          data.warnings.length ? h("ul", { className: "plain" }, data.warnings.map(function (w) { return h("li", { className: "bad-text" }, w); })) : h("p", { className: "muted" }, "No warnings"),
          facts([["Index entries mended on read", fmtInt(data.readPath.repairedEntries)], ["Unreadable records met on read", fmtInt(data.readPath.unreadableRecords)]]));
        var rec = data.recovery || {};
        put(detailsBody, facts(Object.keys(rec).map(function (k) {
          var v = rec[k];
          if (k === "durationMs") return ["Duration", v + " ms"];
          if (Array.isArray(v)) return [humanize(k), v.length === 0 ? "none" : h("pre", { className: "body" }, JSON.stringify(v, null, 2))];
          if (v && typeof v === "object") return [humanize(k), h("pre", { className: "body" }, JSON.stringify(v, null, 2))];
          return [humanize(k), typeof v === "number" ? fmtInt(v) : anyValue(v)];
        })));
        var files = data.quarantine || [];
        put(quarantineBody, files.length === 0 ? h("p", { className: "muted" }, "Empty: nothing was damaged") : h("div", { className: "table-wrap" }, h("table", null,
          h("thead", null, h("tr", null, h("th", null, "File"), h("th", null, "Stretch"), h("th", null, "Kind"), h("th", { className: "num" }, "Bytes"))),
          h("tbody", null, files.map(function (f) {
            return h("tr", null, td(f.name, "mono"), td(fmtInt(f.from) + " – " + fmtInt(f.to)), td(h("span", { className: "tag " + (f.kind === "cut" ? "bad" : "warn") }, f.kind)), num(fmtBytes(f.bytes)));
          })))));
      },
    };
  },
});

route("/connections", {
  title: function () { return "Connections"; },
  mount: function (ctx) {
    ctx.root.appendChild(viewTitle("Connections", h("span", { className: "hint" }, "clients as their heartbeats describe them")));
    var top = panel(null);
    var summary = h("div", { className: "cards" });
    top.appendChild(summary);
    var producersPanel = panel("Producers", "with the producer groups they take transaction check-backs for");
    var producers = dataList(ctx, {
      key: "p", label: "producer", empty: "No producer connected", sort: "client",
      rowKey: function (p) { return p.clientId; },
      search: function (p) { return p.clientId + " " + p.groups.join(" ") + " " + p.remoteAddress + " " + p.runtime; },
      columns: [
        { id: "client", label: "Client id", className: "mono", value: function (p) { return p.clientId; } },
        { id: "groups", label: "Producer groups", value: function (p) { return p.groups.join(", "); }, render: function (p) { return p.groups.length ? p.groups.join(", ") : h("span", { className: "muted" }, "none (replies only)"); } },
        { id: "address", label: "Address", className: "mono", value: function (p) { return p.remoteAddress; } },
        { id: "runtime", label: "Runtime", opt: true, value: function (p) { return p.runtime; } },
        { id: "heartbeat", label: "Last heartbeat", opt: true, value: function (p) { return p.lastHeartbeat; }, render: function (p) { return timeNode(p.lastHeartbeat); } },
      ],
    });
    producersPanel.appendChild(producers.el);
    var consumersPanel = panel("Consumers", "one row per member of each consumer group");
    var consumers = dataList(ctx, {
      key: "c", label: "consumer", empty: "No consumer connected", sort: "group",
      rowKey: function (m) { return m.group + "/" + m.clientId; },
      rowHref: function (m) { return href(["groups", m.group]); },
      search: function (m) { return m.group + " " + m.clientId + " " + m.remoteAddress + " " + m.runtime + " " + m.subscriptions.map(function (s) { return s.topic; }).join(" "); },
      columns: [
        { id: "group", label: "Group", value: function (m) { return m.group; }, render: function (m) { return rowLink(["groups", m.group], m.group); } },
        { id: "client", label: "Client id", className: "mono", value: function (m) { return m.clientId; } },
        { id: "address", label: "Address", className: "mono", opt: true, value: function (m) { return m.remoteAddress; } },
        { id: "mode", label: "Mode", opt: true, value: function (m) { return m.consumeType + " " + m.messageModel; } },
        { id: "subs", label: "Subscriptions", value: function (m) { return subscriptionText(m.subscriptions); } },
        { id: "runtime", label: "Runtime", opt: true, value: function (m) { return m.runtime; } },
        { id: "heartbeat", label: "Last heartbeat", opt: true, value: function (m) { return m.lastHeartbeat; }, render: function (m) { return timeNode(m.lastHeartbeat); } },
      ],
    });
    consumersPanel.appendChild(consumers.el);
    add(ctx.root, top, producersPanel, consumersPanel);
    return {
      refresh: async function () {
        var data = await api("GET", "/api/connections");
        if (!ctx.live()) return;
        var groups = {};
        data.consumers.forEach(function (m) { groups[m.group] = true; });
        put(summary, card("Open connections", fmtInt(data.connections)), card("Producers", fmtInt(data.producers.length)),
          card("Consumers", fmtInt(data.consumers.length)), card("Consumer groups online", fmtInt(Object.keys(groups).length), "#/groups"));
        producers.update(data.producers);
        consumers.update(data.consumers);
      },
    };
  },
});

function subscriptionText(subscriptions) {
  return subscriptions.map(function (s) { return s.topic + " [" + (s.expressionType === "SQL92" ? "SQL92: " : "") + s.expression + "]"; }).join(", ");
}
`;
