/**
 * `GET /metrics`: Prometheus text exposition (format 0.0.4) of the broker's counters, store and
 * consumer lag, and the NameServer's view.
 *
 * @module
 */
import { Hono } from "hono";
import { TRANSACTION_GROUP } from "../../core/model/system_topics.ts";
import type { BrokerContext } from "../broker/context.ts";
import { controllerView } from "./_controller_view.ts";
import { freeDiskOf, groupLag } from "./_figures.ts";
import type { AdminState } from "./_state.ts";
import type { ConnectionGuard } from "../../core/remoting/connection_guard.ts";

type Labels = Record<string, string>;

/** Builds the exposition text: one HELP/TYPE block per metric family. */
class Exposition {
  #lines: string[] = [];

  family(name: string, type: "counter" | "gauge" | "histogram", help: string, samples: Array<[Labels, number]>): void {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.#lines.push(`${name}${labelText(labels)} ${formatValue(value)}`);
  }

  histogram(name: string, help: string, labels: Labels, bounds: readonly number[], counts: readonly number[], sum: number, count: number): void {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} histogram`);
    let cumulative = 0;
    for (let i = 0; i < bounds.length; i++) {
      cumulative += counts[i]!;
      this.#lines.push(`${name}_bucket${labelText({ ...labels, le: String(bounds[i]) })} ${cumulative}`);
    }
    this.#lines.push(`${name}_bucket${labelText({ ...labels, le: "+Inf" })} ${count}`);
    this.#lines.push(`${name}_sum${labelText(labels)} ${formatValue(sum)}`);
    this.#lines.push(`${name}_count${labelText(labels)} ${count}`);
  }

  toString(): string {
    return this.#lines.join("\n") + "\n";
  }
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"')}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function brokerMetrics(out: Exposition, state: AdminState, ctx: BrokerContext, connections: number): void {
  const b = { broker: ctx.brokerName, broker_id: String(ctx.brokerId) };
  const stats = ctx.stats;
  const store = ctx.store.stats;
  const topics = [...stats.byTopic.entries()].sort(([a], [z]) => (a < z ? -1 : a > z ? 1 : 0));
  out.family("rocketmq_broker_uptime_seconds", "gauge", "Seconds since the broker started", [[b, (state.now() - ctx.startedAt) / 1000]]);
  out.family("rocketmq_messages_in_total", "counter", "Messages stored, per topic", topics.map(([topic, t]) => [{ ...b, topic }, t.messagesIn]));
  out.family("rocketmq_bytes_in_total", "counter", "Body bytes of messages stored, per topic", topics.map(([topic, t]) => [{ ...b, topic }, t.bytesIn]));
  out.family("rocketmq_messages_out_total", "counter", "Messages handed to consumers by pulls, per topic", topics.map(([topic, t]) => [{ ...b, topic }, t.messagesOut]));
  out.family("rocketmq_bytes_out_total", "counter", "Stored bytes handed to consumers by pulls, per topic", topics.map(([topic, t]) => [{ ...b, topic }, t.bytesOut]));
  out.family("rocketmq_send_errors_total", "counter", "Sends the store refused or failed", [[b, stats.sendErrors]]);
  const deadLetters: Array<[Labels, number]> = [];
  for (const group of [...stats.deadLetters.keys()].sort()) {
    const byTopic = stats.deadLetters.get(group)!;
    for (const topic of [...byTopic.keys()].sort()) deadLetters.push([{ ...b, group, topic }, byTopic.get(topic)!]);
  }
  out.family("rocketmq_dead_letters_total", "counter", "Messages moved to a consumer group's dead-letter topic, per group and original topic", deadLetters);
  const latency = stats.sendLatency;
  out.histogram(
    "rocketmq_send_latency_seconds",
    "Time from a send request's arrival to its store result (includes the fsync under sync flush)",
    b,
    latency.bounds.map((ms) => ms / 1000),
    latency.counts,
    latency.sum / 1000,
    latency.count,
  );
  out.family("rocketmq_store_size_bytes", "gauge", "CommitLog bytes still stored (max offset - min offset)", [[b, store.commitLogMaxOffset - store.commitLogMinOffset]]);
  out.family("rocketmq_commitlog_max_offset_bytes", "gauge", "CommitLog end (written)", [[b, store.commitLogMaxOffset]]);
  out.family("rocketmq_commitlog_flushed_offset_bytes", "gauge", "CommitLog offset up to which everything is fsynced", [[b, store.flushedOffset]]);
  out.family("rocketmq_commitlog_unflushed_bytes", "gauge", "Bytes written but not yet fsynced (flush backlog)", [[b, store.commitLogMaxOffset - store.flushedOffset]]);
  out.family("rocketmq_commitlog_segments", "gauge", "CommitLog segment files", [[b, store.segmentCount]]);
  out.family("rocketmq_store_write_failed", "gauge", "1 when the store stopped accepting writes after an I/O error", [[b, store.writeFailure === undefined ? 0 : 1]]);
  out.family("rocketmq_commitlog_segments_deleted_total", "counter", "CommitLog segments deleted: past retention (time) or above the disk high-water mark (disk)", [
    [{ ...b, reason: "time" }, store.deletedSegments.time],
    [{ ...b, reason: "disk" }, store.deletedSegments.disk],
  ]);
  if (store.disk !== undefined) {
    out.family("rocketmq_disk_used_ratio", "gauge", "Share of the data disk in use (0 to 1), as of the store's last reading", [[b, store.disk.usedPercent / 100]]);
    out.family("rocketmq_store_disk_full", "gauge", "1 while sends are refused because the data disk is at or above diskHardLimitPercent", [[b, store.disk.refusingWrites ? 1 : 0]]);
    out.family("rocketmq_store_disk_refused_total", "counter", "Messages refused because the data disk was at or above diskHardLimitPercent", [[b, store.disk.refusedPuts]]);
  }
  const recovery = store.recovery;
  const kept = recovery.quarantined.filter((r) => r.action === "kept");
  out.family("rocketmq_store_recovery_scanned_bytes", "gauge", "CommitLog bytes the recovery at start scanned", [[b, recovery.scannedBytes]]);
  out.family("rocketmq_store_recovery_scanned_records", "gauge", "Valid records the recovery at start scanned", [[b, recovery.scannedRecords]]);
  out.family("rocketmq_store_recovery_checkpoint_used", "gauge", "1 when recovery started from a checkpoint (main or backup copy), 0 when it scanned the whole log", [[b, recovery.checkpoint === "none" ? 0 : 1]]);
  out.family("rocketmq_store_recovery_quarantined_regions", "gauge", "Damaged CommitLog stretches recovery kept in place and skipped", [[b, kept.length]]);
  out.family("rocketmq_store_recovery_quarantined_bytes", "gauge", "Bytes of the damaged stretches recovery kept in place and skipped", [[b, kept.reduce((n, r) => n + r.bytes, 0)]]);
  out.family("rocketmq_store_recovery_damaged_records", "gauge", "Damaged record headers inside the stretches recovery set aside", [[b, recovery.quarantined.reduce((n, r) => n + r.records, 0)]]);
  out.family("rocketmq_store_recovery_cut_bytes", "gauge", "Bytes of the damaged tail recovery cut (past the last recorded fsync; copied to quarantine first)", [[b, recovery.quarantined.filter((r) => r.action === "cut").reduce((n, r) => n + r.bytes, 0)]]);
  out.family("rocketmq_store_recovery_rebuilt_queues", "gauge", "ConsumeQueues recovery rebuilt from the CommitLog", [[b, recovery.rebuiltQueues.length]]);
  out.family("rocketmq_store_recovery_rebuilt_entries", "gauge", "ConsumeQueue entries recovery wrote from the CommitLog", [[b, recovery.rebuiltEntries]]);
  out.family("rocketmq_store_recovery_skipped_entries", "gauge", "ConsumeQueue entries recovery marked skipped (their records are damaged)", [[b, recovery.skippedEntries]]);
  out.family("rocketmq_store_recovery_unindexed_records", "gauge", "Valid records recovery left unindexed (queue offsets that do not fit their queues)", [[b, recovery.unindexedRecords]]);
  out.family("rocketmq_store_consumequeue_repaired_entries_total", "counter", "ConsumeQueue entries found wrong on the read path and rewritten from the CommitLog", [[b, store.repairedEntries]]);
  out.family("rocketmq_store_unreadable_records_total", "counter", "Records left out of reads because they no longer match their ConsumeQueue entries", [[b, store.unreadableRecords]]);
  const dataDir = state.options.dataDir;
  const free = dataDir === undefined ? undefined : (state.options.freeDisk ?? freeDiskOf)(dataDir);
  if (free !== undefined) out.family("rocketmq_disk_free_bytes", "gauge", "Free bytes on the file system of the data directory", [[b, free]]);
  const timers = ctx.timers?.stats;
  if (timers !== undefined) {
    out.family("rocketmq_timer_pending", "gauge", "Timer messages stored and not yet delivered or recalled", [[b, timers.pending]]);
    out.family("rocketmq_timer_delivered_total", "counter", "Timer messages delivered to their topics", [[b, timers.delivered]]);
    out.family("rocketmq_timer_recalled_total", "counter", "Timer messages recalled before their time", [[b, timers.recalled]]);
    out.family("rocketmq_timer_rolled_total", "counter", "Times a timer due beyond the wheel was carried forward", [[b, timers.rolled]]);
    out.family("rocketmq_timer_enqueue_lag", "gauge", "Timer topic records not yet placed in the wheel", [[b, timers.enqueueMax - timers.enqueueOffset]]);
    const lateness = stats.timerLateness;
    out.histogram(
      "rocketmq_timer_lateness_seconds",
      "Time from a timer message's due time to its delivery being stored",
      b,
      lateness.bounds.map((ms) => ms / 1000),
      lateness.counts,
      lateness.sum / 1000,
      lateness.count,
    );
  }
  out.family("rocketmq_dedup_window_ids", "gauge", "Dedup ids remembered by the idempotent-send window", [[b, ctx.dedup.size]]);
  out.family("rocketmq_dedup_duplicates_total", "counter", "Sends answered from the dedup window instead of being stored again", [[b, ctx.dedup.duplicates]]);
  out.family("rocketmq_pending_long_polls", "gauge", "Pull requests parked waiting for messages", [[b, ctx.holds.size]]);
  out.family(
    "rocketmq_long_poll_busy_total",
    "counter",
    "Pulls answered SYSTEM_BUSY because every long-polling slot, or every slot their connection may take, was in use",
    [[b, ctx.holds.refused]],
  );
  out.family("rocketmq_connections", "gauge", "Open client connections", [[b, connections]]);
  const replication = ctx.replication.status();
  if (replication.role === "SLAVE") {
    const link = replication.link;
    out.family("rocketmq_replication_connected", "gauge", "1 while the slave's replication link to its master is up", [[b, link.connected ? 1 : 0]]);
    out.family("rocketmq_replication_lag_bytes", "gauge", "CommitLog bytes the master has that this slave does not (as of the master's last word)", [[
      { ...b, master: link.masterHaAddress ?? "" },
      link.lagBytes,
    ]]);
  } else {
    out.family("rocketmq_replication_slaves", "gauge", "Slaves connected to this master's replication listener", [[b, replication.slaves.length]]);
    out.family(
      "rocketmq_replication_lag_bytes",
      "gauge",
      "CommitLog bytes visible on this master that a slave has not acknowledged, per slave",
      replication.slaves.map((slave) => [{ ...b, slave_id: String(slave.brokerId), slave: slave.address }, slave.lagBytes]),
    );
  }

  const txn = ctx.transactions;
  out.family("rocketmq_transaction_half_messages_total", "counter", "Transactional half messages stored", [[b, txn.counters.halfMessages]]);
  out.family("rocketmq_transaction_committed_total", "counter", "Transactions committed (their message delivered to its topic)", [[b, txn.counters.committed]]);
  out.family("rocketmq_transaction_rolled_back_total", "counter", "Transactions rolled back (their message never delivered)", [[b, txn.counters.rolledBack]]);
  out.family("rocketmq_transaction_checks_total", "counter", "Check-backs of unresolved half messages (CHECK_TRANSACTION_STATE)", [[b, txn.counters.checks]]);
  out.family("rocketmq_transaction_resolved_by_policy_total", "counter", "Transactions resolved by transactionCheckMaxPolicy after transactionCheckMax checks", [[b, txn.counters.resolvedByPolicy]]);
  out.family(
    "rocketmq_transaction_pending",
    "gauge",
    "Unresolved half messages, per real topic and producer group",
    txn.summary().map((row) => [{ ...b, topic: row.topic, group: row.producerGroup }, row.pending]),
  );

  const lag: Array<[Labels, number]> = [];
  const members: Array<[Labels, number]> = [];
  const consumers = ctx.consumers;
  const groups = new Set<string>();
  for (const [, group] of ctx.offsets.entries()) groups.add(group);
  for (const group of consumers.groups()) groups.add(group);
  groups.delete(TRANSACTION_GROUP);
  for (const group of [...groups].sort()) {
    const info = consumers.groupInfo(group);
    const byTopic = new Map<string, number>();
    for (const q of groupLag(ctx, group, info?.subscriptions.map((s) => s.topic) ?? []).queues) {
      byTopic.set(q.topic, (byTopic.get(q.topic) ?? 0) + q.lag);
    }
    for (const [topic, n] of byTopic) lag.push([{ ...b, group, topic }, n]);
    members.push([{ ...b, group }, info?.members.length ?? 0]);
  }
  out.family("rocketmq_consumer_lag", "gauge", "Messages a consumer group has yet to consume, per topic", lag);
  out.family("rocketmq_consumer_group_members", "gauge", "Online members of a consumer group", members);
}

/** The limits on unauthenticated connections, once per guard (standalone's servers share one). */
function guardMetrics(out: Exposition, guards: Array<[Labels, ConnectionGuard]>): void {
  const seen = new Set<ConnectionGuard>();
  const distinct = guards.filter(([, guard]) => !seen.has(guard) && seen.add(guard));
  if (distinct.length === 0) return;
  out.family(
    "rocketmq_pending_frame_bytes",
    "gauge",
    "Bytes held in buffers of incomplete frames, by connections not authenticated (limited) and authenticated",
    distinct.flatMap(([labels, guard]) => {
      const bytes = guard.pendingFrameBytes;
      return [[{ ...labels, peer: "unauthenticated" }, bytes.untrusted], [{ ...labels, peer: "authenticated" }, bytes.trusted]];
    }),
  );
  out.family(
    "rocketmq_connections_cut_total",
    "counter",
    "Connections cut for going past a limit before authentication, by limit",
    distinct.flatMap(([labels, guard]) => [...guard.cuts].sort().map(([limit, n]): [Labels, number] => [{ ...labels, limit }, n])),
  );
}

/** Controller mode: each group's epoch, in-sync set size and replica lags, as the controller keeps them. */
async function controllerMetrics(out: Exposition, state: AdminState): Promise<void> {
  const view = await controllerView(state.options.controller);
  if (view === undefined) return;
  out.family("rocketmq_controller_up", "gauge", "Whether the controller answered this scrape (1) or not (0)", [[{}, "groups" in view ? 1 : 0]]);
  if (!("groups" in view)) return;
  const groupLabels = (g: { clusterName: string; brokerName: string }): Labels => ({ cluster: g.clusterName, broker: g.brokerName });
  const known = view.groups.filter((g) => g.epoch !== null);
  out.family("rocketmq_controller_epoch", "gauge", "The group's epoch (bumped by every election)", known.map((g) => [groupLabels(g), g.epoch!]));
  out.family("rocketmq_controller_master_id", "gauge", "The replica id of the group's master", known.map((g) => [groupLabels(g), g.masterId!]));
  out.family("rocketmq_controller_in_sync_replicas", "gauge", "Replicas in the group's in-sync set (the master included)", known.map((g) => [groupLabels(g), g.inSync.length]));
  out.family(
    "rocketmq_controller_replica_lag_bytes",
    "gauge",
    "Bytes a live replica's CommitLog is behind its master's, by their last heartbeats",
    view.groups.flatMap((g) =>
      g.replicas.filter((r) => r.lagBytes !== null).map((r): [Labels, number] => [{ ...groupLabels(g), replica: String(r.brokerId), role: r.role }, r.lagBytes!])
    ),
  );
}

/**
 * @param state The admin state.
 * @returns The routes, mounted at `/`.
 */
export function metricsRoutes(state: AdminState): Hono {
  const app = new Hono();
  app.get("/metrics", async (c) => {
    const out = new Exposition();
    const { broker, nameServer } = state.options;
    const role = broker && nameServer ? "standalone" : broker ? "broker" : "nameserver";
    out.family("rocketmq_build_info", "gauge", "Version and role of this process", [[{ version: state.options.version, role }, 1]]);
    if (broker !== undefined) brokerMetrics(out, state, broker.context, broker.connections.size);
    const guards: Array<[Labels, ConnectionGuard]> = [];
    if (broker !== undefined) guards.push([{ server: "broker" }, broker.context.connectionGuard]);
    if (nameServer !== undefined) guards.push([{ server: "nameserver" }, nameServer.connectionGuard]);
    guardMetrics(out, guards);
    if (nameServer !== undefined) {
      const info = nameServer.routeTable.getClusterInfo();
      out.family("rocketmq_namesrv_live_brokers", "gauge", "Brokers registered and alive", [[{}, Object.keys(info.brokerLiveTable).length]]);
      out.family("rocketmq_namesrv_topics", "gauge", "Topics with at least one route", [[{}, nameServer.routeTable.getTopicList().length]]);
    }
    await controllerMetrics(out, state);
    return c.body(out.toString(), 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  });
  return app;
}
