/**
 * Disk marks on a real disk: a broker process whose data dir sits on a 64 MiB tmpfs. Above the
 * high-water mark (75%) its oldest segments are deleted although young, and a pull from below the
 * new min offset is moved there; at the hard limit (90%) sends are refused with a retryable
 * error and a metric before the disk is actually full, and taken again once space frees.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { PushConsumer } from "../../client/push_consumer.ts";
import type { MessageExt } from "../../core/model/message.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { type Child, stop } from "../_helpers/process.ts";
import { needs } from "../_helpers/skip.ts";
import { until } from "../_helpers/wait.ts";
import { cannotMountTmpfs, startTestBroker, startTestNameServer } from "./_common.ts";

const TOPIC = "marks";
const BODY = new TextEncoder().encode("m".repeat(4000));
const SEGMENT = 1024 * 1024;
let root: string;
const mounts: string[] = [];
const children: Child[] = [];
const MOUNT_MISSING = cannotMountTmpfs();

/** Mounts a 64 MiB tmpfs (we run as root, checked by MOUNT_MISSING). */
function mountSmallDisk(dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=64m", "tmpfs", dir], { stdio: "pipe" });
  mounts.push(dir);
}

/** Percent of a file system in use, as `df` counts it. */
function usedPercent(dir: string): number {
  const s = statfsSync(dir);
  const used = s.blocks - s.bfree;
  return (used / (used + s.bavail)) * 100;
}

/** Writes a file of zeros until the disk is at least `percent` in use. */
function fillTo(path: string, dir: string, percent: number): void {
  const fd = openSync(path, "w");
  const chunk = new Uint8Array(256 * 1024);
  try {
    while (usedPercent(dir) < percent) writeSync(fd, chunk);
  } finally {
    closeSync(fd);
  }
}

function send(connection: Connection, seq: number): Promise<{ code: number; remark?: string }> {
  return connection.request(RequestCode.SEND_MESSAGE, {
    topic: TOPIC,
    queueId: 0,
    bornTimestamp: Date.now(),
    properties: { KEYS: `k-${seq}` },
  }, BODY, 10_000).then((a) => ({ code: a.code, remark: a.remark }));
}

async function metric(adminPort: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function startOnDisk(dir: string, namesrv?: string): Promise<{ broker: Child; connection: Connection; adminPort: number }> {
  const broker = await startTestBroker({
    dataDir: join(dir, "broker"),
    flush: "async",
    flushIntervalMs: 100,
    segmentSize: SEGMENT,
    ...(namesrv === undefined ? {} : { namesrv: [namesrv] }),
    extraArgs: [
      "--admin-port", "0",
      "--disk-high-water-percent", "75",
      "--disk-hard-limit-percent", "90",
      "--file-reserved-time-hours", "48",
      "--delete-when", "01;02",
    ],
  });
  children.push(broker);
  await broker.waitFor(/dashboard on http:\/\/127\.0\.0\.1:\d+/);
  const adminPort = Number(/dashboard on http:\/\/127\.0\.0\.1:(\d+)/.exec(broker.output())![1]);
  return { broker, connection: await connect(dial, `127.0.0.1:${broker.port}`), adminPort };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "rmq-diskmarks-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  for (const dir of mounts) execFileSync("umount", ["-l", dir]);
  rmSync(root, { recursive: true, force: true });
});

describe("disk marks on a 64 MiB tmpfs", () => {
  needs(MOUNT_MISSING)("above the high-water mark the oldest segments are deleted though young, and pulls move to the new min offset", async () => {
    const disk = join(root, "high");
    mountSmallDisk(disk);
    const nameServer = await startTestNameServer();
    children.push(nameServer);
    const namesrvPort = nameServer.port;
    const { broker, connection, adminPort } = await startOnDisk(disk, `127.0.0.1:${namesrvPort}`);
    // The flags reached the store.
    const info = await connection.request(RequestCode.GET_BROKER_RUNTIME_INFO, {});
    expect(info.header.retention).toEqual({ fileReservedTimeMs: 48 * 3_600_000, deleteWhen: "01;02", diskHighWaterPercent: 75, diskHardLimitPercent: 90 });
    // A group that consumed nothing yet: its committed offset 0 will be below the queue's min.
    await connection.request(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: "late", topic: TOPIC, queueId: 0, commitOffset: 0 });
    let seq = 0;
    // Fill to 80%: past the high-water mark, short of the hard limit.
    while (usedPercent(disk) < 80) {
      const answers = await Promise.all(Array.from({ length: 100 }, () => send(connection, seq++)));
      expect(answers.filter((a) => a.code !== ResponseCode.SUCCESS)).toEqual([]);
    }
    await until(async () => ((await metric(adminPort, "rocketmq_commitlog_segments_deleted_total{broker=\"broker-a\",broker_id=\"0\",reason=\"disk\"}")) ?? 0) > 0, 10_000, "segments deleted for disk space");
    await until(() => usedPercent(disk) <= 76, 10_000, "the disk below the high-water mark");
    expect(broker.output()).toContain("above the high-water mark of 75% (diskHighWaterPercent): deleted the");
    const min = (await connection.request(RequestCode.GET_MIN_OFFSET, { topic: TOPIC, queueId: 0 })).header.offset as number;
    expect(min).toBeGreaterThan(0);
    const moved = await connection.request(RequestCode.PULL_MESSAGE, { consumerGroup: "late", topic: TOPIC, queueId: 0, queueOffset: 0, maxMsgNums: 1 });
    expect(moved.code).toBe(ResponseCode.PULL_OFFSET_MOVED);
    expect(moved.header.nextBeginOffset).toBe(min);
    const first = await connection.request(RequestCode.PULL_MESSAGE, { consumerGroup: "late", topic: TOPIC, queueId: 0, queueOffset: min, maxMsgNums: 1 });
    expect(first.code).toBe(ResponseCode.SUCCESS);
    // Sends go on.
    expect((await send(connection, seq++)).code).toBe(ResponseCode.SUCCESS);
    // A consumer whose offset is past retention starts at the new min offset, and misses nothing after it.
    const received: MessageExt[] = [];
    const lines: string[] = [];
    const consumer = new PushConsumer({ nameServer: `127.0.0.1:${namesrvPort}`, group: "late", dial, log: (line) => lines.push(line) });
    consumer.subscribe(TOPIC, "*");
    consumer.onMessage((m) => {
      received.push(m);
      return "SUCCESS";
    });
    await consumer.start();
    try {
      await until(() => received.length >= seq - min, 20_000, "the consumer to read the queue from its new min offset");
    } finally {
      await consumer.shutdown();
    }
    const offsets = received.map((m) => m.queueOffset).sort((a, b) => a - b);
    expect(offsets[0]).toBe(min);
    expect(new Set(offsets).size).toBe(seq - min);
    expect(lines.join("\n")).toContain(`Offset 0 of queue 0 of "${TOPIC}" is illegal; continuing at ${min}`);
    console.log(`high-water: ${seq} sends, queue now starts at ${min}, disk ${usedPercent(disk).toFixed(1)}% used`);
    connection.close();
  }, 60_000);

  needs(MOUNT_MISSING)("at the hard limit sends are refused with a retryable error and a metric, and taken again once space frees", async () => {
    const disk = join(root, "hard");
    mountSmallDisk(disk);
    const { broker, connection, adminPort } = await startOnDisk(disk);
    for (let i = 0; i < 100; i++) expect((await send(connection, i)).code).toBe(ResponseCode.SUCCESS);
    const filler = join(disk, "filler");
    fillTo(filler, disk, 92);
    let refused: { code: number; remark?: string } | undefined;
    await until(async () => {
      const answer = await send(connection, 0);
      if (answer.code !== ResponseCode.SUCCESS) refused = answer;
      return refused !== undefined;
    }, 10_000, "a send refused at the hard limit");
    expect(refused!.code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE);
    expect(refused!.remark).toMatch(/^Disk full: ".*" is 9\d\.\d% used, at or above the hard limit of 90% \(diskHardLimitPercent\); the message was not stored, sends resume once space is freed$/);
    // Refused before the disk was actually full.
    expect(usedPercent(disk)).toBeLessThan(99);
    expect(await metric(adminPort, "rocketmq_store_disk_full")).toBe(1);
    expect(await metric(adminPort, "rocketmq_store_disk_refused_total")).toBeGreaterThan(0);

    rmSync(filler);
    await until(async () => (await send(connection, 1)).code === ResponseCode.SUCCESS, 10_000, "sends taken again after space was freed");
    expect(await metric(adminPort, "rocketmq_store_disk_full")).toBe(0);
    expect(broker.output()).not.toContain("Error");
    connection.close();
  }, 60_000);
});
