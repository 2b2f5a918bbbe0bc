/**
 * SIGKILL of a async-flush broker (500 ms flush interval) under sends from three producer processes, twice:
 * recovery yields a CRC-clean log with contiguous queue offsets. A process crash loses nothing
 * acknowledged even in async mode — the records were in the OS page cache, which outlives the
 * process; only a power loss or kernel crash can cost the unflushed interval (docs/RELIABILITY.md).
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
  dir = mkdtempSync(join(tmpdir(), "rmq-kill-async-"));
});

afterAll(async () => {
  for (const child of children) await stop(child);
  rmSync(dir, { recursive: true, force: true });
});

describe("broker SIGKILL under async flush", () => {
  test("recovery after SIGKILL is CRC-clean, contiguous and keeps every acknowledged message", async () => {
    const r = await runKillCycle({ dataDir: dir, flush: "async", producers: 3, perProducer: 5000, kills: 2 }, children);
    console.log(
      `broker kill (async): ${r.acked} acknowledged over 2 SIGKILLs in ${r.elapsedMs} ms, ${r.lost} lost, ` +
        `${r.retried} sends retried, ${r.duplicated} duplicated (each of a retried send)`,
    );
    expect(r.lost).toBe(0);
  }, 40_000);
});
