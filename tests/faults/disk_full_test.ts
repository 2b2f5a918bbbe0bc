/**
 * Disk full: a broker whose data dir sits on an 8 MiB tmpfs. Once the file system is full, sends
 * fail with a retryable "Disk full" error and nothing stored is damaged; once space returns,
 * sends succeed again without a restart, and a SIGKILL + restart recovers exactly what was
 * acknowledged.
 */
import { afterAll, beforeAll, describe, expect } from "bun:test";
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { type Child, stop } from "../_helpers/process.ts";
import { needs } from "../_helpers/skip.ts";
import { cannotMountTmpfs, drainTopic, keyOf, startTestBroker } from "./_common.ts";

const TOPIC = "full";
const QUEUES = [0, 1, 2, 3];
const BODY = "d".repeat(1000);
let root: string;
const mounts: string[] = [];
const children: Child[] = [];

const MOUNT_MISSING = cannotMountTmpfs();

/** Mounts an 8 MiB tmpfs (we run as root); throws when the sandbox forbids it. */
function mountSmallDisk(dir: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir]);
  mounts.push(dir);
}

/** Writes a file until the file system refuses with ENOSPC; returns the bytes written. */
function fillDisk(path: string): number {
  const fd = openSync(path, "w");
  const chunk = new Uint8Array(64 * 1024);
  let total = 0;
  try {
    for (;;) total += writeSync(fd, chunk);
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
  return total;
}

async function send(connection: Connection, seq: number): Promise<{ code: number; remark?: string }> {
  const answer = await connection.request(RequestCode.SEND_MESSAGE, {
    topic: TOPIC,
    queueId: seq % QUEUES.length,
    bornTimestamp: Date.now(),
    properties: { KEYS: `k-${seq}` },
  }, new TextEncoder().encode(`${seq}-${BODY}`), 10_000);
  return { code: answer.code, remark: answer.remark };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "rmq-diskfull-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  for (const dir of mounts) execFileSync("umount", ["-l", dir]);
  rmSync(root, { recursive: true, force: true });
});

describe("disk full", () => {
  for (const flush of ["sync", "async"] as const) {
    needs(MOUNT_MISSING)(`${flush} flush: sends fail with a retryable "Disk full" error, nothing stored is damaged, sends resume when space returns`, async () => {
      const disk = join(root, flush);
      mountSmallDisk(disk);
      const dataDir = join(disk, "broker");
      // 256 KiB segments, so a full disk also hits the roll to a new segment.
      // The disk marks off: this test is about what a write that meets ENOSPC does (disk_marks_test.ts tests the marks).
      const marksOff = ["--disk-high-water-percent", "100", "--disk-hard-limit-percent", "100"];
      let broker = await startTestBroker({ dataDir, flush, segmentSize: 256 * 1024, extraArgs: marksOff });
      children.push(broker);
      const port = broker.port; // the restart below reuses it
      const connection = await connect(dial, `127.0.0.1:${port}`);
      const acked = new Set<number>();
      const refused = new Set<number>();
      let seq = 0;
      const sendBurst = async (count: number) => {
        const seqs = Array.from({ length: count }, () => seq++);
        const answers = await Promise.all(seqs.map((s) => send(connection, s))).catch((error) => {
          // One CI run lost the connection here, unexplained: say what the broker printed.
          throw new Error(`${(error as Error).message}; the broker printed:\n${broker.output().slice(-3000)}`, { cause: error });
        });
        answers.forEach((a, i) => {
          if (a.code === ResponseCode.SUCCESS) acked.add(seqs[i]!);
          else {
            refused.add(seqs[i]!);
            expect(a.code).toBe(ResponseCode.SERVICE_NOT_AVAILABLE);
            expect(a.remark).toContain("Disk full");
          }
        });
        return answers;
      };

      const before = await sendBurst(500);
      expect(before.every((a) => a.code === ResponseCode.SUCCESS)).toBe(true);

      const filler = join(disk, "filler");
      fillDisk(filler);
      // A page the log already owns may take a few more records; then the disk is full.
      let failures = 0;
      for (let round = 0; round < 20 && failures < 100; round++) {
        failures += (await sendBurst(50)).filter((a) => a.code !== ResponseCode.SUCCESS).length;
      }
      expect(failures).toBeGreaterThanOrEqual(100);
      const ackedWhileFull = acked.size;

      // Reads keep working while the disk is full.
      const during = (await drainTopic(connection, TOPIC, QUEUES)).flat();
      expect(during.map((m) => Number(keyOf(m).slice(2))).sort((a, b) => a - b)).toEqual([...acked].sort((a, b) => a - b));

      rmSync(filler);
      const after = await sendBurst(500);
      expect(after.filter((a) => a.code !== ResponseCode.SUCCESS)).toEqual([]);
      expect(acked.size).toBe(ackedWhileFull + 500);

      const checkStored = async (c: Connection) => {
        const stored = (await drainTopic(c, TOPIC, QUEUES)).flat();
        const keys = stored.map((m) => Number(keyOf(m).slice(2)));
        expect(new Set(keys).size).toBe(keys.length); // no duplicates
        expect(keys.sort((a, b) => a - b)).toEqual([...acked].sort((a, b) => a - b)); // no loss, nothing refused stored
        for (const m of stored) expect(new TextDecoder().decode(m.body)).toBe(`${keyOf(m).slice(2)}-${BODY}`);
      };
      await checkStored(connection);
      connection.close();

      broker.kill("SIGKILL");
      await broker.exited;
      broker = await startTestBroker({ dataDir, port, flush, segmentSize: 256 * 1024, extraArgs: marksOff });
      children.push(broker);
      const again = await connect(dial, `127.0.0.1:${port}`);
      await checkStored(again);
      again.close();
      console.log(`disk full (${flush}): ${acked.size} acknowledged, ${refused.size} refused with "Disk full", ${failures} failures while full, all recovered after SIGKILL`);
      await stop(broker);
    }, 35_000);
  }
});
