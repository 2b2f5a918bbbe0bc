/**
 * `FileSegmentStorage.sync()` and `syncDir()` reach the disk: traced with strace, every `sync()`
 * issues an fdatasync (or fsync) of its file that returns before the promise resolves, and
 * `syncDir()` an fsync of the directory. A crash test cannot show this (the page cache survives a
 * process kill), so a `sync()` that skipped the call would pass every other test.
 */
import { afterAll, expect } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BUN } from "../../_helpers/process.ts";
import { needs } from "../../_helpers/skip.ts";
import { straceCommand, straceUnavailable, type Syscall } from "../../_helpers/strace.ts";

const dir = mkdtempSync(join(tmpdir(), "rmq-fsync-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const decoder = new TextDecoder();

needs(straceUnavailable())("every sync() and syncDir() makes its fdatasync/fsync call before it resolves", async () => {
  const data = join(dir, "data");
  const segment = join(data, "00000000000000000000");
  const run = await straceCommand(BUN, ["tests/_fixtures/file_sync.ts", data], ["fdatasync", "fsync", "pwrite64", "write"], join(dir, "trace"));
  expect(run.code).toBe(0);
  const marker = (text: string): Syscall => {
    const found = run.calls.find((c) => c.name === "write" && c.fd === 1 && decoder.decode(c.data) === `${text}\n`);
    if (found === undefined) throw new Error(`No "${text}" marker in the trace`);
    return found;
  };
  const syncsOf = (path: string, after: Syscall, before: Syscall) =>
    run.calls.filter((c) => (c.name === "fdatasync" || c.name === "fsync") && c.target === path && c.result === 0 && c.start > after.end && c.end < before.start);
  for (let i = 0; i < 3; i++) {
    const written = run.calls.filter((c) => c.name === "pwrite64" && c.target === segment && c.numbers.at(-1) === i * 4096);
    expect(written.length).toBe(1);
    expect(syncsOf(segment, marker(`SYNC ${i}`), marker(`SYNCED ${i}`)).length).toBeGreaterThanOrEqual(1);
  }
  expect(syncsOf(data, marker("SYNCDIR"), marker("SYNCEDDIR")).map((c) => c.name)).toEqual(["fsync"]);
}, 30_000);
