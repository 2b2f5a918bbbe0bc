/**
 * SIGKILL of a sync-flush broker process under sustained sends from three producer processes,
 * three times in a row on the same data dir: no acknowledged message is lost, every record read
 * back passes its CRC check, queue offsets stay contiguous, and the only duplicates are of sends the
 * producer retried. A process crash, not a power loss: the page cache survives it, so this holds
 * with or without fsync (tests/bun/sync_flush_fsync_test.ts proves the fsync).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Child, stop } from "../_helpers/process.ts";
import { runKillCycle } from "./_kill_cycle.ts";

let dir: string;
const children: Child[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "rmq-kill-sync-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

describe("broker process SIGKILL under sync flush", () => {
  test("3 process kills with 3 producer processes lose no acknowledged message (a process crash: the page cache survives it)", async () => {
    const r = await runKillCycle({ dataDir: dir, flush: "sync", producers: 3, perProducer: 6000, kills: 3 }, children);
    console.log(
      `broker kill (sync): ${r.acked} acknowledged over 3 SIGKILLs in ${r.elapsedMs} ms, ${r.lost} lost, ` +
        `${r.retried} sends retried, ${r.duplicated} duplicated (each of a retried send)`,
    );
    expect(r.lost).toBe(0);
  }, 40_000);
});
