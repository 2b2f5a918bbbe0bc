import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeOffsetMessageId } from "../../../core/model/message_id.ts";
import { RequestCode, ResponseCode } from "../../../core/protocol/request_code.ts";
import { connect } from "../../../core/remoting/connection.ts";
import { createAdminApp } from "../../../server/admin/app.ts";
import { type Standalone, startStandalone } from "../../../server/standalone.ts";
import { MemoryNetwork } from "../../_helpers/memory_network.ts";

let dir: string;
let system: Standalone | undefined;
const lines: string[] = [];
let victim = -1;
let next = -1;

async function start(): Promise<{ started: Standalone; net: MemoryNetwork }> {
  const net = new MemoryNetwork();
  const started = await startStandalone({
    listen: net.listen,
    dial: net.dial,
    dataDir: dir,
    port: 0,
    nameServerPort: 0,
    commitLogSegmentSize: 1024 * 1024,
    autoCreateTopicEnable: true,
    log: (line) => lines.push(line),
  });
  return { started, net };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rmq-admin-store-"));
  const { started: first, net } = await start();
  const connection = await connect(net.dial, `memory:${first.broker.port}`);
  const offsets: number[] = [];
  for (let i = 0; i < 20; i++) {
    const answer = await connection.request(RequestCode.SEND_MESSAGE, { topic: "Audit", queueId: 0, bornTimestamp: 1 }, new TextEncoder().encode(`audit-${i}-${"z".repeat(100)}`));
    expect(answer.code).toBe(ResponseCode.SUCCESS);
    offsets.push(decodeOffsetMessageId(answer.header.msgId as string).commitLogOffset);
  }
  connection.close();
  await first.close();
  victim = offsets[7]!;
  next = offsets[8]!;
  // One bit of the eighth record's body flipped on disk.
  const segment = join(dir, "store", "commitlog", "00000000000000000000");
  expect(existsSync(segment)).toBe(true);
  const fd = openSync(segment, "r+");
  const byte = new Uint8Array(1);
  readSync(fd, byte, 0, 1, victim + 100);
  byte[0]! ^= 0x01;
  writeSync(fd, byte, 0, 1, victim + 100);
  closeSync(fd);
  lines.length = 0;
  system = (await start()).started;
});

afterAll(async () => {
  await system?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("store recovery reporting", () => {
  test("the broker logs a recovery summary and a warning naming the damaged stretch", () => {
    const summary = lines.find((line) => line.startsWith("Store recovered in "));
    expect(summary).toMatch(/scanned \d+ bytes \(19 records\) starting at offset 0 using the checkpoint; the log ends at \d+/);
    expect(summary).toContain("1 damaged stretches");
    const warning = lines.find((line) => line.startsWith("Warning: Damaged CommitLog stretch"));
    expect(warning).toContain(`at offsets ${victim} to ${next}`);
    expect(warning).toContain("1 damaged records) kept in place and skipped; the records after it are served: body CRC");
    expect(warning).toContain(join(dir, "store", "quarantine"));
  });

  test("GET /api/store/recovery shows the report, the quarantine copies and the read-path counters", async () => {
    const app = createAdminApp({ broker: system!.broker, nameServer: system!.nameServer, dataDir: dir, version: "9.9.9" });
    const response = await app.request("/api/store/recovery");
    expect(response.status).toBe(200);
    const body = await response.json() as Record<string, any>;
    expect(body.recovery).toMatchObject({ checkpoint: "main", scannedRecords: 19, skippedEntries: 1, rebuiltQueues: [] });
    expect(body.recovery.quarantined).toMatchObject([{ from: victim, to: next, records: 1, action: "kept" }]);
    expect(body.quarantine).toMatchObject([{ from: victim, to: next, kind: "kept", bytes: next - victim }]);
    expect(body.readPath).toEqual({ repairedEntries: 0, unreadableRecords: 0 });
    expect(body.summary).toStartWith("Store recovered in ");
  });

  test("/metrics exposes the recovery counts", async () => {
    const app = createAdminApp({ broker: system!.broker, nameServer: system!.nameServer, dataDir: dir, version: "9.9.9" });
    const text = await (await app.request("/metrics")).text();
    const b = 'broker="broker-a",broker_id="0"';
    expect(text).toContain(`rocketmq_store_recovery_quarantined_regions{${b}} 1\n`);
    expect(text).toContain(`rocketmq_store_recovery_damaged_records{${b}} 1\n`);
    expect(text).toContain(`rocketmq_store_recovery_quarantined_bytes{${b}} ${next - victim}\n`);
    expect(text).toContain(`rocketmq_store_recovery_checkpoint_used{${b}} 1\n`);
    expect(text).toContain(`rocketmq_store_recovery_cut_bytes{${b}} 0\n`);
    expect(text).toContain(`rocketmq_store_recovery_scanned_records{${b}} 19\n`);
    expect(text).toContain(`rocketmq_store_consumequeue_repaired_entries_total{${b}} 0\n`);
  });
});
