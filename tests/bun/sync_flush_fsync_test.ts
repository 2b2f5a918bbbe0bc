/**
 * Sync flush reaches the disk: strace watches a real broker process (file store, `--flush sync`)
 * while a client sends, first one message at a time, then 16 in flight. Every acknowledgement
 * that leaves on the client's socket must come after an fdatasync (or fsync) of the CommitLog
 * segment holding its message, started after the message was written and returned before the
 * acknowledgement was sent. The SIGKILL tests cannot prove this: the page cache outlives a process,
 * so they pass with no fsync at all.
 */
import { afterAll, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { dial } from "../../client/bun/connect.ts";
import { FrameDecoder } from "../../core/codec/frame.ts";
import { decodeOffsetMessageId } from "../../core/model/message_id.ts";
import { isResponse } from "../../core/protocol/command.ts";
import { RequestCode, ResponseCode } from "../../core/protocol/request_code.ts";
import { connect, type Connection } from "../../core/remoting/connection.ts";
import { stop } from "../_helpers/process.ts";
import { needs } from "../_helpers/skip.ts";
import { attachStrace, straceUnavailable, type Syscall } from "../_helpers/strace.ts";
import { startTestBroker } from "../faults/_common.ts";

const SEQUENTIAL = 30;
const CONCURRENT = 300;
const IN_FLIGHT = 16;

const dir = mkdtempSync(join(tmpdir(), "rmq-fsync-broker-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function send(connection: Connection, seq: number): Promise<number> {
  return connection.request(RequestCode.SEND_MESSAGE, {
    topic: "fsynced",
    queueId: seq % 4,
    bornTimestamp: Date.now(),
    properties: { KEYS: `seq-${seq}` },
  }, new TextEncoder().encode(`message-${seq}-${"x".repeat(200)}`), 30_000).then((answer) => answer.code);
}

/** Acknowledgements in the order they left the broker: the CommitLog offset each names, and its send call. */
function acknowledgements(calls: readonly Syscall[], port: number): { offset: number; sent: Syscall }[] {
  const decoder = new FrameDecoder();
  const out: { offset: number; sent: Syscall }[] = [];
  for (const call of calls) {
    if (!call.target.startsWith(`TCP:[127.0.0.1:${port}->`) || call.result <= 0) continue;
    for (const command of decoder.push(call.data.slice(0, call.result))) {
      // The closing runtime-info answer names no message.
      if (!isResponse(command) || command.code !== ResponseCode.SUCCESS || command.header.msgId === undefined) continue;
      out.push({ offset: decodeOffsetMessageId(command.header.msgId as string).commitLogOffset, sent: call });
    }
  }
  return out;
}

needs(straceUnavailable())("sync flush: every acknowledgement leaves after an fdatasync that covers its message", async () => {
  const dataDir = join(dir, "broker");
  const commitLogDir = join(dataDir, "store", "commitlog");
  // 64 KiB segments: the sends fill several, so syncs of more than one segment file are checked.
  const broker = await startTestBroker({ dataDir, flush: "sync", segmentSize: 64 * 1024 });
  let calls: Syscall[] = [];
  try {
    const trace = await attachStrace(broker.pid, ["fdatasync", "fsync", "pwrite64", "write", "sendto"], join(dir, "trace"));
    const connection = await connect(dial, `127.0.0.1:${broker.port}`);
    const codes: number[] = [];
    for (let seq = 0; seq < SEQUENTIAL; seq++) codes.push(await send(connection, seq));
    let next = SEQUENTIAL;
    await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
      while (next < SEQUENTIAL + CONCURRENT) codes.push(await send(connection, next++));
    }));
    // The last acknowledgement reaches this client when the kernel has sent it, which can be before
    // strace has seen its send call return: stopping the trace then would cut that call off. One more
    // answered request settles it, since the broker's thread makes no further call until strace let
    // the earlier one finish.
    await connection.request(RequestCode.GET_BROKER_RUNTIME_INFO, {}, undefined, 30_000);
    connection.close();
    calls = await trace.stop();
    expect(codes.filter((code) => code !== ResponseCode.SUCCESS)).toEqual([]);
  } finally {
    await stop(broker);
  }

  const inLog = (c: Syscall) => dirname(c.target) === commitLogDir;
  const writes = calls.filter((c) => c.name === "pwrite64" && inLog(c) && c.result > 0).map((c) => {
    const from = Number(basename(c.target)) + c.numbers.at(-1)!;
    return { call: c, from, to: from + c.result };
  });
  const syncs = calls.filter((c) => (c.name === "fdatasync" || c.name === "fsync") && inLog(c) && c.result === 0);
  const acks = acknowledgements(calls, broker.port);
  expect(acks.length).toBe(SEQUENTIAL + CONCURRENT);

  const uncovered = acks.filter((ack) => {
    const written = writes.find((w) => w.from <= ack.offset && ack.offset < w.to);
    if (written === undefined) return true;
    return !syncs.some((s) => s.target === written.call.target && s.start > written.call.end && s.end < ack.sent.start);
  });
  console.log(
    `sync flush: ${acks.length} acknowledgements (${SEQUENTIAL} one at a time, ${CONCURRENT} with ${IN_FLIGHT} in flight), ` +
      `${writes.length} CommitLog writes, ${syncs.length} CommitLog fdatasync/fsync calls, ${uncovered.length} acknowledged before their sync`,
  );
  expect(uncovered.map((a) => a.offset)).toEqual([]);
}, 60_000);
