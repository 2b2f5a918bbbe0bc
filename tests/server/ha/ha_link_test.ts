import { afterEach, describe, expect, test } from "bun:test";
import { dial } from "../../../server/bun/connect.ts";
import { listen } from "../../../server/bun/listen.ts";
import { HaMaster } from "../../../server/ha/ha_master.ts";
import { HaSlave } from "../../../server/ha/ha_slave.ts";
import { MemorySegmentStorage } from "../../../server/store/memory_segment_storage.ts";
import { MessageStore } from "../../../server/store/message_store.ts";
import { HOST, msg } from "../store/_store_helpers.ts";
import { until } from "../../_helpers/wait.ts";

const SEGMENT = 64 * 1024;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function store(dataDir: string, options: { segmentSize?: number; now?: () => number } = {}): Promise<MessageStore> {
  const opened = await MessageStore.open({
    dataDir,
    storage: new MemorySegmentStorage(),
    storeHost: HOST,
    commitLogSegmentSize: options.segmentSize ?? SEGMENT,
    fileReservedTimeMs: 3_600_000,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  cleanups.push(() => opened.close());
  return opened;
}

async function master(source: MessageStore, lines: string[]): Promise<HaMaster> {
  const started = await HaMaster.start({
    listen,
    hostname: "127.0.0.1",
    port: 0,
    store: source,
    brokerName: "broker-a",
    clientAddress: "127.0.0.1:10911",
    log: (line) => lines.push(line),
  });
  cleanups.push(() => started.close());
  return started;
}

function slave(target: MessageStore, port: number, lines: string[]): HaSlave {
  const client = new HaSlave({
    dial,
    store: target,
    brokerName: "broker-a",
    brokerId: 1,
    masterHaAddress: () => `127.0.0.1:${port}`,
    log: (line) => lines.push(line),
  });
  cleanups.push(() => client.close());
  client.start();
  return client;
}

async function fill(source: MessageStore, segments: number): Promise<void> {
  while (source.stats.segmentCount < segments) {
    await Promise.all(Array.from({ length: 40 }, (_, i) => source.putMessage(msg("orders", { queueId: i % 2, body: "p".repeat(700) }))));
  }
}

describe("replication link", () => {
  test("a slave whose next bytes the master deleted by retention is refused and says so; an empty slave starts at the master's first segment", async () => {
    let now = Date.now();
    const source = await store("/m", { now: () => now });
    await fill(source, 4);
    // A slave that copied part of the first segment, then went away.
    const behind = await store("/behind");
    const first = source.readReplica(0, 4096);
    await behind.appendReplica(0, first.bytes);
    now += 10 * 3_600_000;
    expect(source.deleteExpiredSegments()).toBeGreaterThan(0);
    const min = source.stats.commitLogMinOffset;
    expect(min).toBeGreaterThan(first.next);

    const masterLines: string[] = [];
    const ha = await master(source, masterLines);
    const behindLines: string[] = [];
    slave(behind, ha.port, behindLines);
    await until(() => behindLines.some((l) => l.includes("refused")), 5000, "the refusal", 10);
    expect(behindLines[0]).toBe(
      `Master 127.0.0.1:${ha.port} refused replication: Slave 1 needs CommitLog offset ${first.next}, but this master deleted everything ` +
        `below ${min} (retention, fileReservedTimeHours): the slave cannot catch up; move its store directory aside to copy the master from ${min}`,
    );
    expect(masterLines.some((l) => l.includes("dropped: it needs CommitLog offset"))).toBe(true);
    expect(behind.stats.commitLogMaxOffset).toBe(first.next);

    const fresh = await store("/fresh");
    const freshLines: string[] = [];
    const client = slave(fresh, ha.port, freshLines);
    await until(() => fresh.stats.commitLogMaxOffset === source.stats.visibleOffset, 5000, "the empty slave to catch up", 10);
    expect(fresh.stats.commitLogMinOffset).toBe(min);
    expect(freshLines[0]).toContain(`from CommitLog offset ${min}`);
    // New records keep flowing, and the master sees the acknowledgement.
    await source.putMessage(msg("orders", { body: "late" }));
    await until(() => fresh.stats.commitLogMaxOffset === source.stats.visibleOffset, 5000, "the new record", 10);
    await until(() => ha.slaves()[0]?.lagBytes === 0, 5000, "the acknowledgement", 10);
    expect(client.status()).toMatchObject({ connected: true, lagBytes: 0, masterAddress: "127.0.0.1:10911" });
  });

  test("a slave with another segment size is refused; a SYNC wait without slaves answers NO_SLAVE at once", async () => {
    const source = await store("/m");
    await source.putMessage(msg("orders"));
    const ha = await master(source, []);
    expect(await ha.awaitSlave(0, 1000)).toBe("NO_SLAVE");
    const other = await store("/s", { segmentSize: 2 * SEGMENT });
    const lines: string[] = [];
    slave(other, ha.port, lines);
    await until(() => lines.length > 0, 5000, "the refusal", 10);
    expect(lines[0]).toContain(`uses CommitLog segments of ${2 * SEGMENT} bytes, this master ${SEGMENT}: set the same commitLogSegmentSize on both`);
  });

  test("a SYNC wait resolves once the slave acknowledges, and times out while none does", async () => {
    const source = await store("/m");
    const ha = await master(source, []);
    const target = await store("/s");
    slave(target, ha.port, []);
    await until(() => ha.slaves().length === 1, 5000, "the slave", 10);
    const put = await source.putMessage(msg("orders", { body: "wait for me" }));
    ha.notify();
    expect(await ha.awaitSlave(put.commitLogOffset, 3000)).toBe("ACKED");
    expect(target.stats.commitLogMaxOffset).toBe(source.stats.visibleOffset);
    // Nothing past the end will ever be acknowledged: the wait ends by its timeout.
    const started = Date.now();
    expect(await ha.awaitSlave(source.stats.visibleOffset + 10, 300)).toBe("TIMEOUT");
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  test("a slave takes no more bytes from a master once another is named (or none is safe yet), and drops the link", async () => {
    const source = await store("/m");
    await source.putMessage(msg("orders", { body: "before" }));
    const ha = await master(source, []);
    const target = await store("/s");
    let named: string | undefined = `127.0.0.1:${ha.port}`;
    const lines: string[] = [];
    const client = new HaSlave({ dial, store: target, brokerName: "broker-a", brokerId: 1, masterHaAddress: () => named, reportIntervalMs: 60_000, log: (line) => lines.push(line) });
    cleanups.push(() => client.close());
    client.start();
    await until(() => target.stats.commitLogMaxOffset === source.stats.visibleOffset, 5000, "the slave to catch up", 10);
    const end = target.stats.commitLogMaxOffset;
    // The controller elected another master; this one (fenced, still running) has bytes the new one never had.
    named = undefined;
    await source.putMessage(msg("orders", { body: "from the old master" }));
    ha.notify();
    await until(() => lines.some((l) => l.includes("is no longer the group's master")), 5000, "the slave to stop copying", 10);
    expect(target.stats.commitLogMaxOffset).toBe(end);
    await until(() => ha.slaves().length === 0, 5000, "the link to close", 10);
    expect(target.stats.commitLogMaxOffset).toBe(end);
  });
});
