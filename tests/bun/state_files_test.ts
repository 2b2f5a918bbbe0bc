/**
 * Corrupt state files on disk, with real broker processes: a bad main file falls back to its last
 * good `.bak` copy with a warning naming the file; with no good copy the broker refuses to start,
 * naming the file and how to recover, and never resets offsets silently.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { execSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect } from "../../core/remoting/connection.ts";
import { BUN, type Child, start, startServer, stop } from "../_helpers/process.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function startBroker(dataDir: string): Promise<{ child: Child; address: string }> {
  const child = await startServer(BUN, ["run", "server/broker.ts", "--host", "127.0.0.1", "-p", "0", "--data-dir", dataDir, "--auto-create-topic"]);
  return { child, address: `127.0.0.1:${child.port}` };
}

/** Starts a broker, commits `offset` for g/orders/0 (creating the topic with a send), stops it gracefully. */
async function commitAndStop(dataDir: string, offset: number): Promise<string> {
  const { child, address } = await startBroker(dataDir);
  const c = await connect(dial, address);
  const sent = await c.request(RequestCode.SEND_MESSAGE, { topic: "orders", queueId: 0, bornTimestamp: Date.now() }, new Uint8Array([1]));
  expect(sent.code).toBe(ResponseCode.SUCCESS);
  const update = await c.request(RequestCode.UPDATE_CONSUMER_OFFSET, { consumerGroup: "g", topic: "orders", queueId: 0, commitOffset: offset });
  expect(update.code).toBe(ResponseCode.SUCCESS);
  c.close();
  await stop(child);
  expect(await child.exited).toBe(0);
  return child.output();
}

async function queryOffset(address: string): Promise<number> {
  const c = await connect(dial, address);
  const answer = await c.request(RequestCode.QUERY_CONSUMER_OFFSET, { consumerGroup: "g", topic: "orders", queueId: 0 });
  c.close();
  return answer.code === ResponseCode.SUCCESS ? answer.header.offset as number : -1;
}

describe("state files on disk", () => {
  test("a corrupt consumer_offsets.json is replaced by its .bak copy, with a warning naming the file", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "rmq-state-"));
    dirs.push(dataDir);
    const file = join(dataDir, "config", "consumer_offsets.json");
    await commitAndStop(dataDir, 5);
    await commitAndStop(dataDir, 7); // now the main file holds 7 and .bak the previous good copy, 5
    expect(JSON.parse(readFileSync(file, "utf8")).offsets["orders@g"]["0"]).toBe(7);
    expect(JSON.parse(readFileSync(`${file}.bak`, "utf8")).offsets["orders@g"]["0"]).toBe(5);
    // A torn write: the file cut in the middle.
    truncateSync(file, 10);
    const { child, address } = await startBroker(dataDir);
    try {
      expect(child.output()).toContain(`Warning: Consumer offsets restored from their backup: File "${file}" is corrupt`);
      expect(await queryOffset(address)).toBe(5);
    } finally {
      await stop(child);
    }
  }, 30_000);

  test("with both consumer_offsets.json and its .bak corrupt the broker refuses to start, naming the file and the way out", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "rmq-state-"));
    dirs.push(dataDir);
    const file = join(dataDir, "config", "consumer_offsets.json");
    await commitAndStop(dataDir, 5);
    await commitAndStop(dataDir, 7);
    writeFileSync(file, "{\"offsets\": {\"orders@g\": {\"0\": ");
    writeFileSync(`${file}.bak`, "\u0000\u0000\u0000garbage");
    const child = start(BUN, ["run", "server/broker.ts", "--host", "127.0.0.1", "-p", "0", "--data-dir", dataDir]);
    const code = await Promise.race([child.exited, new Promise((resolve) => setTimeout(() => resolve("still running"), 15_000))]);
    if (code === "still running") await stop(child);
    expect(code).toBe(1);
    const out = child.output();
    expect(out).toContain(`Cannot start the broker: Consumer offsets file "${file}" is unusable and so is its backup "${file}.bak"`);
    expect(out).toContain("Refusing to start rather than reset every consumer group's committed offsets");
    expect(out).toContain("To recover, restore the file (or its .bak) from a backup, or move both aside");
    expect(out).not.toContain("listening on");
    // Nothing was rewritten: the operator still has both copies to inspect.
    expect(readFileSync(`${file}.bak`, "utf8")).toBe("\u0000\u0000\u0000garbage");
  }, 30_000);

  test("a corrupt main file with no backup at all also refuses to start", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "rmq-state-"));
    dirs.push(dataDir);
    await commitAndStop(dataDir, 3);
    const file = join(dataDir, "config", "delay_offsets.json");
    rmSync(`${file}.bak`, { force: true });
    writeFileSync(file, "not json");
    expect(existsSync(`${file}.bak`)).toBe(false);
    const child = start(BUN, ["run", "server/broker.ts", "--host", "127.0.0.1", "-p", "0", "--data-dir", dataDir]);
    const code = await Promise.race([child.exited, new Promise((resolve) => setTimeout(() => resolve("still running"), 15_000))]);
    if (code === "still running") await stop(child);
    expect(code).toBe(1);
    expect(child.output()).toContain(`Delay offsets file "${file}" is unusable and has no backup`);
  }, 30_000);

  test("a consumer_offsets.json saved only once survives a flipped bit: its .bak copy, written with it, serves", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "rmq-state-"));
    dirs.push(dataDir);
    const file = join(dataDir, "config", "consumer_offsets.json");
    await commitAndStop(dataDir, 5);
    expect(readFileSync(`${file}.bak`, "utf8")).toBe(readFileSync(file, "utf8"));
    flipDigit(file, '"0": 5', '"0": 4');
    const { child, address } = await startBroker(dataDir);
    try {
      expect(child.output()).toContain(`Warning: Consumer offsets restored from their backup: File "${file}" is corrupt: checksum`);
      expect(await queryOffset(address)).toBe(5);
    } finally {
      await stop(child);
    }
  }, 30_000);

  test("a topics.journal line damaged in one copy is read from the other; damaged in both, the refusal gives the command that cuts it", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "rmq-state-"));
    dirs.push(dataDir);
    const journal = join(dataDir, "config", "topics.journal");
    await commitAndStop(dataDir, 2); // "orders" auto-created: one journal line, in both copies
    const good = readFileSync(journal, "utf8");
    expect(readFileSync(`${journal}.bak`, "utf8")).toBe(good);
    flipDigit(journal, '"readQueueNums":4', '"readQueueNums":5');
    let broker = await startBroker(dataDir);
    try {
      expect(broker.child.output()).toContain(`Topic journal "${journal}": 1 damaged line(s) read from its copy "${journal}.bak"`);
      expect(await queryOffset(broker.address)).toBe(2);
    } finally {
      await stop(broker.child);
    }
    writeFileSync(journal, good.replace('"readQueueNums":4', '"readQueueNums":5'));
    writeFileSync(`${journal}.bak`, good.replace('"writeQueueNums":4', '"writeQueueNums":5'));
    const child = start(BUN, ["run", "server/broker.ts", "--host", "127.0.0.1", "-p", "0", "--data-dir", dataDir]);
    const code = await Promise.race([child.exited, new Promise((resolve) => setTimeout(() => resolve("still running"), 15_000))]);
    if (code === "still running") await stop(child);
    expect(code).toBe(1);
    const command = `truncate -s 0 "${journal}" "${journal}.bak"`;
    expect(child.output()).toContain(`Journal "${journal}" line 1 (at byte 0) is not a valid entry in either copy`);
    expect(child.output()).toContain(`cut it before that line, keeping every change before it: ${command}`);
    // The command given works: the broker starts (without the lost topic change).
    execSync(command);
    broker = await startBroker(dataDir);
    await stop(broker.child);
    expect(await broker.child.exited).toBe(0);
  }, 60_000);

  test("a corrupt store checkpoint and backup fall back to a full log scan, with a warning; no message is lost", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "rmq-state-"));
    dirs.push(dataDir);
    await commitAndStop(dataDir, 1);
    const checkpoint = join(dataDir, "store", "checkpoint");
    writeFileSync(checkpoint, "{\"version\": 1, \"physicalOff");
    writeFileSync(`${checkpoint}.bak`, "");
    const { child, address } = await startBroker(dataDir);
    try {
      expect(child.output()).toContain("Warning: Checkpoint unusable, scanning the whole log");
      const c = await connect(dial, address);
      const max = await c.request(RequestCode.GET_MAX_OFFSET, { topic: "orders", queueId: 0 });
      c.close();
      expect(max.header.offset).toBe(1);
      expect(await queryOffset(address)).toBe(1);
    } finally {
      await stop(child);
    }
  }, 30_000);
});

/** Replaces one digit of a state file in place: what a flipped bit that still parses does. */
function flipDigit(file: string, from: string, to: string): void {
  const text = readFileSync(file, "utf8");
  expect(text).toContain(from);
  writeFileSync(file, text.replace(from, to));
}
